/* Multi-threaded torture test of notify.h.
 *
 *   torture_notify [SECONDS]      (default 2)
 *
 * Emitter threads emit on a shared list while churn threads subscribe and
 * unsubscribe heap nodes, freeing each the moment notify_unsubscribe returns;
 * other nodes unsubscribe themselves from their callback (freed by their
 * release hook), one-shots fire once, and some callbacks emit recursively on
 * a second list. A sentinel subscribed for the whole run must see every
 * emission. Killer nodes unsubscribe another node (their victim) from
 * inside their callback, then themselves. A yield is injected at random
 * between the steps of the emission path (NOTIFY_TORTURE_POINT). Freed nodes
 * are poisoned first, and every callback checks its node's magic, so a use
 * after free is caught even without a sanitizer; run it under
 * ThreadSanitizer and AddressSanitizer for the rest. Exit status 0 only if
 * every count balances. */
/* Injected yields: a thread-local coin at every step of the emission path,
 * so preemption lands between those steps far more often than by chance. */
static void torture_point(void);
#define NOTIFY_TORTURE_POINT() torture_point()
#if defined(TORTURE_OLD_KERNEL_HEADERS) && defined(__linux__)
/* As with kernel headers that predate membarrier: the implementation cannot
 * call it, while the fast path was compiled expecting it. */
#  include <sys/syscall.h>
#  undef __NR_membarrier
#endif
#if defined(TORTURE_NO_FUTEX) && defined(__linux__)
/* As on systems without futexes: a grace period waiting for a reader polls
 * with short sleeps instead of being woken by it. */
#  include <sys/syscall.h>
#  undef __NR_futex
#endif
#define NOTIFY_IMPLEMENTATION
#include "notify.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef __linux__
#  include <sys/syscall.h>
long syscall(long number, ...);   /* hidden by strict -std=c11 */
#endif

#define EMITTERS 2
#define CHURNERS 2
#define LIVE_MAGIC 0x11fe11feu
#define DEAD_MAGIC 0xdeaddeadu

typedef struct node {
    notify_sub sub;
    unsigned magic;
    int kind;                       /* KIND_* */
    NOTIFY__ATOMIC(int) calls;
    NOTIFY__ATOMIC(int) released;
    NOTIFY__ATOMIC(struct node *) victim;   /* KIND_KILLER: still to remove */
} node;

enum { KIND_PLAIN, KIND_SELF, KIND_ONESHOT, KIND_RECURSE, KIND_KILLER, KIND_VICTIM };

static notify_list main_list = NOTIFY_LIST_INIT;
static notify_list side_list = NOTIFY_LIST_INIT;
static NOTIFY__ATOMIC(int) stop;
static NOTIFY__ATOMIC(long) emits, sentinel_calls, side_calls, errors;
static NOTIFY__ATOMIC(long) churns, self_made, self_released, once_made,
    once_released, once_calls, recurse_calls, kills, pair_made, pair_released,
    yields;

static NOTIFY__TLS unsigned point_seed;
static void torture_point(void)
{
    point_seed = point_seed * 1103515245u + 12345u;
    if (((point_seed >> 16) & 255u) == 0) {
        NOTIFY__STD atomic_fetch_add_explicit(&yields, 1, NOTIFY__MO(relaxed));
        sched_yield();
    }
}

static void fail(const char *what)
{
    fprintf(stderr, "torture: %s\n", what);
    NOTIFY__STD atomic_fetch_add(&errors, 1);
}

static void check_live(node *n)
{
    if (n->magic != LIVE_MAGIC)
        fail("callback on a node that is not live (use after free)");
}

static void poison_and_free(node *n)
{
    n->magic = DEAD_MAGIC;
    memset(&n->sub, 0x5a, sizeof n->sub);
    free(n);
}

