/* Multi-threaded torture test of qom_lite.h.
 *
 *   torture_qom [SECONDS]      (default 2)
 *
 * Device threads create ide-cd objects in the tree, emit on them from their
 * own thread, and destroy them, while a churn thread subscribes to them by
 * path and destroys those subscriptions (some from inside their own
 * callback), a type-wide subscription covers every device that comes and
 * goes, and a stable device carries a subscription that must see every one
 * of its events. Devices are also destroyed while they emit: by the churn
 * thread (device_del from another thread) and by a reaper subscription that
 * unparents its source from inside its own callback. Every delivery checks
 * its source's magic; qom_lite.h poisons freed objects in debug builds, so
 * a delivery from freed memory is caught even without a sanitizer. Run under
 * ThreadSanitizer and AddressSanitizer; the exit status says whether every
 * count balanced. */
#define NOTIFY_IMPLEMENTATION
#define QOM_LITE_IMPLEMENTATION
#include "qom_lite.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct { int seq; } tick;
QOM_DEFINE_EVENT(tick, tick);
static const qom_event_info TICK = { "TICK", NULL };

#define DEV_MAGIC 0x0bdec0deu
typedef struct { qom_object obj; unsigned magic; tick_list ticks; } dev;

static void dev_init(qom_object *o) { ((dev *)(void *)o)->magic = DEV_MAGIC; }

static void dev_class_init(qom_class *k, void *d)
{
    (void)d;
    QOM_CLASS_ADD_EVENT(k, "tick", dev, ticks, tick, &TICK, NULL);
}

static qom_registry *reg;
static NOTIFY__ATOMIC(int) stop;
static NOTIFY__ATOMIC(long) emits, stable_emits, made, released, errors, self_killed,
    reaped, deleted;

typedef struct {
    qom_sink sink;
    NOTIFY__ATOMIC(long) events;
    int kill_self;      /* unparent the subscription from its own callback */
    int kill_source;    /* unparent the emitting device from the callback */
} count_sink;

static void count_deliver(qom_sink *sink, qom_object *sub, qom_object *source,
                          const qom_event_info *event, const void *payload)
{
    count_sink *c = (count_sink *)(void *)sink;
    if (event != &TICK || ((const tick *)payload)->seq < 0 ||
        ((dev *)(void *)source)->magic != DEV_MAGIC) {
        fprintf(stderr, "torture_qom: delivery from a dead or foreign source\n");
        NOTIFY__STD atomic_fetch_add(&errors, 1);
    }
    NOTIFY__STD atomic_fetch_add(&c->events, 1);
    if (c->kill_self && qom_object_unparent(sub) == 0)
        NOTIFY__STD atomic_fetch_add(&self_killed, 1);
    if (c->kill_source &&
        qom_object_unparent(source) == 0)
        NOTIFY__STD atomic_fetch_add(&reaped, 1);
}

static void count_release(qom_sink *sink, qom_object *sub)
{
    (void)sink; (void)sub;
    NOTIFY__STD atomic_fetch_add(&released, 1);
}

static count_sink churn_sink, killer_sink, reaper_sink, type_sink, stable_sink;

static void *device_thread(void *arg)
{
    long n = 0;
    int id = (int)(intptr_t)arg;
    qom_object *per = qom_container_get(reg, "/machine/peripheral");
    while (!NOTIFY__STD atomic_load(&stop)) {
        char name[32];
        qom_error err;
        qom_object *o;
        int k;
        snprintf(name, sizeof name, "d%d[*]", id);
        /* Our own reference first: another thread may device_del it the
         * moment it is in the tree (new_child's pointer would be borrowed). */
        o = qom_object_new(reg, "dev", &err);
        if (o == NULL || qom_object_add_child(per, name, o, &err) != 0) {
            NOTIFY__STD atomic_fetch_add(&errors, 1);
            if (o != NULL)
                qom_object_unref(o);
            break;
        }
        for (k = 0; k < 200; k++) {
            tick t;
            t.seq = k;
            tick_emit(&((dev *)(void *)o)->ticks, &t);
            n++;
        }
        qom_object_unparent(o);                 /* device_del, unless done */
        for (k = 0; k < 50; k++) {              /* still emitting after removal */
            tick t;
            t.seq = k;
            tick_emit(&((dev *)(void *)o)->ticks, &t);
            n++;
        }
        qom_object_unref(o);
    }
    NOTIFY__STD atomic_fetch_add(&emits, n);
    return NULL;
}

