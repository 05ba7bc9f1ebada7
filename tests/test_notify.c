/* cmocka tests for notify.h: every meaning the header documents. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <pthread.h>
#include <time.h>
#include <stdio.h>
#include <cmocka.h>

/* Record assertion failures instead of aborting, so misuse can be tested
 * in every build: the test checks the message and the returned error. */
static char last_assert[256];
#define NOTIFY_ASSERT(cond, msg) \
    ((cond) ? (void)0 : (void)snprintf(last_assert, sizeof last_assert, "%s", (msg)))
#define NOTIFY_IMPLEMENTATION
#include "notify.h"
#include <stdio.h>

/* ---- a subscriber that records what happens to it ---- */
typedef struct rec {
    notify_sub sub;
    int id;
    int calls;
    int releases;
    int ret;                   /* what the callback returns */
    int (*action)(struct rec *self, void *event);
} rec;

static int trace[64];
static int ntrace;

static int rec_cb(notify_sub *s, void *event)
{
    rec *r = notify_container_of(s, rec, sub);
    r->calls++;
    if (ntrace < 64)
        trace[ntrace++] = r->id;
    if (r->action)
        return r->action(r, event);
    return r->ret;
}

static void rec_release(notify_sub *s)
{
    notify_container_of(s, rec, sub)->releases++;
}

static void rec_init(rec *r, int id, int prio)
{
    memset(r, 0, sizeof *r);
    r->id = id;
    notify_sub_init(&r->sub, rec_cb, prio);
    notify_sub_set_release(&r->sub, rec_release);
}

static int setup(void **state)
{
    (void)state;
    ntrace = 0;
    last_assert[0] = 0;
    return 0;
}

static void expect_trace(const int *ids, int n)
{
    int i;
    assert_int_equal(ntrace, n);
    for (i = 0; i < n; i++)
        assert_int_equal(trace[i], ids[i]);
}

/* ---- order and stop value ---- */

static void test_priority_then_fifo(void **state)
{
    notify_list l = NOTIFY_LIST_INIT;
    rec a, b, c, d, e;
    static const int want[] = { 4, 2, 1, 3, 5 };
    (void)state;
    rec_init(&a, 1, 0); rec_init(&b, 2, 10); rec_init(&c, 3, 0);
    rec_init(&d, 4, 20); rec_init(&e, 5, -3);
    assert_int_equal(notify_subscribe(&l, &a.sub), 0);
    assert_int_equal(notify_subscribe(&l, &b.sub), 0);
    assert_int_equal(notify_subscribe(&l, &c.sub), 0);
    assert_int_equal(notify_subscribe(&l, &e.sub), 0);
    assert_int_equal(notify_subscribe(&l, &d.sub), 0);
    assert_int_equal(notify_list_count(&l), 5);
    assert_int_equal(notify_emit(&l, NULL), 0);
    expect_trace(want, 5);
    assert_int_equal(notify_list_clear(&l), 5);
    assert_true(notify_list_empty(&l));
}

static void test_stop_value(void **state)
{
    notify_list l = NOTIFY_LIST_INIT;
    rec a, b, c;
    (void)state;
    rec_init(&a, 1, 3); rec_init(&b, 2, 2); rec_init(&c, 3, 1);
    b.ret = 42;
    notify_subscribe(&l, &a.sub);
    notify_subscribe(&l, &b.sub);
    notify_subscribe(&l, &c.sub);
    assert_int_equal(notify_emit(&l, NULL), 42);
    assert_int_equal(a.calls, 1);
    assert_int_equal(b.calls, 1);
    assert_int_equal(c.calls, 0);
    b.ret = 0;
    assert_int_equal(notify_emit(&l, NULL), 0);
    assert_int_equal(c.calls, 1);
    notify_list_clear(&l);
}

/* The same through the checked path: one-shots are reached through
 * CHECK-tagged links, at the head, in the middle and at the end. */
static void test_stop_value_from_oneshot(void **state)
{
    notify_list l = NOTIFY_LIST_INIT;
    rec a, b, c, d;
    (void)state;
    rec_init(&a, 1, 4); rec_init(&b, 2, 3); rec_init(&c, 3, 2); rec_init(&d, 4, 1);
    b.ret = 9;
    notify_subscribe_once(&l, &a.sub);       /* head: a CHECK link */
    notify_subscribe_once(&l, &b.sub);       /* stops the emission */
    notify_subscribe(&l, &c.sub);
    notify_subscribe_once(&l, &d.sub);       /* last */
    assert_int_equal(notify_emit(&l, NULL), 9);
    assert_int_equal(a.calls, 1);
    assert_int_equal(b.calls, 1);
    assert_int_equal(c.calls, 0);
    assert_int_equal(d.calls, 0);
    assert_int_equal(notify_emit(&l, NULL), 0);   /* a and b fired: c, then d */
    assert_int_equal(a.calls, 1);
    assert_int_equal(b.calls, 1);
    assert_int_equal(c.calls, 1);
    assert_int_equal(d.calls, 1);
    assert_int_equal(notify_emit(&l, NULL), 0);
    assert_int_equal(c.calls, 2);
    assert_int_equal(d.calls, 1);
    notify_list_clear(&l);
}

