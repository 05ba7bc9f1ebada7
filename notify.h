/* notify.h - lock-free, typed, intrusive notifier lists for C11.
 * Part of qomnotify. MIT licensed (see LICENSE at the end of this file).
 *
 * WHAT
 *   A notifier list is a list of subscriptions; emitting an event calls each
 *   subscription's callback. Subscriptions are intrusive: the 32-byte node
 *   lives in the subscriber's own struct. Emission takes no lock, makes no
 *   system call and allocates nothing; it may run in any number of threads at
 *   once with subscribe, unsubscribe and other emissions on the same list.
 *   (Two exceptions, neither of which waits: an emission whose callbacks
 *   unsubscribed something tries once, as it ends, to release what they
 *   removed: a trylock and a few membarrier calls at most; and an emission
 *   that an unsubscriber in another thread is blocked on wakes it as it
 *   ends: one futex wake, as liburcu's readers do.)
 *
 * EXAMPLE
 *   #define NOTIFY_IMPLEMENTATION            // in exactly one .c file
 *   #include "notify.h"
 *
 *   typedef struct { int level; } irq_event;
 *   NOTIFY_DEFINE_EVENT(irq, irq_event)      // irq_list, irq_sub, irq_fn, ...
 *
 *   struct led { irq_sub sub; int on; };
 *   static int led_cb(irq_sub *s, const irq_event *ev) {
 *       notify_container_of(s, struct led, sub)->on = ev->level; return 0;
 *   }
 *   irq_list line = { NOTIFY_LIST_INIT };  struct led led = {0};
 *   irq_sub_init(&led.sub, led_cb, 0);  irq_subscribe(&line, &led.sub);
 *   irq_event ev = { 1 };  irq_emit(&line, &ev);   // led.on == 1
 *   irq_unsubscribe(&led.sub);                     // led may be freed now
 *
 * GUARANTEES
 *   Order     Higher priority first; equal priorities in subscription order.
 *             A non-zero callback return stops the emission and is returned.
 *   Snapshot  A node subscribed before an emission starts is called by it
 *             (once); a node unsubscribed before it starts is not. Nodes
 *             added or removed during an emission may or may not be called,
 *             but a node that stays subscribed is never skipped.
 *   Callbacks may unsubscribe themselves or any other node, subscribe nodes,
 *             and emit recursively on any list. Nothing deadlocks or crashes.
 *   Unsubscribe  Outside an emission, notify_unsubscribe() returns only when
 *             the callback runs nowhere and never will again for that node:
 *             the release hook has run and the memory may be freed. Inside
 *             an emission (in any callback, on any list) waiting could
 *             deadlock, so it only unlinks: the release hook runs exactly once
 *             later, in whichever thread completes the grace period. The
 *             emitting thread tries, without waiting, as its outermost
 *             emission ends (an emission whose callbacks unsubscribed nothing
 *             does no such work); a reader that was in the way finishes it
 *             when it leaves; any notify_unsubscribe or notify_synchronize
 *             in any thread also does. Release hooks run at the end of an
 *             emission see themselves inside one (an unsubscribe there
 *             defers), so keep them to freeing memory.
 *   One-shot  notify_subscribe_once: called once in total, even with
 *             concurrent emitters. Once it has fired, notify_unsubscribe
 *             says -ENOENT although its callback may still be running: free
 *             its memory in the release hook.
 *   Threads   No registration. A thread's first emission claims a reader slot
 *             (from a static pool, lock-free); the slot returns to the pool
 *             when the thread exits. Emission is not async-signal-safe.
 *   Memory    Emission allocates nothing. Nodes and lists are never allocated
 *             by the library. A list must stay at one address while it has
 *             nodes; before freeing it, call notify_list_clear() outside an
 *             emission when no thread can subscribe or emit on it any more.
 *   Process   One NOTIFY_IMPLEMENTATION per process (two shared objects that
 *             each define it get two grace-period domains: unsafe to share
 *             lists across them). fork() while another thread is inside an
 *             emission or a grace period leaves the child unable to finish
 *             grace periods; fork from a quiet state.
 *   Misuse    Double subscribe (-EEXIST), unsubscribe of a node that is not
 *             subscribed (-ENOENT), subscribe of a node whose deferred
 *             release is still pending (-EBUSY), uninitialised node
 *             (-EINVAL). NULL arguments fail NOTIFY_ASSERT (debug) or
 *             return -EINVAL. Released nodes are poisoned in debug builds.
 *
 * HOW (the design and its memory-order reasoning)
 *   Lists are singly linked through tagged words. The last node's `next` is
 *   the list's address tagged END, so a node finds its list by walking
 *   forward; a pointer tagged CHECK leads to a node the emitter must check
 *   first (a one-shot, or one unsubscribed inside an emission and left linked
 *   until it is reclaimed). Emitters follow untagged pointers at full speed.
 *
 *   Readers are emitting threads. Each owns a cache-line sized slot whose
 *   `active` word, written only by its thread, is the reader's whole state:
 *   the low 40 bits of the global epoch it saw when its latest outermost
 *   emission began (kept after it ends), a few flags and its nesting depth
 *   (low 20 bits). So an emission's fast path is one load and one store of
 *   it on entry and on exit, as in liburcu. A grace period (GP) is run by a
 *   writer: it unlinks nodes, fences, increments the epoch and waits until
 *   no slot can still be in a section that began before: every slot holds
 *   the new epoch, is OFFLINE, or has depth 0 that can be trusted (P2).
 *   Threads that keep emitting re-enter at the new epoch within
 *   nanoseconds, so a GP first just looks, for up to 2 us; only if a
 *   depth-0 word of another thread is left does it run the writer fence
 *   (membarrier: an IPI to every CPU running the process, 17 us on a
 *   virtual machine); readers still inside an older section wake it when
 *   they leave (P9). The pairings:
 *   P1 publish    subscribe initialises a node, then store-releases the link
 *                 to it; emitters load-acquire links.
 *   P2 enter      reader: store active, reader fence, load links.  writer:
 *                 unlink, writer fence, load active. (store-buffering: at
 *                 least one side sees the other.) On Linux the writer fence
 *                 is membarrier(PRIVATE_EXPEDITED), which runs a full barrier
 *                 on every running thread of the process, so the reader fence
 *                 is a compiler barrier. Without membarrier (other systems,
 *                 ThreadSanitizer builds, old kernels) both are seq_cst
 *                 fences: slower emission, same guarantees. Whether the
 *                 kernel offers it is known before any thread registers,
 *                 and each thread notes it once, at its first emission, as
 *                 a flag (SYM) in its `active` word: the fast path tests
 *                 nothing but that word, which it reads anyway. So a depth
 *                 0 read before the writer fence proves nothing for a
 *                 reader that relies on it: its next entry may have loaded
 *                 links before its store shows. It does for SYM readers
 *                 (the GP's seq_cst fence pairs with theirs) and for the
 *                 GP's own thread.
 *   P3 exit       reader store-releases active (depth 0, its epoch and
 *                 persistent flags left); the GP load-acquires it, so
 *                 everything the callback did happens before the release
 *                 hook.
 *   P3' re-entry  every store of `active` is a release: a GP that reads a
 *                 word stored by a later entry is done with the earlier
 *                 sections.
 *   P4 epoch      the GP store-releases the new epoch after the unlinks; a
 *                 reader load-acquires it on entry, so a reader holding the
 *                 new epoch sees every unlink made before that GP.
 *   P5 tickets    an unsubscriber, after unlinking, does an acq_rel RMW on
 *                 the GP counter; the GP it waits for starts with an RMW on
 *                 the same counter, so the unlink happens before its fence.
 *   P6 one-shot   emitters claim a one-shot with a CAS on its state word:
 *                 exactly one call.
 *   P7 hand-off   a GP that stops waiting on a reader (a non-blocking
 *                 caller) sets FINISH in the reader's `wanted`, runs the
 *                 writer fence, and looks at `active` again; the reader,
 *                 leaving, stores `active`, fences (the reader fence, as in
 *                 P2), and loads `wanted`: one of them sees the other, so
 *                 the reader finishes the GP as it leaves, or the GP sees
 *                 it gone.
 *   P8 offline    a slot is OFFLINE when it is made, when its thread exits
 *                 and after notify_thread_offline (a store-release after
 *                 the thread's last section). A thread that claims it, or
 *                 comes back, stores its first word and then runs a seq_cst
 *                 fence before loading a link: with the GP's fence, the GP
 *                 sees that store, or the section sees the unlinks.
 *   P9 wake-up    a blocking GP that must wait for a reader inside an older
 *                 section sets WAKE in its `wanted` (seq_cst RMW), looks
 *                 again, and sleeps on `wanted` (a futex). The reader,
 *                 leaving, exchanges `wanted` to 0 (seq_cst), wakes the GP
 *                 and yields. A GP that finds its WAKE gone is done with
 *                 that reader: the exchange follows the reader's exit, and
 *                 read the GP's RMW, which follows the epoch increment, so
 *                 the reader's later entries load the new epoch. The
 *                 reader's load of `wanted` may miss the request (store
 *                 buffering, no writer fence here); then it is seen at its
 *                 next exit, or the GP's sleep times out (10 ms) and it
 *                 runs the writer fence and trusts depth 0.
 *
 * CONFIGURATION (define before including; all are tested with #if)
 *   NOTIFY_IMPLEMENTATION     define in exactly one translation unit.
 *   NOTIFY_DEBUG              1: poison released nodes, assert on NULLs.
 *                             Default: 1 unless NDEBUG.
 *   NOTIFY_ASSERT(c, msg)     the debug assertion; default prints and aborts.
 *   NOTIFY_ASYMMETRIC_FENCE   1: use membarrier when the kernel offers it.
 *                             Same value in every file of a program.
 *                             Default: 1 on Linux unless ThreadSanitizer.
 *   NOTIFY_READER_POOL        reader slots without malloc (default 64).
 *   NOTIFY_RECLAIM_BATCH      nodes reclaimed per grace period (default 64).
 *   NOTIFY_TORTURE_POINT()    a statement run between the steps of the
 *                             emission path (entering, loading each link,
 *                             calling, leaving). Empty by default; torture
 *                             tests define it to a random yield to widen
 *                             every race window.
 *
 * LICENSE: MIT. Copyright (c) 2026 the qomnotify authors.
 */
#ifndef NOTIFY_H
#define NOTIFY_H