static void *stable_thread(void *arg)
{
    dev *d = (dev *)arg;
    long n = 0;
    while (!NOTIFY__STD atomic_load(&stop)) {
        tick t;
        t.seq = (int)(n & 0xffff);
        tick_emit(&d->ticks, &t);
        n++;
    }
    NOTIFY__STD atomic_store(&stable_emits, n);
    return NULL;
}

static void *churn_thread(void *arg)
{
    unsigned seed = 12345;
    (void)arg;
    while (!NOTIFY__STD atomic_load(&stop)) {
        char path[64];
        qom_object *o, *sub;
        char *sp = NULL;
        qom_error err;
        seed = seed * 1103515245u + 12345u;
        snprintf(path, sizeof path, "/machine/peripheral/d%u[%u]", (seed >> 8) % 2, (seed >> 12) % 2);
        o = qom_resolve(reg, path, NULL);
        if (o == NULL) {
            sched_yield();
            continue;
        }
        if ((seed & 0x70000) == 0) {            /* device_del from here */
            if (qom_object_unparent(o) == 0)
                NOTIFY__STD atomic_fetch_add(&deleted, 1);
            qom_object_unref(o);
            continue;
        }
        if (qom_subscribe(o, "tick", (seed & 1) ? &killer_sink.sink
                          : (seed & 0x300) == 0 ? &reaper_sink.sink : &churn_sink.sink,
                          NULL, &sp, &err) == 0) {
            NOTIFY__STD atomic_fetch_add(&made, 1);
            if (seed & 2)
                sched_yield();
            sub = qom_resolve(reg, sp, NULL);   /* may be gone already */
            if (sub != NULL) {
                qom_object_unparent(sub);
                qom_object_unref(sub);
            }
            free(sp);
        }
        qom_object_unref(o);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 2.0;
    const qom_type_info info = { "dev", "object", sizeof(dev), 0, dev_class_init, NULL,
                                 dev_init, NULL, false, NULL };
    pthread_t th[4];
    struct timespec ts;
    qom_error err;
    qom_object *stable;
    long stable_seen;
    int i, fails = 0;

    reg = qom_registry_new();
    if (reg == NULL || qom_type_register(reg, &info, &err) != 0)
        return 2;
    churn_sink.sink.deliver = killer_sink.sink.deliver = count_deliver;
    type_sink.sink.deliver = stable_sink.sink.deliver = count_deliver;
    reaper_sink.sink.deliver = count_deliver;
    churn_sink.sink.release = killer_sink.sink.release = count_release;
    type_sink.sink.release = stable_sink.sink.release = count_release;
    reaper_sink.sink.release = count_release;
    killer_sink.kill_self = 1;
    reaper_sink.kill_source = 1;

    stable = qom_object_new_child(qom_container_get(reg, "/machine"), "stable", "dev", &err);
    if (qom_subscribe(stable, "tick", &stable_sink.sink, NULL, NULL, &err) != 0 ||
        qom_subscribe_type(reg, "dev", "tick", &type_sink.sink, NULL, NULL, &err) != 0)
        return 2;
    made = 2;

    pthread_create(&th[0], NULL, device_thread, (void *)(intptr_t)0);
    pthread_create(&th[1], NULL, device_thread, (void *)(intptr_t)1);
    pthread_create(&th[2], NULL, stable_thread, stable);
    pthread_create(&th[3], NULL, churn_thread, NULL);
    ts.tv_sec = (time_t)seconds;
    ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
    nanosleep(&ts, NULL);
    NOTIFY__STD atomic_store(&stop, 1);
    for (i = 0; i < 4; i++)
        pthread_join(th[i], NULL);

    stable_seen = NOTIFY__STD atomic_load(&stable_sink.events);
    qom_registry_free(reg);     /* ends every subscription, frees every object */
    notify_synchronize();

    printf("torture_qom: %.1fs emits=%ld stable=%ld/%ld type-wide=%ld churned=%ld "
           "self-destroyed=%ld devices-reaped-in-callback=%ld devices-deleted-elsewhere=%ld "
           "subscriptions=%ld released=%ld errors=%ld\n",
           seconds, (long)emits, stable_seen, (long)stable_emits, (long)type_sink.events,
           (long)(churn_sink.events + killer_sink.events + reaper_sink.events),
           (long)self_killed, (long)reaped, (long)deleted, (long)made,
           (long)released, (long)errors);
    if (stable_seen != stable_emits)
        fails++, fprintf(stderr, "torture_qom: the stable subscription missed events\n");
    if (released != made)
        fails++, fprintf(stderr, "torture_qom: subscriptions made and released differ\n");
    if (errors != 0 || emits == 0 || made < 3 || deleted == 0)
        fails++, fprintf(stderr, "torture_qom: errors or no progress\n");
    return fails != 0;
}
