/* bench_qmp: what the QMP adapter costs, side by side with the peers.
 *
 *   bench_qmp [--quick] [--record FILE] [--server PATH]
 *             [--qemu PATH | --qemu-missing REASON]
 *
 * 1. DEVICE_TRAY_MOVED to its exact wire text
 *      {"timestamp": {"seconds": S, "microseconds": U}, "event":
 *      "DEVICE_TRAY_MOVED", "data": {"device": "", "tray-open": true,
 *      "id": "cd0"}}\r\n
 *    with qmp_sub.h's generated serializer, a bare snprintf of the same
 *    bytes (no escaping at all), jansson (json_pack + json_dumps) and json-c
 *    (json_object_new_* + json_object_to_json_string_ext); the texts are
 *    checked first. jansson and json-c live in modules (json_jansson.c,
 *    json_jsonc.c) that this program dlopen()s: their symbols clash.
 * 2. Parsing a qom-get command into a tree: qmp_sub.h's reader, jansson's
 *    json_loads, json-c's json_tokener_parse.
 *    For both: ns per operation, the implementations alternating in each
 *    repetition, medians; ratios are medians of per-repetition ratios; heap
 *    allocations per operation counted by alloc_count.c.
 * 3. End to end over UNIX sockets, one client (this program, the same code
 *    for both servers) against the example server (--server) and against
 *    QEMU 7.2 (--qemu; scripts/bench starts both), alternating:
 *      pipelined qom-get round trips/s, 64 requests in flight;
 *      tray toggles/s: blockdev-open-tray / blockdev-close-tray, 64 in
 *      flight, each counted when both its reply and its DEVICE_TRAY_MOVED
 *      event have come;
 *    and, the example server only (QEMU has no equivalent), events/s
 *    delivered to 1 and to 64 subscribed clients: the server's x-tray-burst
 *    command emits a burst from a thread of its own; every event is either
 *    delivered or reported dropped (EVENTS_DROPPED {"count": N}).
 * Targets printed next to each figure and recorded for bench/results.md. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
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

#include "alloc_count.h"
#include "bench_util.h"
#include "json_peer.h"

#define TRAY_FIELDS(F) F(str, device, "device", _) F(bool, tray_open, "tray-open", _) \
                       F(str, id, "id", _)
QMP_STRUCT(tray_moved, TRAY_FIELDS);
QMP_DEFINE_EVENT(TRAY_EV, "DEVICE_TRAY_MOVED", tray_moved);

#define EV_SECONDS 1795543046LL
#define EV_MICROS 584946LL
static const char EXPECTED_EVENT[] =
    "{\"timestamp\": {\"seconds\": 1795543046, \"microseconds\": 584946}, \"event\": "
    "\"DEVICE_TRAY_MOVED\", \"data\": {\"device\": \"\", \"tray-open\": true, \"id\": "
    "\"cd0\"}}\r\n";
static const char QOM_GET_CMD[] =
    "{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"/machine/peripheral/cd0\", "
    "\"property\": \"tray-open\"}, \"id\": 1}";

static long sink;
static const bench_json_peer *peers[2];   /* jansson, json-c */

/* ================================================================
 * 1, 2. JSON
 * ================================================================ */

/* Each writes the event for timestamp seconds EV_SECONDS + i into buf and
 * returns its length. */
static qmp_writer qw;
static size_t ev_qomnotify(char *buf, size_t cap, long i)
{
    tray_moved ev = { "", true, "cd0" };
    (void)buf; (void)cap;
    qmp_writer_reset(&qw);
    ESCAPE(&ev);
    qmp_write_event(&qw, &TRAY_EV, &ev, EV_SECONDS + i, EV_MICROS);
    ESCAPE(qw.buf);
    return qw.len;
}

static size_t ev_snprintf(char *buf, size_t cap, long i)
{
    tray_moved ev = { "", true, "cd0" };
    int n;
    ESCAPE(&ev);
    n = snprintf(buf, cap,
                 "{\"timestamp\": {\"seconds\": %lld, \"microseconds\": %lld}, \"event\": "
                 "\"DEVICE_TRAY_MOVED\", \"data\": {\"device\": \"%s\", \"tray-open\": "
                 "%s, \"id\": \"%s\"}}\r\n",
                 EV_SECONDS + i, EV_MICROS, ev.device, ev.tray_open ? "true" : "false", ev.id);
    ESCAPE(buf);
    return n > 0 ? (size_t)n : 0;
}

static size_t ev_peer(int k, char *buf, size_t cap, long i)
{
    return peers[k]->tray_event(buf, cap, EV_SECONDS + i, EV_MICROS, "", 1, "cd0");
}
static size_t ev_jansson(char *buf, size_t cap, long i) { return ev_peer(0, buf, cap, i); }
static size_t ev_jsonc(char *buf, size_t cap, long i) { return ev_peer(1, buf, cap, i); }

typedef size_t (*event_fn)(char *buf, size_t cap, long i);
static const event_fn event_fns[4] = { ev_qomnotify, ev_snprintf, ev_jansson, ev_jsonc };

