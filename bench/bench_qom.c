/* bench_qom: what qom_lite.h adds on top of notify.h.
 *
 *   bench_qom [--quick] [--record FILE]
 *
 * 1. Delivery through subscription objects (qom_subscribe_native: the event
 *    property's trampoline, the sink, the native function) against typed
 *    subscribers on the same event property's list, at 1, 8 and 64
 *    subscribers, interleaved. (The event property against a bare
 *    notify_emit, and its target, are in bench_notify's emission table.)
 * 2. Creating a subscription object, resolving its path and destroying it.
 * 3. Resolving a 6-deep absolute path.
 * Medians of repeated runs; targets printed next to each figure and
 * recorded for bench/results.md. */
#define NOTIFY_IMPLEMENTATION
#define QOM_LITE_IMPLEMENTATION
#include "qom_lite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"

/* The payload is the counter, as in bench_notify: every callback's body is
 * count_add on it. */
QOM_DEFINE_EVENT(tick, long);
static const qom_event_info TICK = { "TICK", NULL };
typedef struct { qom_object obj; tick_list ticks; } dev;
static void dev_class_init(qom_class *k, void *d)
{
    (void)d;
    QOM_CLASS_ADD_EVENT(k, "tick", dev, ticks, tick, &TICK, NULL);
}

static long counter;
static int typed_cb(tick_sub *s, const long *ev) { (void)s; count_add((long *)ev); return 0; }
static void native_cb(void *opaque, qom_object *source, const void *payload)
{
    (void)opaque; (void)source;
    count_add((long *)payload);
}

static BENCH_NOINLINE double emit_loop(tick_list *l, long iters)
{
    double t0;
    long i;
    for (i = 0; i < iters / 10; i++) { tick_emit(l, &counter); BARRIER(); }
    t0 = now_ns();
    for (i = 0; i < iters; i++) { tick_emit(l, &counter); BARRIER(); }
    return (now_ns() - t0) / (double)iters;
}

int main(int argc, char **argv)
{
    int quick = 0, reps, r, k, si, i;
    static const int sizes[] = { 1, 8, 64 };
    qom_registry *reg = qom_registry_new();
    const qom_type_info info = { "dev", "object", sizeof(dev), 0, dev_class_init, NULL, NULL,
                                 NULL, false, NULL };
    qom_error err;
    dev *typed_dev, *sub_dev;
    double a[BENCH_MAX_REPS], b[BENCH_MAX_REPS];

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else if (strcmp(argv[i], "--record") == 0 && i + 1 < argc)
            bench_record_open(argv[++i]);
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    bench_multithreaded();
    reps = quick ? 7 : 21;
    if (reg == NULL || qom_type_register(reg, &info, &err) != 0)
        return 1;
    typed_dev = (dev *)(void *)qom_object_new_child(qom_container_get(reg, "/machine/peripheral"),
                                                    "dev0", "dev", &err);
    sub_dev = (dev *)(void *)qom_object_new_child(qom_container_get(reg, "/machine/peripheral"),
                                                  "dev1", "dev", &err);
    if (typed_dev == NULL || sub_dev == NULL)
        return 1;
    ESCAPE(typed_dev);
    ESCAPE(sub_dev);

    printf("## qom_lite.h: delivery through subscription objects\n\n");
    printf("ns per emit, median of %d; the two alternate in each repetition. Typed: "
           "tick_subscribe on the object's event property list; subscription objects: "
           "qom_subscribe_native on the same property of another object (trampoline, "
           "sink, native function per subscriber).\n\n", reps);
    printf("| subscribers | typed subscribers | subscription objects | ratio | "
           "cost per subscriber added |\n");
    printf("| ---: | ---: | ---: | ---: | ---: |\n");
    for (si = 0; si < 3; si++) {
        int n = sizes[si];
        tick_sub *ts = calloc((size_t)n, sizeof *ts);
        qom_object *owner = qom_container_get(reg, "/bench");
        long iters = (long)(4e6 / (1.0 + 2.0 * n));
        double ma, mb;
        for (k = 0; k < n; k++) {
            tick_sub_init(&ts[k], typed_cb, 0);
            tick_subscribe(&typed_dev->ticks, &ts[k]);
            if (qom_subscribe_native(&sub_dev->obj, "tick", native_cb, NULL, owner, NULL,
                                     &err) != 0) {
                fprintf(stderr, "qom_subscribe_native: %s\n", err.message);
                return 1;
            }
        }
        for (r = 0; r < reps; r++) {
            if (r & 1) {
                b[r] = emit_loop(&sub_dev->ticks, iters);
                a[r] = emit_loop(&typed_dev->ticks, iters);
            } else {
                a[r] = emit_loop(&typed_dev->ticks, iters);
                b[r] = emit_loop(&sub_dev->ticks, iters);
            }
        }
        ma = median(a, reps);
        mb = median(b, reps);
        printf("| %d | %.2f | %.2f | %.2fx | %.2f ns |\n", n, ma, mb, median_ratio(b, a, reps),
               (mb - ma) / n);
        notify_list_clear(&typed_dev->ticks.base);
        qom_object_unparent(owner);   /* destroys the subscription objects */
        free(ts);
    }
    printf("\n");

    /* subscription objects: create + destroy */
    {
        int n = quick ? 2000 : 20000;
        qom_object *owner = qom_container_get(reg, "/session");
        double med;
        for (r = 0; r < reps; r++) {
            double t0 = now_ns();
            for (i = 0; i < n; i++) {
                char *path = NULL;
                qom_object *sub;
                qom_subscribe_native(&typed_dev->obj, "tick", native_cb, NULL, owner, &path,
                                     &err);
                sub = qom_resolve(reg, path, NULL);
                qom_object_unparent(sub);
                qom_object_unref(sub);
                free(path);
            }
            a[r] = (now_ns() - t0) / n / 1000.0;
        }
        med = median(a, reps);
        printf("Subscription object, create (qom_subscribe_native) + resolve its path + "
               "destroy: %.2f us median of %d runs of %d (target <= 2 us: %s)\n", med, reps, n,
               bench_target("subscription object create + destroy", "<= 2 us",
                            verdict(med <= 2.0), "%.2f us", med));
    }

    /* resolving a 6-deep absolute path */
    {
        qom_object *leaf = qom_container_get(reg, "/a/b/c/d/e/f");
        int n = quick ? 200000 : 1000000;
        double med;
        ESCAPE(leaf);
        for (r = 0; r < reps; r++) {
            double t0 = now_ns();
            for (i = 0; i < n; i++) {
                qom_object *o = qom_resolve(reg, "/a/b/c/d/e/f", NULL);
                ESCAPE(o);
                qom_object_unref(o);
            }
            b[r] = (now_ns() - t0) / n;
        }
        med = median(b, reps);
        printf("\nResolving /a/b/c/d/e/f (qom_resolve + unref): %.1f ns median of %d runs of %d "
               "(target <= 300 ns: %s)\n\n", med, reps, n,
               bench_target("6-deep absolute path resolve", "<= 300 ns", verdict(med <= 300.0),
                            "%.1f ns", med));
    }
    qom_registry_free(reg);
    bench_record_close();
    return 0;
}