static int node_cb(notify_sub *s, void *event)
{
    node *n = notify_container_of(s, node, sub);
    (void)event;
    check_live(n);
    NOTIFY__STD atomic_fetch_add(&n->calls, 1);
    switch (n->kind) {
    case KIND_SELF:
        if (NOTIFY__STD atomic_load(&n->calls) == 3) {
            int rc = notify_unsubscribe(s);
            if (rc != 0 && rc != -ENOENT)
                fail("self unsubscribe failed");
        }
        break;
    case KIND_ONESHOT:
        if (NOTIFY__STD atomic_load(&n->calls) != 1)
            fail("one-shot called more than once");
        NOTIFY__STD atomic_fetch_add(&once_calls, 1);
        break;
    case KIND_RECURSE:
        NOTIFY__STD atomic_fetch_add(&recurse_calls, 1);
        notify_emit(&side_list, NULL);
        break;
    case KIND_KILLER: {
        /* Another node, possibly the next one, possibly running in another
         * emitter right now: unlinked here, freed by its release hook. */
        node *v = NOTIFY__STD atomic_exchange(&n->victim, (node *)NULL);
        if (v != NULL) {
            int rc;
            check_live(v);
            rc = notify_unsubscribe(&v->sub);
            if (rc != 0 && rc != -ENOENT)
                fail("unsubscribe of another node failed");
            NOTIFY__STD atomic_fetch_add(&kills, 1);
            rc = notify_unsubscribe(s);
            if (rc != 0 && rc != -ENOENT)
                fail("killer self unsubscribe failed");
        }
        break;
    }
    }
    return 0;
}

static void release_free(notify_sub *s)
{
    node *n = notify_container_of(s, node, sub);
    check_live(n);
    if (NOTIFY__STD atomic_fetch_add(&n->released, 1) != 0)
        fail("release hook ran twice");
    NOTIFY__STD atomic_fetch_add(n->kind == KIND_ONESHOT ? &once_released
                                 : n->kind == KIND_SELF ? &self_released : &pair_released, 1);
    poison_and_free(n);
}

static node *node_new(int kind, int prio)
{
    node *n = (node *)calloc(1, sizeof *n);
    if (n == NULL) {
        fail("out of memory");
        return NULL;
    }
    n->magic = LIVE_MAGIC;
    n->kind = kind;
    notify_sub_init(&n->sub, node_cb, prio);
    return n;
}

static int sentinel_cb(notify_sub *s, void *event)
{
    (void)s; (void)event;
    NOTIFY__STD atomic_fetch_add(&sentinel_calls, 1);
    return 0;
}

static int side_cb(notify_sub *s, void *event)
{
    (void)s; (void)event;
    NOTIFY__STD atomic_fetch_add(&side_calls, 1);
    return 0;
}

static void *emitter(void *arg)
{
    long n = 0;
    (void)arg;
    while (!NOTIFY__STD atomic_load_explicit(&stop, NOTIFY__MO(relaxed))) {
        if (notify_emit(&main_list, NULL) != 0)
            fail("emit returned non-zero");
        /* now and then, say it will not emit for a while (P8): grace
         * periods skip it until its next emission, which fences */
        if ((++n & 255) == 0 && notify_thread_offline() != 0)
            fail("notify_thread_offline outside an emission failed");
    }
    NOTIFY__STD atomic_fetch_add(&emits, n);
    return NULL;
}

static unsigned rnd(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 16;
}

