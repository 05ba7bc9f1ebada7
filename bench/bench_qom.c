/* bench_qom: what qom_lite.h adds on top of notify.h.
 *
 *   bench_qom [--quick]
 *
 * 1. Emitting through an event property (the object's own list, emitted with
 *    the typed emit) against notify.h on a bare list, same subscribers.
 * 2. Creating and destroying a subscription object.
 * 3. Resolving a 6-deep absolute path.
 * Medians of repeated runs; targets printed next to each figure. */
#define NOTIFY_IMPLEMENTATION
#define QOM_LITE_IMPLEMENTATION
#include "qom_lite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"

typedef struct { long n; } tick;
QOM_DEFINE_EVENT(tick, tick);
static const qom_event_info TICK = { "TICK", NULL };
typedef struct { qom_object obj; tick_list ticks; } dev;
static void dev_class_init(qom_class *k, void *d)
{
    (void)d;
    QOM_CLASS_ADD_EVENT(k, "tick", dev, ticks, tick, &TICK, NULL);
}

static long sink_counter;
static int typed_cb(tick_sub *s, const tick *ev) { (void)s; (void)ev; count_add(&sink_counter); return 0; }
static void native_cb(void *opaque, qom_object *source, const void *payload)
{
    (void)source; (void)payload;
    count_add((long *)opaque);
}

static double emit_loop(tick_list *l, long iters)
{
    tick ev = { 1 };
    double t0;
    long i;
    for (i = 0; i < iters / 10; i++) { tick_emit(l, &ev); BARRIER(); }
    t0 = now_ns();
    for (i = 0; i < iters; i++) { tick_emit(l, &ev); BARRIER(); }
    return (now_ns() - t0) / (double)iters;
}


int main(int argc, char **argv)
{
    int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    int reps = quick ? 5 : 11, r, k, si;
    static const int sizes[] = { 0, 1, 8 };
    qom_registry *reg = qom_registry_new();
    const qom_type_info info = { "dev", "object", sizeof(dev), 0, dev_class_init, NULL, NULL,
                                 NULL, false, NULL };
    qom_error err;
    dev *d;
    tick_list bare;
    double a[32], b[32];

    qom_type_register(reg, &info, &err);
    d = (dev *)(void *)qom_object_new_child(qom_container_get(reg, "/machine/peripheral"),
                                            "dev0", "dev", &err);
    tick_list_init(&bare);
    ESCAPE(&bare);
    ESCAPE(d);

    printf("## qom_lite.h: emitting through an event property (ns per emit, median of %d)\n\n", reps);
    printf("| subscribers | event property | bare notify list | ratio | target |\n");
    printf("| ---: | ---: | ---: | ---: | --- |\n");
    for (si = 0; si < 3; si++) {
        int n = sizes[si];
        tick_sub *ps = calloc((size_t)(n + 1), sizeof *ps), *bs = calloc((size_t)(n + 1), sizeof *bs);
        long iters = (long)(10e6 / (1.0 + 2.0 * n));
        double ma, mb;
        for (k = 0; k < n; k++) {
            tick_sub_init(&ps[k], typed_cb, 0);
            tick_subscribe(&d->ticks, &ps[k]);
            tick_sub_init(&bs[k], typed_cb, 0);
            tick_subscribe(&bare, &bs[k]);
        }
        for (r = 0; r < reps; r++) {
            a[r] = emit_loop(&d->ticks, iters);
            b[r] = emit_loop(&bare, iters);
        }
        ma = median(a, reps);
        mb = median(b, reps);
        printf("| %d | %.2f | %.2f | %.3fx | <= 1.05x: %s |\n", n, ma, mb, ma / mb,
               verdict(ma / mb <= 1.05));
        notify_list_clear(&d->ticks.base);
        notify_list_clear(&bare.base);
        free(ps);
        free(bs);
    }

    /* one delivery through a subscription object (trampoline + sink + native
     * function) against one typed subscriber called directly */
    {
        tick_sub direct;
        double mq, mt;
        char *path = NULL;
        qom_object *sub;
        tick_sub_init(&direct, typed_cb, 0);
        tick_subscribe(&bare, &direct);
        qom_subscribe_native(&d->obj, "tick", native_cb, &sink_counter, NULL, &path, &err);
        for (r = 0; r < reps; r++) {
            a[r] = emit_loop(&d->ticks, 2000000);
            b[r] = emit_loop(&bare, 2000000);
        }
        mq = median(a, reps);
        mt = median(b, reps);
        printf("\nOne subscriber: through a subscription object %.2f ns per emit, a typed "
               "callback on a bare list %.2f ns (the object adds a trampoline and the sink's "
               "call: %.2f ns)\n", mq, mt, mq - mt);
        sub = qom_resolve(reg, path, NULL);
        qom_object_unparent(sub);
        qom_object_unref(sub);
        free(path);
        notify_list_clear(&bare.base);
    }

    /* subscription objects: create + destroy */
    {
        int n = quick ? 2000 : 20000, i;
        qom_object *owner = qom_container_get(reg, "/session");
        for (r = 0; r < reps; r++) {
            double t0 = now_ns();
            for (i = 0; i < n; i++) {
                char *path = NULL;
                qom_object *sub;
                qom_subscribe_native(&d->obj, "tick", native_cb, &sink_counter,
                                     owner, &path, &err);
                sub = qom_resolve(reg, path, NULL);
                qom_object_unparent(sub);
                qom_object_unref(sub);
                free(path);
            }
            a[r] = (now_ns() - t0) / n / 1000.0;
        }
        printf("\nSubscription object, create (qom_subscribe) + resolve its path + destroy: "
               "%.2f us median (target <= 2 us: %s)\n", median(a, reps),
               verdict(median(a, reps) <= 2.0));
    }

    /* resolving a 6-deep absolute path */
    {
        qom_object *leaf = qom_container_get(reg, "/a/b/c/d/e/f");
        int n = quick ? 200000 : 1000000, i;
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
        printf("Resolving /a/b/c/d/e/f (qom_resolve + unref): %.1f ns median "
               "(target <= 300 ns: %s)\n", median(b, reps), verdict(median(b, reps) <= 300.0));
    }
    qom_registry_free(reg);
    return 0;
}
