/* bench_notify: notify.h emission cost side by side with the alternatives.
 *
 *   bench_notify [--quick]
 *
 * In one run, on the same list sizes and the same callback (a noinline add
 * through a function pointer), it measures ns per emission for:
 *   qomnotify   notify_emit
 *   plain       an unlocked intrusive loop (the QEMU NotifierList algorithm,
 *               written here: next is read before each call)
 *   urcu-memb   liburcu's memb flavour, inlined (_LGPL_SOURCE), thread
 *               registered, cds_list_for_each_entry_rcu under read lock
 * then thread scaling and unsubscribe latency. Each figure is the median of
 * repeated runs, implementations interleaved within each repetition; ratios
 * are of medians. Targets (issue "notify.h core") are printed next to each
 * figure, met or not. */
#define _GNU_SOURCE
#define _LGPL_SOURCE
#include <urcu/urcu-memb.h>
#include <urcu/rculist.h>

#define NOTIFY_IMPLEMENTATION
#include "notify.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"


/* ---- qomnotify ---- */
static int q_cb(notify_sub *s, void *event) { (void)s; count_add((long *)event); return 0; }

static double bench_qomnotify(int nsubs, long iters)
{
    notify_list list = NOTIFY_LIST_INIT;
    notify_sub *subs = calloc((size_t)(nsubs ? nsubs : 1), sizeof *subs);
    long counter = 0, i;
    double t0, t1;
    ESCAPE(&list);
    for (i = 0; i < nsubs; i++) {
        notify_sub_init(&subs[i], q_cb, 0);
        notify_subscribe(&list, &subs[i]);
    }
    for (i = 0; i < iters / 10; i++) { notify_emit(&list, &counter); BARRIER(); }
    t0 = now_ns();
    for (i = 0; i < iters; i++) { notify_emit(&list, &counter); BARRIER(); }
    t1 = now_ns();
    notify_list_clear(&list);
    free(subs);
    return (t1 - t0) / (double)iters;
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

static double bench_plain(int nsubs, long iters)
{
    plain_list list = { NULL };
    plain_node *nodes = calloc((size_t)(nsubs ? nsubs : 1), sizeof *nodes);
    long counter = 0, i;
    double t0, t1;
    ESCAPE(&list);
    for (i = nsubs - 1; i >= 0; i--) {   /* head insertion, as QLIST_INSERT_HEAD */
        nodes[i].notify = p_cb;
        nodes[i].next = list.head;
        list.head = &nodes[i];
    }
    for (i = 0; i < iters / 10; i++) { plain_emit(&list, &counter); BARRIER(); }
    t0 = now_ns();
    for (i = 0; i < iters; i++) { plain_emit(&list, &counter); BARRIER(); }
    t1 = now_ns();
    free(nodes);
    return (t1 - t0) / (double)iters;
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

static double bench_urcu(int nsubs, long iters)
{
    struct cds_list_head head;
    urcu_node *nodes = calloc((size_t)(nsubs ? nsubs : 1), sizeof *nodes);
    long counter = 0, i;
    double t0, t1;
    CDS_INIT_LIST_HEAD(&head);
    ESCAPE(&head);
    for (i = 0; i < nsubs; i++) {
        nodes[i].fn = u_cb;
        cds_list_add_tail_rcu(&nodes[i].link, &head);
    }
    for (i = 0; i < iters / 10; i++) { urcu_emit(&head, &counter); BARRIER(); }
    t0 = now_ns();
    for (i = 0; i < iters; i++) { urcu_emit(&head, &counter); BARRIER(); }
    t1 = now_ns();
    free(nodes);
    return (t1 - t0) / (double)iters;
}

/* ---- threads ---- */
static notify_list tlist = NOTIFY_LIST_INIT;
static NOTIFY__ATOMIC(int) tstop;

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

static void sleep_ns(long ns)
{
    struct timespec ts = { ns / 1000000000L, ns % 1000000000L };
    nanosleep(&ts, NULL);
}

static NOTIFY__ATOMIC(long) churn_ops;

/* liburcu readers for the latency comparison: 8 nodes, registered threads */
static struct cds_list_head urcu_head = CDS_LIST_HEAD_INIT(urcu_head);
static urcu_node urcu_nodes[8];

static void *urcu_emitter(void *arg)
{
    long counter = 0;
    (void)arg;
    urcu_memb_register_thread();
    while (!NOTIFY__STD atomic_load_explicit(&tstop, NOTIFY__MO(relaxed))) {
        for (int k = 0; k < 64; k++) { urcu_emit(&urcu_head, &counter); BARRIER(); }
    }
    urcu_memb_unregister_thread();
    return NULL;
}

static void *churner(void *arg)
{
    notify_sub s;
    (void)arg;
    notify_sub_init(&s, q_cb, 0);
    while (!NOTIFY__STD atomic_load(&tstop)) {
        notify_subscribe(&tlist, &s);
        sleep_ns(500000);
        notify_unsubscribe(&s);
        sleep_ns(500000);
        NOTIFY__STD atomic_fetch_add(&churn_ops, 1);
    }
    return NULL;
}

/* Aggregate emissions per second with `threads` emitters (+ a churner). */
static double run_threads(int threads, int churn, double seconds, double *churn_rate)
{
    pthread_t th[8], ch;
    static emitter_stat st[8];
    double t0, t1, total = 0;
    int i;
    NOTIFY__STD atomic_store(&tstop, 0);
    NOTIFY__STD atomic_store(&churn_ops, 0);
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
        *churn_rate = (double)NOTIFY__STD atomic_load(&churn_ops) / ((t1 - t0) / 1e9);
    return total / ((t1 - t0) / 1e9);
}


int main(int argc, char **argv)
{
    int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    int reps = quick ? 7 : 21;
    static const int sizes[] = { 0, 1, 8, 64, 1024 };
    enum { NSIZES = 5, NIMPL = 3 };
    static const char *names[NIMPL] = { "qomnotify", "plain loop", "urcu-memb" };
    double (*fns[NIMPL])(int, long) = { bench_qomnotify, bench_plain, bench_urcu };
    double samples[NIMPL][32], med[NSIZES][NIMPL], ratio_p[32], ratio_u[32];
    int si, r, k;

    urcu_memb_register_thread();

    printf("## notify.h emission cost (ns per emit, median of %d runs; ratios are medians of "
           "per-run ratios)\n\n", reps);
    printf("| subscribers | qomnotify | plain loop | urcu-memb | qomnotify / plain | qomnotify / urcu | target |\n");
    printf("| ---: | ---: | ---: | ---: | ---: | ---: | --- |\n");
    for (si = 0; si < NSIZES; si++) {
        int n = sizes[si];
        long iters = (long)(4e6 / (1.0 + 1.5 * n));
        char target[64] = "";
        double rp, ru;
        if (iters < 2000)
            iters = 2000;
        /* Each repetition runs the implementations back to back, in an
         * order that alternates (ABC, CBA), and yields one ratio per pair;
         * ratios are the medians of those, which drift in the machine's
         * speed between repetitions does not bias. */
        for (r = 0; r < reps; r++) {
            for (k = 0; k < NIMPL; k++) {
                int kk = (r & 1) ? NIMPL - 1 - k : k;
                samples[kk][r] = fns[kk](n, iters);
            }
            ratio_p[r] = samples[0][r] / samples[1][r];
            ratio_u[r] = samples[0][r] / samples[2][r];
        }
        for (k = 0; k < NIMPL; k++)
            med[si][k] = median(samples[k], reps);
        rp = median(ratio_p, reps);
        ru = median(ratio_u, reps);
        if (n == 0)
            snprintf(target, sizeof target, "<= 1.2x plain: %s", verdict(rp <= 1.2));
        else if (n <= 64)
            snprintf(target, sizeof target, "<= 1.1x urcu: %s", verdict(ru <= 1.1));
        printf("| %d | %.2f | %.2f | %.2f | %.2fx | %.2fx | %s |\n", n,
               med[si][0], med[si][1], med[si][2], rp, ru, target);
        fflush(stdout);
    }
    (void)names;

    printf("\nsubscription node: %zu bytes (target <= 32: %s)\n",
           sizeof(notify_sub), verdict(sizeof(notify_sub) <= 32));

    /* threads: one list, 8 subscribers */
    {
        notify_sub subs[8];
        double one[8], two[8], twoc[8], crate[8], secs = quick ? 0.2 : 0.4;
        int treps = quick ? 3 : 5;
        for (k = 0; k < 8; k++) {
            notify_sub_init(&subs[k], q_cb, 0);
            notify_subscribe(&tlist, &subs[k]);
            urcu_nodes[k].fn = u_cb;
            cds_list_add_tail_rcu(&urcu_nodes[k].link, &urcu_head);
        }
        for (r = 0; r < treps; r++) {
            one[r] = run_threads(1, 0, secs, NULL);
            two[r] = run_threads(2, 0, secs, NULL);
            twoc[r] = run_threads(2, 1, secs, &crate[r]);
        }
        {
            double m1 = median(one, treps), m2 = median(two, treps);
            double m2c = median(twoc, treps), mc = median(crate, treps);
            printf("\n## Threads: one list, 8 subscribers (emits/s, median of %d)\n\n", treps);
            printf("| emitters | emits/s | vs 1 thread | target |\n| --- | ---: | ---: | --- |\n");
            printf("| 1 | %.3g | 1.00x | |\n", m1);
            printf("| 2 | %.3g | %.2fx | >= 1.8x: %s |\n", m2, m2 / m1, verdict(m2 / m1 >= 1.8));
            printf("| 2 + churn (%.0f sub/unsub pairs/s) | %.3g | %.2fx | >= 1.5x: %s |\n",
                   mc, m2c, m2c / m1, verdict(m2c / m1 >= 1.5));
        }

        /* unsubscribe latency, outside an emission, while emitters run,
         * against liburcu's equivalent (cds_list_del_rcu + synchronize_rcu
         * with its readers looping): with 1 emitter (a core free for the
         * unsubscriber) and with 2 (every core busy emitting, so the
         * unsubscriber preempts an emitter that may be inside its section) */
        {
            enum { N = 2000 };
            static double lat[N], ulat[N];
            int nlat = quick ? 400 : N, ne;
            printf("\n## Unsubscribe latency while emitters run (%d samples each)\n\n", nlat);
            printf("| emitters | qomnotify median | p99 | urcu-memb median | p99 | target |\n"
                   "| ---: | ---: | ---: | ---: | ---: | --- |\n");
            for (ne = 1; ne <= 2; ne++) {
                pthread_t th[2];
                static emitter_stat st[2];
                notify_sub s;
                NOTIFY__STD atomic_store(&tstop, 0);
                for (k = 0; k < ne; k++)
                    pthread_create(&th[k], NULL, emitter, &st[k]);
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

                NOTIFY__STD atomic_store(&tstop, 0);
                for (k = 0; k < ne; k++)
                    pthread_create(&th[k], NULL, urcu_emitter, NULL);
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

                qsort(lat, (size_t)nlat, sizeof lat[0], cmp_double);
                qsort(ulat, (size_t)nlat, sizeof ulat[0], cmp_double);
                printf("| %d | %.1f us | %.1f us | %.1f us | %.1f us | median <= 20 us: %s |\n",
                       ne, lat[nlat / 2], lat[(nlat * 99) / 100], ulat[nlat / 2],
                       ulat[(nlat * 99) / 100], verdict(lat[nlat / 2] <= 20.0));
            }
        }
        notify_list_clear(&tlist);
    }
    urcu_memb_unregister_thread();
    return 0;
}