static void test_empty_list(void **state)
{
    notify_list l;
    rec a;
    (void)state;
    notify_list_init(&l);
    assert_true(notify_list_empty(&l));
    assert_int_equal(notify_emit(&l, NULL), 0);
    rec_init(&a, 1, 0);
    notify_subscribe(&l, &a.sub);
    assert_false(notify_list_empty(&l));
    assert_true(notify_sub_subscribed(&a.sub));
    assert_int_equal(notify_unsubscribe(&a.sub), 0);
    assert_true(notify_list_empty(&l));
    assert_false(notify_sub_subscribed(&a.sub));
    assert_int_equal(notify_emit(&l, NULL), 0);
    assert_int_equal(a.calls, 0);
}

/* ---- misuse ---- */

static void test_double_subscribe(void **state)
{
    notify_list l = NOTIFY_LIST_INIT, m = NOTIFY_LIST_INIT;
    rec a;
    (void)state;
    rec_init(&a, 1, 0);
    assert_int_equal(notify_subscribe(&l, &a.sub), 0);
    assert_int_equal(notify_subscribe(&l, &a.sub), -EEXIST);
    assert_int_equal(notify_subscribe(&m, &a.sub), -EEXIST);
    assert_int_equal(notify_list_count(&l), 1);
    assert_int_equal(notify_list_count(&m), 0);
    notify_emit(&l, NULL);
    assert_int_equal(a.calls, 1);
    assert_int_equal(notify_unsubscribe(&a.sub), 0);
}

static void test_unsubscribe_not_subscribed(void **state)
{
    notify_list l = NOTIFY_LIST_INIT;
    rec a;
    (void)state;
    rec_init(&a, 1, 0);
    assert_int_equal(notify_unsubscribe(&a.sub), -ENOENT);
    notify_subscribe(&l, &a.sub);
    assert_int_equal(notify_unsubscribe(&a.sub), 0);
    assert_int_equal(notify_unsubscribe(&a.sub), -ENOENT);
    assert_int_equal(a.releases, 1);
    /* an unsubscribed node can subscribe again */
    assert_int_equal(notify_subscribe(&l, &a.sub), 0);
    notify_emit(&l, NULL);
    assert_int_equal(a.calls, 1);
    assert_int_equal(notify_unsubscribe(&a.sub), 0);
    assert_int_equal(a.releases, 2);
}

static void test_uninitialised_node(void **state)
{
    notify_list l = NOTIFY_LIST_INIT;
    notify_sub zero, junk;
    (void)state;
    memset(&zero, 0, sizeof zero);
    memset(&junk, 0xa5, sizeof junk);
    assert_int_equal(notify_subscribe(&l, &zero), -EINVAL);
    assert_int_equal(notify_subscribe(&l, &junk), -EINVAL);
    assert_int_equal(notify_unsubscribe(&zero), -EINVAL);
    assert_int_equal(notify_unsubscribe(&junk), -EINVAL);
    assert_true(notify_list_empty(&l));
    assert_int_equal(notify_emit(&l, NULL), 0);
}

static void test_null_arguments(void **state)
{
    notify_list l = NOTIFY_LIST_INIT;
    rec a;
    (void)state;
    rec_init(&a, 1, 0);
    assert_int_equal(notify_subscribe(NULL, &a.sub), -EINVAL);
    assert_string_equal(last_assert, "notify_subscribe: list or sub is NULL");
    last_assert[0] = 0;
    assert_int_equal(notify_subscribe(&l, NULL), -EINVAL);
    assert_string_equal(last_assert, "notify_subscribe: list or sub is NULL");
    last_assert[0] = 0;
    assert_int_equal(notify_unsubscribe(NULL), -EINVAL);
    assert_string_equal(last_assert, "notify_unsubscribe: sub is NULL");
    last_assert[0] = 0;
    assert_int_equal(notify_list_clear(NULL), -EINVAL);
    assert_string_equal(last_assert, "notify_list_clear: list is NULL");
}

static void test_poisoned_after_release(void **state)
{
    notify_list l = NOTIFY_LIST_INIT;
    rec a;
    (void)state;
    rec_init(&a, 1, 0);
    notify_subscribe(&l, &a.sub);
    notify_unsubscribe(&a.sub);
#if NOTIFY_DEBUG
    /* Debug builds poison the link, so a stale traversal faults loudly. */
    assert_true(a.sub.next == NOTIFY__POISON);
#else
    assert_true(a.sub.next == 0);
#endif
}

/* ---- callbacks that change the list ---- */

static rec *victim;
static int unsubscribe_victim(rec *self, void *event)
{
    (void)self; (void)event;
    assert_int_equal(notify_unsubscribe(&victim->sub), 0);
    assert_int_equal(notify_unsubscribe(&victim->sub), -ENOENT);
    /* deferred: the release hook has not run yet */
    assert_int_equal(victim->releases, 0);
    assert_true(notify_in_emission());
    return 0;
}

static void test_unsubscribe_self_in_callback(void **state)
{
    notify_list l = NOTIFY_LIST_INIT;
    rec a, b, c;
    static const int first[] = { 1, 2, 3 }, second[] = { 1, 2, 3, 1, 3 };
    (void)state;
    rec_init(&a, 1, 2); rec_init(&b, 2, 1); rec_init(&c, 3, 0);
    victim = &b;
    b.action = unsubscribe_victim;
    notify_subscribe(&l, &a.sub);
    notify_subscribe(&l, &b.sub);
    notify_subscribe(&l, &c.sub);
    notify_emit(&l, NULL);
    expect_trace(first, 3);
    /* released when the emission ended, exactly once */
    assert_int_equal(b.releases, 1);
    assert_false(notify_in_emission());
    notify_emit(&l, NULL);
    expect_trace(second, 5);
    assert_int_equal(notify_synchronize(), 0);
    assert_int_equal(b.releases, 1);
    assert_int_equal(notify_list_count(&l), 2);
    notify_list_clear(&l);
}

