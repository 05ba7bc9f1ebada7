/* bench_notify: the cost of emitting an event, side by side with the peers.
 *
 *   bench_notify [--quick] [--record FILE] [--plot FILE]
 *       1. ns per emission to 0, 1, 8, 64 and 1024 subscribers (full mode:
 *          also the sizes between, for the plot) for
 *            qomnotify    notify_emit on a notify_list
 *            plain loop   an unlocked intrusive loop (the QEMU NotifierList
 *                         algorithm, written here: next is read before each
 *                         call)
 *            mutex        the same list, walked under a pthread mutex
 *            urcu-memb    liburcu's memb flavour, inlined (_LGPL_SOURCE),
 *                         thread registered, cds_list_for_each_entry_rcu
 *                         between urcu_memb_read_lock/unlock
 *            ck_epoch     Concurrency Kit: CK_LIST_FOREACH between
 *                         ck_epoch_begin/ck_epoch_end (registered record)
 *            GSignal      g_signal_emit on a GObject type with one
 *                         G_TYPE_POINTER signal, N handlers connected with
 *                         g_signal_connect (va marshaller set)
 *            qom_lite     the typed emit on a qom_lite object's event
 *                         property (QOM_CLASS_ADD_EVENT), typed subscribers
 *          Every callback calls the same noinline count_add() through a
 *          function pointer. Iterations are calibrated per implementation
 *          (about the same time per sample, so GSignal at 1024 runs fewer);
 *          each repetition runs every implementation once, in an order that
 *          alternates (ABC..., ...CBA); figures are medians, ratios medians
 *          of the per-repetition ratios.
 *       2. Aggregate emissions per second from 1 to nproc emitter threads on
 *          one list of 8, with and without a thread that subscribes and
 *          unsubscribes a node, 1000 pairs a second.
 *       3. Unsubscribe latency (median, p99) while emitters run, against
 *          liburcu's cds_list_del_rcu + synchronize_rcu.
 *   bench_notify --memory [--record FILE]
 *       Bytes per subscription node, and heap allocations per subscribe,
 *       per emit and per unsubscribe, counted by alloc_count.c's malloc
 *       wrappers (GLib with G_SLICE=always-malloc, so GSlice's allocations
 *       are counted too), for every implementation above and for qom_lite
 *       subscription objects (qom_subscribe_native).
 *   bench_notify --instructions [--record FILE]
 *       Instructions per emission at 0, 1, 8 and 64 subscribers for
 *       qomnotify, the plain loop, urcu-memb and qom_lite, counted by
 *       valgrind --tool=callgrind (a run of N emissions less a run of none),
 *       where timing noise hides small differences. It runs bench_notify_ir,
 *       this source built without loop alignment, as
 *   bench_notify --callgrind-child IMPL ITERS
 *
 * Fairness: the bench is built with -falign-loops=64 (bench/CMakeLists.txt
 * says why), and a sleeping second thread keeps glibc from dropping the
 * lock prefix of the mutex's atomics (bench_util.h).
 *
 * Targets (issues "notify.h core" and 5) are printed next to each figure,
 * met or not, and recorded for the summary in bench/results.md. */
#define _GNU_SOURCE
#define _LGPL_SOURCE
#include <urcu/urcu-memb.h>
#include <urcu/rculist.h>

#include <ck_epoch.h>
#include <ck_queue.h>

#include <glib-object.h>

#if defined(__has_include)
#  if __has_include(<valgrind/callgrind.h>)
#    include <valgrind/callgrind.h>
#    define BENCH_HAVE_CALLGRIND 1
#  endif
#endif
#ifndef BENCH_HAVE_CALLGRIND
#  define BENCH_HAVE_CALLGRIND 0
#endif

#define NOTIFY_IMPLEMENTATION
#define QOM_LITE_IMPLEMENTATION
#include "qom_lite.h"

#include <dirent.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "alloc_count.h"
#include "bench_util.h"

/* Every callback adds to this one counter (through count_add). */
static long counter;

/* ---- qomnotify: notify_emit ---- */
static notify_list q_list = NOTIFY_LIST_INIT;
static notify_sub *q_subs;

static int q_cb(notify_sub *s, void *event) { (void)s; count_add((long *)event); return 0; }

static void q_prepare(int n)
{
    int i;
    notify_list_init(&q_list);
    q_subs = calloc((size_t)n + 1, sizeof *q_subs);
    for (i = 0; i < n; i++)
        notify_sub_init(&q_subs[i], q_cb, 0);
}
static void q_sub(int i) { notify_subscribe(&q_list, &q_subs[i]); }
static void q_unsub_all(int n)
{
    int i;
    for (i = 0; i < n; i++)
        notify_unsubscribe(&q_subs[i]);
}
static void q_release(void) { notify_list_clear(&q_list); free(q_subs); }
static BENCH_NOINLINE void q_loop(long iters)
{
    long i;
    for (i = 0; i < iters; i++) { notify_emit(&q_list, &counter); BARRIER(); }
}

/* ---- plain unlocked intrusive loop (QEMU NotifierList's algorithm) ---- */
typedef struct plain_node {
    void (*notify)(struct plain_node *n, void *data);
    struct plain_node *next;
} plain_node;
typedef struct { plain_node *head; } plain_list;

static void p_cb(plain_node *n, void *data) { (void)n; count_add((long *)data); }

static inline void plain_emit(plain_list *l, void *data)
{
    plain_node *n, *next;
    for (n = l->head; n && (next = n->next, 1); n = next)
        n->notify(n, data);
}

/* Both the plain and the mutex variant insert at the head, as
 * QLIST_INSERT_HEAD does; nodes are subscribed last to first, so the walk
 * order is the array order, as for the others. */
static plain_list p_list;
static plain_node *p_nodes;
static int p_n;

static void p_prepare(int n)
{
    int i;
    p_list.head = NULL;
    p_nodes = calloc((size_t)n + 1, sizeof *p_nodes);
    p_n = n;
    for (i = 0; i < n; i++)
        p_nodes[i].notify = p_cb;
}
static void p_sub(int i)
{
    plain_node *nd = &p_nodes[p_n - 1 - i];
    nd->next = p_list.head;
    p_list.head = nd;
}
static void p_unsub_all(int n)
{
    int i;
    for (i = 0; i < n; i++) {   /* unlink at the head: what QLIST_REMOVE does first */
        plain_node *h = p_list.head;
        p_list.head = h->next;
    }
}
static void p_release(void) { free(p_nodes); }
static BENCH_NOINLINE void p_loop(long iters)
{
    long i;
    for (i = 0; i < iters; i++) { plain_emit(&p_list, &counter); BARRIER(); }
}