/* The project's version (the three headers share it). */
#define QOMNOTIFY_VERSION_MAJOR 0
#define QOMNOTIFY_VERSION_MINOR 1
#define QOMNOTIFY_VERSION_PATCH 0
#define QOMNOTIFY_VERSION "0.1.0"
#define NOTIFY_VERSION_MAJOR QOMNOTIFY_VERSION_MAJOR
#define NOTIFY_VERSION_MINOR QOMNOTIFY_VERSION_MINOR
#define NOTIFY_VERSION_PATCH QOMNOTIFY_VERSION_PATCH

/* ------------------------------------------------------------------------
 * Configuration
 * ------------------------------------------------------------------------ */
#ifndef NOTIFY_DEBUG
#  ifdef NDEBUG
#    define NOTIFY_DEBUG 0
#  else
#    define NOTIFY_DEBUG 1
#  endif
#endif

#if defined(__SANITIZE_THREAD__)
#  define NOTIFY__TSAN 1
#elif defined(__has_feature)
#  if __has_feature(thread_sanitizer)
#    define NOTIFY__TSAN 1
#  endif
#endif
#ifndef NOTIFY__TSAN
#  define NOTIFY__TSAN 0
#endif

#ifndef NOTIFY_ASYMMETRIC_FENCE
#  if defined(__linux__) && !NOTIFY__TSAN
#    define NOTIFY_ASYMMETRIC_FENCE 1
#  else
#    define NOTIFY_ASYMMETRIC_FENCE 0
#  endif
#endif

#ifndef NOTIFY_READER_POOL
#  define NOTIFY_READER_POOL 64
#endif
#ifndef NOTIFY_RECLAIM_BATCH
#  define NOTIFY_RECLAIM_BATCH 64
#endif
#ifndef NOTIFY_TORTURE_POINT
#  define NOTIFY_TORTURE_POINT() ((void)0)
#endif

#ifndef NOTIFY_ASSERT
#  if NOTIFY_DEBUG
#    define NOTIFY_ASSERT(cond, msg) \
        ((cond) ? (void)0 : notify__assert_fail((msg), __FILE__, __LINE__))
#  else
#    define NOTIFY_ASSERT(cond, msg) ((void)0)
#  endif
#endif

/* ------------------------------------------------------------------------
 * Portability: atomics that read the same from C11 and C++17
 * ------------------------------------------------------------------------ */
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#ifdef __cplusplus
#  include <atomic>
#  define NOTIFY__ATOMIC(T) std::atomic<T>
#  define NOTIFY__MO(o) std::memory_order_##o
#  define NOTIFY__STD std::
#  define NOTIFY__ALIGNAS(n) alignas(n)
#  if defined(__GNUC__)
#    define NOTIFY__TLS __thread
#  else
#    define NOTIFY__TLS thread_local
#  endif
#else
#  include <stdatomic.h>
#  include <stdbool.h>
#  define NOTIFY__ATOMIC(T) _Atomic(T)
#  define NOTIFY__MO(o) memory_order_##o
#  define NOTIFY__STD
#  define NOTIFY__ALIGNAS(n) _Alignas(n)
#  define NOTIFY__TLS _Thread_local
#endif

#if defined(__GNUC__)
#  define NOTIFY__LIKELY(x) __builtin_expect(!!(x), 1)
#  define NOTIFY__UNLIKELY(x) __builtin_expect(!!(x), 0)
#  define NOTIFY__FORCE_INLINE inline __attribute__((always_inline))
#  define NOTIFY__NOINLINE __attribute__((noinline))
#  define NOTIFY__UNUSED __attribute__((unused))
/* a header-defined slow path: its own copy per file, kept out of line */
#  define NOTIFY__OUT_OF_LINE static __attribute__((noinline, unused))
#else
#  define NOTIFY__UNUSED
#  define NOTIFY__LIKELY(x) (x)
#  define NOTIFY__UNLIKELY(x) (x)
#  define NOTIFY__FORCE_INLINE inline
#  define NOTIFY__NOINLINE
#  define NOTIFY__OUT_OF_LINE static inline   /* no unused-function warning */
#endif

/* Every atomic access in this header goes through these, with its order in
 * the name; a comment at each use names the other side of the pairing. */
#define notify__load_relaxed(p) NOTIFY__STD atomic_load_explicit((p), NOTIFY__MO(relaxed))
#define notify__load_acquire(p) NOTIFY__STD atomic_load_explicit((p), NOTIFY__MO(acquire))
#define notify__store_relaxed(p, v) \
    NOTIFY__STD atomic_store_explicit((p), (v), NOTIFY__MO(relaxed))
#define notify__store_release(p, v) \
    NOTIFY__STD atomic_store_explicit((p), (v), NOTIFY__MO(release))
#define notify__exchange_seq_cst(p, v) \
    NOTIFY__STD atomic_exchange_explicit((p), (v), NOTIFY__MO(seq_cst))
#define notify__fetch_add_acq_rel(p, v) \
    NOTIFY__STD atomic_fetch_add_explicit((p), (v), NOTIFY__MO(acq_rel))
#define notify__exchange_acq_rel(p, v) \
    NOTIFY__STD atomic_exchange_explicit((p), (v), NOTIFY__MO(acq_rel))
#define notify__cas_acq_rel(p, expp, v) \
    NOTIFY__STD atomic_compare_exchange_strong_explicit( \
        (p), (expp), (v), NOTIFY__MO(acq_rel), NOTIFY__MO(acquire))
#define notify__fence_seq_cst() NOTIFY__STD atomic_thread_fence(NOTIFY__MO(seq_cst))
#define notify__compiler_fence() NOTIFY__STD atomic_signal_fence(NOTIFY__MO(seq_cst))

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------
 * Public API
 * ------------------------------------------------------------------------ */
typedef struct notify_sub notify_sub;
typedef struct notify_list notify_list;

/* A callback: return 0 to continue the emission, non-zero to stop it. */
typedef int (*notify_fn)(notify_sub *sub, void *event);
/* Runs exactly once per unsubscription, when no emitter can reach the node. */
typedef void (*notify_release_fn)(notify_sub *sub);

/* A subscription node; embed it in your struct. 32 bytes on 64-bit.
 * Its fields are private: use the functions below. */
struct notify_sub {
    NOTIFY__ATOMIC(uintptr_t) next;  /* tagged link; see HOW above */
    notify_fn fn;
    notify_release_fn release;
    NOTIFY__ATOMIC(uint64_t) word;   /* priority << 32 | marker | state */
};

/* A notifier list; embed it in the object that emits. Zero is a valid empty
 * list (NOTIFY_LIST_INIT). Must stay at one address while non-empty. */
struct notify_list {
    NOTIFY__ATOMIC(uintptr_t) head;     /* 0 when no node is linked */
    NOTIFY__ATOMIC(int) live;           /* subscribed nodes */
    NOTIFY__ATOMIC(unsigned) lock;      /* writers only */
    NOTIFY__ATOMIC(unsigned) dirty;     /* 0 idle, 1 queued, 2 being collected */
    notify_list *dirty_next;
};

/* Static initialiser: `notify_list l = NOTIFY_LIST_INIT;` (typed lists:
 * `name_list l = { NOTIFY_LIST_INIT };`). */
#define NOTIFY_LIST_INIT { 0, 0, 0u, 0u, NULL }

/* Portable container_of: the struct of `type` whose `member` is at `ptr`.
 * Evaluates ptr once; a ptr of the wrong type is a compile-time diagnostic. */
#define notify_container_of(ptr, type, member) \
    ((type *)(void *)((char *)(ptr) - offsetof(type, member) \
        + 0 * sizeof((ptr) == &((type *)0)->member)))

/* Initialise an empty list (same as NOTIFY_LIST_INIT). */
static inline void notify_list_init(notify_list *list);
/* Initialise an unsubscribed node with its callback and priority (higher
 * runs first). Never call it on a subscribed or pending node. */
static inline void notify_sub_init(notify_sub *sub, notify_fn fn, int priority);
/* Set the release hook (or NULL), run once after each unsubscription. */
static inline void notify_sub_set_release(notify_sub *sub, notify_release_fn release);
/* Subscribe: 0, -EEXIST if already subscribed, -EBUSY if a deferred release
 * is still pending, -EINVAL for an uninitialised node. Never waits. */
int notify_subscribe(notify_list *list, notify_sub *sub);
/* As notify_subscribe, but the node is removed after its first call (one
 * call in total, even with concurrent emitters); then the release hook runs. */
int notify_subscribe_once(notify_list *list, notify_sub *sub);
/* Unsubscribe: 0, or -ENOENT if not subscribed. See GUARANTEES. */
int notify_unsubscribe(notify_sub *sub);
/* Emit: call each subscription in order; 0, or the first non-zero return. */
static inline int notify_emit(notify_list *list, void *event);
/* True when no node is subscribed (a snapshot). */
static inline bool notify_list_empty(const notify_list *list);
/* Number of subscribed nodes (a snapshot). */
static inline int notify_list_count(const notify_list *list);
/* True while `sub` is subscribed (a snapshot). */
static inline bool notify_sub_subscribed(const notify_sub *sub);
/* True when the calling thread is inside an emission (in a callback). */
static inline bool notify_in_emission(void);
/* Unsubscribe every node. Outside an emission it returns once each release
 * hook has run; inside one, releases are deferred. Returns the count. */
int notify_list_clear(notify_list *list);
/* Wait for a grace period: every emission in progress at the call has
 * finished and every deferred release pending at the call has run.
 * -EDEADLK inside an emission, else 0. */
int notify_synchronize(void);
/* Optional: say that the calling thread will not emit for a while (call it
 * before it blocks in poll(), say). A thread that has emitted and then
 * sleeps cannot be told from one about to emit without a membarrier call
 * in every unsubscribe of other threads; after this, they skip it. The
 * thread's next emission undoes it and pays one full fence. 0 (also for a
 * thread that never emitted), or -EBUSY inside an emission or a release
 * hook. */
int notify_thread_offline(void);
/* Unsubscribe without ever waiting, in any context (for callers that hold
 * locks an emitter may need): emitters skip the node at once, and its
 * release hook runs later, as for an unsubscribe inside an emission.
 * 0, -ENOENT, -EINVAL. */
int notify_unsubscribe_async(notify_sub *sub);
/* notify_list_clear without waiting; the list must stay alive until
 * notify_list_idle() says so. Returns the count. */
int notify_list_clear_async(notify_list *list);
/* Call fn(node) after a grace period, in whichever thread completes it (the
 * call_rcu of this library). `node` is any unsubscribed or fresh notify_sub:
 * it is (re)initialised here and must stay untouched until fn runs. */
void notify_defer(notify_sub *node, notify_release_fn fn);
/* Try, without waiting, to finish pending grace periods and run the release
 * hooks they allow. */