static void test_unsubscribe_next_in_callback(void **state)
{
    notify_list l = NOTIFY_LIST_INIT;
    rec a, b, c;
    static const int want[] = { 1, 3 };
    (void)state;
    rec_init(&a, 1, 2); rec_init(&b, 2, 1); rec_init(&c, 3, 0);
    victim = &b;
    a.action = unsubscribe_victim;
    notify_subscribe(&l, &a.sub);
    notify_subscribe(&l, &b.sub);
    notify_subscribe(&l, &c.sub);
    notify_emit(&l, NULL);
    expect_trace(want, 2);     /* b removed before it was reached: skipped */
    assert_int_equal(b.calls, 0);
    assert_int_equal(b.releases, 1);
    assert_int_equal(notify_list_count(&l), 2);
    notify_list_clear(&l);
}

static void test_unsubscribe_previous_in_callback(void **state)
{
    notify_list l = NOTIFY_LIST_INIT;
    rec a, b, c;
    static const int want[] = { 1, 2, 3, 2, 3 };
    (void)state;
    rec_init(&a, 1, 2); rec_init(&b, 2, 1); rec_init(&c, 3, 0);
    victim = &a;
    c.action = unsubscribe_victim;
    notify_subscribe(&l, &a.sub);
    notify_subscribe(&l, &b.sub);
    notify_subscribe(&l, &c.sub);
    notify_emit(&l, NULL);
    c.action = NULL;
    notify_emit(&l, NULL);
    expect_trace(want, 5);
    assert_int_equal(a.releases, 1);
    notify_list_clear(&l);
}

static notify_list *sub_target;
static rec *newcomer;
static int subscribe_newcomer(rec *self, void *event)
{
    (void)event;
    self->action = NULL;
    assert_int_equal(notify_subscribe(sub_target, &newcomer->sub), 0);
    return 0;
}

static void test_subscribe_in_callback(void **state)
{
    notify_list l = NOTIFY_LIST_INIT;
    rec a, b, n;
    (void)state;
    rec_init(&a, 1, 5); rec_init(&b, 2, 0); rec_init(&n, 9, 10);
    sub_target = &l;
    newcomer = &n;
    a.action = subscribe_newcomer;
    notify_subscribe(&l, &a.sub);
    notify_subscribe(&l, &b.sub);
    notify_emit(&l, NULL);
    /* n (priority 10) went in ahead of the running node: not reached */
    assert_int_equal(n.calls, 0);
    assert_int_equal(b.calls, 1);
    notify_emit(&l, NULL);
    assert_int_equal(n.calls, 1);
    assert_int_equal(trace[2], 9);
    notify_list_clear(&l);
}

static notify_list *rec_lists[2];
static int depth;
static int emit_recursively(rec *self, void *event)
{
    (void)self; (void)event;
    if (depth < 3) {
        depth++;
        notify_emit(rec_lists[0], NULL);
        notify_emit(rec_lists[1], NULL);
        depth--;
    }
    return 0;
}

static void test_recursive_emit(void **state)
{
    notify_list l = NOTIFY_LIST_INIT, m = NOTIFY_LIST_INIT;
    rec a, b;
    (void)state;
    rec_init(&a, 1, 0); rec_init(&b, 2, 0);
    rec_lists[0] = &l;
    rec_lists[1] = &m;
    depth = 0;
    a.action = emit_recursively;
    notify_subscribe(&l, &a.sub);
    notify_subscribe(&m, &b.sub);
    notify_emit(&l, NULL);
    /* a runs at depths 0..3 (1 + 1 + 1 + 1 calls); b once per depth 1..3
     * emission pair, i.e. once for each call of a that recursed. */
    assert_int_equal(a.calls, 4);
    assert_int_equal(b.calls, 3);
    assert_false(notify_in_emission());
    notify_list_clear(&l);
    notify_list_clear(&m);
}

static int unsubscribe_in_nested(rec *self, void *event)
{
    (void)event;
    if (depth++ == 0)
        notify_emit(rec_lists[0], NULL);   /* same list, nested */
    else
        assert_int_equal(notify_unsubscribe(&self->sub), 0);
    return 0;
}

static void test_unsubscribe_inside_nested_emit(void **state)
{
    notify_list l = NOTIFY_LIST_INIT;
    rec a, b;
    (void)state;
    rec_init(&a, 1, 1); rec_init(&b, 2, 0);
    rec_lists[0] = &l;
    depth = 0;
    a.action = unsubscribe_in_nested;
    notify_subscribe(&l, &a.sub);
    notify_subscribe(&l, &b.sub);
    notify_emit(&l, NULL);
    assert_int_equal(a.calls, 2);
    assert_int_equal(b.calls, 2);   /* once in each emission */
    assert_int_equal(a.releases, 1);
    notify_emit(&l, NULL);
    assert_int_equal(a.calls, 2);
    notify_list_clear(&l);
}

static int try_resubscribe(rec *self, void *event)
{
    (void)event;
    assert_int_equal(notify_unsubscribe(&self->sub), 0);
    /* still pending release: it may not join a list yet */
    assert_int_equal(notify_subscribe(sub_target, &self->sub), -EBUSY);
    assert_int_equal(notify_synchronize(), -EDEADLK);
    return 0;
}