static void *churner(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg * 7919u + 1;
    while (!NOTIFY__STD atomic_load_explicit(&stop, NOTIFY__MO(relaxed))) {
        unsigned r = rnd(&seed);
        int prio = (int)(r % 5) - 2;
        node *n;
        switch (r % 5) {
        case 4: { /* a killer and its victim; both freed on release */
            node *v = node_new(KIND_VICTIM, prio);
            if (!v)
                break;
            n = node_new(KIND_KILLER, (r & 128) ? prio + 1 : prio - 1);
            if (!n) {
                free(v);
                break;
            }
            notify_sub_set_release(&v->sub, release_free);
            notify_sub_set_release(&n->sub, release_free);
            NOTIFY__STD atomic_store(&n->victim, v);
            NOTIFY__STD atomic_fetch_add(&pair_made, 2);
            if (notify_subscribe(&main_list, &v->sub) != 0 ||
                notify_subscribe(&main_list, &n->sub) != 0)
                fail("subscribe failed");
            break;
        }
        case 0: /* plain: unsubscribe, then free at once */
        case 3:
            n = node_new((r & 64) ? KIND_RECURSE : KIND_PLAIN, prio);
            if (!n)
                break;
            if (notify_subscribe(&main_list, &n->sub) != 0)
                fail("subscribe failed");
            if (r & 32)
                sched_yield();
            if (notify_unsubscribe(&n->sub) != 0)
                fail("unsubscribe failed");
            poison_and_free(n);     /* the guarantee under test */
            NOTIFY__STD atomic_fetch_add(&churns, 1);
            break;
        case 1: /* unsubscribes itself from its callback; freed on release */
            n = node_new(KIND_SELF, prio);
            if (!n)
                break;
            notify_sub_set_release(&n->sub, release_free);
            NOTIFY__STD atomic_fetch_add(&self_made, 1);
            if (notify_subscribe(&main_list, &n->sub) != 0)
                fail("subscribe failed");
            break;
        case 2: /* one-shot; freed on release */
            n = node_new(KIND_ONESHOT, prio);
            if (!n)
                break;
            notify_sub_set_release(&n->sub, release_free);
            NOTIFY__STD atomic_fetch_add(&once_made, 1);
            if (notify_subscribe_once(&main_list, &n->sub) != 0)
                fail("subscribe_once failed");
            break;
        }
        /* keep the list short enough that emitters make progress */
        while (notify_list_count(&main_list) > 64 &&
               !NOTIFY__STD atomic_load_explicit(&stop, NOTIFY__MO(relaxed)))
            sched_yield();
    }
    return NULL;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 2.0;
    /* optional: the fence mode this run must have (membarrier|symmetric) */
    const char *expect = argc > 2 ? argv[2] : NULL;
    const char *fences;
    pthread_t e[EMITTERS], c[CHURNERS];
    notify_sub sentinel, side;
    struct timespec ts;
    long leftover;
    int i;

    notify_sub_init(&sentinel, sentinel_cb, 100);
    notify_sub_init(&side, side_cb, 0);
    notify_subscribe(&main_list, &sentinel);
    notify_subscribe(&side_list, &side);

    for (i = 0; i < EMITTERS; i++)
        pthread_create(&e[i], NULL, emitter, NULL);
    for (i = 0; i < CHURNERS; i++)
        pthread_create(&c[i], NULL, churner, (void *)(uintptr_t)(i + 1));
    ts.tv_sec = (time_t)seconds;
    ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
    nanosleep(&ts, NULL);
    NOTIFY__STD atomic_store(&stop, 1);
    for (i = 0; i < CHURNERS; i++)
        pthread_join(c[i], NULL);
    for (i = 0; i < EMITTERS; i++)
        pthread_join(e[i], NULL);

    /* Nodes still subscribed (self-unsubscribers that fired < 3 times,
     * one-shots that never fired) go with the list; then all is released. */
    if (notify_unsubscribe(&sentinel) != 0)
        fail("sentinel unsubscribe failed");
    leftover = notify_list_clear(&main_list);
    notify_list_clear(&side_list);
    notify_synchronize();

    fences = notify__load_relaxed(&notify__g.asymmetric) ? "membarrier" : "symmetric";
    if (expect != NULL && strcmp(expect, fences) != 0) {
        long cmds = -1;
#if defined(__linux__) && defined(__NR_membarrier)
        cmds = syscall(__NR_membarrier, 0 /* QUERY */, 0, 0);
#endif
        if (strcmp(expect, "membarrier") == 0 && (cmds < 0 || !(cmds & 8))) {
            printf("torture: this kernel offers no private expedited membarrier: skipped\n");
            return 77;
        }
        fail("the fence mode is not the one expected");
    }
    printf("torture: fences=%s %.1fs emits=%ld sentinel=%ld churns=%ld self=%ld/%ld "
           "oneshot=%ld/%ld (fired %ld) recursive=%ld side=%ld kills=%ld pairs=%ld/%ld "
           "yields=%ld leftover=%ld errors=%ld\n",
           fences, seconds, (long)emits, (long)sentinel_calls, (long)churns,
           (long)self_released, (long)self_made, (long)once_released,
           (long)once_made, (long)once_calls, (long)recurse_calls,
           (long)side_calls, (long)kills, (long)pair_released, (long)pair_made,
           (long)yields, leftover, (long)errors);
    if (sentinel_calls != emits)
        fail("the sentinel missed emissions");
    if (self_released != self_made || once_released != once_made ||
        pair_released != pair_made)
        fail("release hooks did not run exactly once per node");
    if (!notify_list_empty(&main_list))
        fail("list not empty at the end");
    if (emits == 0 || churns == 0 || kills == 0 || yields == 0)
        fail("no progress");
    return errors == 0 ? 0 : 1;
}
