/* torture_qmp: device threads emit events on two ide-cd objects while the
 * main thread churns QMP sessions (legacy and subscribing), subscriptions
 * by path, by get and by type, unsubscribes, closes sessions with events
 * in flight, and drains output. A legacy session open for the whole run
 * must account for every event: received + dropped == emitted.
 * Usage: torture_qmp [seconds]. Run under TSan and ASan+UBSan in CI. */
#define _GNU_SOURCE   /* memmem, clock_gettime */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NOTIFY_IMPLEMENTATION
#define QOM_LITE_IMPLEMENTATION
#define QMP_SUB_IMPLEMENTATION
#include "qmp_sub.h"

#define TRAY_FIELDS(F) F(str, device, "device", _) F(bool, tray_open, "tray-open", _) \
                       F(str, id, "id", _)
QMP_STRUCT(tray_moved, TRAY_FIELDS);
QMP_DEFINE_EVENT(TRAY_EV, "DEVICE_TRAY_MOVED", tray_moved);
QOM_DEFINE_EVENT(tray, tray_moved);
static const qom_event_info TRAY_INFO = { "DEVICE_TRAY_MOVED", &TRAY_EV };

typedef struct {
    qom_object obj;
    bool tray_open;
    tray_list moved;
} ide_cd;

static void cd_class_init(qom_class *k, void *d)
{
    (void)d;
    QOM_CLASS_ADD_EVENT(k, "tray-moved", ide_cd, moved, tray, &TRAY_INFO, NULL);
}

static NOTIFY__ATOMIC(int) stop;
static NOTIFY__ATOMIC(long) emitted;
static ide_cd *devs[2];

static void *device_thread(void *arg)
{
    ide_cd *d = devs[(intptr_t)arg];
    const char *id = (intptr_t)arg ? "cd1" : "cd0";
    long n = 0;
    while (!atomic_load(&stop)) {
        tray_moved ev = { "", (n & 1) != 0, id };
        tray_emit(&d->moved, &ev);
        n++;
    }
    atomic_fetch_add(&emitted, n);
    return NULL;
}

static size_t count(const char *buf, size_t len, const char *needle)
{
    size_t n = 0, k = strlen(needle);
    const char *p = buf, *end = buf + len;
    while (p + k <= end && (p = memmem(p, (size_t)(end - p), needle, k)) != NULL) {
        n++;
        p += k;
    }
    return n;
}

/* Drain a session and count the events in it; a needle split between two
 * reads is found through the bytes carried over. */
static size_t drain_events(qmp_session *s)
{
    static const char needle[] = "\"event\": \"DEVICE_TRAY_MOVED\"";
    static char buf[(1 << 16) + sizeof needle];
    size_t n, events = 0, carry = 0, k = sizeof needle - 1, total = 0;
    /* bounded: the devices refill the queue as fast as we empty it; past
     * the bound, finish the current line a byte at a time and stop */
    while ((n = qmp_session_read(s, buf + carry, total < (1u << 16) ? (1u << 16) : 1)) != 0) {
        int boundary = buf[carry + n - 1] == '\n';   /* messages end in CRLF */
        size_t len = carry + n;
        total += n;
        events += count(buf, len, needle);
        carry = len < k - 1 ? len : k - 1;
        memmove(buf, buf + len - carry, carry);
        if (total >= (1u << 16) && boundary)
            break;
    }
    return events;
}

static void cmd(qmp_session *s, const char *text)
{
    qmp_session_feed(s, text, strlen(text));
}

static void quiet(void *o, const char *m)
{
    (void)o;
    (void)m;
}

/* The transport's timer duty, from its own thread: throttled events held
 * by emitters are delivered here while the device threads hold more. */
static void *timer_thread(void *arg)
{
    qmp_server *srv = (qmp_server *)arg;
    struct timespec ts = { 0, 200000 };
    while (!atomic_load(&stop)) {
        (void)qmp_server_timers(srv);
        nanosleep(&ts, NULL);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 2.0;
    const qom_type_info info = { "ide-cd", "object", sizeof(ide_cd), 0, cd_class_init,
                                 NULL, NULL, NULL, false, NULL };
    qom_registry *reg = qom_registry_new();
    qmp_server_config cfg;
    qmp_server *srv;
    qmp_session *witness;
    pthread_t th[2], timer;
    qom_error err;
    struct timespec t0, t;
    size_t witness_events = 0, churned = 0, sub_events = 0;
    int i, errors = 0;

    if (reg == NULL || qom_type_register(reg, &info, &err) != 0)
        return 1;
    for (i = 0; i < 2; i++) {
        qom_object *o = qom_object_new_child(qom_container_get(reg, "/machine/peripheral"),
                                             i ? "cd1" : "cd0", "ide-cd", &err);
        if (o == NULL)
            return 1;
        devs[i] = (ide_cd *)(void *)o;
    }
    memset(&cfg, 0, sizeof cfg);
    cfg.max_output = 64 * 1024;   /* small, so that drops happen */
    cfg.log = quiet;
    srv = qmp_server_new(reg, &cfg);
    if (srv == NULL)
        return 1;
    witness = qmp_session_new(srv, NULL, NULL);
    cmd(witness, "{\"execute\":\"qmp_capabilities\"}");
    drain_events(witness);   /* greeting and reply */

    for (i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, device_thread, (void *)(intptr_t)i);
    pthread_create(&timer, NULL, timer_thread, srv);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        qmp_session *a = qmp_session_new(srv, NULL, NULL);
        qmp_session *b = qmp_session_new(srv, NULL, NULL);
        cmd(a, "{\"execute\":\"qmp_capabilities\",\"arguments\":{\"enable\":[\"subscriptions\"]}}");
        cmd(b, "{\"execute\":\"qmp_capabilities\"}");
        cmd(a, "{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"cd0\",\"property\":\"tray-moved\"}}");
        cmd(a, "{\"execute\":\"qom-subscribe-type\",\"arguments\":{\"typename\":\"ide-cd\",\"property\":\"tray-moved\"}}");
        cmd(a, "{\"execute\":\"qom-subscribe\",\"arguments\":{\"path\":\"cd1\",\"property\":\"tray-moved\",\"throttle-ms\":2}}");
        sub_events += drain_events(a);
        cmd(a, "{\"execute\":\"qom-unsubscribe\",\"arguments\":{\"subscription\":\"cd0\"}}");
        cmd(a, "{\"execute\":\"query-subscriptions\"}");
        sub_events += drain_events(a);
        drain_events(b);
        witness_events += drain_events(witness);
        /* close with events in flight, sometimes without draining */
        qmp_session_free(a);
        qmp_session_free(b);
        churned++;
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while ((double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9 < seconds);
    atomic_store(&stop, 1);
    for (i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    pthread_join(timer, NULL);
    for (i = 0; i < 64; i++)   /* the drop report, if any, then the rest */
        witness_events += drain_events(witness);
    {
        unsigned long long got = witness_events, dropped = qmp_session_dropped(witness);
        long sent = atomic_load(&emitted);
        if ((long long)(got + dropped) != sent) {
            fprintf(stderr, "witness: received %llu + dropped %llu != emitted %ld\n", got,
                    dropped, sent);
            errors++;
        }
        printf("torture_qmp: %.1fs emitted=%ld witness=%llu dropped=%llu sessions=%zu "
               "subscribed-events=%zu errors=%d\n",
               seconds, sent, got, dropped, 2 * churned, sub_events, errors);
    }
    qmp_session_free(witness);
    qmp_server_free(srv);
    qom_registry_free(reg);
    return errors != 0;
}