/* ---- the same list under a pthread mutex ---- */
static plain_list m_list;
static plain_node *m_nodes;
static int m_n;
static pthread_mutex_t m_lock = PTHREAD_MUTEX_INITIALIZER;

static void m_prepare(int n)
{
    int i;
    m_list.head = NULL;
    m_nodes = calloc((size_t)n + 1, sizeof *m_nodes);
    m_n = n;
    for (i = 0; i < n; i++)
        m_nodes[i].notify = p_cb;
}
static void m_sub(int i)
{
    plain_node *nd = &m_nodes[m_n - 1 - i];
    pthread_mutex_lock(&m_lock);
    nd->next = m_list.head;
    m_list.head = nd;
    pthread_mutex_unlock(&m_lock);
}
static void m_unsub_all(int n)
{
    int i;
    for (i = 0; i < n; i++) {
        pthread_mutex_lock(&m_lock);
        m_list.head = m_list.head->next;
        pthread_mutex_unlock(&m_lock);
    }
}
static void m_release(void) { free(m_nodes); }
static BENCH_NOINLINE void m_loop(long iters)
{
    long i;
    for (i = 0; i < iters; i++) {
        pthread_mutex_lock(&m_lock);
        plain_emit(&m_list, &counter);
        pthread_mutex_unlock(&m_lock);
        BARRIER();
    }
}

/* ---- liburcu memb ---- */
typedef struct urcu_node {
    int (*fn)(struct urcu_node *n, void *data);
    struct cds_list_head link;
} urcu_node;

static int u_cb(urcu_node *n, void *data) { (void)n; count_add((long *)data); return 0; }

static inline void urcu_emit(struct cds_list_head *head, void *data)
{
    urcu_node *n;
    urcu_memb_read_lock();
    cds_list_for_each_entry_rcu(n, head, link)
        n->fn(n, data);
    urcu_memb_read_unlock();
}

static struct cds_list_head u_head = CDS_LIST_HEAD_INIT(u_head);
static urcu_node *u_nodes;

static void u_prepare(int n)
{
    int i;
    CDS_INIT_LIST_HEAD(&u_head);
    u_nodes = calloc((size_t)n + 1, sizeof *u_nodes);
    for (i = 0; i < n; i++)
        u_nodes[i].fn = u_cb;
}
static void u_sub(int i) { cds_list_add_tail_rcu(&u_nodes[i].link, &u_head); }
static void u_unsub_all(int n)
{
    int i;
    for (i = 0; i < n; i++) {   /* what an unsubscribe that may free must do */
        cds_list_del_rcu(&u_nodes[i].link);
        urcu_memb_synchronize_rcu();
    }
}
static void u_release(void) { free(u_nodes); }
static BENCH_NOINLINE void u_loop(long iters)
{
    long i;
    for (i = 0; i < iters; i++) { urcu_emit(&u_head, &counter); BARRIER(); }
}

/* ---- Concurrency Kit: ck_epoch section around a CK_LIST walk ---- */
typedef struct ck_node {
    int (*fn)(struct ck_node *n, void *data);
    CK_LIST_ENTRY(ck_node) link;
} ck_node;
CK_LIST_HEAD(ck_node_list, ck_node);

static int c_cb(ck_node *n, void *data) { (void)n; count_add((long *)data); return 0; }

static ck_epoch_t c_epoch;
static ck_epoch_record_t c_record;   /* this thread's, registered in main */
static struct ck_node_list c_head;
static ck_node *c_nodes;
static int c_n;

static inline void ck_emit(struct ck_node_list *head, void *data)
{
    ck_node *n;
    /* a plain read section (a NULL section: no out-of-line reference
     * counting, the cheapest form ck offers) */
    ck_epoch_begin(&c_record, NULL);
    CK_LIST_FOREACH(n, head, link)
        n->fn(n, data);
    ck_epoch_end(&c_record, NULL);
}

static void c_prepare(int n)
{
    int i;
    CK_LIST_INIT(&c_head);
    c_nodes = calloc((size_t)n + 1, sizeof *c_nodes);
    c_n = n;
    for (i = 0; i < n; i++)
        c_nodes[i].fn = c_cb;
}
static void c_sub(int i) { CK_LIST_INSERT_HEAD(&c_head, &c_nodes[c_n - 1 - i], link); }
static void c_unsub_all(int n)
{
    int i;
    for (i = 0; i < n; i++) {
        CK_LIST_REMOVE(&c_nodes[i], link);
        ck_epoch_synchronize(&c_record);
    }
}
static void c_release(void) { free(c_nodes); }
static BENCH_NOINLINE void c_loop(long iters)
{
    long i;
    for (i = 0; i < iters; i++) { ck_emit(&c_head, &counter); BARRIER(); }
}

/* ---- GLib GSignal ---- */
typedef struct { GObject parent; } BenchEmitter;
typedef struct { GObjectClass parent_class; } BenchEmitterClass;
static guint g_tick_signal;
G_DEFINE_TYPE(BenchEmitter, bench_emitter, G_TYPE_OBJECT)

static void bench_emitter_class_init(BenchEmitterClass *klass)
{
    GType t = G_TYPE_FROM_CLASS(klass);
    g_tick_signal = g_signal_new("tick", t, G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                                 g_cclosure_marshal_VOID__POINTER, G_TYPE_NONE, 1,
                                 G_TYPE_POINTER);
    g_signal_set_va_marshaller(g_tick_signal, t, g_cclosure_marshal_VOID__POINTERv);
}
static void bench_emitter_init(BenchEmitter *self) { (void)self; }

static void g_cb(BenchEmitter *self, gpointer data, gpointer user)
{
    (void)self; (void)user;
    count_add((long *)data);
}

static BenchEmitter *g_obj;
static gulong *g_ids;

static void g_prepare(int n)
{
    g_obj = g_object_new(bench_emitter_get_type(), NULL);
    g_ids = calloc((size_t)n + 1, sizeof *g_ids);
}
static void g_sub(int i) { g_ids[i] = g_signal_connect(g_obj, "tick", G_CALLBACK(g_cb), NULL); }
static void g_unsub_all(int n)
{
    int i;
    for (i = 0; i < n; i++)
        g_signal_handler_disconnect(g_obj, g_ids[i]);
}
static void g_release(void) { g_object_unref(g_obj); free(g_ids); }
static BENCH_NOINLINE void g_loop(long iters)
{
    BenchEmitter *obj = g_obj;
    guint sig = g_tick_signal;
    long i;
    ESCAPE(obj);
    for (i = 0; i < iters; i++) { g_signal_emit(obj, sig, 0, &counter); BARRIER(); }
}