static void test_pending_node_is_busy(void **state)
{
    notify_list l = NOTIFY_LIST_INIT;
    rec a;
    (void)state;
    rec_init(&a, 1, 0);
    sub_target = &l;
    a.action = try_resubscribe;
    notify_subscribe(&l, &a.sub);
    notify_emit(&l, NULL);
    assert_int_equal(a.releases, 1);
    a.action = NULL;
    assert_int_equal(notify_subscribe(&l, &a.sub), 0);
    notify_emit(&l, NULL);
    assert_int_equal(a.calls, 2);
    notify_unsubscribe(&a.sub);
}

/* ---- one-shot ---- */

static void test_oneshot(void **state)
{
    notify_list l = NOTIFY_LIST_INIT;
    rec a, b;
    (void)state;
    rec_init(&a, 1, 0); rec_init(&b, 2, 0);
    assert_int_equal(notify_subscribe_once(&l, &a.sub), 0);
    notify_subscribe(&l, &b.sub);
    assert_int_equal(notify_list_count(&l), 2);
    notify_emit(&l, NULL);
    notify_emit(&l, NULL);
    notify_emit(&l, NULL);
    assert_int_equal(a.calls, 1);
    assert_int_equal(b.calls, 3);
    assert_int_equal(a.releases, 1);
    assert_int_equal(notify_list_count(&l), 1);
    assert_int_equal(notify_unsubscribe(&a.sub), -ENOENT);
    /* re-armed after its release */
    assert_int_equal(notify_subscribe_once(&l, &a.sub), 0);
    notify_emit(&l, NULL);
    notify_emit(&l, NULL);
    assert_int_equal(a.calls, 2);
    assert_int_equal(a.releases, 2);
    notify_list_clear(&l);
}

static void test_oneshot_unsubscribed_before_firing(void **state)
{
    notify_list l = NOTIFY_LIST_INIT;
    rec a;
    (void)state;
    rec_init(&a, 1, 0);
    notify_subscribe_once(&l, &a.sub);
    assert_int_equal(notify_unsubscribe(&a.sub), 0);
    assert_int_equal(a.releases, 1);
    notify_emit(&l, NULL);
    assert_int_equal(a.calls, 0);
    assert_int_equal(a.releases, 1);
}

/* ---- release hook: immediate and deferred ---- */

static void test_release_immediate(void **state)
{
    notify_list l = NOTIFY_LIST_INIT;
    rec a;
    (void)state;
    rec_init(&a, 1, 0);
    notify_subscribe(&l, &a.sub);
    notify_emit(&l, NULL);
    assert_int_equal(a.releases, 0);
    assert_int_equal(notify_unsubscribe(&a.sub), 0);
    assert_int_equal(a.releases, 1);
    assert_int_equal(notify_synchronize(), 0);
    assert_int_equal(a.releases, 1);
}

static int clear_inside(rec *self, void *event)
{
    (void)self; (void)event;
    assert_int_equal(notify_list_clear(rec_lists[1]), 2);
    return 0;
}

static void test_list_clear(void **state)
{
    notify_list l = NOTIFY_LIST_INIT, m = NOTIFY_LIST_INIT;
    rec a, b, c;
    (void)state;
    rec_init(&a, 1, 0); rec_init(&b, 2, 0); rec_init(&c, 3, 0);
    rec_lists[1] = &m;
    a.action = clear_inside;
    notify_subscribe(&l, &a.sub);
    notify_subscribe(&m, &b.sub);
    notify_subscribe_once(&m, &c.sub);
    notify_emit(&l, NULL);          /* clears m from inside: deferred */
    assert_int_equal(b.releases, 1);
    assert_int_equal(c.releases, 1);
    assert_true(notify_list_empty(&m));
    assert_int_equal(notify_emit(&m, NULL), 0);
    assert_int_equal(b.calls + c.calls, 0);
    assert_int_equal(notify_list_clear(&l), 1);   /* outside: immediate */
    assert_int_equal(a.releases, 1);
    assert_int_equal(notify_list_clear(&l), 0);
}

static int clear_inside_all(rec *self, void *event)
{
    (void)self; (void)event;
    /* clears the list being emitted, this node included */
    assert_int_equal(notify_list_clear(rec_lists[1]), 3 * NOTIFY_RECLAIM_BATCH + 6);
    return 0;
}

static void test_many_deferred_beyond_one_batch(void **state)
{
    enum { N = 3 * NOTIFY_RECLAIM_BATCH + 5 };
    static rec r[N];
    notify_list l = NOTIFY_LIST_INIT;
    rec head;
    int i, released = 0;
    (void)state;
    for (i = 0; i < N; i++) {
        rec_init(&r[i], i, 0);
        notify_subscribe(&l, &r[i].sub);
    }
    rec_init(&head, -1, 1);
    rec_lists[1] = &l;
    head.action = clear_inside_all;
    notify_subscribe(&l, &head.sub);
    notify_emit(&l, NULL);
    assert_int_equal(notify_synchronize(), 0);
    for (i = 0; i < N; i++) {
        assert_int_equal(r[i].calls, 0);
        released += r[i].releases;
    }
    assert_int_equal(released, N);
    assert_int_equal(head.releases, 1);
    assert_true(notify_list_empty(&l));
}

/* ---- typed layer ---- */

typedef struct { int device; int open; } tray_event;
NOTIFY_DEFINE_EVENT(tray, tray_event);

typedef struct { tray_sub sub; int last_device, last_open, calls; } tray_watch;