/* One sample: a tenth as warm-up, then the timed loop; ns per event. */
static BENCH_NOINLINE double event_loop(int k, long iters)
{
    char buf[512];
    double t0;
    long i;
    for (i = 0; i < iters / 10; i++)
        sink += (long)event_fns[k](buf, sizeof buf, i);
    t0 = now_ns();
    for (i = 0; i < iters; i++)
        sink += (long)event_fns[k](buf, sizeof buf, i);
    return (now_ns() - t0) / (double)iters;
}

static qmp_json_arena arena;
static int parse_qomnotify(void)
{
    const qmp_json *v;
    if (qmp_json_parse(&arena, QOM_GET_CMD, sizeof QOM_GET_CMD - 1, 0, &v, NULL) != 0)
        return -1;
    sink += (long)v->len;
    return 0;
}
static int parse_jansson(void) { return peers[0]->parse(QOM_GET_CMD); }
static int parse_jsonc(void) { return peers[1]->parse(QOM_GET_CMD); }
typedef int (*parse_fn)(void);
static const parse_fn parse_fns[3] = { parse_qomnotify, parse_jansson, parse_jsonc };

static BENCH_NOINLINE double parse_loop(int k, long iters)
{
    double t0;
    long i;
    for (i = 0; i < iters / 10; i++)
        if (parse_fns[k]() != 0)
            abort();
    t0 = now_ns();
    for (i = 0; i < iters; i++)
        if (parse_fns[k]() != 0)
            abort();
    return (now_ns() - t0) / (double)iters;
}

/* Iterations for about target_ns per sample. */
static long calibrate(double (*loop)(int, long), int k, double target_ns)
{
    long it = 16;
    double per;
    for (;;) {
        per = loop(k, it);
        if (per * (double)it >= 2e5 || it >= (1L << 28))
            break;
        it *= 4;
    }
    it = (long)(target_ns / per);
    return it < 16 ? 16 : it;
}