/* ---- qom_lite: an object's event property ---- */
/* The payload is the counter itself, so the typed callback's body is the
 * others' (count_add on the event pointer). */
QOM_DEFINE_EVENT(tick, long);
static const qom_event_info TICK = { "TICK", NULL };
typedef struct { qom_object obj; tick_list ticks; } bench_dev;

static void bench_dev_class_init(qom_class *k, void *d)
{
    (void)d;
    QOM_CLASS_ADD_EVENT(k, "tick", bench_dev, ticks, tick, &TICK, "a benchmark event");
}

static qom_registry *o_reg;
static bench_dev *o_dev;
static tick_sub *o_subs;

static int o_cb(tick_sub *s, const long *ev) { (void)s; count_add((long *)ev); return 0; }

static void o_prepare(int n)
{
    int i;
    o_subs = calloc((size_t)n + 1, sizeof *o_subs);
    for (i = 0; i < n; i++)
        tick_sub_init(&o_subs[i], o_cb, 0);
}
static void o_sub(int i) { tick_subscribe(&o_dev->ticks, &o_subs[i]); }
static void o_unsub_all(int n)
{
    int i;
    for (i = 0; i < n; i++)
        tick_unsubscribe(&o_subs[i]);
}
static void o_release(void) { free(o_subs); }
static BENCH_NOINLINE void o_loop(long iters)
{
    /* the list's address in a register, as &q_list is a constant for
     * notify_emit's loop: no load of o_dev per emission */
    tick_list *l = &o_dev->ticks;
    long i;
    ESCAPE(l);
    for (i = 0; i < iters; i++) { tick_emit(l, &counter); BARRIER(); }
}

/* qom_lite subscription objects on the same event property (memory table
 * only; their delivery cost is in bench_qom) */
static qom_object *s_owner;

static void s_native(void *opaque, qom_object *source, const void *payload)
{
    (void)source; (void)payload;
    count_add((long *)opaque);
}
static void s_prepare(int n)
{
    (void)n;
    s_owner = qom_container_get(o_reg, "/bench-subscriptions");
}
static void s_sub(int i)
{
    qom_error err;
    (void)i;
    if (qom_subscribe_native(&o_dev->obj, "tick", s_native, &counter, s_owner, NULL, &err) != 0) {
        fprintf(stderr, "qom_subscribe_native: %s\n", err.message);
        exit(1);
    }
}
static void s_unsub_all(int n) { (void)n; qom_object_unparent(s_owner); }   /* all at once */
static void s_release(void) { }

/* ---- the implementations, as a table ---- */
typedef struct emit_impl {
    const char *id;          /* for --callgrind-child */
    const char *label;       /* column heading */
    size_t node_size;        /* the subscriber's node; 0: allocated by the library */
    void (*prepare)(int n);  /* the subscribers' memory (not counted) */
    void (*sub)(int i);      /* subscribe subscriber i */
    void (*unsub_all)(int n);
    void (*release)(void);
    void (*loop)(long iters);
} emit_impl;

enum { Q, P, M, U, C, G, O, S, NIMPL };
enum { NEMIT = 7 };   /* the first NEMIT are in the emission table */
static const emit_impl impls[NIMPL] = {
    { "qomnotify", "qomnotify", sizeof(notify_sub),
      q_prepare, q_sub, q_unsub_all, q_release, q_loop },
    { "plain", "plain loop", sizeof(plain_node),
      p_prepare, p_sub, p_unsub_all, p_release, p_loop },
    { "mutex", "mutex + list", sizeof(plain_node),
      m_prepare, m_sub, m_unsub_all, m_release, m_loop },
    { "urcu", "urcu-memb", sizeof(urcu_node),
      u_prepare, u_sub, u_unsub_all, u_release, u_loop },
    { "ck", "ck_epoch", sizeof(ck_node),
      c_prepare, c_sub, c_unsub_all, c_release, c_loop },
    { "gsignal", "GSignal", 0,
      g_prepare, g_sub, g_unsub_all, g_release, g_loop },
    { "qom", "qom_lite event", sizeof(tick_sub),
      o_prepare, o_sub, o_unsub_all, o_release, o_loop },
    { "qom-sub", "qom_lite subscription objects", 0,
      s_prepare, s_sub, s_unsub_all, s_release, o_loop },
};

static void impl_setup(const emit_impl *im, int n)
{
    int i;
    im->prepare(n);
    for (i = 0; i < n; i++)
        im->sub(i);
}

static void impl_teardown(const emit_impl *im, int n)
{
    im->unsub_all(n);
    im->release();
}

/* Iterations for about `target_ns` per sample (the fastest of three
 * timings at the final count, so one interruption does not shrink it). */
static long calibrate(const emit_impl *im, double target_ns)
{
    long it = 16;
    double t = 0;
    int k;
    for (;;) {
        double t0 = now_ns();
        im->loop(it);
        t = now_ns() - t0;
        if (t >= 2e5 || it >= (1L << 30))
            break;
        it *= 4;
    }
    for (k = 0; k < 2; k++) {
        double t0 = now_ns(), t1;
        im->loop(it);
        t1 = now_ns() - t0;
        t = t1 < t ? t1 : t;
    }
    it = (long)((double)it * target_ns / t);
    return it < 16 ? 16 : it;
}

/* One sample: a tenth as warm-up, then the timed loop. ns per emission. */
static double timed_run(const emit_impl *im, long iters)
{
    double t0;
    im->loop(iters / 10 + 1);
    t0 = now_ns();
    im->loop(iters);
    return (now_ns() - t0) / (double)iters;
}

static void setup_world(void)
{
    const qom_type_info info = { "bench-dev", "object", sizeof(bench_dev), 0,
                                 bench_dev_class_init, NULL, NULL, NULL, false, NULL };
    qom_error err;
    urcu_memb_register_thread();
    ck_epoch_init(&c_epoch);
    ck_epoch_register(&c_epoch, &c_record, NULL);
    o_reg = qom_registry_new();
    if (o_reg == NULL || qom_type_register(o_reg, &info, &err) != 0)
        exit(1);
    o_dev = (bench_dev *)(void *)qom_object_new_child(
        qom_container_get(o_reg, "/machine/peripheral"), "dev0", "bench-dev", &err);
    if (o_dev == NULL)
        exit(1);
    (void)bench_emitter_get_type();   /* class_init now, not in a timed run */
}

