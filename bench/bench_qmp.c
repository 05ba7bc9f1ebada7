/* bench_qmp: what the QMP adapter costs.
 *   1. DEVICE_TRAY_MOVED to wire text: qmp_sub.h's generated serializer
 *      against a bare snprintf of the same bytes (no escaping at all).
 *   2. Parsing a qom-get command into a value tree.
 *   3. End to end against the example server (bench_qmp --server PATH,
 *      which scripts/bench starts): pipelined qom-get round trips per
 *      second, and events per second delivered to one subscribed client.
 * Medians of repeated runs; targets printed next to each figure. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define NOTIFY_IMPLEMENTATION
#define QOM_LITE_IMPLEMENTATION
#define QMP_SUB_IMPLEMENTATION
#include "qmp_sub.h"
#include "bench_util.h"

#define TRAY_FIELDS(F) F(str, device, "device", _) F(bool, tray_open, "tray-open", _) \
                       F(str, id, "id", _)
QMP_STRUCT(tray_moved, TRAY_FIELDS);
QMP_DEFINE_EVENT(TRAY_EV, "DEVICE_TRAY_MOVED", tray_moved);

static long sink;

static double bench_marshal(long iters)
{
    qmp_writer w;
    tray_moved ev = { "", true, "cd0" };
    double t0, t1;
    long i;
    qmp_writer_init(&w);
    t0 = now_ns();
    for (i = 0; i < iters; i++) {
        qmp_writer_reset(&w);
        ESCAPE(&ev);
        qmp_write_event(&w, &TRAY_EV, &ev, 1795543046 + i, 584946);
        ESCAPE(w.buf);
        sink += (long)w.len;
    }
    t1 = now_ns();
    qmp_writer_free(&w);
    return (t1 - t0) / (double)iters;
}

static double bench_snprintf(long iters)
{
    char buf[256];
    tray_moved ev = { "", true, "cd0" };
    double t0, t1;
    long i;
    t0 = now_ns();
    for (i = 0; i < iters; i++) {
        ESCAPE(&ev);
        sink += snprintf(buf, sizeof buf,
                         "{\"timestamp\": {\"seconds\": %ld, \"microseconds\": %ld}, \"event\": "
                         "\"DEVICE_TRAY_MOVED\", \"data\": {\"device\": \"%s\", \"tray-open\": "
                         "%s, \"id\": \"%s\"}}\r\n",
                         1795543046L + i, 584946L, ev.device, ev.tray_open ? "true" : "false",
                         ev.id);
        ESCAPE(buf);
    }
    t1 = now_ns();
    return (t1 - t0) / (double)iters;
}

static double bench_parse(long iters)
{
    static const char cmd[] = "{\"execute\": \"qom-get\", \"arguments\": {\"path\": "
                              "\"/machine/peripheral/cd0\", \"property\": \"tray-open\"}, \"id\": 42}";
    qmp_json_arena a;
    const qmp_json *v;
    double t0, t1;
    long i;
    qmp_json_arena_init(&a);
    t0 = now_ns();
    for (i = 0; i < iters; i++) {
        if (qmp_json_parse(&a, cmd, sizeof cmd - 1, 0, &v, NULL) != 0)
            abort();
        sink += (long)v->len;
    }
    t1 = now_ns();
    qmp_json_arena_free(&a);
    return (t1 - t0) / (double)iters;
}

/* ---- end to end over the example server's socket ---- */

static int connect_to(const char *path)
{
    struct sockaddr_un sa;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        perror("connect");
        exit(1);
    }
    return fd;
}

static void send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            perror("write");
            exit(1);
        }
        p += k;
        n -= (size_t)k;
    }
}

/* Read until `lines` CRLF-terminated lines have come; count those that
 * contain `needle` into *hits (when given). */
static char rbuf[1 << 20];
static size_t have;   /* bytes read but not yet consumed, kept between calls */
static void read_lines(int fd, long lines, const char *needle, long *hits)
{
    while (lines > 0) {
        char *p, *nl, *start = rbuf;
        if (memchr(rbuf, '\n', have) == NULL) {
            ssize_t k = read(fd, rbuf + have, sizeof rbuf - have - 1);
            if (k <= 0) {
                fprintf(stderr, "read: connection ended\n");
                exit(1);
            }
            have += (size_t)k;
        }
        rbuf[have] = '\0';
        for (p = rbuf; lines > 0 && (nl = memchr(p, '\n', have - (size_t)(p - rbuf))) != NULL;
             p = nl + 1) {
            if (hits != NULL && needle != NULL && memmem(p, (size_t)(nl - p), needle, strlen(needle)))
                (*hits)++;
            lines--;
            start = nl + 1;
        }
        have -= (size_t)(start - rbuf);
        memmove(rbuf, start, have);
    }
}

static int session(const char *path, const char *caps)
{
    int fd = connect_to(path);
    char cmd[256];
    have = 0;
    read_lines(fd, 1, NULL, NULL);   /* greeting */
    snprintf(cmd, sizeof cmd,
             "{\"execute\":\"qmp_capabilities\",\"arguments\":{\"enable\":[%s]}}\n", caps);
    send_all(fd, cmd, strlen(cmd));
    read_lines(fd, 1, NULL, NULL);
    return fd;
}