static int tray_cb(tray_sub *s, const tray_event *ev)
{
    tray_watch *w = notify_container_of(s, tray_watch, sub);
    w->last_device = ev->device;
    w->last_open = ev->open;
    w->calls++;
    return 0;
}

static void test_typed_layer(void **state)
{
    tray_list l;
    tray_watch w;
    tray_event ev = { 7, 1 };
    (void)state;
    memset(&w, 0, sizeof w);
    tray_list_init(&l);
    tray_sub_init(&w.sub, tray_cb, 0);
    assert_true(tray_empty(&l));
    assert_int_equal(tray_subscribe(&l, &w.sub), 0);
    assert_int_equal(tray_emit(&l, &ev), 0);
    assert_int_equal(w.calls, 1);
    assert_int_equal(w.last_device, 7);
    assert_int_equal(w.last_open, 1);
    assert_int_equal(tray_unsubscribe(&w.sub), 0);
    assert_int_equal(tray_emit(&l, &ev), 0);
    assert_int_equal(w.calls, 1);
    assert_int_equal(sizeof(tray_sub), sizeof(notify_sub));
}

static void test_node_size(void **state)
{
    (void)state;
    if (sizeof(void *) == 8)
        assert_true(sizeof(notify_sub) <= 32);
}

/* ---- threads ---- */

static NOTIFY__ATOMIC(int) phase;
static NOTIFY__ATOMIC(int) cb_finished;

static int slow_cb(notify_sub *s, void *event)
{
    struct timespec ts = { 0, 50 * 1000 * 1000 };
    (void)s; (void)event;
    notify__store_release(&phase, 1);
    while (notify__load_acquire(&phase) != 2)
        ;
    nanosleep(&ts, NULL);   /* the unsubscriber is waiting meanwhile */
    notify__store_release(&cb_finished, 1);
    return 0;
}

static void *emit_thread(void *arg)
{
    notify_emit((notify_list *)arg, NULL);
    return NULL;
}

static void test_unsubscribe_waits_for_running_callback(void **state)
{
    notify_list l = NOTIFY_LIST_INIT;
    notify_sub s;
    pthread_t th;
    (void)state;
    notify__store_relaxed(&phase, 0);
    notify__store_relaxed(&cb_finished, 0);
    notify_sub_init(&s, slow_cb, 0);
    notify_subscribe(&l, &s);
    pthread_create(&th, NULL, emit_thread, &l);
    while (notify__load_acquire(&phase) != 1)
        ;
    notify__store_release(&phase, 2);
    assert_int_equal(notify_unsubscribe(&s), 0);
    /* the guarantee: the callback is running nowhere once this returned */
    assert_int_equal(notify__load_acquire(&cb_finished), 1);
    pthread_join(th, NULL);
}

static int exit_in_callback(notify_sub *s, void *event)
{
    (void)s; (void)event;
    pthread_exit(NULL);
    return 0;
}

static void test_exited_threads_stall_nothing(void **state)
{
    notify_list l = NOTIFY_LIST_INIT;
    rec a;
    notify_sub quitter;
    pthread_t th;
    int i;
    (void)state;
    rec_init(&a, 1, 0);
    notify_subscribe(&l, &a.sub);
    /* more threads than the static slot pool: slots are reused */
    for (i = 0; i < 3 * NOTIFY_READER_POOL; i++) {
        pthread_create(&th, NULL, emit_thread, &l);
        pthread_join(th, NULL);
    }
    assert_int_equal(a.calls, 3 * NOTIFY_READER_POOL);
    /* a thread that dies inside an emission does not hold it */
    notify_sub_init(&quitter, exit_in_callback, 10);
    notify_subscribe(&l, &quitter);
    pthread_create(&th, NULL, emit_thread, &l);
    pthread_join(th, NULL);
    assert_int_equal(notify_unsubscribe(&quitter), 0);
    assert_int_equal(notify_unsubscribe(&a.sub), 0);
    assert_int_equal(notify_synchronize(), 0);
}


/* A reader parked inside a callback until released. */
static NOTIFY__ATOMIC(int) park_state;   /* 0 idle, 1 parked, 2 let go */
static int park_cb(notify_sub *s, void *event)
{
    (void)s; (void)event;
    notify__store_release(&park_state, 1);
    while (notify__load_acquire(&park_state) != 2)
        ;
    return 0;
}

static int unsubscribe_self(rec *self, void *event)
{
    (void)event;
    assert_int_equal(notify_unsubscribe(&self->sub), 0);
    return 0;
}

static void test_deferred_release_not_stranded(void **state)
{
    /* The emitting thread cannot finish the grace period at the end of its
     * emission (another thread sits in a callback); the release must still
     * happen, with no further call, once that thread leaves. */
    notify_list parked = NOTIFY_LIST_INIT, l = NOTIFY_LIST_INIT;
    notify_sub p;
    rec a;
    pthread_t th;
    (void)state;
    notify__store_relaxed(&park_state, 0);
    notify_sub_init(&p, park_cb, 0);
    notify_subscribe(&parked, &p);
    pthread_create(&th, NULL, emit_thread, &parked);
    while (notify__load_acquire(&park_state) != 1)
        ;
    rec_init(&a, 1, 0);
    a.action = unsubscribe_self;
    notify_subscribe(&l, &a.sub);
    notify_emit(&l, NULL);
    assert_int_equal(a.releases, 0);          /* blocked by the parked reader */
    notify__store_release(&park_state, 2);
    pthread_join(th, NULL);                   /* its exit finishes the GP */
    assert_int_equal(a.releases, 1);
    assert_int_equal(notify_subscribe(&l, &a.sub), 0);
    a.action = NULL;
    notify_unsubscribe(&a.sub);
    notify_unsubscribe(&p);
}