/* ================================================================
 * 1. Emission cost
 * ================================================================ */
static void emission_tables(int quick, const char *plot_path)
{
    static const int quick_sizes[] = { 0, 1, 8, 64, 1024 };
    static const int full_sizes[] = { 0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024 };
    const int *sizes = quick ? quick_sizes : full_sizes;
    int nsizes = quick ? 5 : 12, reps = quick ? 7 : 21;
    double target_ns = quick ? 2e6 : 4e6;
    static double med[12][NEMIT], rat[12][4];
    double t[NEMIT][BENCH_MAX_REPS];
    long iters[NEMIT], last_iters[NEMIT];
    int si, r, j, k;
    FILE *plot = plot_path != NULL ? fopen(plot_path, "w") : NULL;

    for (si = 0; si < nsizes; si++) {
        int n = sizes[si];
        for (k = 0; k < NEMIT; k++)
            impl_setup(&impls[k], n);
        for (k = 0; k < NEMIT; k++)
            iters[k] = calibrate(&impls[k], target_ns);
        for (r = 0; r < reps; r++)
            for (j = 0; j < NEMIT; j++) {
                k = bench_order(r, j, NEMIT);
                t[k][r] = timed_run(&impls[k], iters[k]);
            }
        for (k = 0; k < NEMIT; k++) {
            med[si][k] = median(t[k], reps);
            impl_teardown(&impls[k], n);
        }
        if (si == nsizes - 1)
            memcpy(last_iters, iters, sizeof iters);
        rat[si][0] = median_ratio(t[Q], t[P], reps);
        rat[si][1] = median_ratio(t[Q], t[U], reps);
        rat[si][2] = median_ratio(t[G], t[Q], reps);
        rat[si][3] = median_ratio(t[O], t[Q], reps);
        fprintf(stderr, "  emission: %d subscribers done\n", n);
    }

    printf("## notify.h emission cost, side by side\n\n");
    printf("ns per emit, median of %d repetitions; each repetition runs every implementation "
           "once, the order alternating (ABC..., ...CBA); iterations calibrated to about %.0f ms "
           "per sample, a tenth more as warm-up. Same callback everywhere (a noinline add "
           "through a function pointer). Loops are aligned to 64 bytes (-falign-loops=64): "
           "without that, where a loop happened to fall moved two identical emit loops 1.15x "
           "apart on this machine. The process has a second (sleeping) thread, so glibc's "
           "mutex uses locked instructions as in any program that needs one.\n\n",
           reps, target_ns / 1e6);
    printf("Iterations per sample at %d subscribers:", sizes[nsizes - 1]);
    for (k = 0; k < NEMIT; k++)
        printf(" %s %ld%s", impls[k].label, last_iters[k], k + 1 < NEMIT ? "," : ".\n\n");
    printf("| subscribers |");
    for (k = 0; k < NEMIT; k++)
        printf(" %s |", impls[k].label);
    printf("\n| ---: |");
    for (k = 0; k < NEMIT; k++)
        printf(" ---: |");
    printf("\n");
    for (si = 0; si < nsizes; si++) {
        printf("| %d |", sizes[si]);
        for (k = 0; k < NEMIT; k++)
            printf(med[si][k] < 100 ? " %.2f |" : " %.0f |", med[si][k]);
        printf("\n");
    }

    printf("\nRatios (medians of the per-repetition ratios) and targets:\n\n");
    printf("| subscribers | qomnotify / plain loop | qomnotify / urcu-memb | "
           "GSignal / qomnotify | qom_lite event / qomnotify |\n");
    printf("| ---: | ---: | ---: | ---: | ---: |\n");
    for (si = 0; si < nsizes; si++) {
        int n = sizes[si];
        char fig[128], c0[64] = "", c1[64] = "", c2[64] = "", c3[64] = "";
        const char *v;
        snprintf(c0, sizeof c0, "%.2fx", rat[si][0]);
        snprintf(c1, sizeof c1, "%.2fx", rat[si][1]);
        snprintf(c2, sizeof c2, "%.1fx", rat[si][2]);
        snprintf(c3, sizeof c3, "%.3fx", rat[si][3]);
        if (n == 0) {
            snprintf(fig, sizeof fig, "emit, 0 subscribers: qomnotify / plain loop");
            v = bench_target(fig, "<= 1.2x", verdict(rat[si][0] <= 1.2), "%.2fx", rat[si][0]);
            snprintf(c0, sizeof c0, "%.2fx (<= 1.2x: %s)", rat[si][0], v);
        }
        if (n == 1 || n == 8 || n == 64) {
            snprintf(fig, sizeof fig, "emit, %d subscriber%s: qomnotify / urcu-memb", n,
                     n == 1 ? "" : "s");
            v = bench_target(fig, "<= 1.1x", verdict(rat[si][1] <= 1.1), "%.2fx", rat[si][1]);
            snprintf(c1, sizeof c1, "%.2fx (<= 1.1x: %s)", rat[si][1], v);
        }
        if (n == 8) {
            snprintf(fig, sizeof fig, "emit, 8 subscribers: GSignal / qomnotify");
            v = bench_target(fig, ">= 30x", verdict(rat[si][2] >= 30), "%.1fx", rat[si][2]);
            snprintf(c2, sizeof c2, "%.1fx (>= 30x: %s)", rat[si][2], v);
        }
        if (n == 0 || n == 1 || n == 8 || n == 64) {
            snprintf(fig, sizeof fig,
                     "emit, %d subscriber%s: qom_lite event property / notify_emit", n,
                     n == 1 ? "" : "s");
            v = bench_target(fig, "<= 1.05x", verdict(rat[si][3] <= 1.05), "%.3fx", rat[si][3]);
            snprintf(c3, sizeof c3, "%.3fx (<= 1.05x: %s)", rat[si][3], v);
        }
        printf("| %d | %s | %s | %s | %s |\n", n, c0, c1, c2, c3);
    }
    printf("\n");

    if (plot != NULL) {
        fprintf(plot, "subscribers");   /* the header gnuplot's columnheader reads */
        for (k = 0; k < NEMIT; k++)
            fprintf(plot, "\t%s", impls[k].label);
        fprintf(plot, "\n");
        for (si = 0; si < nsizes; si++) {
            if (sizes[si] == 0)
                continue;   /* a log axis has no 0 */
            fprintf(plot, "%d", sizes[si]);
            for (k = 0; k < NEMIT; k++)
                fprintf(plot, "\t%.4f", med[si][k]);
            fprintf(plot, "\n");
        }
        fclose(plot);
    }
}