void notify_reclaim(void);
/* True when no node is linked and the library holds no reference to the
 * list: its memory may be reused. */
static inline bool notify_list_idle(const notify_list *list);

/* Typed layer. NOTIFY_DEFINE_EVENT(name, payload_type) defines:
 *   name_list, name_sub (embed; first member `base` is the untyped one),
 *   name_fn: int (*)(name_sub *sub, const payload_type *event),
 *   name_list_init, name_sub_init(sub, fn, priority), name_sub_set_release,
 *   name_subscribe, name_subscribe_once, name_unsubscribe,
 *   name_emit(list, const payload_type *), name_empty.
 * A callback of the wrong type does not compile. Emit a typed list only
 * through name_emit: its nodes hold typed callbacks. */
#define NOTIFY_DEFINE_EVENT(name, payload_type) \
    typedef struct name##_list { notify_list base; } name##_list; \
    typedef struct name##_sub { notify_sub base; } name##_sub; \
    typedef int (*name##_fn)(name##_sub *sub, const payload_type *event); \
    static NOTIFY__UNUSED inline void name##_list_init(name##_list *list) \
    { notify_list_init(&list->base); } \
    static NOTIFY__UNUSED inline void name##_sub_init(name##_sub *sub, name##_fn fn, int priority) \
    { notify_sub_init(&sub->base, (notify_fn)fn, priority); } \
    static NOTIFY__UNUSED inline void name##_sub_set_release(name##_sub *sub, \
                                              void (*release)(notify_sub *)) \
    { notify_sub_set_release(&sub->base, release); } \
    static NOTIFY__UNUSED inline int name##_subscribe(name##_list *list, name##_sub *sub) \
    { return notify_subscribe(&list->base, &sub->base); } \
    static NOTIFY__UNUSED inline int name##_subscribe_once(name##_list *list, name##_sub *sub) \
    { return notify_subscribe_once(&list->base, &sub->base); } \
    static NOTIFY__UNUSED inline int name##_unsubscribe(name##_sub *sub) \
    { return notify_unsubscribe(&sub->base); } \
    static NOTIFY__UNUSED NOTIFY__FORCE_INLINE int name##__invoke(notify_sub *sub, void *event) \
    { return ((name##_fn)sub->fn)((name##_sub *)(void *)sub, \
                                  (const payload_type *)event); } \
    static NOTIFY__UNUSED NOTIFY__FORCE_INLINE int name##_emit(name##_list *list, const payload_type *event) \
    { return notify__emit_with(&list->base, (void *)event, name##__invoke); } \
    static NOTIFY__UNUSED inline bool name##_empty(const name##_list *list) \
    { return notify_list_empty(&list->base); } \
    typedef int name##__define_event_ends_here

/* ------------------------------------------------------------------------
 * Implementation: hot paths inline
 * ------------------------------------------------------------------------ */
#define NOTIFY__TAG_END   ((uintptr_t)1) /* (list address | END): end of list */
#define NOTIFY__TAG_CHECK ((uintptr_t)2) /* target is one-shot or unsubscribed */
#define NOTIFY__TAG_MASK  ((uintptr_t)3)

#define NOTIFY__W_SUBSCRIBED ((uint64_t)0x1)
#define NOTIFY__W_ONESHOT    ((uint64_t)0x2)
#define NOTIFY__W_PENDING    ((uint64_t)0x4) /* unsubscribed, release not run */
#define NOTIFY__W_MARKER     ((uint64_t)0x6e7400) /* "nt": initialised */
#define NOTIFY__W_MARKER_MASK ((uint64_t)0xffffff00)
#define NOTIFY__POISON ((uintptr_t)0xdead5ab0)   /* `next` of a released node */

/* A reader slot: one per live emitting thread, reused after it exits.
 * `active` is the reader's whole state, written only by its thread: the
 * epoch its latest outermost emission entered with (high 40 bits; kept
 * when it leaves), then flags, then the nesting depth (low 20 bits). The
 * fast path runs when the low 24 bits are 0. A GP is done with a slot
 * whose epoch is its target (P4), that is OFFLINE, or whose depth is 0 and
 * that depth can be trusted (P2). One word, so that an emission stores
 * once on entry and once on exit. */
typedef struct notify__reader {
    NOTIFY__ALIGNAS(64) NOTIFY__ATOMIC(uint64_t) active;
    NOTIFY__ATOMIC(int) wanted;   /* NOTIFY__WANT_*: requests from a GP */
    NOTIFY__ATOMIC(int) in_use;
    struct notify__reader *next;  /* registry link, immutable once pushed */
} notify__reader;
#define NOTIFY__R_DEPTH    ((uint64_t)0x000fffff)  /* emissions in progress */
#define NOTIFY__R_SYM      ((uint64_t)0x00100000)  /* no membarrier: full fences */
#define NOTIFY__R_UNREG    ((uint64_t)0x00200000)  /* the shared "no slot yet" slot */
#define NOTIFY__R_DEFERRED ((uint64_t)0x00400000)  /* a callback deferred a release */
#define NOTIFY__R_OFFLINE  ((uint64_t)0x00800000)  /* no thread: it exited, or never came */
#define NOTIFY__R_LOW      ((uint64_t)0x00ffffff)  /* flags and depth: 0 = fast path */
#define NOTIFY__R_EPOCH_SHIFT 24                   /* the epoch's low 40 bits */
#define NOTIFY__R_EPOCH_MASK  ((((uint64_t)1) << (64 - NOTIFY__R_EPOCH_SHIFT)) - 1u)
/* `wanted`: set by a GP, taken by the reader (an exchange) as it leaves. */
#define NOTIFY__WANT_FINISH 1   /* a non-blocking GP gave up: finish it */
#define NOTIFY__WANT_WAKE   2   /* a blocking GP sleeps on `wanted`: wake it */

/* Per-thread state, private to its thread. `slot` starts at a shared,
 * read-only slot marked UNREG, so a thread's first emission takes the slow
 * path (which claims a slot) with no extra test on the fast one. */
typedef struct notify__thread {
    notify__reader *slot;
    int hooks;              /* running release hooks at an emission's end */
} notify__thread;

typedef struct notify__shared {
    NOTIFY__ALIGNAS(64) NOTIFY__ATOMIC(uint64_t) epoch;
    NOTIFY__ATOMIC(int) asymmetric; /* set once, before any reader relies on it */
} notify__shared;

extern notify__shared notify__g;
extern NOTIFY__TLS notify__thread notify__tls;

notify__reader *notify__thread_register(notify__thread *t);
void notify__read_enter_slow(notify__thread *t, uint64_t active);
void notify__read_exit_slow(notify__thread *t, uint64_t active);
void notify__thread_exit_slow(notify__thread *t, uint64_t flags);
int notify__admit(notify_list *list, notify_sub *sub);
void notify__assert_fail(const char *msg, const char *file, int line);

static inline void notify_list_init(notify_list *list)
{
    NOTIFY_ASSERT(list != NULL, "notify_list_init: list is NULL");
    notify__store_relaxed(&list->head, (uintptr_t)0);
    notify__store_relaxed(&list->live, 0);
    notify__store_relaxed(&list->lock, 0u);
    notify__store_relaxed(&list->dirty, 0u);
    list->dirty_next = NULL;
}

static inline void notify_sub_init(notify_sub *sub, notify_fn fn, int priority)
{
    NOTIFY_ASSERT(sub != NULL && fn != NULL, "notify_sub_init: NULL sub or fn");
    notify__store_relaxed(&sub->next, (uintptr_t)0);
    sub->fn = fn;
    sub->release = NULL;
    notify__store_relaxed(&sub->word,
        ((uint64_t)(uint32_t)priority << 32) | NOTIFY__W_MARKER);
}

static inline void notify_sub_set_release(notify_sub *sub, notify_release_fn release)
{
    NOTIFY_ASSERT(sub != NULL, "notify_sub_set_release: sub is NULL");
    sub->release = release;
}

static inline bool notify_list_empty(const notify_list *list)
{
    return notify__load_acquire(&list->live) == 0;
}

static inline int notify_list_count(const notify_list *list)
{
    return notify__load_acquire(&list->live);
}

static inline bool notify_list_idle(const notify_list *list)
{
    return notify__load_acquire(&list->head) == 0 &&
           notify__load_acquire(&list->dirty) == 0u;
}

static inline bool notify_sub_subscribed(const notify_sub *sub)
{
    return (notify__load_acquire(&sub->word) & NOTIFY__W_SUBSCRIBED) != 0;
}

static inline bool notify_in_emission(void)
{
    return (notify__load_relaxed(&notify__tls.slot->active) & NOTIFY__R_DEPTH) != 0 ||
           notify__tls.hooks != 0;
}

/* The reader fence of pairings P2 and P7 on the fast path. With
 * membarrier the writer does the heavy half and this is a compiler
 * barrier. A thread that registers when the kernel offers no membarrier is
 * marked SYM and never takes the fast path: its slow path fences fully. */
static NOTIFY__FORCE_INLINE void notify__reader_fence(void)
{
#if NOTIFY_ASYMMETRIC_FENCE
    notify__compiler_fence();
#else
    notify__fence_seq_cst();
#endif
}

/* Start the outermost read-side section in slot r, keeping `flags`;
 * returns the word stored. */
static NOTIFY__FORCE_INLINE uint64_t notify__read_begin(notify__reader *r, uint64_t flags)
{
    /* P4: pairs with the GP's store-release of the epoch. */
    uint64_t e = notify__load_acquire(&notify__g.epoch);
    uint64_t a = (e << NOTIFY__R_EPOCH_SHIFT) | flags | 1u;
    NOTIFY_TORTURE_POINT();
#if NOTIFY__TSAN
    /* ThreadSanitizer models no fences: a seq_cst RMW is the barrier. */
    (void)notify__exchange_seq_cst(&r->active, a);
#else
    /* P2: made visible to the GP by notify__reader_fence + its fence.
     * release (P3'): a GP that reads this word and finds its epoch new is
     * done with every earlier section of this thread. */
    notify__store_release(&r->active, a);
    notify__reader_fence();
#endif
    return a;
}

/* End the outermost read-side section in slot r, storing `idle` (the
 * entry's word with depth 0: its epoch and persistent flags). */
static NOTIFY__FORCE_INLINE void notify__read_end(notify__reader *r, uint64_t idle)
{
    NOTIFY_TORTURE_POINT();
    /* P3: pairs with the GP's load-acquire of `active`. */
#if NOTIFY__TSAN
    (void)notify__exchange_seq_cst(&r->active, idle);
#else
    notify__store_release(&r->active, idle);
    /* P7: store `active`, fence, load `wanted`; the GP stores `wanted`,
     * fences, loads `active`: one of us sees the other. */
    notify__reader_fence();
#endif
    NOTIFY_TORTURE_POINT();
}

/* A read-side section as its entry left it: the slot, and the word the
 * fast path stored (0 after a slow entry). */
typedef struct notify__section {
    notify__reader *r;
    uint64_t in;
} notify__section;

/* Enter a read-side section (nests). The fast path is an outermost entry
 * with no flag set: one load and one store of the thread's own slot.
 * Nesting, flags, a thread's first emission (UNREG) and threads without
 * membarrier (SYM) take the slow path. The epoch in the high bits is the
 * previous section's, ignored here. */
static NOTIFY__FORCE_INLINE notify__section notify__read_enter(void)
{
    notify__section sec;
    notify__thread *t = &notify__tls;
    uint64_t a;
    sec.r = t->slot;
    a = notify__load_relaxed(&sec.r->active);   /* only this thread writes it */
    if (NOTIFY__LIKELY((a & NOTIFY__R_LOW) == 0)) {
        sec.in = notify__read_begin(sec.r, 0);
    } else {
        notify__read_enter_slow(t, a);
        sec.r = t->slot;   /* the first emission claimed one */
        sec.in = 0;        /* never a word inside a section: exit goes slow */
    }
    return sec;
}

/* Leave a read-side section. Fast when the word is what the entry stored:
 * nothing nested, no flag set by a callback meanwhile. */
static NOTIFY__FORCE_INLINE void notify__read_exit(notify__section sec)
{
    uint64_t a = notify__load_relaxed(&sec.r->active);
    if (NOTIFY__LIKELY(a == sec.in)) {
        notify__read_end(sec.r, sec.in - 1u);   /* depth 1 -> 0, epoch kept */
        /* A GP that gave up waiting on us asks us to finish it. */
        if (NOTIFY__UNLIKELY(notify__load_relaxed(&sec.r->wanted)))
            notify__thread_exit_slow(&notify__tls, 0);
    } else {
        notify__read_exit_slow(&notify__tls, a);
    }
}

/* The emission's slow part, out of line so that the loop below stays
 * short: nx is CHECK-tagged (a one-shot, or a node unsubscribed inside an
 * emission and still linked). Calls each node it admits until an untagged
 * link, which it returns, or the end (0); a callback that stops the
 * emission leaves its value in *stop (and 0 is returned). */
NOTIFY__OUT_OF_LINE uintptr_t
notify__emit_checked(notify_list *list, uintptr_t nx, void *event,
                     int (*invoke)(notify_sub *sub, void *event), int *stop)
{
    do {
        if (nx & NOTIFY__TAG_END)
            return 0;
        nx &= ~NOTIFY__TAG_MASK;
        NOTIFY_TORTURE_POINT();
        if (notify__admit(list, (notify_sub *)nx)) {
            int ret;
            NOTIFY_TORTURE_POINT();
            ret = invoke((notify_sub *)nx, event);
            if (ret != 0) {
                *stop = ret;
                return 0;
            }
        }
        NOTIFY_TORTURE_POINT();
        nx = notify__load_acquire(&((notify_sub *)nx)->next); /* P1 */
    } while (nx & NOTIFY__TAG_MASK);
    return nx;
}

/* The emission loop, shared by notify_emit and the typed emits, which pass
 * their own `invoke` (inlined: the only indirect call is the callback). */
static NOTIFY__FORCE_INLINE int
notify__emit_with(notify_list *list, void *event,
                  int (*invoke)(notify_sub *sub, void *event))
{
    notify__section sec;
    uintptr_t nx;
    int ret = 0;

    NOTIFY_ASSERT(list != NULL, "notify_emit: list is NULL");
    /* Empty list: one load and one predictable branch. */
    if (NOTIFY__UNLIKELY(notify__load_relaxed(&list->head) == 0))
        return 0;
    sec = notify__read_enter();
    NOTIFY_TORTURE_POINT();
    /* P1: pairs with the store-release that linked the first node. Loaded
     * again: only what is read inside the section is protected. */
    nx = notify__load_acquire(&list->head);
    for (;;) {
        if (NOTIFY__UNLIKELY((nx & NOTIFY__TAG_MASK) != 0 || nx == 0)) {
            int stop = 0;
            /* the end (0: the list emptied since the test above) */
            if (nx == 0 || (nx & NOTIFY__TAG_END))
                break;
            nx = notify__emit_checked(list, nx, event, invoke, &stop);
            if (nx == 0) {
                ret = stop;
                break;
            }
        }
        /* The common case, kept tight: untagged links. Laid out for short
         * lists: the first call falls through from the entry, and leaving
         * the loop is what the branch predicts. */
        do {
            NOTIFY_TORTURE_POINT();
            ret = invoke((notify_sub *)nx, event);
            if (NOTIFY__UNLIKELY(ret != 0))
                goto out;
            NOTIFY_TORTURE_POINT();
            /* After the call: a callback may have unlinked or tagged
             * what follows. */
            nx = notify__load_acquire(&((notify_sub *)nx)->next); /* P1 */
        } while (NOTIFY__UNLIKELY(!(nx & NOTIFY__TAG_MASK)));
    }
out:
    notify__read_exit(sec);
    return ret;
}

static NOTIFY__FORCE_INLINE int notify__invoke(notify_sub *sub, void *event)
{
    return sub->fn(sub, event);
}

static NOTIFY__FORCE_INLINE int notify_emit(notify_list *list, void *event)
{
    return notify__emit_with(list, event, notify__invoke);
}

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* NOTIFY_H */

/* ------------------------------------------------------------------------
 * Implementation: once per program
 * ------------------------------------------------------------------------ */
#if defined(NOTIFY_IMPLEMENTATION) && !defined(NOTIFY__IMPLEMENTED)
#define NOTIFY__IMPLEMENTED

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
/* NOTIFY__MEMBARRIER: this file can call membarrier. NOTIFY_ASYMMETRIC_FENCE
 * itself is never changed here: other files compiled their fast paths with
 * it. Without the system call (old kernel headers) `asymmetric` stays 0 and
 * every thread is marked SYM, so those fast paths are never taken. */
#if defined(__linux__)
#  include <unistd.h>
#  include <sys/syscall.h>
#endif
#if NOTIFY_ASYMMETRIC_FENCE && defined(__NR_membarrier)
#  define NOTIFY__MEMBARRIER 1
#else
#  define NOTIFY__MEMBARRIER 0
#endif
/* NOTIFY__FUTEX: a blocking GP sleeps until the reader in its way leaves,
 * and that reader wakes it (P9). Elsewhere it polls with short sleeps. */
#if defined(__linux__) && defined(__NR_futex)
#  define NOTIFY__FUTEX 1
#else
#  define NOTIFY__FUTEX 0
#endif
#ifndef __cplusplus
/* Strict -std=c11 hides these POSIX declarations; these match them. (g++
 * defines _GNU_SOURCE, so C++ sees the system's own.) */
int nanosleep(const struct timespec *req, struct timespec *rem);
#  if NOTIFY__MEMBARRIER || NOTIFY__FUTEX
long syscall(long number, ...);
#  endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define NOTIFY__MB_CMD_PRIVATE_EXPEDITED 8
#define NOTIFY__MB_CMD_REGISTER_PRIVATE_EXPEDITED 16

notify__shared notify__g = { 1, 0 };
/* The slot of threads that have not emitted yet: read, never written. */
static notify__reader notify__unregistered = { NOTIFY__R_UNREG, 0, 1, NULL };
/* A GP's first look, without the writer fence, lasts at most this long:
 * a reader that is emitting re-enters at the new epoch well within it. */
#define NOTIFY__QUIET_NS 2000u
/* A blocking GP's sleep on a reader, between looks. The reader wakes it as
 * it leaves; the timeout only bounds the wait when that wake-up is lost (a
 * reader that leaves at the very moment the GP asks, and then emits no
 * more). Longer than a scheduler tick, so that arming it rarely reprograms
 * the CPU's timer: on virtual machines that costs as much as the wait. */
#define NOTIFY__WAKE_TIMEOUT_NS 10000000L
/* How long a blocking GP keeps looking after asking a reader to wake it. */
#define NOTIFY__ASK_NS 1000u
NOTIFY__TLS notify__thread notify__tls = { &notify__unregistered, 0 };

/* Writer-side state. The mutex serialises grace periods; readers never take
 * it. Fields marked (mu) are read and written only under notify__gp_mu. */
static pthread_mutex_t notify__gp_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t notify__gp_cv = PTHREAD_COND_INITIALIZER;
static pthread_once_t notify__gp_once = PTHREAD_ONCE_INIT;
static struct {
    pthread_key_t key;
    int have_key;
    NOTIFY__ATOMIC(notify__reader *) readers; /* registry, push-only */
    NOTIFY__ATOMIC(notify_list *) dirty;      /* lists with nodes to reclaim */
    NOTIFY__ATOMIC(uint64_t) started;         /* GPs started: ticket source */
    NOTIFY__ATOMIC(int) pool_used;
    NOTIFY__ATOMIC(int) again;                /* try_reclaim found mu busy */
    NOTIFY__ATOMIC(int) tsan_barrier;
    uint64_t done;                            /* (mu) GPs completed */
    uint64_t released;                        /* (mu) hooks of GPs <= this ran */
    struct notify__running *running;          /* (mu) batches being released */
    uint64_t target;                          /* (mu) epoch GP `started` waits for */
    int fenced;                               /* (mu) the writer fence ran in it */
    size_t nbatch, cap;                       /* (mu) */
    notify_sub **batch;                       /* (mu) unlinked by GP `started` */
    notify_sub *batch_static[NOTIFY_RECLAIM_BATCH];
} notify__gp;

/* A batch whose hooks are running, on its runner's stack. */
struct notify__running {
    uint64_t gp;
    struct notify__running *next;
};

/* Per thread: release hooks running in this thread (0 outside them). */
static NOTIFY__TLS int notify__in_hooks;

static notify__reader notify__pool[NOTIFY_READER_POOL];

void notify__assert_fail(const char *msg, const char *file, int line)
{
    fprintf(stderr, "notify.h: %s (%s:%d)\n", msg, file, line);
    abort();
}

static void notify__cpu_relax(void)
{
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    __builtin_ia32_pause();
#elif defined(__GNUC__) && defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#endif
}

/* Back off while waiting for readers: spin a few microseconds (sections
 * are short), then sleep in growing steps up to 1 ms. No sched_yield: a
 * reader preempted inside its section needs our CPU, and a yield may hand
 * it a whole time slice; a short sleep hands it just enough. */
#define NOTIFY__SPINS 256u
static void notify__backoff(unsigned *n)
{
    unsigned k = (*n)++;
    if (k < NOTIFY__SPINS) {
        notify__cpu_relax();
    } else {
        unsigned shift = (k - NOTIFY__SPINS) / 4 < 10 ? (k - NOTIFY__SPINS) / 4 : 10;
        struct timespec ts = { 0, (long)(1000L << shift) };
        nanosleep(&ts, NULL);
    }
}

/* Now, in nanoseconds, for the GP's short first look (C11's clock: a
 * jump only ends that look early or late). */
static uint64_t notify__now_ns(void)
{
    struct timespec ts;
    if (timespec_get(&ts, TIME_UTC) != TIME_UTC)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#if NOTIFY__FUTEX
#define NOTIFY__FUTEX_WAIT_PRIVATE 128   /* FUTEX_WAIT | FUTEX_PRIVATE_FLAG */
#define NOTIFY__FUTEX_WAKE_PRIVATE 129   /* FUTEX_WAKE | FUTEX_PRIVATE_FLAG */
/* Sleep while *w == v, for at most `ns`; woken, timed out, interrupted or
 * value changed, the caller looks again. -1 when the call itself is
 * refused (a sandbox may filter it): the caller falls back to polling. */
static int notify__futex_wait(NOTIFY__ATOMIC(int) *w, int v, long ns)
{
    struct timespec ts = { 0, ns };
    if (syscall(__NR_futex, (void *)w, NOTIFY__FUTEX_WAIT_PRIVATE, v, &ts, NULL, 0) == 0)
        return 0;
    return errno == EAGAIN || errno == EINTR || errno == ETIMEDOUT ? 0 : -1;
}
#endif

/* Wake the GP that may sleep on this reader's `wanted` (P9), and yield:
 * that GP most often waited because this thread was preempted inside its
 * section on the GP's own CPU; without the yield the woken GP may wait for
 * the rest of this thread's time slice (milliseconds). Only a thread that
 * a waiting GP asked comes here, once per such request. */
static void notify__wake_gp(notify__reader *r)
{
#if NOTIFY__FUTEX
    (void)syscall(__NR_futex, (void *)&r->wanted, NOTIFY__FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    sched_yield();
#else
    (void)r;   /* the GP polls */
#endif
}

static void notify__thread_exit(void *arg);

static void notify__init(void)
{
    notify__gp.have_key = pthread_key_create(&notify__gp.key, notify__thread_exit) == 0;
    notify__gp.batch = notify__gp.batch_static;
    notify__gp.cap = NOTIFY_RECLAIM_BATCH;
#if NOTIFY__MEMBARRIER
    if (syscall(__NR_membarrier, NOTIFY__MB_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0)
        notify__store_relaxed(&notify__g.asymmetric, 1);
#endif
}

/* A full barrier for the writer side's own store-buffering handshakes. */
static void notify__full_barrier(void)
{
#if NOTIFY__TSAN
    (void)notify__exchange_seq_cst(&notify__gp.tsan_barrier, 0);
#else
    notify__fence_seq_cst();
#endif
}

/* The writer fence of pairings P2 and P7. */
static void notify__writer_fence(void)
{
#if NOTIFY__MEMBARRIER
    if (notify__load_relaxed(&notify__g.asymmetric)) {
        if (syscall(__NR_membarrier, NOTIFY__MB_CMD_PRIVATE_EXPEDITED, 0, 0) == 0)
            return;
        /* Registered, so this cannot fail; if it ever does, stop rather
         * than free memory that readers may still be using. */
        notify__assert_fail("membarrier failed after registration", __FILE__, __LINE__);
    }
#endif
#if NOTIFY__TSAN
    /* ThreadSanitizer models no fences: a seq_cst RMW is the barrier. */
    (void)notify__exchange_seq_cst(&notify__gp.tsan_barrier, 0);
#else
    notify__fence_seq_cst();
#endif
}

notify__reader *notify__thread_register(notify__thread *t)
{
    notify__reader *r;
    int i;

    pthread_once(&notify__gp_once, notify__init);
    /* Reuse a slot left by an exited thread. */
    for (r = notify__load_acquire(&notify__gp.readers); r != NULL; r = r->next) {
        int free_slot = 0;
        if (notify__load_relaxed(&r->in_use) == 0 &&
            notify__cas_acq_rel(&r->in_use, &free_slot, 1))
            break;
    }
    if (r == NULL) {
        i = notify__fetch_add_acq_rel(&notify__gp.pool_used, 1);
        if (i < NOTIFY_READER_POOL) {
            r = &notify__pool[i];
        } else {
            r = (notify__reader *)aligned_alloc(64, sizeof *r);
            if (r == NULL)
                notify__assert_fail("out of memory for a reader slot", __FILE__, __LINE__);
        }
        /* P8: never had a thread; its first one fences after storing. */
        notify__store_relaxed(&r->active, NOTIFY__R_OFFLINE);
        notify__store_relaxed(&r->wanted, 0);
        notify__store_relaxed(&r->in_use, 1);
        r->next = notify__load_relaxed(&notify__gp.readers);
        /* Push; pairs with the load-acquire of the registry in the GP. */
        while (!notify__cas_acq_rel(&notify__gp.readers, &r->next, r))
            ;
    }
    t->slot = r;
    /* Without a key (creation failed) the slot is never recycled: a leak
     * per thread, never a fault. */
    if (notify__gp.have_key)
        pthread_setspecific(notify__gp.key, t);
    return r;
}

/* ---- the reclaim stack of dirty lists ---- */

static void notify__push_dirty(notify_list *list)
{
    notify_list *top = notify__load_relaxed(&notify__gp.dirty);
    do {
        list->dirty_next = top;
    } while (!notify__cas_acq_rel(&notify__gp.dirty, &top, list));
}

/* `dirty`: 0 idle, 1 queued on the stack, 2 being collected, 3 being
 * pushed. Only the thread that moves it from 0 pushes; one that finds 2
 * re-marks it 1 and the collector, whose CAS back to 0 then fails, pushes
 * again; one that finds 3 waits the few instructions until the list is on
 * the stack, so that a GP it then waits for is sure to collect it. acq_rel
 * on every side, so a collector's walk sees the state change that marked
 * the list. */
static void notify__mark_dirty(notify_list *list)
{
    unsigned d = notify__load_acquire(&list->dirty);
    for (;;) {
        if (d == 0u) {
            if (notify__cas_acq_rel(&list->dirty, &d, 3u)) {
                unsigned pushing = 3u;
                notify__push_dirty(list);
                /* Only if no collector took the list from the stack
                 * meanwhile: one that did owns its state now (2, or 0
                 * once walked), and a plain store would leave it marked
                 * but off the stack for good. */
                notify__cas_acq_rel(&list->dirty, &pushing, 1u);
                return;
            }
        } else if (d == 2u) {
            if (notify__cas_acq_rel(&list->dirty, &d, 1u))
                return;
        } else if (d == 1u) {
            return;
        } else {
            notify__cpu_relax();
            d = notify__load_acquire(&list->dirty);
        }
    }
}

static void notify__list_lock(notify_list *list)
{
    unsigned n = 0;
    while (notify__exchange_acq_rel(&list->lock, 1u) != 0u) {
        while (notify__load_relaxed(&list->lock) != 0u)
            notify__backoff(&n);
    }
}

static void notify__list_unlock(notify_list *list)
{
    notify__store_release(&list->lock, 0u);
}

/* The value a predecessor slot takes when it is to point at `v`: a head
 * that would point at the END marker holds 0 instead. */
static uintptr_t notify__slot_value(notify_list *list, NOTIFY__ATOMIC(uintptr_t) *slot,
                                    uintptr_t v)
{
    if (slot == &list->head && (v & NOTIFY__TAG_END))
        return 0;
    return v;
}

static uintptr_t notify__end_of(notify_list *list)
{
    return (uintptr_t)list | NOTIFY__TAG_END;
}

/* Under the list lock: the slot that points at `sub`, or NULL. */
static NOTIFY__ATOMIC(uintptr_t) *notify__find_slot(notify_list *list, notify_sub *sub)
{
    NOTIFY__ATOMIC(uintptr_t) *slot = &list->head;
    uintptr_t v = notify__load_relaxed(slot);
    while (v != 0 && !(v & NOTIFY__TAG_END)) {
        notify_sub *s = (notify_sub *)(v & ~NOTIFY__TAG_MASK);
        if (s == sub)
            return slot;
        slot = &s->next;
        v = notify__load_relaxed(slot);
    }
    return NULL;
}

/* Under mu: room for one more node in the batch (grown on the heap past
 * the static part). 0 when memory is short: the node waits for a later GP. */
static int notify__batch_room(void)
{
    notify_sub **nb;
    size_t cap;
    if (notify__gp.nbatch < notify__gp.cap)
        return 1;
    cap = notify__gp.cap * 2;
    if (notify__gp.batch == notify__gp.batch_static) {
        nb = (notify_sub **)malloc(cap * sizeof *nb);
        if (nb != NULL) {
            size_t i;
            for (i = 0; i < notify__gp.nbatch; i++)
                nb[i] = notify__gp.batch[i];
        }
    } else {
        nb = (notify_sub **)realloc(notify__gp.batch, cap * sizeof *nb);
    }
    if (nb == NULL)
        return 0;
    notify__gp.batch = nb;
    notify__gp.cap = cap;
    return 1;
}

/* Collect the pending nodes still linked in dirty lists, unlinking them.
 * Under mu, before the writer fence. */
static void notify__collect(void)
{
    notify_list *list = notify__exchange_acq_rel(&notify__gp.dirty, (notify_list *)NULL);
    while (list != NULL) {
        notify_list *next_list = list->dirty_next;
        NOTIFY__ATOMIC(uintptr_t) *slot = &list->head;
        uintptr_t v;
        int left = 0;

        unsigned being = 2u;
        /* acq_rel: pairs with notify__mark_dirty's exchange, so this walk
         * sees the state change that marked the list. */
        notify__exchange_acq_rel(&list->dirty, 2u);
        notify__list_lock(list);
        v = notify__load_relaxed(slot);
        while (v != 0 && !(v & NOTIFY__TAG_END)) {
            notify_sub *s = (notify_sub *)(v & ~NOTIFY__TAG_MASK);
            uintptr_t after = notify__load_relaxed(&s->next);
            if (notify__load_acquire(&s->word) & NOTIFY__W_PENDING) {
                if (notify__batch_room()) {
                    /* Readers on `s` still follow s->next: it is kept. */
                    notify__store_release(slot, notify__slot_value(list, slot, after));
                    notify__gp.batch[notify__gp.nbatch++] = s;
                    v = notify__load_relaxed(slot);
                    continue;
                }
                left = 1;
            }
            slot = &s->next;
            v = after;
        }
        notify__list_unlock(list);
        if (left) {
            notify__store_release(&list->dirty, 3u);
            notify__push_dirty(list);
            notify__store_release(&list->dirty, 1u);
        } else if (!notify__cas_acq_rel(&list->dirty, &being, 0u)) {
            /* marked again during the walk (1): queue it again */
            notify__store_release(&list->dirty, 3u);
            notify__push_dirty(list);
            notify__store_release(&list->dirty, 1u);
        }
        list = next_list;
    }
}

/* Under mu: run the writer fence for the GP in flight (P2, P7). */
static void notify__gp_fence(void)
{
    notify__writer_fence();
    notify__gp.fenced = 1;
}

/* Under mu, no GP in flight: start one. The full fence is the writer
 * half of P2 for readers that fence themselves and of P8; the writer fence
 * proper (membarrier) comes later, in gp_poll, only if a reader needs it. */
static void notify__gp_start(void)
{
    const uint64_t mask = NOTIFY__R_EPOCH_MASK;
    uint64_t next;
    int alias = 0;
    notify__reader *r;
    notify__fetch_add_acq_rel(&notify__gp.started, (uint64_t)1); /* P5 */
    notify__collect();
    notify__full_barrier();                                        /* P2, P8 */
    /* A slot idle since 2^40 GPs ago holds the new epoch's low 40 bits: no
     * reader can hold the new epoch yet (it moves only here, under mu), so
     * such a word is an alias, and for this GP the epoch proves nothing on
     * an idle word; the writer fence makes depth 0 the proof instead. */
    next = notify__load_relaxed(&notify__g.epoch) + 1u;
    for (r = notify__load_acquire(&notify__gp.readers); r != NULL; r = r->next) {
        uint64_t a = notify__load_relaxed(&r->active);
        if (!(a & NOTIFY__R_OFFLINE) && (a >> NOTIFY__R_EPOCH_SHIFT) == (next & mask))
            alias = 1;
    }
    /* P4: store-release of the new epoch, after the unlinks. */
    notify__gp.target = notify__fetch_add_acq_rel(&notify__g.epoch, (uint64_t)1) + 1;
    notify__gp.fenced = 0;
    if (alias)
        notify__gp_fence();
}

/* Whether the reader in slot r, whose word is `a`, no longer holds up the
 * GP that waits for epoch `target`:
 *  - OFFLINE: no thread uses the slot (P8);
 *  - it entered at `target` (P4), and so left every older section (P3');
 *  - depth 0, and that 0 can be trusted (P2): the writer fence ran in this
 *    GP (`fenced`), the reader fences itself (SYM, ThreadSanitizer builds),
 *    or it is this thread's own slot, outside an emission.
 * A depth-0 word of another thread, read without the writer fence, proves
 * nothing: its next entry may have loaded links before its store shows.
 * While a GP is in flight the epoch does not move (it moves only in
 * gp_start, under mu), so a reader inside holds `target` or an older epoch:
 * equality is the test. `active` keeps the epoch's low 40 bits. An idle
 * word that matches them from 2^40 GPs ago is caught by gp_start; what is
 * left is a reader that loaded the epoch and then stalled, before its
 * store, across exactly a multiple of 2^40 GPs: it would be taken for a new
 * one (12 days of a million GPs a second, to the GP). */
static int notify__reader_done(const notify__reader *r, uint64_t a, uint64_t target)
{
    if (a & NOTIFY__R_OFFLINE)
        return 1;
    if ((a >> NOTIFY__R_EPOCH_SHIFT) ==
        (target & NOTIFY__R_EPOCH_MASK))
        return 1;
    if ((a & NOTIFY__R_DEPTH) != 0)
        return 0;
    return notify__gp.fenced || NOTIFY__TSAN || (a & NOTIFY__R_SYM) != 0 ||
           r == notify__tls.slot;
}

/* Under mu, GP in flight: wait until reader r no longer holds it up. With
 * `wait` it blocks until so; otherwise, on a no, it asks the reader to
 * finish the GP when it leaves (P7) and returns 0. */
static int notify__gp_wait_reader(notify__reader *r, uint64_t target, int wait)
{
    unsigned n = 0;
    int asked = 0;
#if NOTIFY__FUTEX
    uint64_t t_ask = 0;
#endif
    for (;;) {
        /* P3: pairs with the reader's store-release of `active`. */
        uint64_t a = notify__load_acquire(&r->active);
        if (notify__reader_done(r, a, target))
            break;
        /* P9: it took our request as it left; pairs with its exchange. */
        if (asked && !(notify__load_acquire(&r->wanted) & NOTIFY__WANT_WAKE))
            break;
        if ((a & NOTIFY__R_DEPTH) == 0) {
            /* It left, seen without the writer fence: fence, look again. */
            notify__gp_fence();
            continue;
        }
        if (!wait) {
            /* P7: ask it to finish the GP as it leaves; then look again,
             * in case it left before it could see the request. */
            NOTIFY__STD atomic_fetch_or_explicit(&r->wanted, NOTIFY__WANT_FINISH,
                                                 NOTIFY__MO(seq_cst));
            notify__gp_fence();
            a = notify__load_acquire(&r->active);
            if (notify__reader_done(r, a, target))
                break;
            return 0;
        }
#if NOTIFY__FUTEX
        if (!asked) {
            /* P9: ask it to wake us as it leaves. A reader leaving at this
             * very moment may miss the request (store buffering): we look
             * for a moment before sleeping, so that we see such an exit
             * (depth 0, then the fence above) instead of sleeping through
             * it until the timeout. */
            NOTIFY__STD atomic_fetch_or_explicit(&r->wanted, NOTIFY__WANT_WAKE,
                                                 NOTIFY__MO(seq_cst));
            asked = 1;
            t_ask = notify__now_ns();
            continue;
        }
        if (t_ask != 0) {
            uint64_t now = notify__now_ns();
            if (now != 0 && now - t_ask < NOTIFY__ASK_NS) {
                notify__cpu_relax();
                continue;
            }
            t_ask = 0;
        }
        {
            int w = notify__load_relaxed(&r->wanted);
            if (!(w & NOTIFY__WANT_WAKE))
                continue;   /* taken: the next look sees it */
            if (notify__futex_wait(&r->wanted, w, NOTIFY__WAKE_TIMEOUT_NS) == 0)
                continue;
        }
#endif
        notify__backoff(&n);   /* no futex, or it was refused: poll */
    }
    if (asked)   /* if still there, so that its exit does not wake for nothing */
        NOTIFY__STD atomic_fetch_and_explicit(&r->wanted, ~NOTIFY__WANT_WAKE,
                                              NOTIFY__MO(relaxed));
    return 1;
}

/* Under mu, GP in flight: has every reader left or re-entered? First a
 * short look, all readers at once, without the writer fence: threads that
 * keep emitting re-enter at the new epoch within it, so on a busy system a
 * GP usually completes with no system call. A depth-0 word of another
 * thread calls for the writer fence: at once if its epoch is older than the
 * previous GP's (a thread that has not emitted for a while, which the look
 * would not change), else when the look ends. Then it waits on the readers
 * still inside older sections. With `wait` it blocks until done; otherwise
 * it returns 0 where it would block (see gp_wait_reader). */
static int notify__gp_poll(int wait)
{
    const uint64_t mask = NOTIFY__R_EPOCH_MASK;
    uint64_t target = notify__gp.target, prev = (target - 1u) & mask, t0 = 0, now;
    notify__reader *r;
    for (;;) {
        int idle = 0, stale = 0, inside = 0, over;
        for (r = notify__load_acquire(&notify__gp.readers); r != NULL; r = r->next) {
            uint64_t a = notify__load_acquire(&r->active);   /* P3 */
            if (notify__reader_done(r, a, target))
                continue;
            if (a & NOTIFY__R_DEPTH) {
                inside = 1;
            } else {
                idle = 1;
                stale |= (a >> NOTIFY__R_EPOCH_SHIFT) != prev;
            }
        }
        if (!idle && !inside)
            break;
        now = notify__now_ns();   /* 0 if the clock failed: look once */
        if (t0 == 0 && now != 0)
            t0 = now;
        over = now == 0 || now - t0 >= NOTIFY__QUIET_NS;
        if (idle && (stale || over)) {
            notify__gp_fence();   /* depth 0 is trusted from here on */
            continue;
        }
        if (over) {
            for (r = notify__load_acquire(&notify__gp.readers); r != NULL; r = r->next)
                if (!notify__gp_wait_reader(r, target, wait))
                    return 0;
            break;
        }
        notify__cpu_relax();
    }
    notify__gp.done = notify__load_relaxed(&notify__gp.started);
    return 1;
}

static void notify__finish_release(notify_sub *s)
{
    notify_release_fn rel = s->release;
    uint64_t w = notify__load_relaxed(&s->word);
    notify__store_relaxed(&s->next, NOTIFY_DEBUG ? NOTIFY__POISON : (uintptr_t)0);
    notify__store_release(&s->word,
        w & ~(NOTIFY__W_PENDING | NOTIFY__W_SUBSCRIBED | NOTIFY__W_ONESHOT));
    if (rel != NULL)
        rel(s);
}

/* Under mu, right after a GP completed: run its batch's release hooks with
 * mu dropped (hooks may call back into the library), then record them. */
static void notify__release_batch(void)
{
    notify_sub *local[NOTIFY_RECLAIM_BATCH];
    notify_sub **b = notify__gp.batch;
    size_t n = notify__gp.nbatch, i;
    if (b == notify__gp.batch_static) {
        for (i = 0; i < n; i++)
            local[i] = b[i];
        b = local;
    } else {
        notify__gp.batch = notify__gp.batch_static;
        notify__gp.cap = NOTIFY_RECLAIM_BATCH;
    }
    struct notify__running me, **pp;
    uint64_t low;
    notify__gp.nbatch = 0;
    me.gp = notify__gp.done;
    me.next = notify__gp.running;
    notify__gp.running = &me;
    pthread_mutex_unlock(&notify__gp_mu);
    notify__in_hooks++;
    for (i = 0; i < n; i++)
        notify__finish_release(b[i]);
    notify__in_hooks--;
    if (b != local)
        free(b);
    pthread_mutex_lock(&notify__gp_mu);
    for (pp = &notify__gp.running; *pp != &me; pp = &(*pp)->next)
        ;
    *pp = me.next;
    /* Released through: just below the oldest batch still running. */
    low = notify__gp.done;
    for (pp = &notify__gp.running; *pp != NULL; pp = &(*pp)->next)
        if ((*pp)->gp - 1 < low)
            low = (*pp)->gp - 1;
    notify__gp.released = low;
    pthread_cond_broadcast(&notify__gp_cv);
}

/* Under mu: one non-blocking round: finish the GP in flight, or start one
 * for dirty lists, when that needs no waiting. */
static void notify__reclaim_round(void)
{
    int round;
    for (round = 0; round < 2; round++) {
        if (notify__load_relaxed(&notify__gp.started) == notify__gp.done) {
            if (notify__load_relaxed(&notify__gp.dirty) == NULL)
                return;
            notify__gp_start();
        }
        if (!notify__gp_poll(0))
            return;
        notify__release_batch();
    }
}

/* Under mu: a try_reclaim that found mu busy left its work to us. */
static void notify__reclaim_again(void)
{
    while (notify__exchange_acq_rel(&notify__gp.again, 0) != 0)
        notify__reclaim_round();
}

/* Unlock mu, first doing what a try_reclaim left to the holder; checked
 * again after the unlock, so no request falls between check and unlock. */
static void notify__gp_unlock(void)
{
    for (;;) {
        notify__reclaim_again();
        pthread_mutex_unlock(&notify__gp_mu);
        notify__full_barrier();   /* pairs with try_reclaim's */
        if (!notify__load_acquire(&notify__gp.again) ||
            pthread_mutex_trylock(&notify__gp_mu) != 0)
            return;
    }
}

/* Wait until GP number `ticket` has completed, running GPs as needed. */
static void notify__synchronize_until(uint64_t ticket)
{
    pthread_once(&notify__gp_once, notify__init);
    pthread_mutex_lock(&notify__gp_mu);
    while (notify__gp.done < ticket) {
        if (notify__load_relaxed(&notify__gp.started) == notify__gp.done)
            notify__gp_start();
        notify__gp_poll(1);
        notify__release_batch();
    }
    notify__gp_unlock();
}

/* Non-blocking reclaim from the end of an emission or a thread's exit.
 * Release hooks run here see themselves inside an emission (hooks), so an
 * unsubscribe in them defers instead of blocking the emitting thread. */
static void notify__try_reclaim(void)
{
    pthread_once(&notify__gp_once, notify__init);
    if (notify__tls.hooks) {
        /* From a hook this thread runs: the loop running it goes on. */
        notify__store_release(&notify__gp.again, 1);
        return;
    }
    if (pthread_mutex_trylock(&notify__gp_mu) != 0) {
        /* The holder runs one more round for us before it unlocks (it
         * checks `again` after unlocking: store-buffering, hence fences). */
        notify__store_release(&notify__gp.again, 1);
        notify__full_barrier();
        if (pthread_mutex_trylock(&notify__gp_mu) != 0)
            return;
    }
    notify__tls.hooks = 1;
    notify__store_relaxed(&notify__gp.again, 1);
    notify__gp_unlock();
    notify__tls.hooks = 0;
}

/* Entering with flags or depth in `a`: a nested emission, flags set
 * (DEFERRED, SYM, OFFLINE), or the thread's first emission (UNREG: claim a
 * slot). */
void notify__read_enter_slow(notify__thread *t, uint64_t a)
{
    notify__reader *r = t->slot;
    uint64_t flags;
    if (a & NOTIFY__R_UNREG) {
        r = notify__thread_register(t);
        flags = 0;
        /* Decided once per thread: `asymmetric` is final before any
         * thread registers (notify__init runs first) and never clears.
         * Marked whatever this file's configuration: another file may
         * have compiled its fast path expecting membarrier. */
        if (!notify__load_relaxed(&notify__g.asymmetric) && !NOTIFY__TSAN)
            flags = NOTIFY__R_SYM;   /* (TSan builds fence fully everywhere) */
        /* release (in read_begin): a reused slot's last value came from its
         * old owner's release (P3); this keeps the chain a GP acquires from
         * unbroken. P8: a GP may have read the slot OFFLINE a moment ago and
         * be freeing what it unlinked; the fence makes this section see
         * those unlinks, or that GP see this store. */
        (void)notify__read_begin(r, flags);
        notify__fence_seq_cst();
        return;
    }
    if ((a & NOTIFY__R_DEPTH) != 0) {
        /* nested: the section is already open; only the depth changes */
        if ((a & NOTIFY__R_DEPTH) == NOTIFY__R_DEPTH)
            notify__assert_fail("emissions nested too deep", __FILE__, __LINE__);
        notify__store_release(&r->active, a + 1u);   /* P3' */
        return;
    }
    flags = a & (NOTIFY__R_SYM | NOTIFY__R_DEFERRED);
    (void)notify__read_begin(r, flags);   /* OFFLINE, if set, is gone */
#if NOTIFY_ASYMMETRIC_FENCE   /* else read_begin's fence here is full already */
    if (flags & NOTIFY__R_SYM)
        notify__fence_seq_cst();   /* P2 without membarrier */
    else if (a & NOTIFY__R_OFFLINE)
        notify__fence_seq_cst();   /* P8: back from notify_thread_offline */
#endif
}

/* Leaving with depth or flags other than the fast path's. */
void notify__read_exit_slow(notify__thread *t, uint64_t a)
{
    notify__reader *r = t->slot;
    if ((a & NOTIFY__R_DEPTH) == 0) {
        notify__assert_fail("emission exit without an entry", __FILE__, __LINE__);
        return;
    }
    if ((a & NOTIFY__R_DEPTH) > 1u) {
        notify__store_release(&r->active, a - 1u);   /* still inside; P3' */
        return;
    }
    /* depth 1 -> 0; the epoch and SYM stay */
    notify__read_end(r, (a - 1u) & ~NOTIFY__R_DEFERRED);
#if NOTIFY_ASYMMETRIC_FENCE
    if (a & NOTIFY__R_SYM)
        notify__fence_seq_cst();       /* P7 without membarrier */
#endif
    notify__thread_exit_slow(t, a);
}

/* The outermost exit's slow path: a callback deferred a release (DEFERRED
 * in `a`, the state the emission ended with), or a GP asked this reader to
 * finish it. */
void notify__thread_exit_slow(notify__thread *t, uint64_t a)
{
    int w = 0;
    if (notify__load_relaxed(&t->slot->wanted) != 0)
        /* P9: a GP that reads `wanted` without its request is done with
         * this thread: everything before this exchange happens before it,
         * and (acquire) its epoch increment happens before what follows. */
        w = notify__exchange_seq_cst(&t->slot->wanted, 0);
    if (w & NOTIFY__WANT_WAKE)
        notify__wake_gp(t->slot);
    if ((a & NOTIFY__R_DEFERRED) || (w & NOTIFY__WANT_FINISH))
        notify__try_reclaim();
}

static void notify__thread_exit(void *arg)
{
    notify__thread *t = (notify__thread *)arg;
    notify__reader *r = t->slot;
    uint64_t a;
    int work, w;
    if (r == &notify__unregistered)
        return;
    /* A thread that exits inside an emission no longer holds it. P8: the
     * slot is done for every GP until a thread claims it again. */
    a = notify__load_relaxed(&r->active);
    notify__store_release(&r->active, NOTIFY__R_OFFLINE);
    notify__full_barrier();   /* P7, as at an emission's end */
    w = notify__exchange_seq_cst(&r->wanted, 0);   /* P9 */
    if (w & NOTIFY__WANT_WAKE)
        notify__wake_gp(r);
    work = (a & NOTIFY__R_DEFERRED) || (w & NOTIFY__WANT_FINISH);
    t->slot = &notify__unregistered;   /* a later emission claims a slot again */
    notify__store_release(&r->in_use, 0);
    if (work || notify__load_relaxed(&notify__gp.dirty) != NULL)
        notify__try_reclaim();
}

/* Whether this thread must not wait for a grace period: inside an
 * emission, or running release hooks (which a waiter could be waiting on). */
static int notify__cannot_wait(void)
{
    return notify_in_emission() || notify__in_hooks != 0;
}

/* Note, from inside an emission or from hooks run at its end, that a
 * release was deferred: the outermost exit, or the loop running the hooks,
 * finishes it. */
static void notify__note_deferred(void)
{
    notify__reader *r = notify__tls.slot;
    uint64_t a = notify__load_relaxed(&r->active);
    if ((a & NOTIFY__R_DEPTH) == 0)   /* in hooks, outside any emission */
        notify__store_release(&notify__gp.again, 1);
    else
        notify__store_release(&r->active, a | NOTIFY__R_DEFERRED);   /* P3' */
}

/* Emitters call this for a node reached through a CHECK-tagged pointer:
 * 1 to call it, 0 to skip it. Claims one-shots (P6). */
int notify__admit(notify_list *list, notify_sub *sub)
{
    uint64_t w = notify__load_acquire(&sub->word);
    for (;;) {
        if (!(w & NOTIFY__W_SUBSCRIBED))
            return 0;
        if (!(w & NOTIFY__W_ONESHOT))
            return 1;
        if (notify__cas_acq_rel(&sub->word, &w,
                (w & ~NOTIFY__W_SUBSCRIBED) | NOTIFY__W_PENDING))
            break;
    }
    NOTIFY__STD atomic_fetch_sub_explicit(&list->live, 1, NOTIFY__MO(relaxed));
    notify__mark_dirty(list);
    notify__note_deferred();
    return 1;
}

static int notify__check_node(notify_sub *sub, uint64_t *w)
{
    *w = notify__load_acquire(&sub->word);
    if ((*w & NOTIFY__W_MARKER_MASK) != NOTIFY__W_MARKER)
        return -EINVAL;
    return 0;
}

static int notify__subscribe(notify_list *list, notify_sub *sub, uint64_t oneshot)
{
    NOTIFY__ATOMIC(uintptr_t) *slot;
    uintptr_t v;
    uint64_t w;
    int32_t prio;

    if (list == NULL || sub == NULL) {
        NOTIFY_ASSERT(0, "notify_subscribe: list or sub is NULL");
        return -EINVAL;
    }
    if (notify__check_node(sub, &w) != 0)
        return -EINVAL;
    if (w & NOTIFY__W_SUBSCRIBED)
        return -EEXIST;
    if (w & NOTIFY__W_PENDING)
        return -EBUSY;
    prio = (int32_t)(uint32_t)(w >> 32);

    notify__list_lock(list);
    /* After every node of priority >= prio: FIFO within a priority. */
    slot = &list->head;
    v = notify__load_relaxed(slot);
    while (v != 0 && !(v & NOTIFY__TAG_END)) {
        notify_sub *s = (notify_sub *)(v & ~NOTIFY__TAG_MASK);
        if ((int32_t)(uint32_t)(notify__load_relaxed(&s->word) >> 32) < prio)
            break;
        slot = &s->next;
        v = notify__load_relaxed(slot);
    }
    /* Claim the node; a racing subscribe of the same node loses here. */
    if (!notify__cas_acq_rel(&sub->word, &w, w | NOTIFY__W_SUBSCRIBED | oneshot)) {
        notify__list_unlock(list);
        return (w & NOTIFY__W_SUBSCRIBED) ? -EEXIST
             : (w & NOTIFY__W_PENDING) ? -EBUSY : -EINVAL;
    }
    notify__store_relaxed(&sub->next, v != 0 ? v : notify__end_of(list));
    /* P1: publish the initialised node. */
    notify__store_release(slot, (uintptr_t)sub | (oneshot ? NOTIFY__TAG_CHECK : 0));
    NOTIFY__STD atomic_fetch_add_explicit(&list->live, 1, NOTIFY__MO(relaxed));
    notify__list_unlock(list);
    return 0;
}

int notify_subscribe(notify_list *list, notify_sub *sub)
{
    return notify__subscribe(list, sub, 0);
}

int notify_subscribe_once(notify_list *list, notify_sub *sub)
{
    return notify__subscribe(list, sub, NOTIFY__W_ONESHOT);
}

/* The list `sub` is linked in, found from its END marker. The caller is in
 * a read-side section, so the nodes walked cannot be released meanwhile. */
static notify_list *notify__list_of(notify_sub *sub)
{
    uintptr_t v = notify__load_acquire(&sub->next);
    while (v != 0 && v != NOTIFY__POISON && !(v & NOTIFY__TAG_END))
        v = notify__load_acquire(&((notify_sub *)(v & ~NOTIFY__TAG_MASK))->next);
    if (v == 0 || v == NOTIFY__POISON)
        return NULL;
    return (notify_list *)(v & ~NOTIFY__TAG_MASK);
}

/* Under the list lock: mark `sub` unsubscribed. 0, or -ENOENT. */
static int notify__retire(notify_list *list, notify_sub *sub)
{
    uint64_t w = notify__load_acquire(&sub->word);
    do {
        if (!(w & NOTIFY__W_SUBSCRIBED))
            return -ENOENT;
    } while (!notify__cas_acq_rel(&sub->word, &w,
                 (w & ~NOTIFY__W_SUBSCRIBED) | NOTIFY__W_PENDING));
    NOTIFY__STD atomic_fetch_sub_explicit(&list->live, 1, NOTIFY__MO(relaxed));
    return 0;
}

static int notify__unsubscribe(notify_sub *sub, int defer)
{
    notify__section sec;
    notify_list *list;
    NOTIFY__ATOMIC(uintptr_t) *slot;
    uint64_t w, ticket;
    int inside, rc;

    if (sub == NULL) {
        NOTIFY_ASSERT(0, "notify_unsubscribe: sub is NULL");
        return -EINVAL;
    }
    inside = notify__cannot_wait();
    defer |= inside;
    /* Check and walk to the END marker inside a read-side section, so no
     * node on the way can be released meanwhile, and take the list's lock
     * before leaving it, so that a notify_list_clear that a GP then lets
     * return cannot have freed the list under us. */
    sec = notify__read_enter();
    rc = notify__check_node(sub, &w);
    if (rc == 0 && !(w & NOTIFY__W_SUBSCRIBED))
        rc = -ENOENT;
    list = rc == 0 ? notify__list_of(sub) : NULL;
    if (list == NULL) {
        notify__read_exit(sec);
        return rc != 0 ? rc : -ENOENT;
    }
    notify__list_lock(list);
    slot = notify__find_slot(list, sub);
    rc = slot != NULL ? notify__retire(list, sub) : -ENOENT;
    if (rc != 0) {
        notify__list_unlock(list);
        notify__read_exit(sec);
        return rc;
    }
    if (defer) {
        /* Leave it linked but tagged: emitters skip it from now on and the
         * next GP unlinks and releases it. */
        notify__store_release(slot, notify__load_relaxed(slot) | NOTIFY__TAG_CHECK);
        notify__mark_dirty(list);
        notify__list_unlock(list);
        notify__read_exit(sec);
        if (inside)
            notify__note_deferred();
        return 0;
    }
    notify__store_release(slot, notify__slot_value(list, slot, notify__load_relaxed(&sub->next)));
    notify__list_unlock(list);
    notify__read_exit(sec);
    /* P5: any GP numbered above `ticket` starts after the unlink. */
    ticket = notify__fetch_add_acq_rel(&notify__gp.started, (uint64_t)0);
    notify__synchronize_until(ticket + 1);
    notify__finish_release(sub);
    return 0;
}

int notify_unsubscribe(notify_sub *sub)
{
    return notify__unsubscribe(sub, 0);
}

int notify_unsubscribe_async(notify_sub *sub)
{
    return notify__unsubscribe(sub, 1);
}

/* Under the list lock: is a retired node still linked? */
static int notify__has_linked_pending(notify_list *list)
{
    uintptr_t v = notify__load_relaxed(&list->head);
    while (v != 0 && !(v & NOTIFY__TAG_END)) {
        notify_sub *s = (notify_sub *)(v & ~NOTIFY__TAG_MASK);
        if (notify__load_relaxed(&s->word) & NOTIFY__W_PENDING)
            return 1;
        v = notify__load_relaxed(&s->next);
    }
    return 0;
}

/* Retire every node of the list, leaving them linked and tagged for the
 * next GP. Returns the count; *linked says whether any node is linked. */
static int notify__retire_all(notify_list *list, int *linked)
{
    NOTIFY__ATOMIC(uintptr_t) *slot;
    uintptr_t v;
    int n = 0;
    notify__list_lock(list);
    slot = &list->head;
    v = notify__load_relaxed(slot);
    while (v != 0 && !(v & NOTIFY__TAG_END)) {
        notify_sub *s = (notify_sub *)(v & ~NOTIFY__TAG_MASK);
        if (notify__retire(list, s) == 0) {
            notify__store_release(slot, v | NOTIFY__TAG_CHECK);
            n++;
        }
        slot = &s->next;
        v = notify__load_relaxed(slot);
    }
    *linked = notify__load_relaxed(&list->head) != 0;
    notify__list_unlock(list);
    if (*linked) {
        notify__mark_dirty(list);
        if (notify_in_emission())
            notify__note_deferred();
    }
    return n;
}

int notify_list_clear_async(notify_list *list)
{
    int linked;
    if (list == NULL) {
        NOTIFY_ASSERT(0, "notify_list_clear_async: list is NULL");
        return -EINVAL;
    }
    return notify__retire_all(list, &linked);
}

int notify_list_clear(notify_list *list)
{
    int n, linked;

    if (list == NULL) {
        NOTIFY_ASSERT(0, "notify_list_clear: list is NULL");
        return -EINVAL;
    }
    n = notify__retire_all(list, &linked);
    if (notify__cannot_wait())
        return n;
    /* Outside an emission the list must be left fully quiet, so that its
     * owner may free it: every retired node unlinked and released (also by
     * a GP another thread runs), and the list off the reclaim stack, where
     * an emitter that claimed a one-shot may have pushed it late. */
    for (;;) {
        notify__list_lock(list);
        linked = notify__has_linked_pending(list);
        notify__list_unlock(list);
        if (linked)
            notify__mark_dirty(list);
        notify_synchronize();
        /* 0: neither queued nor being walked by a collector */
        if (!linked && notify__load_acquire(&list->dirty) == 0u)
            break;
    }
    return n;
}

/* The list that notify_defer parks its nodes on; nobody emits on it. */
static notify_list notify__limbo = NOTIFY_LIST_INIT;

void notify_defer(notify_sub *node, notify_release_fn fn)
{
    uintptr_t head;
    if (node == NULL || fn == NULL) {
        NOTIFY_ASSERT(0, "notify_defer: node or fn is NULL");
        return;
    }
    node->fn = NULL;
    node->release = fn;
    notify__store_relaxed(&node->word, NOTIFY__W_MARKER | NOTIFY__W_PENDING);
    notify__list_lock(&notify__limbo);
    head = notify__load_relaxed(&notify__limbo.head);
    notify__store_relaxed(&node->next, head != 0 ? head : notify__end_of(&notify__limbo));
    notify__store_release(&notify__limbo.head, (uintptr_t)node | NOTIFY__TAG_CHECK);
    notify__list_unlock(&notify__limbo);
    notify__mark_dirty(&notify__limbo);
    if (notify_in_emission())
        notify__note_deferred();
}

void notify_reclaim(void)
{
    notify__try_reclaim();
}

int notify_thread_offline(void)
{
    notify__reader *r = notify__tls.slot;
    uint64_t a;
    if (notify__cannot_wait())
        return -EBUSY;
    if (r == &notify__unregistered)
        return 0;
    a = notify__load_relaxed(&r->active);
    /* P8: a release after the thread's last section; its next entry sees
     * OFFLINE in its own word, takes the slow path and fences. */
    notify__store_release(&r->active, (a & ~(NOTIFY__R_DEPTH | NOTIFY__R_DEFERRED)) |
                                      NOTIFY__R_OFFLINE);
    /* A request this thread's last exit missed (P7, P9) would otherwise
     * wait for an emission that may not come: take it now, as at exit. */
    notify__full_barrier();
    notify__thread_exit_slow(&notify__tls, 0);
    return 0;
}

int notify_synchronize(void)
{
    uint64_t ticket;
    if (notify__cannot_wait())
        return -EDEADLK;
    ticket = notify__fetch_add_acq_rel(&notify__gp.started, (uint64_t)0) + 1; /* P5 */
    notify__synchronize_until(ticket);
    /* Also wait for the release hooks of that GP and those before it,
     * whichever thread runs them. */
    pthread_mutex_lock(&notify__gp_mu);
    while (notify__gp.released < ticket)
        pthread_cond_wait(&notify__gp_cv, &notify__gp_mu);
    notify__gp_unlock();
    return 0;
}

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* NOTIFY_IMPLEMENTATION */

/*
MIT License

Copyright (c) 2026 the qomnotify authors

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
*/