/* A release hook that takes its time, in another thread's grace period. */
static NOTIFY__ATOMIC(int) slow_hook_state;
static void slow_release(notify_sub *s)
{
    struct timespec ts = { 0, 30 * 1000 * 1000 };
    notify__store_release(&slow_hook_state, 1);
    nanosleep(&ts, NULL);
    notify_container_of(s, rec, sub)->releases++;
    notify__store_release(&slow_hook_state, 2);
}

static rec *slow_victim;
static int unsubscribe_slow_victim(rec *self, void *event)
{
    (void)self; (void)event;
    notify_unsubscribe(&slow_victim->sub);   /* deferred: inside an emission */
    return 0;
}

static void test_synchronize_waits_for_hooks(void **state)
{
    notify_list l = NOTIFY_LIST_INIT;
    rec a, x;
    pthread_t th;
    (void)state;
    notify__store_relaxed(&slow_hook_state, 0);
    rec_init(&a, 1, 1);
    rec_init(&x, 2, 0);
    notify_sub_set_release(&x.sub, slow_release);
    slow_victim = &x;
    a.action = unsubscribe_slow_victim;
    notify_subscribe(&l, &a.sub);
    notify_subscribe(&l, &x.sub);
    /* the other thread defers x's release, then runs its slow hook as its
     * emission ends */
    pthread_create(&th, NULL, emit_thread, &l);
    while (notify__load_acquire(&slow_hook_state) == 0)
        ;
    /* x's release was pending at this call: it returns after the hook */
    assert_int_equal(notify_synchronize(), 0);
    assert_int_equal(notify__load_acquire(&slow_hook_state), 2);
    assert_int_equal(x.releases, 1);
    pthread_join(th, NULL);
    notify_unsubscribe(&a.sub);
}

static void *clear_thread(void *arg)
{
    notify_list_clear((notify_list *)arg);
    return NULL;
}

static void test_clear_returns_after_hooks(void **state)
{
    /* Two threads clear the same list at once: whichever returns, every
     * hook has run by then (the other may have collected the nodes). */
    enum { N = 50 };
    static rec r[N];
    notify_list l = NOTIFY_LIST_INIT;
    pthread_t th;
    int i, round;
    (void)state;
    for (round = 0; round < 20; round++) {
        for (i = 0; i < N; i++) {
            rec_init(&r[i], i, 0);
            notify_subscribe(&l, &r[i].sub);
        }
        pthread_create(&th, NULL, clear_thread, &l);
        notify_list_clear(&l);
        for (i = 0; i < N; i++)
            assert_int_equal(r[i].releases, 1);
        pthread_join(th, NULL);
        assert_true(notify_list_empty(&l));
        assert_int_equal(notify__load_relaxed(&l.dirty), 0);
    }
}

/* ---- the non-blocking API ---- */

static void test_unsubscribe_async(void **state)
{
    notify_list l = NOTIFY_LIST_INIT;
    rec a, b;
    (void)state;
    rec_init(&a, 1, 0); rec_init(&b, 2, 0);
    notify_subscribe(&l, &a.sub);
    notify_subscribe(&l, &b.sub);
    assert_int_equal(notify_unsubscribe_async(&a.sub), 0);
    assert_int_equal(notify_unsubscribe_async(&a.sub), -ENOENT);
    assert_false(notify_sub_subscribed(&a.sub));
    notify_emit(&l, NULL);                 /* skipped at once */
    assert_int_equal(a.calls, 0);
    assert_int_equal(b.calls, 1);
    assert_int_equal(notify_subscribe(&l, &a.sub), -EBUSY);   /* release pending */
    assert_int_equal(notify_synchronize(), 0);
    assert_int_equal(a.releases, 1);
    assert_int_equal(notify_subscribe(&l, &a.sub), 0);
    notify_list_clear(&l);
}

static int deferred_calls;
static void count_deferred(notify_sub *s) { (void)s; deferred_calls++; }

static void test_defer_runs_after_grace_period(void **state)
{
    notify_list parked = NOTIFY_LIST_INIT;
    notify_sub p, d;
    pthread_t th;
    (void)state;
    deferred_calls = 0;
    notify__store_relaxed(&park_state, 0);
    notify_sub_init(&p, park_cb, 0);
    notify_subscribe(&parked, &p);
    pthread_create(&th, NULL, emit_thread, &parked);
    while (notify__load_acquire(&park_state) != 1)
        ;
    /* an emission is in progress: the deferred call must wait for it */
    notify_defer(&d, count_deferred);
    notify_reclaim();
    assert_int_equal(deferred_calls, 0);
    notify__store_release(&park_state, 2);
    pthread_join(th, NULL);
    assert_int_equal(notify_synchronize(), 0);
    assert_int_equal(deferred_calls, 1);
    notify_unsubscribe(&p);
}