static int load_peers(void)
{
    static const char *names[2] = { "bench_json_jansson.so", "bench_json_jsonc.so" };
    char exe[PATH_MAX], path[PATH_MAX + 64], *slash;
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    int k;
    if (n <= 0)
        return -1;
    exe[n] = '\0';
    if ((slash = strrchr(exe, '/')) != NULL)
        *slash = '\0';
    for (k = 0; k < 2; k++) {
        void *h;
        snprintf(path, sizeof path, "%s/%s", exe, names[k]);
        /* RTLD_LOCAL: each library's symbols stay out of the global scope,
         * so jansson's json_object_get is not json-c's */
        if ((h = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL ||
            (peers[k] = (const bench_json_peer *)dlsym(h, BENCH_JSON_PEER_SYMBOL)) == NULL) {
            fprintf(stderr, "bench_qmp: %s\n", dlerror());
            return -1;
        }
    }
    return 0;
}

static void json_tables(int quick)
{
    static const char *ev_names[4] = { "qomnotify (qmp_write_event)",
                                       "snprintf, fixed format (no escaping)", NULL, NULL };
    static const char *parse_names[3] = { "qomnotify (qmp_json_parse)", NULL, NULL };
    char ev_label[4][160], parse_label[3][160], wire[4][700], buf[512];
    int reps = quick ? 7 : 21, r, j, k;
    double target_ns = quick ? 2e6 : 4e6;
    double te[4][BENCH_MAX_REPS], tp[3][BENCH_MAX_REPS];
    double ev_allocs[4], parse_allocs[3];
    long it_e[4], it_p[3];

    qmp_writer_init(&qw);
    qmp_json_arena_init(&arena);
    for (k = 0; k < 4; k++) {
        size_t n = event_fns[k](buf, sizeof buf, 0);
        const char *text = k == 0 ? qw.buf : buf;
        if (k == 0)
            n = qw.len;
        if (n == sizeof EXPECTED_EVENT - 1 && memcmp(text, EXPECTED_EVENT, n) == 0) {
            snprintf(wire[k], sizeof wire[k], "exact");
        } else {
            /* compare as values, without the CRLF */
            char a[512], b[512];
            snprintf(a, sizeof a, "%.*s", (int)(n >= 2 ? n - 2 : 0), text);
            snprintf(b, sizeof b, "%.*s", (int)sizeof EXPECTED_EVENT - 3, EXPECTED_EVENT);
            snprintf(wire[k], sizeof wire[k], "%s; %zu bytes (exact: %zu): `%s`",
                     peers[0]->same_value(a, b) && peers[1]->same_value(a, b)
                         ? "same value, not the same bytes" : "DIFFERENT VALUE",
                     n, sizeof EXPECTED_EVENT - 1, a);
        }
    }
    snprintf(ev_label[0], sizeof ev_label[0], "%s", ev_names[0]);
    snprintf(ev_label[1], sizeof ev_label[1], "%s", ev_names[1]);
    snprintf(parse_label[0], sizeof parse_label[0], "%s", parse_names[0]);
    for (k = 0; k < 2; k++) {
        snprintf(ev_label[2 + k], sizeof ev_label[0], "%s (%s)", peers[k]->name, peers[k]->how);
        snprintf(parse_label[1 + k], sizeof parse_label[0], "%s (%s)", peers[k]->name,
                 k == 0 ? "json_loads" : "json_tokener_parse");
    }

    /* allocations per operation, counted (not timed) */
    for (k = 0; k < 4; k++) {
        alloc_stats s;
        int i;
        event_loop(k, 100);
        alloc_count_begin();
        for (i = 0; i < 1000; i++)
            sink += (long)event_fns[k](buf, sizeof buf, i);
        s = alloc_count_end();
        ev_allocs[k] = alloc_count_active() ? s.allocs / 1000.0 : -1;
    }
    for (k = 0; k < 3; k++) {
        alloc_stats s;
        int i;
        parse_loop(k, 100);
        alloc_count_begin();
        for (i = 0; i < 1000; i++)
            parse_fns[k]();
        s = alloc_count_end();
        parse_allocs[k] = alloc_count_active() ? s.allocs / 1000.0 : -1;
    }

    for (k = 0; k < 4; k++)
        it_e[k] = calibrate(event_loop, k, target_ns);
    for (k = 0; k < 3; k++)
        it_p[k] = calibrate(parse_loop, k, target_ns);
    for (r = 0; r < reps; r++) {
        for (j = 0; j < 4; j++) {
            k = bench_order(r, j, 4);
            te[k][r] = event_loop(k, it_e[k]);
        }
        for (j = 0; j < 3; j++) {
            k = bench_order(r, j, 3);
            tp[k][r] = parse_loop(k, it_p[k]);
        }
    }

    printf("## qmp_sub.h: JSON, side by side\n\n");
    printf("ns per operation, median of %d repetitions, implementations alternating in each; "
           "\"vs qomnotify\" is the median of per-repetition ratios; allocations counted over "
           "1000 operations.\n\n", reps);
    printf("DEVICE_TRAY_MOVED with its timestamp to wire text (CRLF included; the timestamp "
           "changes every iteration):\n\n");
    printf("| implementation | ns per event | vs qomnotify | allocations per event | "
           "wire text |\n");
    printf("| --- | ---: | ---: | ---: | --- |\n");
    {
        double mq = median(te[0], reps), rjc = median_ratio(te[3], te[0], reps);
        char t0s[96], t3s[96];
        snprintf(t0s, sizeof t0s, "%.1f (<= 60 ns: %s)", mq,
                 bench_target("DEVICE_TRAY_MOVED to wire text (qomnotify)", "<= 60 ns",
                              verdict(mq <= 60.0), "%.1f ns", mq));
        snprintf(t3s, sizeof t3s, "%.1fx (>= 15x: %s)", rjc,
                 bench_target("DEVICE_TRAY_MOVED to wire text: json-c / qomnotify", ">= 15x",
                              verdict(rjc >= 15.0), "%.1fx", rjc));
        for (k = 0; k < 4; k++) {
            char vs[96];
            if (k == 0)
                snprintf(vs, sizeof vs, "1.00x");
            else if (k == 3)
                snprintf(vs, sizeof vs, "%s", t3s);
            else
                snprintf(vs, sizeof vs, "%.1fx", median_ratio(te[k], te[0], reps));
            if (k == 0)
                printf("| %s | %s | %s | %.2f | %s |\n", ev_label[k], t0s, vs, ev_allocs[k],
                       wire[k]);
            else
                printf("| %s | %.1f | %s | %.2f | %s |\n", ev_label[k], median(te[k], reps), vs,
                       ev_allocs[k], wire[k]);
        }
    }
    printf("\nParsing `%s` into a tree (qomnotify: into an arena reused from parse to parse, "
           "as a session does; the peers: a new tree, then freed):\n\n", QOM_GET_CMD);
    printf("| implementation | ns per parse | vs qomnotify | allocations per parse |\n");
    printf("| --- | ---: | ---: | ---: |\n");
    for (k = 0; k < 3; k++)
        printf("| %s | %.1f | %.2fx | %.2f |\n", parse_label[k], median(tp[k], reps),
               median_ratio(tp[k], tp[0], reps), parse_allocs[k]);
    printf("\n");
    qmp_writer_free(&qw);
    qmp_json_arena_free(&arena);
}

/* ================================================================
 * 3. End to end: one client for both servers
 * ================================================================ */
typedef struct qmp_client {
    int fd;
    char *buf;
    size_t have, cap;
    long replies, errors, events, tray_events, dropped, lines;
    char first_reply[160];     /* the first reply line seen, for the notes */
} qmp_client;

static int client_connect(qmp_client *c, const char *path)
{
    struct sockaddr_un sa;
    memset(c, 0, sizeof *c);
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    c->fd = socket(AF_UNIX, SOCK_STREAM, 0);
    c->cap = 1 << 18;
    c->buf = malloc(c->cap);
    if (c->fd < 0 || c->buf == NULL || connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        fprintf(stderr, "bench_qmp: connect %s: %s\n", path, strerror(errno));
        if (c->fd >= 0)
            close(c->fd);
        free(c->buf);
        c->fd = -1;
        return -1;
    }
    return 0;
}

static void client_close(qmp_client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    free(c->buf);
    c->fd = -1;
    c->buf = NULL;
}

static int client_send(qmp_client *c, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(c->fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static void client_reset_counts(qmp_client *c)
{
    c->replies = c->errors = c->events = c->tray_events = c->dropped = c->lines = 0;
}

/* One line (without its LF): classify and count it. */
static void client_line(qmp_client *c, const char *p, size_t n)
{
    c->lines++;
    if (n >= 13 && memcmp(p, "{\"timestamp\":", 13) == 0) {
        const char *e = memmem(p, n, "\"event\": \"", 10);
        if (e != NULL && (size_t)(p + n - e) > 24 && memcmp(e + 10, "EVENTS_DROPPED", 14) == 0) {
            const char *cnt = memmem(e, (size_t)(p + n - e), "\"count\": ", 9);
            c->dropped += cnt != NULL ? strtol(cnt + 9, NULL, 10) : 0;
        } else {
            c->events++;
            if (e != NULL && (size_t)(p + n - e) > 27 &&
                memcmp(e + 10, "DEVICE_TRAY_MOVED", 17) == 0)
                c->tray_events++;
        }
    } else if (n >= 6 && memcmp(p, "{\"QMP\"", 6) == 0) {
        /* the greeting */
    } else {
        if (c->replies == 0)
            snprintf(c->first_reply, sizeof c->first_reply, "%.*s",
                     (int)(n > 0 && p[n - 1] == '\r' ? n - 1 : n), p);
        c->replies++;
        if (memmem(p, n, "\"error\": {", 10) != NULL)
            c->errors++;
    }
}

/* Wait up to timeout_ms for input (< 0: the caller's poll said it is
 * readable), read once, count the whole lines. 1: read something; 0: timed
 * out; -1: the connection ended. */
static int client_pump(qmp_client *c, int timeout_ms)
{
    struct pollfd pfd = { c->fd, POLLIN, 0 };
    char *p, *nl, *end;
    ssize_t k;
    int pr = timeout_ms < 0 ? 1 : poll(&pfd, 1, timeout_ms);
    if (pr == 0)
        return 0;
    if (pr < 0)
        return errno == EINTR ? 1 : -1;
    if (c->have == c->cap) {   /* a line longer than the buffer: grow */
        char *nb = realloc(c->buf, c->cap * 2);
        if (nb == NULL)
            return -1;
        c->buf = nb;
        c->cap *= 2;
    }
    k = read(c->fd, c->buf + c->have, c->cap - c->have);
    if (k < 0 && errno == EINTR)
        return 1;
    if (k <= 0)
        return -1;
    c->have += (size_t)k;
    end = c->buf + c->have;
    for (p = c->buf; (nl = memchr(p, '\n', (size_t)(end - p))) != NULL; p = nl + 1)
        client_line(c, p, (size_t)(nl - p));
    c->have = (size_t)(end - p);
    memmove(c->buf, p, c->have);
    return 1;
}

/* Pump until cond holds; -1 on a 10 s silence or a lost connection. */
#define CLIENT_WAIT(c, cond) \
    do { \
        while (!(cond)) \
            if (client_pump((c), 10000) <= 0) \
                return -1; \
    } while (0)

/* Connect, read the greeting and negotiate, enabling `caps` (a JSON
 * array's members) or nothing; with `version`, query-version's reply goes
 * there. */
static int client_open(qmp_client *c, const char *path, const char *caps, char *version,
                       size_t vcap)
{
    char cmd[160];
    if (client_connect(c, path) != 0)
        return -1;
    CLIENT_WAIT(c, c->lines >= 1);   /* the greeting */
    if (caps != NULL)
        snprintf(cmd, sizeof cmd,
                 "{\"execute\":\"qmp_capabilities\",\"arguments\":{\"enable\":[%s]}}\n", caps);
    else
        snprintf(cmd, sizeof cmd, "{\"execute\":\"qmp_capabilities\"}\n");
    if (client_send(c, cmd, strlen(cmd)) != 0)
        return -1;
    CLIENT_WAIT(c, c->replies >= 1);
    if (c->errors != 0) {
        fprintf(stderr, "bench_qmp: %s: qmp_capabilities failed: %s\n", path, c->first_reply);
        return -1;
    }
    if (version != NULL) {   /* query-version: both servers answer it */
        static const char qv[] = "{\"execute\":\"query-version\"}\n";
        if (client_send(c, qv, sizeof qv - 1) != 0)
            return -1;
        c->first_reply[0] = '\0';
        client_reset_counts(c);
        CLIENT_WAIT(c, c->replies >= 1);
        snprintf(version, vcap, "%s", c->first_reply);
    }
    client_reset_counts(c);
    return 0;
}

/* Keep `window` copies of cmd[0] / cmd[1] (alternating) in flight until n
 * have been answered and, when `events`, n DEVICE_TRAY_MOVED events have
 * come too. Per second; -1 on failure. */
static double pipelined(const char *path, const char *const cmd[2], long n, int window,
                        int events, char *first_reply, size_t frcap)
{
    qmp_client c;
    size_t len[2] = { strlen(cmd[0]), strlen(cmd[1]) };
    char *batch = malloc((len[0] + len[1]) * (size_t)window + 1);
    long sent = 0;
    double t0, t1, rate = -1;
    if (batch == NULL || client_open(&c, path, NULL, NULL, 0) != 0)
        goto out;
    t0 = now_ns();
    while (c.replies < n || (events && c.tray_events < n)) {
        long room = window - (sent - c.replies), k;
        size_t off = 0;
        if (room > n - sent)
            room = n - sent;
        for (k = 0; k < room; k++, sent++) {
            memcpy(batch + off, cmd[sent & 1], len[sent & 1]);
            off += len[sent & 1];
        }
        if (off > 0 && client_send(&c, batch, off) != 0)
            goto out;
        if (client_pump(&c, 10000) <= 0) {
            fprintf(stderr, "bench_qmp: %s: no answer for 10 s (%ld of %ld replies, %ld events)\n",
                    path, c.replies, n, c.tray_events);
            goto out;
        }
    }
    t1 = now_ns();
    if (c.errors != 0)
        fprintf(stderr, "bench_qmp: %s: %ld error replies, first: %s\n", path, c.errors,
                c.first_reply);
    else
        rate = (double)n / ((t1 - t0) / 1e9);
    if (first_reply != NULL)
        snprintf(first_reply, frcap, "%s", c.first_reply);
out:
    if (c.buf != NULL || c.fd >= 0)
        client_close(&c);
    free(batch);
    return rate;
}

static const char *const QOM_GET_TYPE[2] = {
    "{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"/machine/peripheral/cd0\","
    "\"property\":\"type\"}}\n",
    "{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"/machine/peripheral/cd0\","
    "\"property\":\"type\"}}\n"
};
static const char *const TRAY_TOGGLE[2] = {
    "{\"execute\":\"blockdev-open-tray\",\"arguments\":{\"id\":\"cd0\"}}\n",
    "{\"execute\":\"blockdev-close-tray\",\"arguments\":{\"id\":\"cd0\"}}\n"
};

/* Close cd0's tray (so that every toggle of a run moves it), and let any
 * event that causes pass. */
static int tray_normalize(const char *path)
{
    qmp_client c;
    if (client_open(&c, path, NULL, NULL, 0) != 0)
        return -1;
    if (client_send(&c, TRAY_TOGGLE[1], strlen(TRAY_TOGGLE[1])) != 0) {
        client_close(&c);
        return -1;
    }
    while (c.replies < 1)
        if (client_pump(&c, 10000) <= 0) {
            client_close(&c);
            return -1;
        }
    while (client_pump(&c, 50) > 0) {
    }
    client_close(&c);
    return 0;
}

/* Events per second delivered to `nclients` subscribed clients of the
 * example server from one x-tray-burst of `count`. */
typedef struct {
    double per_client, total;    /* delivered events per second */
    long delivered, dropped, expected;
} fanout_result;

static int fanout(const char *path, int nclients, long count, fanout_result *res)
{
    static const char sub[] = "{\"execute\":\"qom-subscribe\",\"arguments\":{\"path\":"
                              "\"/machine/peripheral/cd0\",\"property\":\"tray-moved\"}}\n";
    qmp_client *cl = calloc((size_t)nclients, sizeof *cl);
    struct pollfd *pfd = calloc((size_t)nclients, sizeof *pfd);
    char cmd[160];
    double t0, t1;
    int i, rc = -1, open = 0;
    long done;
    if (cl == NULL || pfd == NULL)
        goto out;
    for (i = 0; i < nclients; i++, open++) {
        if (client_open(&cl[i], path, "\"subscriptions\"", NULL, 0) != 0 ||
            client_send(&cl[i], sub, sizeof sub - 1) != 0)
            goto out;
        while (cl[i].replies < 1)
            if (client_pump(&cl[i], 10000) <= 0)
                goto out;
        if (cl[i].errors != 0) {
            fprintf(stderr, "bench_qmp: qom-subscribe: %s\n", cl[i].first_reply);
            goto out;
        }
        client_reset_counts(&cl[i]);
        pfd[i].fd = cl[i].fd;
        pfd[i].events = POLLIN;
    }
    snprintf(cmd, sizeof cmd,
             "{\"execute\":\"x-tray-burst\",\"arguments\":{\"id\":\"cd0\",\"count\":%ld}}\n",
             count);
    t0 = t1 = now_ns();
    if (client_send(&cl[0], cmd, strlen(cmd)) != 0)
        goto out;
    /* until every client has had every event, delivered or reported
     * dropped, or nothing came for 5 s */
    for (;;) {
        done = 0;
        for (i = 0; i < nclients; i++)
            done += cl[i].events + cl[i].dropped >= count;
        if (done == nclients)
            break;
        if (poll(pfd, (nfds_t)nclients, 5000) <= 0)
            break;
        for (i = 0; i < nclients; i++)
            if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
                if (client_pump(&cl[i], -1) < 0)
                    goto out;
        t1 = now_ns();
    }
    res->delivered = res->dropped = 0;
    for (i = 0; i < nclients; i++) {
        res->delivered += cl[i].events;
        res->dropped += cl[i].dropped;
    }
    res->expected = count * nclients;
    res->total = (double)res->delivered / ((t1 - t0) / 1e9);
    res->per_client = res->total / nclients;
    rc = cl[0].errors != 0 ? -1 : 0;
    if (cl[0].errors != 0)
        fprintf(stderr, "bench_qmp: x-tray-burst: %s\n", cl[0].first_reply);
out:
    for (i = 0; i < open; i++)
        client_close(&cl[i]);
    free(cl);
    free(pfd);
    return rc;
}

/* A paced stream to one subscribed client: `total` events as bursts of
 * `burst`, each asked for once the client has had the one before, so the
 * emitter never outruns the client. Events per second from the first
 * request to the last event, the idle round trips between bursts
 * included; what was dropped is reported (it should be nothing). */
typedef struct { double rate; long delivered, dropped; } stream_result;

static int stream(const char *path, long total, long burst, stream_result *res)
{
    static const char sub[] = "{\"execute\":\"qom-subscribe\",\"arguments\":{\"path\":"
                              "\"/machine/peripheral/cd0\",\"property\":\"tray-moved\"}}\n";
    qmp_client c;
    char cmd[160];
    double t0, t1;
    long asked = 0;
    if (client_open(&c, path, "\"subscriptions\"", NULL, 0) != 0)
        return -1;
    if (client_send(&c, sub, sizeof sub - 1) != 0)
        goto fail;
    while (c.replies < 1)
        if (client_pump(&c, 10000) <= 0)
            goto fail;
    client_reset_counts(&c);
    snprintf(cmd, sizeof cmd,
             "{\"execute\":\"x-tray-burst\",\"arguments\":{\"id\":\"cd0\",\"count\":%ld}}\n",
             burst);
    t0 = t1 = now_ns();
    while (asked < total) {
        if (client_send(&c, cmd, strlen(cmd)) != 0)
            goto fail;
        asked += burst;
        while (c.events + c.dropped < asked)
            if (client_pump(&c, 5000) <= 0)
                goto fail;
        t1 = now_ns();
    }
    res->delivered = c.events;
    res->dropped = c.dropped;
    res->rate = (double)c.events / ((t1 - t0) / 1e9);
    client_close(&c);
    return c.errors != 0 ? -1 : 0;
fail:
    client_close(&c);
    return -1;
}

/* Both servers answer query-version; asking it also waits until each has
 * finished starting (QEMU greets only once its main loop runs), so that
 * no start-up work overlaps the timed JSON runs. Returns the servers
 * that answered: bit 0 the example server, bit 1 QEMU. */
static char versions[2][200];
static int servers_ready(const char *server, const char *qemu)
{
    const char *paths[2] = { server, qemu };
    int j, ok = 0;
    for (j = 0; j < 2; j++) {
        qmp_client c;
        if (paths[j] == NULL || client_open(&c, paths[j], NULL, versions[j],
                                            sizeof versions[j]) != 0)
            continue;
        client_close(&c);
        ok |= 1 << j;
    }
    if (ok != 0)
        sleep_ns(300000000L);   /* let any start-up tail settle */
    return ok;
}

static void end_to_end(int quick, const char *server, const char *qemu, const char *qemu_missing)
{
    int reps = quick ? 3 : 5, freps = quick ? 5 : 21, r, j, have_qemu = qemu != NULL;
    long n_ex = quick ? 20000 : 100000, n_qemu = quick ? 1000 : 10000;
    long big = quick ? 200000 : 1000000, small = 5000;
    double get[2][BENCH_MAX_REPS], tog[2][BENCH_MAX_REPS];
    fanout_result fb[BENCH_MAX_REPS], fs[BENCH_MAX_REPS], f64[BENCH_MAX_REPS];
    stream_result st[BENCH_MAX_REPS];
    double str[BENCH_MAX_REPS];
    int sreps = quick ? 3 : 7;
    long stotal = quick ? 200000 : 1000000;
    double fbr[BENCH_MAX_REPS], fsr[BENCH_MAX_REPS], f64r[BENCH_MAX_REPS], f64t[BENCH_MAX_REPS];
    char reply[2][160] = { "", "" }, grp[6][32], qemu_label[32] = "QEMU 7.2";
    const char *paths[2] = { server, qemu };
    int failed = 0;

    /* warm-up: a short run of each kind against each server, not counted */
    for (j = 0; j < 1 + have_qemu; j++) {
        failed |= pipelined(paths[j], QOM_GET_TYPE, 200, 64, 0, NULL, 0) < 0;
        failed |= tray_normalize(paths[j]) != 0 ||
                  pipelined(paths[j], TRAY_TOGGLE, 200, 64, 1, NULL, 0) < 0;
    }
    for (r = 0; r < reps && !failed; r++) {
        for (j = 0; j < 1 + have_qemu; j++) {
            int k = have_qemu ? bench_order(r, j, 2) : 0;
            get[k][r] = pipelined(paths[k], QOM_GET_TYPE, k ? n_qemu : n_ex, 64, 0, reply[k],
                                  sizeof reply[k]);
        }
        for (j = 0; j < 1 + have_qemu; j++) {
            int k = have_qemu ? bench_order(r, j, 2) : 0;
            if (tray_normalize(paths[k]) != 0)
                tog[k][r] = -1;
            else
                tog[k][r] = pipelined(paths[k], TRAY_TOGGLE, k ? n_qemu : n_ex, 64, 1, NULL, 0);
        }
        for (j = 0; j < 1 + have_qemu; j++)
            if (get[j][r] < 0 || tog[j][r] < 0)
                failed = 1;
        fprintf(stderr, "  end to end: round trips, repetition %d of %d done\n", r + 1, reps);
    }
    /* events: cheap and noisy (three busy threads on the machine's cores:
     * the server's device thread, its transport, this client), so more
     * repetitions */
    for (r = 0; r < freps && !failed; r++) {
        if (fanout(server, 1, big, &fb[r]) != 0 || fanout(server, 1, small, &fs[r]) != 0 ||
            fanout(server, 64, small, &f64[r]) != 0)
            failed = 1;
        fbr[r] = fb[r].total;
        fsr[r] = fs[r].total;
        f64r[r] = f64[r].per_client;
        f64t[r] = f64[r].total;
    }
    for (r = 0; r < sreps && !failed; r++) {
        if (stream(server, stotal, small, &st[r]) != 0)
            failed = 1;
        str[r] = st[r].rate;
    }
    fprintf(stderr, "  end to end: events done\n");

    printf("## QMP end to end over UNIX sockets: one client, both servers\n\n");
    if (failed) {
        printf("A run failed (see the messages above): end-to-end figures not measured.\n\n");
        bench_target("pipelined qom-get: example server / QEMU 7.2", ">= 100x",
                     BENCH_NOT_MEASURED, "-");
        bench_target("events/s to one subscribed client", ">= 1,000,000/s", BENCH_NOT_MEASURED,
                     "-");
        return;
    }
    printf("The same client code (bench_qmp) for both servers, legacy sessions "
           "(`qmp_capabilities` without arguments; other events, e.g. the example server's "
           "heartbeat, are skipped); median of %d repetitions", reps);
    if (have_qemu)
        printf(", the servers alternating; ratios are medians of per-repetition ratios. %ld "
               "requests per run against the example server, %ld against QEMU", n_ex, n_qemu);
    else
        printf("; %ld requests per run", n_ex);
    printf(". A tray toggle counts when both its reply and its DEVICE_TRAY_MOVED event have "
           "come.\n\n");
    printf("- example server: `%s`\n", versions[0]);
    if (have_qemu)
        printf("- QEMU: `%s`\n", versions[1]);
    else
        printf("- QEMU 7.2: **not measured**: %s\n", qemu_missing ? qemu_missing : "not given");
    printf("- qom-get `/machine/peripheral/cd0` `type`, reply from the example server: `%s`",
           reply[0]);
    if (have_qemu)
        printf("; from QEMU: `%s`", reply[1]);
    printf("\n\n");
    {   /* QEMU's version, as it says it */
        const char *mj = strstr(versions[1], "\"major\": ");
        const char *mn = strstr(versions[1], "\"minor\": ");
        if (have_qemu && mj != NULL && mn != NULL)
            snprintf(qemu_label, sizeof qemu_label, "QEMU %ld.%ld", strtol(mj + 9, NULL, 10),
                     strtol(mn + 9, NULL, 10));
    }
    printf("| measure | example server (qomnotify) | %s | ratio | target |\n", qemu_label);
    printf("| --- | ---: | ---: | ---: | --- |\n");
    {
        double g0 = median(get[0], reps), t0 = median(tog[0], reps);
        bench_grouped(grp[0], sizeof grp[0], g0);
        bench_grouped(grp[1], sizeof grp[1], t0);
        if (have_qemu) {
            double g1 = median(get[1], reps), t1 = median(tog[1], reps);
            double rg = median_ratio(get[0], get[1], reps), rt = median_ratio(tog[0], tog[1], reps);
            bench_grouped(grp[2], sizeof grp[2], g1);
            bench_grouped(grp[3], sizeof grp[3], t1);
            printf("| pipelined qom-get round trips/s (64 in flight) | %s | %s | %.0fx | "
                   ">= 100x: %s |\n", grp[0], grp[2], rg,
                   bench_target("pipelined qom-get: example server / QEMU 7.2", ">= 100x",
                                verdict(rg >= 100), "%.0fx (%s vs %s /s)", rg, grp[0], grp[2]));
            printf("| tray toggles/s, each with its DEVICE_TRAY_MOVED (64 in flight) | %s | %s | "
                   "%.0fx | |\n", grp[1], grp[3], rt);
        } else {
            printf("| pipelined qom-get round trips/s (64 in flight) | %s | **not measured** | - "
                   "| >= 100x: %s |\n", grp[0],
                   bench_target("pipelined qom-get: example server / QEMU 7.2", ">= 100x",
                                BENCH_NOT_MEASURED, "%s /s vs QEMU not measured", grp[0]));
            printf("| tray toggles/s, each with its DEVICE_TRAY_MOVED (64 in flight) | %s | "
                   "**not measured** | - | |\n", grp[1]);
        }
    }
    {
        double eb = median(fbr, freps), es = median(fsr, freps);
        double e64 = median(f64r, freps), e64t = median(f64t, freps);
        double lo = fbr[0], hi = fbr[0];
        long bd = 0, bx = 0, bdrop = 0;
        int last = freps - 1;
        for (r = 0; r < freps; r++) {
            lo = fbr[r] < lo ? fbr[r] : lo;
            hi = fbr[r] > hi ? fbr[r] : hi;
            bd += fb[r].delivered;
            bx += fb[r].expected;
            bdrop += fb[r].dropped;
        }
        bench_grouped(grp[0], sizeof grp[0], eb);
        bench_grouped(grp[4], sizeof grp[4], lo);
        bench_grouped(grp[5], sizeof grp[5], hi);
        {
            double sr = median(str, sreps);
            long sdrop = 0;
            for (r = 0; r < sreps; r++)
                sdrop += st[r].dropped;
            bench_grouped(grp[1], sizeof grp[1], sr);
            printf("| events/s delivered to 1 subscribed client, a paced stream of %ld "
                   "(bursts of %ld, each once the last has arrived; %ld dropped in all %d runs) "
                   "| %s | n/a | | >= 1,000,000/s: %s |\n", stotal, small, sdrop, sreps,
                   grp[1],
                   bench_target("events/s delivered to one subscribed client (paced stream)",
                                ">= 1,000,000/s", verdict(sr >= 1e6 && sdrop == 0),
                                "%s /s, %ld dropped", grp[1], sdrop));
        }
        printf("| overload: events/s delivered to 1 subscribed client from unpaced bursts of "
               "%ld (range %s to %s; the rest dropped and reported) | %s | n/a | | |\n",
               big, grp[4], grp[5], grp[0]);
        bench_grouped(grp[1], sizeof grp[1], es);
        printf("| events/s delivered to 1 subscribed client, bursts of %ld | %s | n/a | | |\n",
               small, grp[1]);
        bench_grouped(grp[2], sizeof grp[2], e64);
        bench_grouped(grp[3], sizeof grp[3], e64t);
        printf("| events/s delivered to each of 64 subscribed clients, bursts of %ld (all "
               "together) | %s (%s) | n/a | | |\n", small, grp[2], grp[3]);
        printf("\nThe paced stream is the throughput a client that keeps up gets: median of "
               "%d runs, the server's emitter never far ahead of the client. ", sreps);
        printf("\nEvents: median of %d repetitions. The server's x-tray-burst command emits the "
               "burst from a thread of its own, as fast as it can; a session's queue is bounded "
               "(1 MiB), so what does not fit is dropped and reported (EVENTS_DROPPED), never "
               "lost silently: every event below was delivered or reported dropped. Bursts of "
               "%ld, all repetitions: %ld of %ld delivered, %ld reported dropped. Bursts of %ld, "
               "last repetition: 1 client got %ld of %ld (%ld dropped); 64 clients got %ld of "
               "%ld (%ld dropped). QEMU has no such command (n/a); its events are in the tray "
               "toggles.\n\n", freps, big, bd, bx, bdrop, small, fs[last].delivered,
               fs[last].expected, fs[last].dropped, f64[last].delivered, f64[last].expected,
               f64[last].dropped);
    }
}

int main(int argc, char **argv)
{
    int quick = 0, i;
    const char *server = NULL, *qemu = NULL, *qemu_missing = NULL;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else if (strcmp(argv[i], "--server") == 0 && i + 1 < argc)
            server = argv[++i];
        else if (strcmp(argv[i], "--qemu") == 0 && i + 1 < argc)
            qemu = argv[++i];
        else if (strcmp(argv[i], "--qemu-missing") == 0 && i + 1 < argc)
            qemu_missing = argv[++i];
        else if (strcmp(argv[i], "--record") == 0 && i + 1 < argc)
            bench_record_open(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--quick] [--record FILE] [--server PATH] "
                            "[--qemu PATH | --qemu-missing REASON]\n", argv[0]);
            return 2;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    bench_multithreaded();
    if (load_peers() != 0)
        return 1;
    if (server != NULL || qemu != NULL) {
        int up = servers_ready(server, qemu);
        if (server != NULL && !(up & 1)) {
            fprintf(stderr, "bench_qmp: the example server at %s does not answer\n", server);
            server = NULL;
        }
        if (qemu != NULL && !(up & 2)) {
            qemu = NULL;
            qemu_missing = "QEMU did not answer on its QMP socket";
        }
    }
    json_tables(quick);
    if (server != NULL)
        end_to_end(quick, server, qemu, qemu_missing);
    else {
        printf("## QMP end to end\n\nNo example server (--server): not measured.\n\n");
        bench_target("pipelined qom-get: example server / QEMU 7.2", ">= 100x",
                     BENCH_NOT_MEASURED, "no example server");
        bench_target("events/s delivered to one subscribed client", ">= 1,000,000/s",
                     BENCH_NOT_MEASURED, "no example server");
    }
    bench_record_close();
    return sink == 42;
}