/* ================================================================
 * 2. Threads
 * ================================================================ */
static notify_list tlist = NOTIFY_LIST_INIT;
static NOTIFY__ATOMIC(int) tstop;
static NOTIFY__ATOMIC(long) churn_pairs;

typedef struct { long emits; long counter; char pad[64]; } emitter_stat;

static void *emitter(void *arg)
{
    emitter_stat *st = (emitter_stat *)arg;
    long n = 0;
    while (!NOTIFY__STD atomic_load_explicit(&tstop, NOTIFY__MO(relaxed))) {
        for (int k = 0; k < 64; k++) { notify_emit(&tlist, &st->counter); BARRIER(); }
        n += 64;
    }
    st->emits = n;
    return NULL;
}

/* Subscribes and unsubscribes one node, 1000 pairs a second: subscribe on
 * each millisecond, unsubscribe half a millisecond later (absolute
 * deadlines, so the time an unsubscribe takes does not slow the rate
 * unless it exceeds the half millisecond). */
static void *churner(void *arg)
{
    notify_sub s;
    double next = now_ns();
    (void)arg;
    notify_sub_init(&s, q_cb, 0);
    while (!NOTIFY__STD atomic_load(&tstop)) {
        notify_subscribe(&tlist, &s);
        next += 5e5;
        sleep_until_ns(next);
        notify_unsubscribe(&s);
        next += 5e5;
        NOTIFY__STD atomic_fetch_add(&churn_pairs, 1);
        sleep_until_ns(next);
    }
    return NULL;
}

/* Aggregate emissions per second with `threads` emitters (+ a churner). */
static double run_threads(int threads, int churn, double seconds, double *churn_rate)
{
    pthread_t th[64], ch;
    static emitter_stat st[64];
    double t0, t1, total = 0;
    int i;
    NOTIFY__STD atomic_store(&tstop, 0);
    NOTIFY__STD atomic_store(&churn_pairs, 0);
    memset(st, 0, sizeof st);
    if (churn)
        pthread_create(&ch, NULL, churner, NULL);
    t0 = now_ns();
    for (i = 0; i < threads; i++)
        pthread_create(&th[i], NULL, emitter, &st[i]);
    sleep_ns((long)(seconds * 1e9));
    NOTIFY__STD atomic_store(&tstop, 1);
    for (i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        total += (double)st[i].emits;
    }
    t1 = now_ns();
    if (churn)
        pthread_join(ch, NULL);
    if (churn_rate)
        *churn_rate = (double)NOTIFY__STD atomic_load(&churn_pairs) / ((t1 - t0) / 1e9);
    return total / ((t1 - t0) / 1e9);
}

/* liburcu readers for the latency comparison: 8 nodes, registered threads */
static struct cds_list_head urcu_head = CDS_LIST_HEAD_INIT(urcu_head);
static urcu_node urcu_nodes[8];

static void *urcu_emitter(void *arg)
{
    long c = 0;
    (void)arg;
    urcu_memb_register_thread();
    while (!NOTIFY__STD atomic_load_explicit(&tstop, NOTIFY__MO(relaxed))) {
        for (int k = 0; k < 64; k++) { urcu_emit(&urcu_head, &c); BARRIER(); }
    }
    urcu_memb_unregister_thread();
    return NULL;
}

/* A thread that emits once and then sleeps until the run ends; with a
 * non-NULL arg it says so first (notify_thread_offline). */
static void *idle_emitter(void *arg)
{
    long c = 0;
    notify_emit(&tlist, &c);
    if (arg != NULL)
        notify_thread_offline();
    while (!NOTIFY__STD atomic_load(&tstop))
        sleep_ns(1000000);
    return NULL;
}

/* liburcu's counterpart: registered, outside any read section, asleep;
 * with a non-NULL arg it calls urcu_memb_thread_offline first (a no-op in
 * this flavour). */
static void *urcu_idle(void *arg)
{
    urcu_memb_register_thread();
    if (arg != NULL)
        urcu_memb_thread_offline();
    while (!NOTIFY__STD atomic_load(&tstop))
        sleep_ns(1000000);
    urcu_memb_unregister_thread();
    return NULL;
}

/* What one membarrier(PRIVATE_EXPEDITED) costs here, called 100 us after a
 * sleep (as the latency samples are) while one emitter runs: the median of
 * 200 calls, in us. The library has registered for it (its first grace
 * period did); 0 where the call is not available. */
static double membarrier_cost_us(void)
{
#if defined(__linux__) && defined(__NR_membarrier)
    enum { M = 200 };
    static double t[M];
    static emitter_stat st;
    pthread_t th;
    int i;
    if (syscall(__NR_membarrier, 16 /* REGISTER_PRIVATE_EXPEDITED */, 0, 0) != 0)
        return 0;
    NOTIFY__STD atomic_store(&tstop, 0);
    pthread_create(&th, NULL, emitter, &st);
    for (i = 0; i < M; i++) {
        double t0;
        sleep_ns(100000);
        t0 = now_ns();
        (void)syscall(__NR_membarrier, 8 /* PRIVATE_EXPEDITED */, 0, 0);
        t[i] = (now_ns() - t0) / 1000.0;
    }
    NOTIFY__STD atomic_store(&tstop, 1);
    pthread_join(th, NULL);
    return percentile(t, M, 50);
#else
    return 0;
#endif
}