static void test_clear_async_and_idle(void **state)
{
    notify_list l = NOTIFY_LIST_INIT;
    rec a, b;
    (void)state;
    rec_init(&a, 1, 0); rec_init(&b, 2, 0);
    assert_true(notify_list_idle(&l));
    notify_subscribe(&l, &a.sub);
    notify_subscribe_once(&l, &b.sub);
    assert_false(notify_list_idle(&l));
    assert_int_equal(notify_list_clear_async(&l), 2);
    assert_true(notify_list_empty(&l));
    assert_false(notify_list_idle(&l));    /* nodes still linked */
    notify_emit(&l, NULL);
    assert_int_equal(a.calls + b.calls, 0);
    assert_int_equal(notify_synchronize(), 0);
    assert_int_equal(a.releases + b.releases, 2);
    assert_true(notify_list_idle(&l));
}

/* notify_thread_offline: a thread that emitted and then sleeps costs other
 * threads' unsubscribes no writer fence once it says so, and its next
 * emission works as before. */
static NOTIFY__ATOMIC(int) off_step;   /* 1 offline, 2 emit again, 3 done */
static int off_in_cb, off_out;          /* what notify_thread_offline said */
static notify_list off_list = NOTIFY_LIST_INIT;

static int offline_in_callback(rec *self, void *event)
{
    (void)self; (void)event;
    off_in_cb = notify_thread_offline();
    return 0;
}