static double qom_get_rate(const char *path, long n)
{
    static const char cmd[] = "{\"execute\":\"qom-get\",\"arguments\":{\"path\":"
                              "\"/machine/peripheral/cd0\",\"property\":\"tray-open\"}}\n";
    /* a subscriptions session that subscribes to nothing: replies only, no
     * heartbeat events among them */
    int fd = session(path, "\"subscriptions\"");
    char *all = malloc((sizeof cmd - 1) * (size_t)n);
    long i;
    double t0, t1;
    for (i = 0; i < n; i++)
        memcpy(all + (size_t)i * (sizeof cmd - 1), cmd, sizeof cmd - 1);
    t0 = now_ns();
    /* pipelined: write in slices, read what has come, until all answered */
    {
        size_t total = (sizeof cmd - 1) * (size_t)n, off = 0, slice = 64 * 1024;
        long answered = 0, want;
        while (answered < n) {
            if (off < total) {
                size_t k = total - off < slice ? total - off : slice;
                send_all(fd, all + off, k);
                off += k;
            }
            want = (long)(off / (sizeof cmd - 1)) - answered;
            if (want > 0) {
                read_lines(fd, want, NULL, NULL);
                answered += want;
            }
        }
    }
    t1 = now_ns();
    free(all);
    close(fd);
    return (double)n / ((t1 - t0) / 1e9);
}

/* Events per second to one subscribed client: the server's own thread
 * emits `n` events; we count what arrives and what was reported dropped. */
static double event_rate(const char *path, long n, long *received, long *dropped)
{
    static const char sub[] = "{\"execute\":\"qom-subscribe\",\"arguments\":{\"path\":"
                              "\"/machine/peripheral/cd0\",\"property\":\"tray-moved\"}}\n";
    int fd = session(path, "\"subscriptions\"");
    char cmd[256];
    double t0, t1;
    send_all(fd, sub, sizeof sub - 1);
    read_lines(fd, 1, NULL, NULL);
    have = 0;   /* nothing else can have come yet: no events before the burst */
    snprintf(cmd, sizeof cmd,
             "{\"execute\":\"x-tray-burst\",\"arguments\":{\"id\":\"cd0\",\"count\":%ld}}\n", n);
    t0 = now_ns();
    send_all(fd, cmd, strlen(cmd));
    *dropped = 0;
    *received = 0;
    have = 0;
    /* whole lines only (a partial one waits for the rest): events, drop
     * reports with their counts, and the reply */
    while (*received + *dropped < n) {
        struct pollfd pfd = { fd, POLLIN, 0 };
        char *p, *nl, *start = rbuf;
        ssize_t k;
        if (poll(&pfd, 1, 5000) <= 0)
            break;   /* nothing for 5 s: report what came */
        k = read(fd, rbuf + have, sizeof rbuf - have - 1);
        if (k <= 0)
            break;
        have += (size_t)k;
        for (p = rbuf; (nl = memchr(p, '\n', have - (size_t)(p - rbuf))) != NULL; p = nl + 1) {
            /* one search per line: the event's name follows "event": " */
            char *c = memmem(p, (size_t)(nl - p), "\"event\": \"", 10);
            if (c != NULL && memcmp(c + 10, "EVENTS_DROPPED", 14) == 0)
                *dropped += strtol(strstr(c, "\"count\": ") + 9, NULL, 10);
            else if (c != NULL)
                (*received)++;
            start = nl + 1;
        }
        have -= (size_t)(start - rbuf);
        memmove(rbuf, start, have);
    }
    t1 = now_ns();
    close(fd);
    return (double)*received / ((t1 - t0) / 1e9);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    int quick = 0, reps, r;
    const char *server = NULL;
    double m[32], s[32], p[32], ratio[32];
    long iters;
    int i;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else if (strcmp(argv[i], "--server") == 0 && i + 1 < argc)
            server = argv[++i];
    }
    reps = quick ? 7 : 21;
    iters = quick ? 200000 : 1000000;
    for (r = 0; r < reps; r++) {
        if (r & 1) {
            s[r] = bench_snprintf(iters);
            m[r] = bench_marshal(iters);
        } else {
            m[r] = bench_marshal(iters);
            s[r] = bench_snprintf(iters);
        }
        p[r] = bench_parse(iters);
        ratio[r] = s[r] / m[r];
    }
    printf("## qmp_sub.h: JSON (ns per operation, median of %d runs)\n\n", reps);
    printf("| operation | qomnotify | bare snprintf | snprintf / qomnotify | target |\n");
    printf("| --- | ---: | ---: | ---: | --- |\n");
    {
        double mm = median(m, reps), ss = median(s, reps), rr = median(ratio, reps);
        printf("| DEVICE_TRAY_MOVED to wire text | %.1f | %.1f | %.2fx | <= 60 ns: %s |\n", mm, ss,
               rr, verdict(mm <= 60.0));
        printf("| parse a qom-get command | %.1f | | | |\n\n", median(p, reps));
    }
    if (server != NULL) {
        double q[9], e[9];
        long recv = 0, drop = 0, n = quick ? 200000 : 1000000;
        int k = quick ? 3 : 5;
        for (r = 0; r < k; r++) {
            q[r] = qom_get_rate(server, quick ? 20000 : 100000);
            e[r] = event_rate(server, n, &recv, &drop);
        }
        printf("## QMP end to end over a UNIX socket (example server, median of %d)\n\n", k);
        printf("| measure | qomnotify | QEMU 7.2 (peer-numbers.md) | ratio | target |\n");
        printf("| --- | ---: | ---: | ---: | --- |\n");
        {
            double qq = median(q, k), ee = median(e, k);
            printf("| pipelined qom-get round trips/s | %.0f | 2200 | %.0fx | >= 100x: %s |\n", qq,
                   qq / 2200.0, verdict(qq / 2200.0 >= 100));
            printf("| events/s to one subscribed client | %.0f | | | >= 1000000: %s |\n", ee,
                   verdict(ee >= 1e6));
            printf("\n(last run: %ld of %ld events delivered, %ld dropped and reported by "
                   "EVENTS_DROPPED)\n", recv, n, drop);
        }
    }
    return sink == 42;
}