static void thread_tables(int quick)
{
    int ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN), counts[8], ncounts = 0, c, r, j, k;
    int treps = quick ? 3 : 7;
    double secs = quick ? 0.2 : 0.5;
    double rate[16][BENCH_MAX_REPS], crate[16][BENCH_MAX_REPS];
    notify_sub subs[8];

    if (ncpu < 2)
        ncpu = 2;
    if (ncpu > 64)
        ncpu = 64;
    for (c = 1; c < ncpu && ncounts < 7; c *= 2)
        counts[ncounts++] = c;
    counts[ncounts++] = ncpu;

    for (k = 0; k < 8; k++) {
        notify_sub_init(&subs[k], q_cb, 0);
        notify_subscribe(&tlist, &subs[k]);
        urcu_nodes[k].fn = u_cb;
        cds_list_add_tail_rcu(&urcu_nodes[k].link, &urcu_head);
    }
    /* configurations: (emitters, churn) for each count; order alternates */
    for (r = 0; r < treps; r++)
        for (j = 0; j < 2 * ncounts; j++) {
            k = bench_order(r, j, 2 * ncounts);
            rate[k][r] = run_threads(counts[k / 2], k % 2, secs, &crate[k][r]);
        }

    printf("## Threads: one list, 8 subscribers, aggregate emits/s\n\n");
    printf("Median of %d runs of %.1f s; configurations in alternating order; ratios are "
           "medians of per-run ratios to 1 emitter without churn. Churn: another thread "
           "subscribes and unsubscribes a node, 1000 pairs a second (measured rate shown). "
           "%d cores.\n\n", treps, secs, (int)sysconf(_SC_NPROCESSORS_ONLN));
    printf("| emitters | churn | emits/s | vs 1 emitter | target |\n");
    printf("| ---: | --- | ---: | ---: | --- |\n");
    for (k = 0; k < 2 * ncounts; k++) {
        int e = counts[k / 2], ch = k % 2;
        double ratio = median_ratio(rate[k], rate[0], treps);
        char target[96] = "", fig[128], chs[64], grp[32];
        if (ch)
            snprintf(chs, sizeof chs, "%.0f pairs/s", median(crate[k], treps));
        else
            snprintf(chs, sizeof chs, "none");
        if (e == 2 && !ch) {
            snprintf(fig, sizeof fig, "threads: 2 emitters / 1 emitter (emits/s)");
            snprintf(target, sizeof target, ">= 1.8x: %s",
                     bench_target(fig, ">= 1.8x", verdict(ratio >= 1.8), "%.2fx", ratio));
        } else if (e == 2 && ch) {
            snprintf(fig, sizeof fig, "threads: 2 emitters with churn / 1 emitter (emits/s)");
            snprintf(target, sizeof target, ">= 1.5x: %s",
                     bench_target(fig, ">= 1.5x", verdict(ratio >= 1.5), "%.2fx", ratio));
        }
        printf("| %d | %s | %s | %.2fx | %s |\n", e, chs,
               bench_grouped(grp, sizeof grp, median(rate[k], treps)), ratio, target);
    }
    printf("\n");

    /* unsubscribe latency, outside an emission, while emitters run, against
     * liburcu's equivalent (cds_list_del_rcu + synchronize_rcu with its
     * readers looping): with 1 emitter (a core free for the unsubscriber);
     * with 1 emitter and a thread that emitted once and now sleeps (for
     * liburcu: a registered thread outside any read section), which a grace
     * period cannot tell from one about to emit without a membarrier; and
     * with one emitter per core (every core busy emitting, so the
     * unsubscriber preempts an emitter that may be inside its section) */
    {
        enum { N = 2000 };
        static double lat[N], ulat[N];
        int nlat = quick ? 400 : N, ei;
        const struct { int emitters, idler; const char *what; } cfg[4] = {
            { 1, 0, "1" }, { 1, 1, "1, and 1 idle thread" },
            { 1, 2, "1, and 1 idle thread that called notify_thread_offline" },
            { ncpu, 0, "" } };
        printf("## Unsubscribe latency while emitters run (%d samples each)\n\n", nlat);
        printf("Each sample: subscribe, 100 us later time notify_unsubscribe (it returns when "
               "no emitter can still be calling the node). liburcu: cds_list_del_rcu + "
               "urcu_memb_synchronize_rcu with its readers looping likewise. The idle thread "
               "emitted once (liburcu: registered) and sleeps: a grace period cannot tell it "
               "from a thread about to emit without membarrier, which costs %.1f us here "
               "(median of 200 calls made 100 us after a sleep, with one emitter running), "
               "unless the thread said it would not emit for a while (notify_thread_offline). "
               "No target is set for those rows. liburcu's urcu_memb_thread_offline, called "
               "likewise, does nothing in this flavour.\n\n", membarrier_cost_us());
        printf("| emitters | qomnotify median | p99 | urcu-memb median | p99 | target |\n"
               "| --- | ---: | ---: | ---: | ---: | --- |\n");
        for (ei = 0; ei < 4; ei++) {
            pthread_t th[64], idler;
            static emitter_stat st[64];
            notify_sub s;
            double qmed, qp99, umed, up99;
            char fig[128], label[64];
            int ne = cfg[ei].emitters;
            const char *v;
            NOTIFY__STD atomic_store(&tstop, 0);
            for (k = 0; k < ne; k++)
                pthread_create(&th[k], NULL, emitter, &st[k]);
            if (cfg[ei].idler)
                pthread_create(&idler, NULL, idle_emitter, cfg[ei].idler == 2 ? &tstop : NULL);
            notify_sub_init(&s, q_cb, 0);
            for (r = 0; r < nlat; r++) {
                double t0, t1;
                notify_subscribe(&tlist, &s);
                sleep_ns(100000);
                t0 = now_ns();
                notify_unsubscribe(&s);
                t1 = now_ns();
                lat[r] = (t1 - t0) / 1000.0;
            }
            NOTIFY__STD atomic_store(&tstop, 1);
            for (k = 0; k < ne; k++)
                pthread_join(th[k], NULL);
            if (cfg[ei].idler)
                pthread_join(idler, NULL);

            NOTIFY__STD atomic_store(&tstop, 0);
            for (k = 0; k < ne; k++)
                pthread_create(&th[k], NULL, urcu_emitter, NULL);
            if (cfg[ei].idler)
                pthread_create(&idler, NULL, urcu_idle, cfg[ei].idler == 2 ? &tstop : NULL);
            for (r = 0; r < nlat; r++) {
                static urcu_node extra;
                double t0, t1;
                extra.fn = u_cb;
                cds_list_add_tail_rcu(&extra.link, &urcu_head);
                sleep_ns(100000);
                t0 = now_ns();
                cds_list_del_rcu(&extra.link);
                urcu_memb_synchronize_rcu();
                t1 = now_ns();
                ulat[r] = (t1 - t0) / 1000.0;
            }
            NOTIFY__STD atomic_store(&tstop, 1);
            for (k = 0; k < ne; k++)
                pthread_join(th[k], NULL);
            if (cfg[ei].idler)
                pthread_join(idler, NULL);

            qmed = percentile(lat, nlat, 50);
            qp99 = percentile(lat, nlat, 99);
            umed = percentile(ulat, nlat, 50);
            up99 = percentile(ulat, nlat, 99);
            if (cfg[ei].idler) {
                snprintf(label, sizeof label, "%s", cfg[ei].what);
                v = "reported";
            } else {
                snprintf(label, sizeof label, "%d%s", ne, ne == ncpu ? " (every core)" : "");
                snprintf(fig, sizeof fig, "unsubscribe latency median, %d emitter%s running", ne,
                         ne == 1 ? "" : "s");
                v = bench_target(fig, "<= 20 us", verdict(qmed <= 20.0), "%.1f us", qmed);
            }
            printf("| %s | %.1f us | %.1f us | %.1f us | %.1f us | %s%s |\n", label,
                   qmed, qp99, umed, up99, cfg[ei].idler ? "" : "median <= 20 us: ", v);
        }
        printf("\n");
    }
    notify_list_clear(&tlist);
}