static void *offline_emitter(void *arg)
{
    (void)arg;
    notify_emit(&off_list, NULL);
    off_out = notify_thread_offline();
    notify__store_release(&off_step, 1);
    while (notify__load_acquire(&off_step) != 2) {
        struct timespec ts = { 0, 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    notify_emit(&off_list, NULL);   /* back online */
    notify__store_release(&off_step, 3);
    return NULL;
}

static void test_thread_offline(void **state)
{
    rec a, b;
    pthread_t th;
    (void)state;
    assert_int_equal(notify_thread_offline(), 0);   /* harmless here too */
    assert_int_equal(notify_synchronize(), 0);
    rec_init(&a, 1, 0);
    a.action = offline_in_callback;
    rec_init(&b, 2, 0);
    notify_subscribe(&off_list, &a.sub);
    notify_subscribe(&off_list, &b.sub);
    notify__store_relaxed(&off_step, 0);
    pthread_create(&th, NULL, offline_emitter, NULL);
    while (notify__load_acquire(&off_step) != 1)
        ;
    assert_int_equal(a.calls, 1);
    assert_int_equal(off_in_cb, -EBUSY);
    assert_int_equal(off_out, 0);
    /* the sleeping thread is skipped: no writer fence on its account */
    assert_int_equal(notify_unsubscribe(&b.sub), 0);
    assert_int_equal(b.releases, 1);
    /* (with symmetric fences depth 0 is trusted anyway: nothing to show) */
    if (notify__load_relaxed(&notify__g.asymmetric))
        assert_int_equal(notify__gp.fenced, 0);
    notify__store_release(&off_step, 2);
    while (notify__load_acquire(&off_step) != 3)
        ;
    assert_int_equal(a.calls, 2);   /* its next emission went through */
    assert_int_equal(b.calls, 1);   /* and did not reach the released node */
    pthread_join(th, NULL);
    assert_int_equal(notify_unsubscribe(&a.sub), 0);
    assert_int_equal(a.releases, 1);
}

/* ---- grace-period internals: the cases a race would rarely show ---- */

/* A reader inside a section when a blocking GP asks it to wake the GP
 * (P9), that then leaves without seeing the request (as store buffering
 * allows) and emits no more: the GP must still complete, after its sleep
 * times out, and leave no request behind. */
static NOTIFY__ATOMIC(int) miss_go, miss_quit;
static notify__reader *miss_slot;

static void *missing_reader(void *arg)
{
    notify__section sec;
    uint64_t a;
    (void)arg;
    sec = notify__read_enter();   /* the first emission claims a slot */
    notify__read_exit(sec);
    sec = notify__read_enter();
    miss_slot = sec.r;
    notify__store_release(&miss_go, 1);
    while (!(notify__load_acquire(&sec.r->wanted) & NOTIFY__WANT_WAKE))
        ;                                   /* the GP asked */
    {
        struct timespec ts = { 0, 2 * 1000 * 1000 };
        nanosleep(&ts, NULL);               /* it sleeps on the request now */
    }
    /* leave as the fast path does, but without looking at `wanted` */
    a = notify__load_relaxed(&sec.r->active);
    notify__read_end(sec.r, (a - 1u) & ~NOTIFY__R_DEFERRED);
    while (!notify__load_acquire(&miss_quit)) {
        struct timespec ts = { 0, 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static void test_gp_survives_a_missed_wake_request(void **state)
{
    pthread_t th;
    (void)state;
#if !NOTIFY__FUTEX
    skip();   /* without futexes a GP polls and never asks to be woken */
#endif
    notify__store_relaxed(&miss_go, 0);
    notify__store_relaxed(&miss_quit, 0);
    pthread_create(&th, NULL, missing_reader, NULL);
    while (!notify__load_acquire(&miss_go))
        ;
    assert_int_equal(notify_synchronize(), 0);
    assert_int_equal(notify__load_acquire(&miss_slot->wanted) & NOTIFY__WANT_WAKE, 0);
    assert_int_equal(notify__load_relaxed(&miss_slot->active) & NOTIFY__R_DEPTH, 0);
    notify__store_release(&miss_quit, 1);
    pthread_join(th, NULL);
}

/* An idle reader keeps the epoch of its last section. After 2^40 GPs that
 * word matches a new GP's epoch on the 40 bits kept, which must not pass
 * for proof that the reader re-entered: the GP fences instead. Skipping
 * 2^40 - 1 GPs is done by moving the epoch (only equality matters). */
static NOTIFY__ATOMIC(int) idle_ready, idle_quit;
static notify__reader *idle_slot;

static void *idle_reader(void *arg)
{
    notify_emit((notify_list *)arg, NULL);
    idle_slot = notify__tls.slot;
    notify__store_release(&idle_ready, 1);
    while (!notify__load_acquire(&idle_quit)) {
        struct timespec ts = { 0, 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static void test_idle_epoch_alias_is_not_proof(void **state)
{
    const uint64_t low40 = ((uint64_t)1 << 40) - 1u;
    notify_list l = NOTIFY_LIST_INIT;
    rec a;
    pthread_t th;
    uint64_t e0;
    (void)state;
    rec_init(&a, 1, 0);
    notify_subscribe(&l, &a.sub);
    notify__store_relaxed(&idle_ready, 0);
    notify__store_relaxed(&idle_quit, 0);
    pthread_create(&th, NULL, idle_reader, &l);
    while (!notify__load_acquire(&idle_ready))
        ;
    assert_int_equal(notify_synchronize(), 0);   /* settle: no GP in flight */
    /* the epoch the idle reader last entered with, kept in its word */
    e0 = notify__load_acquire(&idle_slot->active) >> NOTIFY__R_EPOCH_SHIFT;
    assert_int_equal(notify__load_relaxed(&idle_slot->active) & NOTIFY__R_DEPTH, 0);
    /* as if 2^40 - 1 GPs had run since: the next one's target aliases e0 */
    NOTIFY__STD atomic_store(&notify__g.epoch, e0 + low40);
    assert_int_equal(notify_synchronize(), 0);
    assert_int_equal(notify__gp.target & low40, e0 & low40);
    assert_int_equal(notify__gp.fenced, 1);   /* the alias was not taken as proof */
    notify__store_release(&idle_quit, 1);
    pthread_join(th, NULL);
    assert_int_equal(notify_unsubscribe(&a.sub), 0);
    assert_int_equal(a.releases, 1);
}

int main(void)
{
    const struct CMUnitTest order[] = {
        cmocka_unit_test_setup(test_priority_then_fifo, setup),
        cmocka_unit_test_setup(test_stop_value, setup),
        cmocka_unit_test_setup(test_stop_value_from_oneshot, setup),
        cmocka_unit_test_setup(test_empty_list, setup),
    };
    const struct CMUnitTest misuse[] = {
        cmocka_unit_test_setup(test_double_subscribe, setup),
        cmocka_unit_test_setup(test_unsubscribe_not_subscribed, setup),
        cmocka_unit_test_setup(test_uninitialised_node, setup),
        cmocka_unit_test_setup(test_null_arguments, setup),
        cmocka_unit_test_setup(test_poisoned_after_release, setup),
    };
    const struct CMUnitTest callbacks[] = {
        cmocka_unit_test_setup(test_unsubscribe_self_in_callback, setup),
        cmocka_unit_test_setup(test_unsubscribe_next_in_callback, setup),
        cmocka_unit_test_setup(test_unsubscribe_previous_in_callback, setup),
        cmocka_unit_test_setup(test_subscribe_in_callback, setup),
        cmocka_unit_test_setup(test_recursive_emit, setup),
        cmocka_unit_test_setup(test_unsubscribe_inside_nested_emit, setup),
        cmocka_unit_test_setup(test_pending_node_is_busy, setup),
    };
    const struct CMUnitTest release[] = {
        cmocka_unit_test_setup(test_oneshot, setup),
        cmocka_unit_test_setup(test_oneshot_unsubscribed_before_firing, setup),
        cmocka_unit_test_setup(test_release_immediate, setup),
        cmocka_unit_test_setup(test_list_clear, setup),
        cmocka_unit_test_setup(test_many_deferred_beyond_one_batch, setup),
        cmocka_unit_test_setup(test_unsubscribe_async, setup),
        cmocka_unit_test_setup(test_clear_async_and_idle, setup),
    };
    const struct CMUnitTest typed[] = {
        cmocka_unit_test_setup(test_typed_layer, setup),
        cmocka_unit_test_setup(test_node_size, setup),
    };
    const struct CMUnitTest threads[] = {
        cmocka_unit_test_setup(test_unsubscribe_waits_for_running_callback, setup),
        cmocka_unit_test_setup(test_exited_threads_stall_nothing, setup),
        cmocka_unit_test_setup(test_deferred_release_not_stranded, setup),
        cmocka_unit_test_setup(test_synchronize_waits_for_hooks, setup),
        cmocka_unit_test_setup(test_clear_returns_after_hooks, setup),
        cmocka_unit_test_setup(test_defer_runs_after_grace_period, setup),
        cmocka_unit_test_setup(test_thread_offline, setup),
        cmocka_unit_test_setup(test_gp_survives_a_missed_wake_request, setup),
        cmocka_unit_test_setup(test_idle_epoch_alias_is_not_proof, setup),
    };
    int fails = 0;
    fails += cmocka_run_group_tests_name("order", order, NULL, NULL);
    fails += cmocka_run_group_tests_name("misuse", misuse, NULL, NULL);
    fails += cmocka_run_group_tests_name("callbacks", callbacks, NULL, NULL);
    fails += cmocka_run_group_tests_name("release", release, NULL, NULL);
    fails += cmocka_run_group_tests_name("typed", typed, NULL, NULL);
    fails += cmocka_run_group_tests_name("threads", threads, NULL, NULL);
    return fails != 0;
}