/* ================================================================
 * --memory: node sizes and counted allocations
 * ================================================================ */
static void memory_table(void)
{
    enum { NSUB = 1024, NEMITS = 200 };
    int k;
    printf("## Memory: bytes per subscription and heap allocations, counted\n\n");
    if (!alloc_count_active()) {
        printf("Allocation counting is not active in this build (malloc was not "
               "interposed): not measured.\n\n");
        bench_target("heap allocations per emit (qomnotify)", "0", BENCH_NOT_MEASURED, "-");
        return;
    }
    printf("Counted by wrappers around malloc, calloc, realloc, free and the aligned "
           "variants in this program (alloc_count.c), over %d subscribes, %d emits to those "
           "%d subscribers and %d unsubscribes, divided; GLib runs with "
           "G_SLICE=%s so that GSlice's allocations are counted too. Node: the "
           "subscriber's own node (sizeof) for the intrusive lists; for GSignal and "
           "qom_lite subscription objects the library allocates, shown as heap bytes per "
           "subscribe.\n\n", NSUB, NEMITS, NSUB, NSUB,
           getenv("G_SLICE") ? getenv("G_SLICE") : "(unset)");
    printf("| implementation | node (bytes) | allocations / subscribe | heap bytes / subscribe "
           "| allocations / emit | allocations / unsubscribe |\n");
    printf("| --- | ---: | ---: | ---: | ---: | ---: |\n");
    for (k = 0; k < NIMPL; k++) {
        const emit_impl *im = &impls[k];
        alloc_stats sub, em, un;
        char node[32];
        int i;
        im->prepare(NSUB);
        im->loop(10);   /* first-time work (reader slots, lazy state) outside the count */
        alloc_count_begin();
        for (i = 0; i < NSUB; i++)
            im->sub(i);
        sub = alloc_count_end();
        alloc_count_begin();
        im->loop(NEMITS);
        em = alloc_count_end();
        alloc_count_begin();
        im->unsub_all(NSUB);
        un = alloc_count_end();
        im->release();
        if (im->node_size != 0)
            snprintf(node, sizeof node, "%zu", im->node_size);
        else
            snprintf(node, sizeof node, "(library) %.0f", (double)sub.bytes / NSUB);
        printf("| %s | %s | %.2f | %.1f | %.3f | %.2f%s |\n", im->label, node,
               (double)sub.allocs / NSUB, (double)sub.bytes / NSUB,
               (double)em.allocs / NEMITS, (double)un.allocs / NSUB,
               k == S ? " (owner container destroyed)" : "");
        if (k == Q)
            bench_target("heap allocations per emit (qomnotify, counted)", "0",
                         verdict(em.allocs == 0), "%.3f", (double)em.allocs / NEMITS);
    }
    printf("\n");
    printf("subscription node: sizeof(notify_sub) = %zu bytes (target <= 32: %s)\n\n",
           sizeof(notify_sub),
           bench_target("subscription node, sizeof(notify_sub)", "<= 32 bytes",
                        verdict(sizeof(notify_sub) <= 32), "%zu bytes", sizeof(notify_sub)));
}

/* ================================================================
 * --instructions: callgrind counts
 * ================================================================ */
static const int cg_sizes[] = { 0, 1, 8, 64 };
enum { CG_NSIZES = 4, CG_ITERS = 20000 };

/* In the child, under callgrind --instr-atstart=no: for each size, a dump
 * of an empty run and one of CG_ITERS emissions, instrumented only around
 * the loop. */
static int callgrind_child(const char *id, long iters)
{
#if BENCH_HAVE_CALLGRIND
    int k, si;
    for (k = 0; k < NIMPL && strcmp(impls[k].id, id) != 0; k++) {
    }
    if (k == NIMPL)
        return 2;
    for (si = 0; si < CG_NSIZES; si++) {
        char label[64];
        impl_setup(&impls[k], cg_sizes[si]);
        impls[k].loop(1000);   /* warm: lazy state, reader slots */
        CALLGRIND_ZERO_STATS;
        CALLGRIND_START_INSTRUMENTATION;
        impls[k].loop(0);
        CALLGRIND_STOP_INSTRUMENTATION;
        snprintf(label, sizeof label, "bench %d 0", cg_sizes[si]);
        CALLGRIND_DUMP_STATS_AT(label);
        CALLGRIND_START_INSTRUMENTATION;
        impls[k].loop(iters);
        CALLGRIND_STOP_INSTRUMENTATION;
        snprintf(label, sizeof label, "bench %d %ld", cg_sizes[si], iters);
        CALLGRIND_DUMP_STATS_AT(label);
        impl_teardown(&impls[k], cg_sizes[si]);
    }
    return 0;
#else
    (void)id; (void)iters;
    return 2;
#endif
}

/* Run the child under valgrind; ir[si] = instructions per emission. */
static int callgrind_measure(const char *id, double *ir)
{
    char dir[] = "/tmp/qomnotify-cg.XXXXXX", cmd[1024], exe[512], *slash;
    double base[CG_NSIZES] = { 0 }, full[CG_NSIZES] = { 0 };
    int found = 0, rc, si;
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 32);
    DIR *d;
    struct dirent *e;
    if (n <= 0 || mkdtemp(dir) == NULL)
        return -1;
    exe[n] = '\0';
    /* bench_notify_ir: this program built without loop alignment, whose
     * padding would count as instructions; else this one */
    if ((slash = strrchr(exe, '/')) != NULL) {
        char ir[512];
        snprintf(ir, sizeof ir, "%.*s/bench_notify_ir", (int)(slash - exe), exe);
        if (access(ir, X_OK) == 0)
            snprintf(exe, sizeof exe, "%s", ir);
    }
    snprintf(cmd, sizeof cmd,
             "valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=%s/cg.out "
             "'%s' --callgrind-child %s %d >%s/log 2>&1", dir, exe, id, CG_ITERS, dir);
    rc = system(cmd);
    if ((d = opendir(dir)) != NULL) {
        while ((e = readdir(d)) != NULL) {
            char path[1024], line[512];
            int size = -1;
            long it = -1;
            double tot = -1;
            FILE *f;
            if (strncmp(e->d_name, "cg.out", 6) != 0)
                continue;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            if ((f = fopen(path, "r")) != NULL) {
                while (fgets(line, sizeof line, f) != NULL) {
                    char *p = strstr(line, "bench ");
                    if (strncmp(line, "desc: Trigger:", 14) == 0 && p != NULL)
                        sscanf(p, "bench %d %ld", &size, &it);
                    else if (strncmp(line, "totals:", 7) == 0 || strncmp(line, "summary:", 8) == 0)
                        tot = strtod(line + (line[0] == 't' ? 7 : 8), NULL);
                }
                fclose(f);
            }
            for (si = 0; si < CG_NSIZES && size >= 0 && tot >= 0; si++) {
                if (cg_sizes[si] != size)
                    continue;
                if (it == 0)
                    base[si] = tot;
                else
                    full[si] = tot;
                found++;
            }
            unlink(path);
        }
        closedir(d);
    }
    snprintf(cmd, sizeof cmd, "%s/log", dir);
    if (found != 2 * CG_NSIZES) {
        fprintf(stderr, "callgrind for %s: exit %d, %d of %d dumps; log kept in %s\n", id, rc,
                found, 2 * CG_NSIZES, cmd);
        return -1;
    }
    unlink(cmd);
    rmdir(dir);
    for (si = 0; si < CG_NSIZES; si++)
        ir[si] = (full[si] - base[si]) / CG_ITERS;
    return 0;
}

static void instruction_table(void)
{
    static const int cg_impls[] = { Q, P, U, O };
    double ir[4][CG_NSIZES];
    int k, si, ok = BENCH_HAVE_CALLGRIND && system("valgrind --version >/dev/null 2>&1") == 0;

    printf("## Instructions per emit (valgrind --tool=callgrind)\n\n");
    for (k = 0; ok && k < 4; k++)
        if (callgrind_measure(impls[cg_impls[k]].id, ir[k]) != 0)
            ok = 0;
    if (!ok) {
        printf("valgrind or valgrind/callgrind.h is not available: not measured.\n\n");
        bench_target("emit instructions (callgrind)", "-", BENCH_NOT_MEASURED, "-");
        return;
    }
    printf("Instructions retired per emission: callgrind's total for %d emissions less that "
           "of an empty run, instrumentation on only around the loop "
           "(CALLGRIND_START/STOP_INSTRUMENTATION), divided by %d; counted on bench_notify_ir, "
           "the same source built without loop alignment (its padding would count as "
           "instructions). Deterministic, so it shows "
           "differences that timing noise hides; it weighs every instruction alike (a fence "
           "or a locked instruction counts as one), so it is no substitute for the times "
           "above.\n\n", CG_ITERS, CG_ITERS);
    printf("| subscribers | qomnotify | plain loop | urcu-memb | qom_lite event | "
           "qomnotify / plain | qomnotify / urcu | qom_lite / qomnotify |\n");
    printf("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (si = 0; si < CG_NSIZES; si++) {
        int n = cg_sizes[si];
        char c0[64], c1[64], c2[64], fig[128];
        double rp = ir[0][si] / ir[1][si], ru = ir[0][si] / ir[2][si], ro = ir[3][si] / ir[0][si];
        snprintf(c0, sizeof c0, "%.2fx", rp);
        snprintf(c1, sizeof c1, "%.2fx", ru);
        snprintf(c2, sizeof c2, "%.3fx", ro);
        if (n == 0) {
            snprintf(fig, sizeof fig, "emit instructions, 0 subscribers: qomnotify / plain loop");
            snprintf(c0, sizeof c0, "%.2fx (<= 1.2x: %s)", rp,
                     bench_target(fig, "<= 1.2x", verdict(rp <= 1.2), "%.2fx", rp));
        } else {
            snprintf(fig, sizeof fig, "emit instructions, %d subscriber%s: qomnotify / urcu-memb",
                     n, n == 1 ? "" : "s");
            snprintf(c1, sizeof c1, "%.2fx (<= 1.1x: %s)", ru,
                     bench_target(fig, "<= 1.1x", verdict(ru <= 1.1), "%.2fx", ru));
        }
        snprintf(fig, sizeof fig, "emit instructions, %d subscriber%s: qom_lite / notify_emit", n,
                 n == 1 ? "" : "s");
        snprintf(c2, sizeof c2, "%.3fx (<= 1.05x: %s)", ro,
                 bench_target(fig, "<= 1.05x", verdict(ro <= 1.05), "%.3fx", ro));
        printf("| %d | %.1f | %.1f | %.1f | %.1f | %s | %s | %s |\n", n, ir[0][si], ir[1][si],
               ir[2][si], ir[3][si], c0, c1, c2);
    }
    printf("\n");
}

int main(int argc, char **argv)
{
    int quick = 0, memory = 0, instructions = 0, i;
    const char *plot = NULL;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else if (strcmp(argv[i], "--memory") == 0)
            memory = 1;
        else if (strcmp(argv[i], "--instructions") == 0)
            instructions = 1;
        else if (strcmp(argv[i], "--record") == 0 && i + 1 < argc)
            bench_record_open(argv[++i]);
        else if (strcmp(argv[i], "--plot") == 0 && i + 1 < argc)
            plot = argv[++i];
        else if (strcmp(argv[i], "--callgrind-child") == 0 && i + 2 < argc) {
            setup_world();
            return callgrind_child(argv[i + 1], strtol(argv[i + 2], NULL, 10));
        } else {
            fprintf(stderr, "usage: %s [--quick] [--memory | --instructions] [--record FILE] "
                            "[--plot FILE]\n", argv[0]);
            return 2;
        }
    }
    /* GSlice hands out memory it allocated in slabs earlier: count it as
     * malloc, or GSignal's allocations would hide. Read at GLib's start-up,
     * so set it and start again. */
    if (memory && getenv("G_SLICE") == NULL) {
        setenv("G_SLICE", "always-malloc", 1);
        execv("/proc/self/exe", argv);
        perror("execv");   /* go on, uncorrected */
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    bench_multithreaded();
    setup_world();
    if (memory)
        memory_table();
    else if (instructions)
        instruction_table();
    else {
        emission_tables(quick, plot);
        thread_tables(quick);
    }
    bench_record_close();
    urcu_memb_unregister_thread();
    return 0;
}
