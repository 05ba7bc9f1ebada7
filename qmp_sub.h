/* qmp_sub.h - the QMP adapter: JSON on the wire, sessions, subscriptions.
 * Part of qomnotify. MIT licensed (see LICENSE). Depends on qom_lite.h and
 * notify.h.
 *
 * WHAT
 *   A transport-agnostic QMP server engine, compatible on the wire with QEMU
 *   (greeting, capability negotiation, id echo, CRLF, QEMU's error classes
 *   and texts), plus the subscription interface QEMU lacks: a session that
 *   enables the capability "subscriptions" receives only the events it
 *   subscribed to, by object path (qom-get on an event property, or
 *   qom-subscribe) or by type (qom-subscribe-type, covering objects created
 *   later); closing the session drops all of them. Sessions that do not
 *   enable it are legacy sessions and receive every event, as from QEMU.
 *   Also: a strict streaming JSON reader that resynchronizes after malformed
 *   input, a fast JSON writer (ASCII output, \uXXXX), and macros that
 *   generate an event payload's struct and serializer.
 *
 * EXAMPLE
 *   #define TRAY_FIELDS(F) F(str, device, "device", _) \
 *                          F(bool, tray_open, "tray-open", _) F(str, id, "id", _)
 *   QMP_STRUCT(tray_moved, TRAY_FIELDS)              // struct + serializer
 *   QMP_DEFINE_EVENT(TRAY_EV, "DEVICE_TRAY_MOVED", tray_moved)
 *   // qom_event_info { "DEVICE_TRAY_MOVED", &TRAY_EV } on the event property
 *   qmp_server *srv = qmp_server_new(reg, NULL);
 *   qmp_session *s = qmp_session_new(srv, wake_fn, conn);  // per connection
 *   qmp_session_feed(s, bytes, n);                  // what the socket read
 *   n = qmp_session_read(s, buf, sizeof buf);       // what to write back
 *   qmp_session_free(s);                            // connection lost
 *
 * THREADS AND MEMORY
 *   A session is fed and drained by one transport thread at a time; several
 *   sessions may run in several threads. Events are emitted by devices in
 *   any thread: the adapter puts one subscriber (a "tap", a type-wide
 *   qom_lite subscription under /qmp/taps) on each event property some
 *   session wants, serializes each event once in the emitting thread, and
 *   pushes it onto each interested session's output queue, lock-free on the
 *   emitter's side (an intrusive multi-producer queue; one allocation per
 *   event and one per receiving session). Output per session is bounded:
 *   past the bound, events are dropped and counted, and the session then
 *   first receives EVENTS_DROPPED {"count": N}. Replies are never dropped; a
 *   session whose reply backlog passes the hard bound is closed (logged).
 *   Memory an emitter may still reach (sessions, subscription records,
 *   arrays) is freed with notify_defer once no emission can reach it.
 *
 * THROTTLING
 *   A subscription with throttle-ms T delivers the first event of a quiet
 *   spell at once and opens a T-long window; events inside it are held,
 *   each replacing the one before (one exchange, lock-free), and the latest
 *   is delivered when the window closes, which opens the next. This is
 *   QEMU's rule for its rate-limited events, per subscription. The header
 *   has no timer of its own: the transport calls qmp_server_timers() before
 *   each wait and sleeps at most what it returns (on_output fires when an
 *   event starts being held, to wake it); qmp_session_read also delivers
 *   its session's due events.
 *
 * TREE LAYOUT
 *   /qmp/taps/...                  the adapter's own subscriptions
 *   /qmp/sessions/<N>              one container per session
 *   /qmp/sessions/<N>/sub[K]       its subscriptions (type qmp-subscription,
 *                                  properties source, property, event,
 *                                  type-wide, throttle-ms)
 *   Unparenting a subscription object unsubscribes; a session's close
 *   unparents its container. A path subscription ends when its source
 *   object leaves the tree.
 *
 * LIMITS (qmp_server_config; 0 means the default)
 *   max_message 65536 bytes, max_depth 64, max_output 1 MiB of queued
 *   events per session (replies may take up to 4x that before the session
 *   is closed), max_subscriptions 256 per session.
 *
 * CONFIGURATION
 *   QMP_SUB_IMPLEMENTATION   define in exactly one translation unit (with
 *                            QOM_LITE_IMPLEMENTATION and NOTIFY_IMPLEMENTATION,
 *                            there or elsewhere).
 *
 * LICENSE: MIT. Copyright (c) 2026 the qomnotify authors.
 */
#ifndef QMP_SUB_H
#define QMP_SUB_H

#include "qom_lite.h"
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------
 * Public API: JSON values read from the wire
 * ------------------------------------------------------------------------ */
typedef enum {
    QMP_JSON_NULL, QMP_JSON_BOOL, QMP_JSON_INT, QMP_JSON_UINT, QMP_JSON_DOUBLE,
    QMP_JSON_STRING, QMP_JSON_ARRAY, QMP_JSON_OBJECT
} qmp_json_type;

/* A parsed value. Integers that fit int64 are INT, larger ones UINT, others
 * DOUBLE. Strings are UTF-8, NUL-terminated, without NUL inside. Members
 * of arrays and objects are linked through `next`; object members carry
 * their `key`. Valid until the next parse into the same arena. */
typedef struct qmp_json qmp_json;
struct qmp_json {
    qmp_json_type type;
    size_t len;               /* STRING: bytes; ARRAY, OBJECT: members */
    const char *key;          /* member of an object: its name */
    union { bool b; int64_t i; uint64_t u; double d; const char *s; } v;
    qmp_json *child;          /* ARRAY, OBJECT: first member */
    qmp_json *next;           /* next member of the parent */
};

/* The member `key` of an object (the last, if repeated), or NULL. */
const qmp_json *qmp_json_member(const qmp_json *object, const char *key);

/* Memory for parsed values, reused from parse to parse. */
typedef struct qmp_json_arena {
    struct qmp__block *blocks, *cur;
    size_t used;
    char *text;
    size_t text_cap;
    char error[96];
} qmp_json_arena;
void qmp_json_arena_init(qmp_json_arena *a);
void qmp_json_arena_free(qmp_json_arena *a);

/* Parse one complete JSON text (strict RFC 8259, nesting at most
 * max_depth). 0 and *out, or -EINVAL with *error worded as QEMU words it
 * ("JSON parse error, ..."), or -ENOMEM. */
int qmp_json_parse(qmp_json_arena *a, const char *text, size_t len, unsigned max_depth,
                   const qmp_json **out, const char **error);

/* A streaming reader: feed bytes as they arrive; it calls fn once per
 * complete top-level value (msg) or once per malformed input (error). After
 * an error that breaks the message structure it skips to the end of the
 * line, so the next command is answered normally. */
typedef void (*qmp_reader_fn)(void *opaque, const qmp_json *msg, const char *error);
typedef struct qmp_reader qmp_reader;
qmp_reader *qmp_reader_new(size_t max_message, unsigned max_depth, qmp_reader_fn fn,
                           void *opaque);
/* 0, or -ENOMEM. fn runs in this call. */
int qmp_reader_feed(qmp_reader *r, const void *data, size_t len);
void qmp_reader_free(qmp_reader *r);

/* ------------------------------------------------------------------------
 * Public API: the JSON writer (QEMU's layout: ", " and ": ", ASCII only)
 * ------------------------------------------------------------------------ */
typedef struct qmp_writer {
    char *buf;
    size_t len, cap;
    unsigned depth;           /* open containers */
    uint64_t nonempty;        /* bit d: container at depth d has a member */
    bool after_key;
    bool oom;                 /* an allocation failed: the text is incomplete */
} qmp_writer;

void qmp_writer_init(qmp_writer *w);
void qmp_writer_free(qmp_writer *w);
void qmp_writer_reset(qmp_writer *w);
void qmp_write_null(qmp_writer *w);
void qmp_write_bool(qmp_writer *w, bool b);
void qmp_write_int(qmp_writer *w, int64_t i);
void qmp_write_uint(qmp_writer *w, uint64_t u);
void qmp_write_double(qmp_writer *w, double d);  /* %.17g; not finite: null */
/* A string, escaped; non-ASCII as \uXXXX, invalid UTF-8 as \uFFFD. */
void qmp_write_str(qmp_writer *w, const char *s);
void qmp_write_strn(qmp_writer *w, const char *s, size_t n);
void qmp_write_object_begin(qmp_writer *w);
void qmp_write_object_end(qmp_writer *w);
void qmp_write_array_begin(qmp_writer *w);
void qmp_write_array_end(qmp_writer *w);
void qmp_write_key(qmp_writer *w, const char *key);
/* A parsed value, written back (the `id` echo). */
void qmp_write_json(qmp_writer *w, const qmp_json *v);

/* ------------------------------------------------------------------------
 * Public API: event payloads described by macros
 * ------------------------------------------------------------------------ */
/* A field list is a macro taking F and listing F(kind, field, "key", extra):
 *   str (const char *, NULL written as ""), bool, int (int64_t),
 *   uint (uint64_t), double, enum (int; extra: a const char *const table[]),
 *   object (extra: a type made with QMP_STRUCT);
 *   opt_<kind>: the same with a `bool has_<field>`; written only when set.
 * Keys are plain ASCII. Fields are written in the order listed. */
#define QMP_STRUCT(type, FIELDS) \
    typedef struct type { FIELDS(QMP__DECL) } type; \
    static NOTIFY__UNUSED void type##__qmp_write(qmp_writer *w_, const type *p_) \
    { \
        int first_ = 1; \
        qmp__lit(w_, "{"); \
        FIELDS(QMP__WRITE) \
        qmp__lit(w_, "}"); \
        (void)first_; (void)p_; \
    } \
    static NOTIFY__UNUSED void type##__qmp_write_any(qmp_writer *w_, const void *p_) \
    { type##__qmp_write(w_, (const type *)p_); } \
    typedef int type##__qmp_struct_ends_here

/* How an event's data is written, and its name. */
typedef void (*qmp_marshal_fn)(qmp_writer *w, const void *payload);
typedef struct qmp_event_type {
    const char *name;
    qmp_marshal_fn data;      /* NULL: "data": {} */
    /* Optional, made by QMP_DEFINE_EVENT: the constant text between the
     * microseconds and the data, `}, "event": "NAME", "data": `. */
    const char *middle;
    size_t middle_len;
} qmp_event_type;
/* `var`: a qmp_event_type for events named `name` (a string literal of
 * plain ASCII) with payload `type`. Put &var in the event property's
 * qom_event_info.marshal. */
#define QMP_DEFINE_EVENT(var, name, type) \
    static NOTIFY__UNUSED const qmp_event_type var = { \
        name, type##__qmp_write_any, "}, \"event\": \"" name "\", \"data\": ", \
        sizeof("}, \"event\": \"" name "\", \"data\": ") - 1 }

/* The whole event, as QEMU writes it: {"timestamp": {"seconds": S,
 * "microseconds": U}, "event": NAME, "data": {...}} and CRLF. */
void qmp_write_event(qmp_writer *w, const qmp_event_type *t, const void *payload,
                     int64_t seconds, int64_t microseconds);

/* ------------------------------------------------------------------------
 * Public API: server, sessions, commands
 * ------------------------------------------------------------------------ */
typedef struct qmp_server qmp_server;
typedef struct qmp_session qmp_session;

typedef struct qmp_server_config {
    size_t max_message;            /* bytes of one input message */
    unsigned max_depth;            /* JSON nesting */
    size_t max_output;             /* bytes of queued events per session */
    unsigned max_subscriptions;    /* per session */
    int version_major, version_minor, version_micro;  /* query-version */
    const char *package;
    /* Where the adapter reports what it did on its own (a session closed
     * for a reply backlog); NULL: stderr. */
    void (*log)(void *opaque, const char *message);
    void *log_opaque;
} qmp_server_config;

/* A QMP error: QEMU's class name and text. */
typedef struct qmp_error {
    const char *cls;               /* "GenericError", "CommandNotFound", ... */
    char desc[256];
} qmp_error;
/* Fill err; returns -1, for `return qmp_error_set(...)`. */
int qmp_error_set(qmp_error *err, const char *cls, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Argument checking, QEMU's way: missing, unexpected and mistyped arguments
 * are answered before the handler runs. */
typedef enum {
    QMP_ARG_STR, QMP_ARG_BOOL, QMP_ARG_INT, QMP_ARG_UINT, QMP_ARG_NUMBER,
    QMP_ARG_OBJECT, QMP_ARG_ARRAY, QMP_ARG_ANY
} qmp_arg_type;
typedef struct qmp_arg {
    const char *name;              /* NULL ends the list */
    qmp_arg_type type;
    bool optional;
} qmp_arg;

/* A command: write the return value into `ret` (nothing written: {}), or
 * fill err and return non-zero. `args` is an object (empty when absent). */
typedef int (*qmp_command_fn)(qmp_session *s, const qmp_json *args, qmp_writer *ret,
                              qmp_error *err, void *opaque);

/* A server on `reg`, with the built-in commands (qmp_capabilities,
 * query-version, query-commands, qom-list, qom-get, qom-set,
 * qom-list-types, qom-list-properties, qom-subscribe, qom-subscribe-type,
 * qom-unsubscribe, query-subscriptions). cfg may be NULL. */
qmp_server *qmp_server_new(qom_registry *reg, const qmp_server_config *cfg);
/* Closes every session. Not from an emission or a command. */
void qmp_server_free(qmp_server *srv);
qom_registry *qmp_server_registry(qmp_server *srv);
/* Add or replace a command; before sessions run commands. 0, or -ENOMEM. */
int qmp_server_add_command(qmp_server *srv, const char *name, const qmp_arg *args,
                           qmp_command_fn fn, void *opaque);
/* An event that no object carries, to every legacy session (any thread). */
void qmp_server_broadcast(qmp_server *srv, const qmp_event_type *t, const void *payload);

/* A session for a new connection; its greeting is queued at once.
 * on_output(s, opaque) is called, in whatever thread queued it, when the
 * session's output goes from empty to non-empty: wake the transport. It
 * may run inside qmp_session_read and qmp_server_timers with the server's
 * lock held: it must only wake, never call back into the server. */
qmp_session *qmp_session_new(qmp_server *srv, void (*on_output)(qmp_session *, void *),
                             void *opaque);
/* Bytes received; runs the commands they complete. 0, or -EPIPE once the
 * session is closed (then free it). */
int qmp_session_feed(qmp_session *s, const void *data, size_t len);
/* Up to cap bytes of output; 0 when none is queued. Call until it returns
 * 0, then wait for on_output. */
size_t qmp_session_read(qmp_session *s, void *buf, size_t cap);
/* The session wants the connection closed (reason in the log). */
bool qmp_session_closed(const qmp_session *s);
/* The connection is gone: drop the session and all its subscriptions. */
void qmp_session_free(qmp_session *s);
/* The canonical path of the session's container (borrowed). */
const char *qmp_session_path(const qmp_session *s);
qmp_server *qmp_session_server(const qmp_session *s);
/* Events dropped for this session for lack of room, so far. */
uint64_t qmp_session_dropped(const qmp_session *s);
/* Throttled subscriptions (throttle-ms) deliver the first event of a quiet
 * spell at once; later ones inside the window are held, the latest
 * replacing the one before, and the one held is delivered when the window
 * closes (which opens the next). This delivers what is due and returns the
 * milliseconds until the next held event is due: the transport's poll
 * timeout (-1: none is held). Call it in the transport's loop before each
 * wait: a held event waits for this call (or for qmp_session_read, which
 * delivers its own session's due events). on_output is also called when an
 * event starts being held, so a sleeping loop wakes to ask. "Latest" is
 * the order emitters reach the subscription: concurrent emitters in several
 * threads have no other order. Any thread. */
int qmp_server_timers(qmp_server *srv);

/* ------------------------------------------------------------------------
 * Internal, used by the macros
 * ------------------------------------------------------------------------ */
int qmp__grow(qmp_writer *w, size_t need);
static inline void qmp__raw(qmp_writer *w, const char *s, size_t n)
{
    if (NOTIFY__UNLIKELY(w->cap - w->len < n) && qmp__grow(w, n) != 0)
        return;
    memcpy(w->buf + w->len, s, n);
    w->len += n;
}
#define qmp__lit(w, s) qmp__raw((w), (s), sizeof(s) - 1)
void qmp__w_string(qmp_writer *w, const char *s, size_t n);
void qmp__w_i64(qmp_writer *w, int64_t v);
void qmp__w_u64(qmp_writer *w, uint64_t v);
void qmp__w_double(qmp_writer *w, double d);
void qmp__w_enum(qmp_writer *w, int v, const char *const *table, size_t n);

/* Compile-time constant folded: the first field writes no ", ". */
#define qmp__key(w, first, lit) do { \
        if (*(first)) { qmp__raw((w), lit, sizeof(lit) - 1); *(first) = 0; } \
        else qmp__raw((w), ", " lit, sizeof(", " lit) - 1); \
    } while (0)

#define QMP__DECL(kind, field, key, extra) QMP__DECL_##kind(field, extra)
#define QMP__DECL_str(f, x) const char *f;
#define QMP__DECL_bool(f, x) bool f;
#define QMP__DECL_int(f, x) int64_t f;
#define QMP__DECL_uint(f, x) uint64_t f;
#define QMP__DECL_double(f, x) double f;
#define QMP__DECL_enum(f, x) int f;
#define QMP__DECL_object(f, x) x f;
#define QMP__DECL_opt_str(f, x) bool has_##f; QMP__DECL_str(f, x)
#define QMP__DECL_opt_bool(f, x) bool has_##f; QMP__DECL_bool(f, x)
#define QMP__DECL_opt_int(f, x) bool has_##f; QMP__DECL_int(f, x)
#define QMP__DECL_opt_uint(f, x) bool has_##f; QMP__DECL_uint(f, x)
#define QMP__DECL_opt_double(f, x) bool has_##f; QMP__DECL_double(f, x)
#define QMP__DECL_opt_enum(f, x) bool has_##f; QMP__DECL_enum(f, x)
#define QMP__DECL_opt_object(f, x) bool has_##f; QMP__DECL_object(f, x)

#define QMP__WRITE(kind, field, key, extra) QMP__WRITE_##kind(field, "\"" key "\": ", extra)
#define QMP__WRITE_str(f, k, x) qmp__key(w_, &first_, k); \
    { const char *s_ = p_->f != NULL ? p_->f : ""; qmp__w_string(w_, s_, strlen(s_)); }
#define QMP__WRITE_bool(f, k, x) qmp__key(w_, &first_, k); \
    if (p_->f) qmp__lit(w_, "true"); else qmp__lit(w_, "false");
#define QMP__WRITE_int(f, k, x) qmp__key(w_, &first_, k); qmp__w_i64(w_, p_->f);
#define QMP__WRITE_uint(f, k, x) qmp__key(w_, &first_, k); qmp__w_u64(w_, p_->f);
#define QMP__WRITE_double(f, k, x) qmp__key(w_, &first_, k); qmp__w_double(w_, p_->f);
#define QMP__WRITE_enum(f, k, x) qmp__key(w_, &first_, k); \
    qmp__w_enum(w_, p_->f, (x), sizeof(x) / sizeof((x)[0]));
#define QMP__WRITE_object(f, k, x) qmp__key(w_, &first_, k); x##__qmp_write(w_, &p_->f);
#define QMP__WRITE_opt_str(f, k, x) if (p_->has_##f) { QMP__WRITE_str(f, k, x) }
#define QMP__WRITE_opt_bool(f, k, x) if (p_->has_##f) { QMP__WRITE_bool(f, k, x) }
#define QMP__WRITE_opt_int(f, k, x) if (p_->has_##f) { QMP__WRITE_int(f, k, x) }
#define QMP__WRITE_opt_uint(f, k, x) if (p_->has_##f) { QMP__WRITE_uint(f, k, x) }
#define QMP__WRITE_opt_double(f, k, x) if (p_->has_##f) { QMP__WRITE_double(f, k, x) }
#define QMP__WRITE_opt_enum(f, k, x) if (p_->has_##f) { QMP__WRITE_enum(f, k, x) }
#define QMP__WRITE_opt_object(f, k, x) if (p_->has_##f) { QMP__WRITE_object(f, k, x) }

#ifdef __cplusplus
}
#endif
#endif /* QMP_SUB_H */

/* ------------------------------------------------------------------------
 * Implementation: once per program
 * ------------------------------------------------------------------------ */
#if defined(QMP_SUB_IMPLEMENTATION) && !defined(QMP_SUB__IMPLEMENTED)
#define QMP_SUB__IMPLEMENTED

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

#define QMP__DEFAULT_MAX_MESSAGE 65536u
#define QMP__DEFAULT_MAX_DEPTH 64u
#define QMP__DEFAULT_MAX_OUTPUT (1u << 20)
#define QMP__DEFAULT_MAX_SUBS 256u
#define QMP__REPLY_FACTOR 4u          /* replies may queue this x max_output */

/* ==== JSON: the arena and the parser ==================================== */

#define QMP__BLOCK_NODES 128
struct qmp__block {
    struct qmp__block *next;
    qmp_json nodes[QMP__BLOCK_NODES];
};

void qmp_json_arena_init(qmp_json_arena *a)
{
    memset(a, 0, sizeof *a);
}

void qmp_json_arena_free(qmp_json_arena *a)
{
    struct qmp__block *b = a->blocks, *n;
    for (; b != NULL; b = n) {
        n = b->next;
        free(b);
    }
    free(a->text);
    memset(a, 0, sizeof *a);
}

static qmp_json *qmp__node(qmp_json_arena *a)
{
    qmp_json *j;
    if (a->cur == NULL || a->used == QMP__BLOCK_NODES) {
        struct qmp__block *next = a->cur != NULL ? a->cur->next : a->blocks;
        if (next == NULL) {
            next = (struct qmp__block *)malloc(sizeof *next);
            if (next == NULL)
                return NULL;
            next->next = NULL;
            if (a->cur != NULL)
                a->cur->next = next;
            else
                a->blocks = next;
        }
        a->cur = next;
        a->used = 0;
    }
    j = &a->cur->nodes[a->used++];
    memset(j, 0, sizeof *j);
    return j;
}

const qmp_json *qmp_json_member(const qmp_json *object, const char *key)
{
    const qmp_json *m, *found = NULL;
    if (object == NULL || object->type != QMP_JSON_OBJECT)
        return NULL;
    for (m = object->child; m != NULL; m = m->next)
        if (strcmp(m->key, key) == 0)
            found = m;   /* a repeated key: the last one wins, as in QEMU */
    return found;
}

typedef struct qmp__parser {
    char *p, *end;
    qmp_json_arena *a;
    unsigned max_depth;
    const char *error;
    int oom;
} qmp__parser;

static int qmp__perr(qmp__parser *ps, const char *msg)
{
    if (ps->error == NULL)
        ps->error = msg;
    return -1;
}

static void qmp__ws(qmp__parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' ||
                               *ps->p == '\r'))
        ps->p++;
}

static int qmp__hex4(const char *s, unsigned *out)
{
    unsigned v = 0;
    int i;
    for (i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return -1;
    }
    *out = v;
    return 0;
}

static char *qmp__put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        *o++ = (char)cp;
    } else if (cp < 0x800) {
        *o++ = (char)(0xC0 | (cp >> 6));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xE0 | (cp >> 12));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *o++ = (char)(0xF0 | (cp >> 18));
        *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    }
    return o;
}

/* Length of the valid UTF-8 sequence at s (bytes left: n), or 0. */
static size_t qmp__utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xBF;
    size_t need, i;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) need = 1;
    else if (c == 0xE0) { need = 2; lo = 0xA0; }
    else if (c >= 0xE1 && c <= 0xEF) { need = 2; if (c == 0xED) hi = 0x9F; }
    else if (c == 0xF0) { need = 3; lo = 0x90; }
    else if (c >= 0xF1 && c <= 0xF3) need = 3;
    else if (c == 0xF4) { need = 3; hi = 0x8F; }
    else return 0;
    if (n < need + 1) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (i = 2; i <= need; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return need + 1;
}

/* A string at ps->p (on its opening quote), decoded in place. */
static int qmp__string(qmp__parser *ps, const char **out, size_t *len)
{
    char *o, *start;
    ps->p++;
    o = start = ps->p;
    for (;;) {
        unsigned char c;
        if (ps->p >= ps->end)
            return qmp__perr(ps, "JSON parse error, missing '\"' at end of string");
        c = (unsigned char)*ps->p;
        if (c == '"') {
            ps->p++;
            break;
        }
        if (c < 0x20)
            return qmp__perr(ps, "JSON parse error, control character in string");
        if (c == '\\') {
            char e;
            if (ps->end - ps->p < 2)
                return qmp__perr(ps, "JSON parse error, invalid escape sequence in string");
            e = ps->p[1];
            ps->p += 2;
            switch (e) {
            case '"': *o++ = '"'; break;
            case '\\': *o++ = '\\'; break;
            case '/': *o++ = '/'; break;
            case 'b': *o++ = '\b'; break;
            case 'f': *o++ = '\f'; break;
            case 'n': *o++ = '\n'; break;
            case 'r': *o++ = '\r'; break;
            case 't': *o++ = '\t'; break;
            case 'u': {
                unsigned cp, lo;
                if (ps->end - ps->p < 4 || qmp__hex4(ps->p, &cp) != 0)
                    return qmp__perr(ps, "JSON parse error, invalid hex escape sequence in string");
                ps->p += 4;
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u' ||
                        qmp__hex4(ps->p + 2, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF)
                        return qmp__perr(ps, "JSON parse error, missing second half of surrogate pair");
                    ps->p += 6;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    return qmp__perr(ps, "JSON parse error, stray second half of surrogate pair");
                } else if (cp == 0) {
                    return qmp__perr(ps, "JSON parse error, \\u0000 is not supported");
                }
                o = qmp__put_utf8(o, cp);
                break;
            }
            default:
                return qmp__perr(ps, "JSON parse error, invalid escape sequence in string");
            }
            continue;
        }
        if (c < 0x80) {
            *o++ = (char)c;
            ps->p++;
        } else {
            size_t n = qmp__utf8_len((const unsigned char *)ps->p, (size_t)(ps->end - ps->p));
            if (n == 0)
                return qmp__perr(ps, "JSON parse error, invalid UTF-8 sequence in string");
            memmove(o, ps->p, n);
            o += n;
            ps->p += n;
        }
    }
    /* decoding only shrinks, so the terminator lands inside the text */
    *o = '\0';
    *out = start;
    *len = (size_t)(o - start);
    return 0;
}

static int qmp__number(qmp__parser *ps, qmp_json *j)
{
    char *s = ps->p, *q = ps->p, saved;
    int is_int = 1;
    if (*q == '-') q++;
    if (q >= ps->end || !(*q >= '0' && *q <= '9'))
        return qmp__perr(ps, "JSON parse error, invalid number");
    if (*q == '0') q++;
    else while (q < ps->end && *q >= '0' && *q <= '9') q++;
    if (q < ps->end && *q == '.') {
        is_int = 0;
        q++;
        if (q >= ps->end || !(*q >= '0' && *q <= '9'))
            return qmp__perr(ps, "JSON parse error, invalid number");
        while (q < ps->end && *q >= '0' && *q <= '9') q++;
    }
    if (q < ps->end && (*q == 'e' || *q == 'E')) {
        is_int = 0;
        q++;
        if (q < ps->end && (*q == '+' || *q == '-')) q++;
        if (q >= ps->end || !(*q >= '0' && *q <= '9'))
            return qmp__perr(ps, "JSON parse error, invalid number");
        while (q < ps->end && *q >= '0' && *q <= '9') q++;
    }
    /* the text is NUL-terminated at `end`, so q may sit there */
    saved = *q;
    *q = '\0';
    ps->p = q;
    if (is_int) {
        errno = 0;
        if (*s == '-') {
            long long v = strtoll(s, NULL, 10);
            if (errno == 0) { j->type = QMP_JSON_INT; j->v.i = (int64_t)v; }
        } else {
            unsigned long long v = strtoull(s, NULL, 10);
            if (errno == 0) {
                if (v <= (unsigned long long)INT64_MAX) { j->type = QMP_JSON_INT; j->v.i = (int64_t)v; }
                else { j->type = QMP_JSON_UINT; j->v.u = (uint64_t)v; }
            }
        }
        if (errno == 0) {
            *q = saved;
            return 0;
        }
    }
    j->type = QMP_JSON_DOUBLE;
    j->v.d = strtod(s, NULL);
    *q = saved;
    return 0;
}

static int qmp__value(qmp__parser *ps, qmp_json *j, unsigned depth);

static int qmp__container(qmp__parser *ps, qmp_json *j, unsigned depth, int is_obj)
{
    qmp_json **tail = &j->child;
    char close = is_obj ? '}' : ']';
    if (depth >= ps->max_depth)
        return qmp__perr(ps, "JSON nesting depth limit exceeded");
    j->type = is_obj ? QMP_JSON_OBJECT : QMP_JSON_ARRAY;
    ps->p++;
    qmp__ws(ps);
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        return 0;
    }
    for (;;) {
        qmp_json *m = qmp__node(ps->a);
        if (m == NULL) {
            ps->oom = 1;
            return qmp__perr(ps, "out of memory");
        }
        if (is_obj) {
            size_t kl;
            qmp__ws(ps);
            if (ps->p >= ps->end || *ps->p != '"')
                return qmp__perr(ps, "JSON parse error, key is not a string in object");
            if (qmp__string(ps, &m->key, &kl) != 0)
                return -1;
            qmp__ws(ps);
            if (ps->p >= ps->end || *ps->p != ':')
                return qmp__perr(ps, "JSON parse error, missing : in object pair");
            ps->p++;
        }
        if (qmp__value(ps, m, depth + 1) != 0)
            return -1;
        *tail = m;
        tail = &m->next;
        j->len++;
        qmp__ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == close) {
            ps->p++;
            return 0;
        }
        return qmp__perr(ps, is_obj ? "JSON parse error, expected separator in dict"
                                    : "JSON parse error, expected separator in list");
    }
}

static int qmp__literal(qmp__parser *ps, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
        return qmp__perr(ps, "JSON parse error, invalid keyword");
    ps->p += n;
    return 0;
}

static int qmp__value(qmp__parser *ps, qmp_json *j, unsigned depth)
{
    qmp__ws(ps);
    if (ps->p >= ps->end)
        return qmp__perr(ps, "JSON parse error, expecting value");
    switch (*ps->p) {
    case '{': return qmp__container(ps, j, depth, 1);
    case '[': return qmp__container(ps, j, depth, 0);
    case '"':
        j->type = QMP_JSON_STRING;
        return qmp__string(ps, &j->v.s, &j->len);
    case 't': j->type = QMP_JSON_BOOL; j->v.b = true; return qmp__literal(ps, "true");
    case 'f': j->type = QMP_JSON_BOOL; j->v.b = false; return qmp__literal(ps, "false");
    case 'n': j->type = QMP_JSON_NULL; return qmp__literal(ps, "null");
    default:
        if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9'))
            return qmp__number(ps, j);
        return qmp__perr(ps, "JSON parse error, expecting value");
    }
}

/* Parse text that already lies, NUL-terminated, in the arena. */
static int qmp__parse_arena(qmp_json_arena *a, size_t len, unsigned max_depth,
                            const qmp_json **out, const char **error)
{
    qmp__parser ps;
    qmp_json *root;
    a->cur = NULL;
    a->used = 0;
    ps.p = a->text;
    ps.end = a->text + len;
    ps.a = a;
    ps.max_depth = max_depth ? max_depth : QMP__DEFAULT_MAX_DEPTH;
    ps.error = NULL;
    ps.oom = 0;
    root = qmp__node(a);
    if (root == NULL)
        return -ENOMEM;
    if (qmp__value(&ps, root, 0) == 0) {
        qmp__ws(&ps);
        if (ps.p == ps.end) {
            *out = root;
            return 0;
        }
        qmp__perr(&ps, "JSON parse error, expecting end of input");
    }
    if (ps.oom)
        return -ENOMEM;
    if (error != NULL)
        *error = ps.error;
    return -EINVAL;
}

static int qmp__arena_text(qmp_json_arena *a, size_t len)
{
    if (a->text_cap < len + 1) {
        size_t c = a->text_cap ? a->text_cap : 256;
        char *t;
        while (c < len + 1)
            c *= 2;
        t = (char *)realloc(a->text, c);
        if (t == NULL)
            return -ENOMEM;
        a->text = t;
        a->text_cap = c;
    }
    return 0;
}

int qmp_json_parse(qmp_json_arena *a, const char *text, size_t len, unsigned max_depth,
                   const qmp_json **out, const char **error)
{
    if (a == NULL || (text == NULL && len != 0) || out == NULL)
        return -EINVAL;
    if (qmp__arena_text(a, len) != 0)
        return -ENOMEM;
    if (len != 0)
        memcpy(a->text, text, len);
    a->text[len] = '\0';
    return qmp__parse_arena(a, len, max_depth, out, error);
}

/* ==== JSON: the streaming reader ========================================
 * A scanner finds where each top-level value ends (tracking strings and
 * brackets only) and catches what breaks the message structure: a stray
 * byte, a mismatched bracket, a control character inside a string, too
 * deep, too long. Those are answered once and the rest of the line is
 * skipped. A complete value then goes to the parser, whose errors (a bad
 * token inside a well-delimited message) need no skipping. */
struct qmp_reader {
    qmp_json_arena arena;          /* arena.text is the message being read */
    size_t len, max_message;
    unsigned max_depth, depth;
    unsigned char *stack;          /* '}' or ']' expected per level */
    int in_string, escape, scalar, skipping;
    qmp_reader_fn fn;
    void *opaque;
};

qmp_reader *qmp_reader_new(size_t max_message, unsigned max_depth, qmp_reader_fn fn,
                           void *opaque)
{
    qmp_reader *r = (qmp_reader *)calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    qmp_json_arena_init(&r->arena);
    r->max_message = max_message ? max_message : QMP__DEFAULT_MAX_MESSAGE;
    r->max_depth = max_depth ? max_depth : QMP__DEFAULT_MAX_DEPTH;
    r->stack = (unsigned char *)malloc(r->max_depth);
    if (r->stack == NULL || qmp__arena_text(&r->arena, 256) != 0) {
        free(r->stack);
        qmp_json_arena_free(&r->arena);
        free(r);
        return NULL;
    }
    r->fn = fn;
    r->opaque = opaque;
    return r;
}

void qmp_reader_free(qmp_reader *r)
{
    if (r == NULL)
        return;
    qmp_json_arena_free(&r->arena);
    free(r->stack);
    free(r);
}

static void qmp__reader_reset(qmp_reader *r)
{
    r->len = 0;
    r->depth = 0;
    r->in_string = r->escape = r->scalar = 0;
}

/* Structure broken at byte c: one error, then skip the rest of the line. */
static void qmp__reader_error(qmp_reader *r, const char *msg, unsigned char c)
{
    qmp__reader_reset(r);
    r->skipping = c != '\n';
    r->fn(r->opaque, NULL, msg);
}

static int qmp__reader_complete(qmp_reader *r)
{
    const qmp_json *msg = NULL;
    const char *error = "JSON parse error";
    size_t len = r->len;
    int rc;
    r->arena.text[len] = '\0';
    qmp__reader_reset(r);
    rc = qmp__parse_arena(&r->arena, len, r->max_depth, &msg, &error);
    if (rc == 0)
        r->fn(r->opaque, msg, NULL);
    else
        r->fn(r->opaque, NULL, rc == -ENOMEM ? "Out of memory" : error);
    return rc;
}

static int qmp__is_delim(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '{' || c == '}' ||
           c == '[' || c == ']' || c == ',' || c == ':' || c == '"';
}

int qmp_reader_feed(qmp_reader *r, const void *data, size_t n)
{
    const unsigned char *p = (const unsigned char *)data;
    size_t i;
    for (i = 0; i < n; i++) {
        unsigned char c = p[i];
        if (r->skipping) {
            if (c == '\n')
                r->skipping = 0;
            continue;
        }
        if (r->scalar && qmp__is_delim(c) && qmp__reader_complete(r) != 0 && c != '\n') {
            /* a top-level scalar ends before its delimiter; garbage words
             * (`hello world`) get one error for the line, not one each */
            r->skipping = 1;
            continue;
        }
        if (r->len == 0 && !r->scalar) {
            /* between messages */
            if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
                continue;
            if (c == '{' || c == '[') {
                r->stack[0] = c == '{' ? '}' : ']';
                r->depth = 1;
            } else if (c == '"') {
                r->in_string = 1;
            } else if (c == '-' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
                       (c >= 'A' && c <= 'Z')) {
                r->scalar = 1;
            } else {
                qmp__reader_error(r, c >= 0x20 && c < 0x7F ? "JSON parse error, stray character"
                                                           : "JSON parse error, invalid byte",
                                  c);
                continue;
            }
        } else if (r->in_string) {
            if (c < 0x20) {
                qmp__reader_error(r, "JSON parse error, control character in string", c);
                continue;
            } else if (r->escape) {
                r->escape = 0;
            } else if (c == '\\') {
                r->escape = 1;
            } else if (c == '"') {
                r->in_string = 0;
            }
        } else if (r->scalar) {
            if (c < 0x20 || c >= 0x7F) {
                qmp__reader_error(r, "JSON parse error, invalid byte", c);
                continue;
            }
        } else {
            if (c == '"') {
                r->in_string = 1;
            } else if (c == '{' || c == '[') {
                if (r->depth >= r->max_depth) {
                    qmp__reader_error(r, "JSON nesting depth limit exceeded", c);
                    continue;
                }
                r->stack[r->depth++] = c == '{' ? '}' : ']';
            } else if (c == '}' || c == ']') {
                if (r->stack[r->depth - 1] != c) {
                    qmp__reader_error(r, "JSON parse error, stray character", c);
                    continue;
                }
                r->depth--;
            } else if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c >= 0x7F) {
                qmp__reader_error(r, "JSON parse error, invalid byte", c);
                continue;
            }
        }
        if (r->len >= r->max_message) {
            qmp__reader_error(r, "JSON token size limit exceeded", c);
            continue;
        }
        if (r->len + 2 > r->arena.text_cap && qmp__arena_text(&r->arena, r->len + 1) != 0) {
            qmp__reader_error(r, "Out of memory", c);
            continue;
        }
        r->arena.text[r->len++] = (char)c;
        if (!r->scalar && !r->in_string && r->depth == 0)
            qmp__reader_complete(r);
    }
    return 0;
}

/* ==== JSON: the writer ================================================== */

void qmp_writer_init(qmp_writer *w)
{
    memset(w, 0, sizeof *w);
}

void qmp_writer_free(qmp_writer *w)
{
    free(w->buf);
    memset(w, 0, sizeof *w);
}

void qmp_writer_reset(qmp_writer *w)
{
    w->len = 0;
    w->depth = 0;
    w->nonempty = 0;
    w->after_key = false;
    w->oom = false;
}

int qmp__grow(qmp_writer *w, size_t need)
{
    size_t c = w->cap ? w->cap : 256;
    char *b;
    if (w->oom)
        return -1;
    while (c - w->len < need)
        c *= 2;
    b = (char *)realloc(w->buf, c);
    if (b == NULL) {
        w->oom = true;
        return -1;
    }
    w->buf = b;
    w->cap = c;
    return 0;
}

static inline int qmp__reserve(qmp_writer *w, size_t n)
{
    if (NOTIFY__LIKELY(w->cap - w->len >= n))
        return 0;
    return qmp__grow(w, n);
}

/* 1 for a byte that a string cannot carry as is: controls, '"', '\\',
 * and from 0x7F up (written as \uXXXX, as QEMU writes them). */
static const unsigned char qmp__esc[256] = {
    1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1, 1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,
    0,0,1,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
    0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,1,0,0,0,
    0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1,
    1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1, 1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,
    1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1, 1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,
    1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1, 1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,
    1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1, 1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,
};

static char *qmp__u4(char *o, unsigned v)
{
    static const char hex[] = "0123456789ABCDEF";
    *o++ = '\\';
    *o++ = 'u';
    *o++ = hex[(v >> 12) & 15];
    *o++ = hex[(v >> 8) & 15];
    *o++ = hex[(v >> 4) & 15];
    *o++ = hex[v & 15];
    return o;
}

void qmp__w_string(qmp_writer *w, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    char *o;
    /* worst case: 6 output bytes per input byte, plus quotes */
    if (qmp__reserve(w, 6 * n + 2) != 0)
        return;
    o = w->buf + w->len;
    *o++ = '"';
    while (p < end) {
        /* the common bytes, copied as they are scanned (strings on the
         * wire are short: no call to memcpy) */
        while (p < end && !qmp__esc[*p])
            *o++ = (char)*p++;
        if (p >= end)
            break;
        switch (*p) {
        case '"': *o++ = '\\'; *o++ = '"'; p++; continue;
        case '\\': *o++ = '\\'; *o++ = '\\'; p++; continue;
        case '\b': *o++ = '\\'; *o++ = 'b'; p++; continue;
        case '\f': *o++ = '\\'; *o++ = 'f'; p++; continue;
        case '\n': *o++ = '\\'; *o++ = 'n'; p++; continue;
        case '\r': *o++ = '\\'; *o++ = 'r'; p++; continue;
        case '\t': *o++ = '\\'; *o++ = 't'; p++; continue;
        default:
            break;
        }
        if (*p < 0x80) {
            o = qmp__u4(o, *p++);
        } else {
            size_t k = qmp__utf8_len(p, (size_t)(end - p));
            unsigned cp;
            if (k == 0) {
                o = qmp__u4(o, 0xFFFD);   /* invalid UTF-8, as QEMU does */
                p++;
                continue;
            }
            if (k == 2) cp = ((unsigned)(p[0] & 0x1F) << 6) | (p[1] & 0x3F);
            else if (k == 3) cp = ((unsigned)(p[0] & 0x0F) << 12) | ((unsigned)(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
            else cp = ((unsigned)(p[0] & 0x07) << 18) | ((unsigned)(p[1] & 0x3F) << 12) |
                      ((unsigned)(p[2] & 0x3F) << 6) | (p[3] & 0x3F);
            p += k;
            if (cp > 0xFFFF) {
                /* 4 input bytes become 12: within the 6-per-byte bound */
                o = qmp__u4(o, 0xD800 + ((cp - 0x10000) >> 10));
                o = qmp__u4(o, 0xDC00 + ((cp - 0x10000) & 0x3FF));
            } else {
                o = qmp__u4(o, cp);
            }
        }
    }
    *o++ = '"';
    w->len = (size_t)(o - w->buf);
}

static const char qmp__digits2[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

static unsigned qmp__digits(uint64_t v)
{
    unsigned n = 1;
    for (;;) {
        if (v < 10) return n;
        if (v < 100) return n + 1;
        if (v < 1000) return n + 2;
        if (v < 10000) return n + 3;
        v /= 10000;
        n += 4;
    }
}

/* Digits written straight into the buffer, two at a time, from the end. */
void qmp__w_u64(qmp_writer *w, uint64_t v)
{
    unsigned n = qmp__digits(v);
    char *o;
    if (qmp__reserve(w, n) != 0)
        return;
    o = w->buf + w->len + n;
    w->len += n;
    while (v >= 100) {
        unsigned r = (unsigned)(v % 100);
        v /= 100;
        o -= 2;
        o[0] = qmp__digits2[2 * r];
        o[1] = qmp__digits2[2 * r + 1];
    }
    if (v >= 10) {
        o[-2] = qmp__digits2[2 * v];
        o[-1] = qmp__digits2[2 * v + 1];
    } else {
        o[-1] = (char)('0' + v);
    }
}

void qmp__w_i64(qmp_writer *w, int64_t v)
{
    if (v < 0) {
        qmp__lit(w, "-");
        qmp__w_u64(w, (uint64_t)0 - (uint64_t)v);
    } else {
        qmp__w_u64(w, (uint64_t)v);
    }
}

void qmp__w_double(qmp_writer *w, double d)
{
    char tmp[40];
    int n;
    if (!isfinite(d)) {
        qmp__lit(w, "null");
        return;
    }
    n = snprintf(tmp, sizeof tmp, "%.17g", d);
    if (n > 0)
        qmp__raw(w, tmp, (size_t)n);
}

void qmp__w_enum(qmp_writer *w, int v, const char *const *table, size_t n)
{
    if (v >= 0 && (size_t)v < n && table[v] != NULL)
        qmp__w_string(w, table[v], strlen(table[v]));
    else
        qmp__w_i64(w, v);   /* out of range: the number, never a crash */
}

/* Before a value: the separator its container needs. */
static void qmp__sep(qmp_writer *w)
{
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (w->depth > 0 && w->depth <= 64) {
        uint64_t bit = (uint64_t)1 << (w->depth - 1);
        if (w->nonempty & bit)
            qmp__lit(w, ", ");
        w->nonempty |= bit;
    }
}

void qmp_write_null(qmp_writer *w) { qmp__sep(w); qmp__lit(w, "null"); }
void qmp_write_bool(qmp_writer *w, bool b)
{
    qmp__sep(w);
    if (b) qmp__lit(w, "true"); else qmp__lit(w, "false");
}
void qmp_write_int(qmp_writer *w, int64_t i) { qmp__sep(w); qmp__w_i64(w, i); }
void qmp_write_uint(qmp_writer *w, uint64_t u) { qmp__sep(w); qmp__w_u64(w, u); }
void qmp_write_double(qmp_writer *w, double d) { qmp__sep(w); qmp__w_double(w, d); }
void qmp_write_str(qmp_writer *w, const char *s)
{
    qmp__sep(w);
    if (s == NULL) s = "";
    qmp__w_string(w, s, strlen(s));
}
void qmp_write_strn(qmp_writer *w, const char *s, size_t n) { qmp__sep(w); qmp__w_string(w, s, n); }

static void qmp__open(qmp_writer *w, const char *c)
{
    qmp__sep(w);
    qmp__raw(w, c, 1);
    w->depth++;
    if (w->depth <= 64)
        w->nonempty &= ~((uint64_t)1 << (w->depth - 1));
}

static void qmp__close(qmp_writer *w, const char *c)
{
    if (w->depth > 0)
        w->depth--;
    qmp__raw(w, c, 1);
}

void qmp_write_object_begin(qmp_writer *w) { qmp__open(w, "{"); }
void qmp_write_object_end(qmp_writer *w) { qmp__close(w, "}"); }
void qmp_write_array_begin(qmp_writer *w) { qmp__open(w, "["); }
void qmp_write_array_end(qmp_writer *w) { qmp__close(w, "]"); }

void qmp_write_key(qmp_writer *w, const char *key)
{
    qmp__sep(w);
    qmp__w_string(w, key, strlen(key));
    qmp__lit(w, ": ");
    w->after_key = true;
}

void qmp_write_json(qmp_writer *w, const qmp_json *v)
{
    const qmp_json *m;
    switch (v->type) {
    case QMP_JSON_NULL: qmp_write_null(w); break;
    case QMP_JSON_BOOL: qmp_write_bool(w, v->v.b); break;
    case QMP_JSON_INT: qmp_write_int(w, v->v.i); break;
    case QMP_JSON_UINT: qmp_write_uint(w, v->v.u); break;
    case QMP_JSON_DOUBLE: qmp_write_double(w, v->v.d); break;
    case QMP_JSON_STRING: qmp_write_strn(w, v->v.s, v->len); break;
    case QMP_JSON_ARRAY:
        qmp_write_array_begin(w);
        for (m = v->child; m != NULL; m = m->next)
            qmp_write_json(w, m);
        qmp_write_array_end(w);
        break;
    case QMP_JSON_OBJECT:
        qmp_write_object_begin(w);
        for (m = v->child; m != NULL; m = m->next) {
            qmp_write_key(w, m->key);
            qmp_write_json(w, m);
        }
        qmp_write_object_end(w);
        break;
    }
}

/* ==== Events on the wire ================================================ */

/* Everything of an event but its closing "}\r\n", so that a subscription
 * can add its own member before it. */
static void qmp__event_head(qmp_writer *w, const qmp_event_type *t, const void *payload,
                            int64_t seconds, int64_t microseconds)
{
    qmp__lit(w, "{\"timestamp\": {\"seconds\": ");
    qmp__w_i64(w, seconds);
    qmp__lit(w, ", \"microseconds\": ");
    qmp__w_i64(w, microseconds);
    if (t->middle != NULL) {
        qmp__raw(w, t->middle, t->middle_len);
    } else {
        qmp__lit(w, "}, \"event\": ");
        qmp__w_string(w, t->name, strlen(t->name));
        qmp__lit(w, ", \"data\": ");
    }
    if (t->data != NULL && payload != NULL)
        t->data(w, payload);
    else
        qmp__lit(w, "{}");
}

void qmp_write_event(qmp_writer *w, const qmp_event_type *t, const void *payload,
                     int64_t seconds, int64_t microseconds)
{
    qmp__event_head(w, t, payload, seconds, microseconds);
    qmp__lit(w, "}\r\n");
}

static void qmp__now(int64_t *sec, int64_t *usec)
{
    struct timespec ts;
    if (timespec_get(&ts, TIME_UTC) == 0)
        ts.tv_sec = ts.tv_nsec = 0;
    *sec = (int64_t)ts.tv_sec;
    *usec = (int64_t)(ts.tv_nsec / 1000);
}

/* Nanoseconds for throttle windows: the monotonic clock where <time.h>
 * offers it; else the wall clock (the window checks tolerate a step back). */
#if defined(CLOCK_MONOTONIC)
#  define QMP__MONOTONIC 1
#else
#  define QMP__MONOTONIC 0
#endif
static uint64_t qmp__clock_ns(void)
{
#if QMP__MONOTONIC
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) == 0)
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
#endif
    {
        int64_t sec, usec;
        qmp__now(&sec, &usec);
        return (uint64_t)sec * 1000000000u + (uint64_t)usec * 1000u;
    }
}

/* ==== Sessions and the server =========================================== */

/* An event's text, shared by every session that receives it: everything
 * but the closing "}\r\n". It lives in the buffer it was written in. */
typedef struct qmp__body {
    NOTIFY__ATOMIC(long) refs;
    size_t len;
    char text[1];
} qmp__body;
#define QMP__BODY_HEAD offsetof(qmp__body, text)

/* One queued output: [body] + own bytes. */
typedef struct qmp__msg {
    NOTIFY__ATOMIC(struct qmp__msg *) next;
    qmp__body *body;
    size_t len;                /* body->len + n */
    size_t n;
    char data[1];
} qmp__msg;

typedef struct qmp__command {
    char *name;
    const qmp_arg *args;
    qmp_command_fn fn;
    void *opaque;
} qmp__command;

/* A copy-on-write array that emitters read lock-free; an old copy is freed
 * with notify_defer. */
typedef struct qmp__set {
    notify_sub free_node;
    size_t n;
    void *v[1];
} qmp__set;

typedef struct qmp__tap qmp__tap;
typedef struct qmp__sub qmp__sub;

struct qmp__tap {
    qom_sink sink;             /* first: the sink pointer is the tap */
    qmp_server *srv;
    char *type_name, *property, *path;
    NOTIFY__ATOMIC(qmp__set *) subs;    /* of qmp__sub */
};

struct qmp__sub {
    notify_sub free_node;
    qmp_session *session;
    qmp__tap *tap;
    qom_object *source;        /* by path: a reference; by type: NULL */
    char *type_name;           /* by type */
    char *path, *source_desc, *property;
    const char *event;
    char *suffix;              /* , "subscription": PATH}\r\n */
    size_t suffix_len;
    uint64_t throttle_ms, throttle_ns;
    NOTIFY__ATOMIC(uint64_t) next_ok;        /* the open window's end */
    NOTIFY__ATOMIC(struct qmp__body *) held; /* latest event of the window */
    qom_object *obj;           /* (server lock) its object */
    qmp__sub *session_next;    /* (server lock) */
};

typedef struct qmp__sub_obj {
    qom_object obj;
    char *source, *property, *event, *session;
    bool type_wide;
    uint64_t throttle_ms;
    qmp_server *srv;           /* set before `sub` is published */
    qmp__sub *sub;             /* (server lock) NULL once detached */
} qmp__sub_obj;

struct qmp_session {
    notify_sub free_node;
    qmp_server *srv;
    qmp_reader *reader;
    qmp_writer reply;          /* (transport) */
    qmp_writer ret;            /* (transport) */
    /* The output queue: many producers, one consumer (the transport). */
    NOTIFY__ATOMIC(qmp__msg *) head;
    qmp__msg *tail;            /* (transport) */
    qmp__msg stub;
    qmp__msg *cur;             /* (transport) being read out */
    size_t cur_off;
    NOTIFY__ATOMIC(size_t) queued;
    NOTIFY__ATOMIC(uint64_t) dropped;        /* not yet reported */
    NOTIFY__ATOMIC(uint64_t) dropped_total;
    NOTIFY__ATOMIC(int) pending;
    NOTIFY__ATOMIC(int) closed;
    void (*on_output)(qmp_session *, void *);
    void *opaque;
    bool negotiated, subscriptions;          /* (transport) */
    unsigned id;
    unsigned nsubs;                          /* (server lock) */
    NOTIFY__ATOMIC(unsigned) nthrottled;     /* (written under server lock) */
    char *path;
    qmp__sub *subs;                          /* (server lock) newest first */
    qmp_session *next;                       /* (server lock) */
};

struct qmp_server {
    qom_registry *reg;
    qmp_server_config cfg;
    pthread_mutex_t lock;      /* taps, sets, sessions; taken after the registry's */
    pthread_mutex_t tap_lock;  /* tap creation; taken before the registry's */
    qmp__command *cmds;
    size_t ncmds, ccap;
    qmp__tap **taps;           /* (lock) */
    size_t ntaps, tcap;
    NOTIFY__ATOMIC(qmp__set *) legacy;       /* of qmp_session */
    qmp_session *sessions;     /* (lock) */
    unsigned next_id;          /* (lock) */
    NOTIFY__ATOMIC(unsigned) nthrottled;     /* (written under lock) */
    qom_lifecycle_sub lifecycle;
    notify_list bcast;         /* qmp_server_broadcast's read-side section */
    notify_sub bcast_sub;
};

int qmp_error_set(qmp_error *err, const char *cls, const char *fmt, ...)
{
    if (err != NULL) {
        va_list ap;
        err->cls = cls;
        va_start(ap, fmt);
        vsnprintf(err->desc, sizeof err->desc, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static char *qmp__strdup(const char *s)
{
    size_t n;
    char *d;
    if (s == NULL)
        return NULL;
    n = strlen(s) + 1;
    d = (char *)malloc(n);
    if (d != NULL)
        memcpy(d, s, n);
    return d;
}

static void qmp__log(qmp_server *srv, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (srv->cfg.log != NULL)
        srv->cfg.log(srv->cfg.log_opaque, buf);
    else
        fprintf(stderr, "qmp_sub: %s\n", buf);
}

/* ---- copy-on-write sets (writers hold the server lock) ---- */

static void qmp__set_release(notify_sub *node)
{
    free(notify_container_of(node, qmp__set, free_node));
}

static void qmp__set_retire(qmp__set *old)
{
    if (old != NULL) {
        notify_defer(&old->free_node, qmp__set_release);
    }
}

static qmp__set *qmp__set_copy(const qmp__set *old, size_t extra)
{
    size_t n = old != NULL ? old->n : 0;
    qmp__set *s = (qmp__set *)malloc(offsetof(qmp__set, v) + (n + extra + 1) * sizeof(void *));
    if (s == NULL)
        return NULL;
    memset((void *)s, 0, offsetof(qmp__set, v));
    s->n = n;
    if (n != 0)
        memcpy(s->v, old->v, n * sizeof(void *));
    return s;
}

static int qmp__set_add(NOTIFY__ATOMIC(qmp__set *) *slot, void *item)
{
    qmp__set *old = notify__load_relaxed(slot), *s = qmp__set_copy(old, 1);
    if (s == NULL)
        return -ENOMEM;
    s->v[s->n++] = item;
    notify__store_release(slot, s);   /* pairs with the emitters' load-acquire */
    qmp__set_retire(old);
    return 0;
}

static void qmp__set_remove(NOTIFY__ATOMIC(qmp__set *) *slot, void *item)
{
    qmp__set *old = notify__load_relaxed(slot), *s = NULL;
    size_t i, j;
    if (old == NULL)
        return;
    for (i = 0; i < old->n && old->v[i] != item; i++)
        ;
    if (i == old->n)
        return;
    if (old->n > 1) {
        s = qmp__set_copy(old, 0);
        if (s == NULL) {
            /* no memory for a copy: blank the entry in place */
            NOTIFY__STD atomic_store_explicit((NOTIFY__ATOMIC(void *) *)(void *)&old->v[i],
                                              (void *)NULL, NOTIFY__MO(release));
            return;
        }
        for (i = j = 0; i < old->n; i++)
            if (old->v[i] != item)
                s->v[j++] = old->v[i];
        s->n = j;
    }
    notify__store_release(slot, s);
    qmp__set_retire(old);
}

/* An entry of a set, as an emitter reads it (see the blanking above). */
static void *qmp__set_get(const qmp__set *s, size_t i)
{
    return NOTIFY__STD atomic_load_explicit(
        (NOTIFY__ATOMIC(void *) *)(void *)(uintptr_t)&s->v[i], NOTIFY__MO(acquire));
}

/* ---- the output queue ----
 * Producers link with one exchange; the consumer pops at the tail (an
 * intrusive multi-producer single-consumer queue with a stub node, after
 * Vyukov). `pending` tells producers whether the transport needs waking. */

static void qmp__link(qmp_session *s, qmp__msg *m)
{
    qmp__msg *prev;
    notify__store_relaxed(&m->next, (qmp__msg *)NULL);
    prev = notify__exchange_acq_rel(&s->head, m);
    notify__store_release(&prev->next, m);   /* pairs with qmp__pop's load-acquire */
}

static void qmp__push(qmp_session *s, qmp__msg *m)
{
    qmp__link(s, m);
    /* After the link: a reader that cleared `pending` before this point
     * will see the node, or we see its clear and wake it. */
    if (notify__exchange_seq_cst(&s->pending, 1) == 0 && s->on_output != NULL)
        s->on_output(s, s->opaque);
}

static qmp__msg *qmp__pop(qmp_session *s)
{
    qmp__msg *tail = s->tail, *next = notify__load_acquire(&tail->next);
    if (tail == &s->stub) {
        if (next == NULL)
            return NULL;
        s->tail = next;
        tail = next;
        next = notify__load_acquire(&next->next);
    }
    if (next != NULL) {
        s->tail = next;
        return tail;
    }
    if (tail != notify__load_acquire(&s->head))
        return NULL;   /* a push is half done; its producer will wake us */
    qmp__link(s, &s->stub);
    next = notify__load_acquire(&tail->next);
    if (next != NULL) {
        s->tail = next;
        return tail;
    }
    return NULL;
}

static void qmp__body_unref(qmp__body *b)
{
    if (NOTIFY__STD atomic_fetch_sub_explicit(&b->refs, 1, NOTIFY__MO(acq_rel)) == 1)
        free(b);
}

static void qmp__msg_free(qmp__msg *m)
{
    if (m->body != NULL)
        qmp__body_unref(m->body);
    free(m);
}

static qmp__msg *qmp__msg_new(qmp__body *body, const char *own, size_t n)
{
    qmp__msg *m = (qmp__msg *)malloc(offsetof(qmp__msg, data) + n + 1);
    if (m == NULL)
        return NULL;
    m->body = body;
    m->n = n;
    m->len = n + (body != NULL ? body->len : 0);
    memcpy(m->data, own, n);
    return m;
}

static void qmp__session_close(qmp_session *s, const char *why)
{
    if (notify__exchange_seq_cst(&s->closed, 1) == 0) {
        qmp__log(s->srv, "session %u closed: %s", s->id, why);
        if (s->on_output != NULL)
            s->on_output(s, s->opaque);
    }
}

/* Reserve room for len more bytes under `bound`: false when over it. */
static bool qmp__room(qmp_session *s, size_t len, size_t bound)
{
    size_t before = NOTIFY__STD atomic_fetch_add_explicit(&s->queued, len, NOTIFY__MO(relaxed));
    if (before + len > bound) {
        NOTIFY__STD atomic_fetch_sub_explicit(&s->queued, len, NOTIFY__MO(relaxed));
        return false;
    }
    return true;
}

/* Replies are never dropped: a session that cannot take one is closed. */
static void qmp__push_reply(qmp_session *s, const char *text, size_t n)
{
    qmp__msg *m;
    if (notify__load_relaxed(&s->closed))
        return;
    if (!qmp__room(s, n, QMP__REPLY_FACTOR * s->srv->cfg.max_output)) {
        qmp__session_close(s, "the client does not read its replies (output bound reached)");
        return;
    }
    m = qmp__msg_new(NULL, text, n);
    if (m == NULL) {
        NOTIFY__STD atomic_fetch_sub_explicit(&s->queued, n, NOTIFY__MO(relaxed));
        qmp__session_close(s, "out of memory for a reply");
        return;
    }
    qmp__push(s, m);
}

static void qmp__dropped_data(qmp_writer *w, const void *payload)
{
    qmp__lit(w, "{\"count\": ");
    qmp__w_u64(w, *(const uint64_t *)payload);
    qmp__lit(w, "}");
}
static const qmp_event_type qmp__events_dropped = { "EVENTS_DROPPED", qmp__dropped_data, NULL, 0 };

/* Report drops, if any and if there is room now: before any further event. */
static void qmp__flush_dropped(qmp_session *s)
{
    uint64_t count = NOTIFY__STD atomic_exchange_explicit(&s->dropped, (uint64_t)0,
                                                          NOTIFY__MO(acq_rel));
    qmp_writer w;
    int64_t sec, usec;
    qmp__msg *m = NULL;
    if (count == 0)
        return;
    qmp_writer_init(&w);
    qmp__now(&sec, &usec);
    qmp_write_event(&w, &qmp__events_dropped, &count, sec, usec);
    if (!w.oom && qmp__room(s, w.len, s->srv->cfg.max_output)) {
        m = qmp__msg_new(NULL, w.buf, w.len);
        if (m == NULL)
            NOTIFY__STD atomic_fetch_sub_explicit(&s->queued, w.len, NOTIFY__MO(relaxed));
    }
    qmp_writer_free(&w);
    if (m == NULL) {
        NOTIFY__STD atomic_fetch_add_explicit(&s->dropped, count, NOTIFY__MO(relaxed));
        return;
    }
    qmp__push(s, m);
}

/* One emission on its way to the sessions. */
typedef struct qmp__emission {
    const qom_event_info *event;
    const void *payload;
    qmp__body *body;
    int failed;
} qmp__emission;

/* The event's text, written once per emission, on first need. */
static qmp__body *qmp__body_of(qmp__emission *e)
{
    static const char zeros[QMP__BODY_HEAD] = { 0 };
    qmp_event_type fallback;
    const qmp_event_type *t;
    qmp_writer w;
    int64_t sec, usec;
    if (e->body != NULL || e->failed)
        return e->body;
    t = (const qmp_event_type *)e->event->marshal;
    if (t == NULL) {
        fallback.name = e->event->name;
        fallback.data = NULL;
        fallback.middle = NULL;
        fallback.middle_len = 0;
        t = &fallback;
    }
    qmp_writer_init(&w);
    qmp__raw(&w, zeros, QMP__BODY_HEAD);
    qmp__now(&sec, &usec);
    qmp__event_head(&w, t, e->payload, sec, usec);
    if (w.oom) {
        qmp_writer_free(&w);
        e->failed = 1;
        return NULL;
    }
    e->body = (qmp__body *)(void *)w.buf;   /* the buffer becomes the body */
    NOTIFY__STD atomic_init(&e->body->refs, 1);
    e->body->len = w.len - QMP__BODY_HEAD;
    return e->body;
}

static void qmp__drop(qmp_session *s)
{
    NOTIFY__STD atomic_fetch_add_explicit(&s->dropped, 1, NOTIFY__MO(relaxed));
    NOTIFY__STD atomic_fetch_add_explicit(&s->dropped_total, 1, NOTIFY__MO(relaxed));
}

/* No event is shorter than this many bytes on the wire. */
#define QMP__MIN_EVENT 64u

/* A full session drops an event at once: no serializing it, no attempt to
 * queue the drop report (the emitter's time goes to sessions with room). */
static bool qmp__full(const qmp_session *s)
{
    return notify__load_relaxed(&s->queued) + QMP__MIN_EVENT > s->srv->cfg.max_output;
}

/* Queue the emission's text, with `own` after it, on s; the text is
 * written on first need, so a full session costs no serializing. */
static void qmp__push_event(qmp_session *s, qmp__emission *e, const char *own, size_t n)
{
    qmp__body *body;
    size_t len;
    qmp__msg *m;
    if (notify__load_relaxed(&s->closed))
        return;
    if (NOTIFY__UNLIKELY(qmp__full(s)))
        goto drop;
    if (NOTIFY__UNLIKELY(notify__load_relaxed(&s->dropped) != 0)) {
        qmp__flush_dropped(s);
        if (notify__load_relaxed(&s->dropped) != 0)
            goto drop;   /* still no room for the report: none for this */
    }
    body = qmp__body_of(e);
    if (body == NULL)
        goto drop;       /* out of memory for its text: counted, reported */
    len = body->len + n;
    if (!qmp__room(s, len, s->srv->cfg.max_output))
        goto drop;
    m = qmp__msg_new(body, own, n);
    if (m == NULL) {
        NOTIFY__STD atomic_fetch_sub_explicit(&s->queued, len, NOTIFY__MO(relaxed));
        goto drop;
    }
    NOTIFY__STD atomic_fetch_add_explicit(&body->refs, 1, NOTIFY__MO(relaxed));
    qmp__push(s, m);
    return;
drop:
    qmp__drop(s);
}

static void qmp__session_due(qmp_session *s, uint64_t now, uint64_t *wait);

size_t qmp_session_read(qmp_session *s, void *buf, size_t cap)
{
    char *out = (char *)buf;
    size_t done = 0;
    notify__exchange_seq_cst(&s->pending, 0);   /* see qmp__push */
    if (notify__load_relaxed(&s->nthrottled) != 0) {
        uint64_t wait = UINT64_MAX;
        pthread_mutex_lock(&s->srv->lock);
        qmp__session_due(s, qmp__clock_ns(), &wait);
        pthread_mutex_unlock(&s->srv->lock);
    }
    while (done < cap) {
        qmp__msg *m = s->cur;
        size_t blen, k;
        if (m == NULL) {
            m = s->cur = qmp__pop(s);
            s->cur_off = 0;
            if (m == NULL)
                break;
        }
        blen = m->body != NULL ? m->body->len : 0;
        if (s->cur_off < blen) {
            k = blen - s->cur_off;
            if (k > cap - done)
                k = cap - done;
            memcpy(out + done, m->body->text + s->cur_off, k);
            done += k;
            s->cur_off += k;
        }
        if (s->cur_off >= blen && done < cap) {
            size_t o = s->cur_off - blen;
            k = m->n - o;
            if (k > cap - done)
                k = cap - done;
            memcpy(out + done, m->data + o, k);
            done += k;
            s->cur_off += k;
        }
        if (s->cur_off == m->len) {
            NOTIFY__STD atomic_fetch_sub_explicit(&s->queued, m->len, NOTIFY__MO(relaxed));
            qmp__msg_free(m);
            s->cur = NULL;
        }
    }
    if (done == 0 && notify__load_relaxed(&s->dropped) != 0) {
        /* drained: report drops now, not at the next event */
        qmp__flush_dropped(s);
        if (notify__load_relaxed(&s->dropped) == 0)
            return qmp_session_read(s, buf, cap);
    }
    return done;
}

/* ---- the taps: one type-wide subscription per event property wanted ---- */

static void qmp__to_legacy(qmp_server *srv, qmp__emission *e)
{
    /* pairs with the writers' store-release in qmp__set_add/remove */
    qmp__set *legacy = notify__load_acquire(&srv->legacy);
    size_t i;
    for (i = 0; legacy != NULL && i < legacy->n; i++) {
        qmp_session *s = (qmp_session *)qmp__set_get(legacy, i);
        if (s != NULL)
            qmp__push_event(s, e, "}\r\n", 3);
    }
}

/* ---- throttle windows ----
 * next_ok is the end of the open window. An emitter delivers at once only
 * when no window is open and nothing is held, and opens the window with a
 * CAS; otherwise it holds its event (an exchange: the latest wins). Only
 * qmp__throttle_due delivers a held event, under the server lock: it first
 * moves next_ok on with a CAS (so no emitter delivers directly meanwhile),
 * then takes what is held. So the held event never overtakes a later one. */
static bool qmp__window_open(const qmp__sub *sub, uint64_t now, uint64_t next)
{
#if QMP__MONOTONIC
    (void)sub;
    return now < next;   /* a `now` read a little early still reads as open */
#else
    /* the wall clock may step back: past a second more than the window,
     * take it as closed rather than wait */
    return now < next && next - now <= sub->throttle_ns + 1000000000u;
#endif
}

static bool qmp__throttle_pass(qmp__sub *sub, uint64_t now)
{
    for (;;) {
        uint64_t next = notify__load_relaxed(&sub->next_ok);
        if (qmp__window_open(sub, now, next) || notify__load_relaxed(&sub->held) != NULL)
            return false;
        if (NOTIFY__STD atomic_compare_exchange_weak_explicit(
                &sub->next_ok, &next, now + sub->throttle_ns, NOTIFY__MO(relaxed),
                NOTIFY__MO(relaxed)))
            return true;
    }
}

static void qmp__throttle_hold(qmp__sub *sub, qmp__body *b)
{
    qmp__body *old;
    NOTIFY__STD atomic_fetch_add_explicit(&b->refs, 1, NOTIFY__MO(relaxed));
    /* acq_rel: the taker reads the body this thread wrote */
    old = NOTIFY__STD atomic_exchange_explicit(&sub->held, b, NOTIFY__MO(acq_rel));
    if (old != NULL)
        qmp__body_unref(old);
    else if (sub->session->on_output != NULL)
        sub->session->on_output(sub->session, sub->session->opaque);   /* wake to ask */
}

/* Server lock held. Deliver sub's held event if its window has closed;
 * lower *wait to the nanoseconds until it is due otherwise. */
static void qmp__throttle_due(qmp__sub *sub, uint64_t now, uint64_t *wait)
{
    qmp__body *b;
    uint64_t next;
    if (sub->throttle_ns == 0 || notify__load_relaxed(&sub->held) == NULL)
        return;
    next = notify__load_relaxed(&sub->next_ok);
    if (qmp__window_open(sub, now, next)) {
        if (next - now < *wait)
            *wait = next - now;
        return;
    }
    if (!NOTIFY__STD atomic_compare_exchange_strong_explicit(
            &sub->next_ok, &next, now + sub->throttle_ns, NOTIFY__MO(relaxed),
            NOTIFY__MO(relaxed))) {
        if (*wait > 1000000u)
            *wait = 1000000u;   /* an emitter just moved it: look again soon */
        return;
    }
    b = NOTIFY__STD atomic_exchange_explicit(&sub->held, (qmp__body *)NULL,
                                             NOTIFY__MO(acq_rel));
    if (b != NULL) {
        qmp__emission held = { NULL, NULL, b, 0 };
        qmp__push_event(sub->session, &held, sub->suffix, sub->suffix_len);
        qmp__body_unref(b);
    }
}

/* Server lock held. */
static void qmp__session_due(qmp_session *s, uint64_t now, uint64_t *wait)
{
    qmp__sub *sub;
    for (sub = s->subs; sub != NULL; sub = sub->session_next)
        qmp__throttle_due(sub, now, wait);
}

static int qmp__wait_ms(uint64_t wait)
{
    if (wait == UINT64_MAX)
        return -1;
    wait = (wait + 999999u) / 1000000u;
    return wait > 86400000u ? 86400000 : (int)wait;
}

int qmp_server_timers(qmp_server *srv)
{
    uint64_t now, wait = UINT64_MAX;
    qmp_session *s;
    if (notify__load_relaxed(&srv->nthrottled) == 0)
        return -1;
    pthread_mutex_lock(&srv->lock);
    now = qmp__clock_ns();   /* after the lock: never a stale `now` */
    for (s = srv->sessions; s != NULL; s = s->next)
        if (notify__load_relaxed(&s->nthrottled) != 0)
            qmp__session_due(s, now, &wait);
    pthread_mutex_unlock(&srv->lock);
    return qmp__wait_ms(wait);
}

static bool qmp__matches(const qmp__sub *sub, qom_object *source)
{
    if (sub->source != NULL)
        return sub->source == source;
    return qom_type_is_a(qom_object_type(source), sub->type_name);
}

/* In the emitting thread, lock-free: serialize once, queue everywhere. */
static void qmp__tap_deliver(qom_sink *sink, qom_object *subscription, qom_object *source,
                             const qom_event_info *event, const void *payload)
{
    qmp__tap *tap = (qmp__tap *)(void *)sink;
    qmp__set *subs = notify__load_acquire(&tap->subs);   /* pairs as above */
    qmp__emission e;
    uint64_t now = 0;
    size_t i;
    (void)subscription;
    e.event = event;
    e.payload = payload;
    e.body = NULL;
    e.failed = 0;
    qmp__to_legacy(tap->srv, &e);
    for (i = 0; subs != NULL && i < subs->n; i++) {
        qmp__sub *sub = (qmp__sub *)qmp__set_get(subs, i);
        if (sub == NULL || !qmp__matches(sub, source))
            continue;
        if (sub->throttle_ns != 0) {
            if (now == 0)
                now = qmp__clock_ns();
            if (!qmp__throttle_pass(sub, now)) {
                if (qmp__body_of(&e) != NULL)
                    qmp__throttle_hold(sub, e.body);
                continue;
            }
        }
        qmp__push_event(sub->session, &e, sub->suffix, sub->suffix_len);
    }
    if (e.body != NULL)
        qmp__body_unref(e.body);
}

static void qmp__tap_release(qom_sink *sink, qom_object *subscription)
{
    qmp__tap *tap = (qmp__tap *)(void *)sink;
    (void)subscription;
    free(notify__load_relaxed(&tap->subs));
    free(tap->type_name);
    free(tap->property);
    free(tap->path);
    free(tap);
}

static void qmp__tap_free(qmp__tap *tap)
{
    if (tap != NULL) {
        free(tap->type_name);
        free(tap->property);
        free(tap);
    }
}

/* The tap for (declaring type, property), made on first need. */
static qmp__tap *qmp__tap_get(qmp_server *srv, const char *type_name, const char *property,
                              qmp_error *err)
{
    qmp__tap *tap = NULL;
    qom_object *owner;
    qom_error qerr;
    size_t i;
    pthread_mutex_lock(&srv->tap_lock);
    pthread_mutex_lock(&srv->lock);
    for (i = 0; i < srv->ntaps; i++)
        if (strcmp(srv->taps[i]->type_name, type_name) == 0 &&
            strcmp(srv->taps[i]->property, property) == 0)
            tap = srv->taps[i];
    if (tap == NULL && srv->ntaps == srv->tcap) {
        size_t c = srv->tcap ? 2 * srv->tcap : 8;
        qmp__tap **t = (qmp__tap **)realloc(srv->taps, c * sizeof *t);
        if (t != NULL) {
            srv->taps = t;
            srv->tcap = c;
        }
    }
    pthread_mutex_unlock(&srv->lock);
    if (tap != NULL || srv->ntaps == srv->tcap)
        goto out;
    owner = qom_container_get(srv->reg, "/qmp/taps");
    tap = (qmp__tap *)calloc(1, sizeof *tap);
    if (tap == NULL || owner == NULL)
        goto out;
    tap->sink.deliver = qmp__tap_deliver;
    tap->sink.release = qmp__tap_release;
    tap->sink.name = "qmp";
    tap->srv = srv;
    tap->type_name = qmp__strdup(type_name);
    tap->property = qmp__strdup(property);
    if (tap->type_name == NULL || tap->property == NULL) {
        qmp__tap_free(tap);
        tap = NULL;
        goto out;
    }
    if (qom_subscribe_type(srv->reg, type_name, property, &tap->sink, owner, &tap->path,
                           &qerr) != 0) {
        qmp__tap_free(tap);
        pthread_mutex_unlock(&srv->tap_lock);
        qmp_error_set(err, "GenericError", "%s", qerr.message);
        return NULL;
    }
    pthread_mutex_lock(&srv->lock);
    srv->taps[srv->ntaps++] = tap;
    pthread_mutex_unlock(&srv->lock);
out:
    pthread_mutex_unlock(&srv->tap_lock);
    if (tap == NULL)
        qmp_error_set(err, "GenericError", "Out of memory");
    return tap;
}

/* The topmost ancestor of `type` (itself included) whose class has the
 * property: where it was declared, and so the tap's type. */
struct qmp__find {
    const char *name;
    const qom_property *prop;
};
static void qmp__find_prop(void *opaque, const qom_property *p)
{
    struct qmp__find *f = (struct qmp__find *)opaque;
    if (f->prop == NULL && strcmp(p->name, f->name) == 0)
        f->prop = p;
}
static const qom_type *qmp__declaring_type(qom_registry *reg, const qom_type *type,
                                           const char *property, const qom_property **prop)
{
    const qom_type *best = NULL;
    *prop = NULL;
    while (type != NULL) {
        struct qmp__find f;
        const char *parent;
        f.name = property;
        f.prop = NULL;
        qom_type_property_foreach(reg, qom_type_name(type), qmp__find_prop, &f, NULL);
        if (f.prop == NULL)
            break;
        best = type;
        if (*prop == NULL)
            *prop = f.prop;
        parent = qom_type_parent_name(type);
        type = parent != NULL ? qom_type_lookup(reg, parent) : NULL;
    }
    return best;
}

/* Legacy sessions hear every event property of every type: collect the
 * (declaring type, property) pairs, then make their taps. */
struct qmp__pairs {
    qom_registry *reg;
    const qom_type *type;
    char **v;
    size_t n, cap;
};
static void qmp__collect_prop(void *opaque, const qom_property *p)
{
    struct qmp__pairs *ps = (struct qmp__pairs *)opaque;
    const qom_property *dp;
    if (p->event == NULL || qmp__declaring_type(ps->reg, ps->type, p->name, &dp) != ps->type)
        return;   /* not an event, or inherited: its declaring type covers it */
    if (ps->n + 2 > ps->cap) {
        size_t nc = ps->cap ? 2 * ps->cap : 16;
        char **v = (char **)realloc(ps->v, nc * sizeof *v);
        if (v == NULL)
            return;
        ps->v = v;
        ps->cap = nc;
    }
    ps->v[ps->n] = qmp__strdup(qom_type_name(ps->type));
    ps->v[ps->n + 1] = qmp__strdup(p->name);
    ps->n += 2;
}
static void qmp__collect_type(void *opaque, const qom_type *type)
{
    struct qmp__pairs *ps = (struct qmp__pairs *)opaque;
    ps->type = type;
    qom_type_property_foreach(ps->reg, qom_type_name(type), qmp__collect_prop, ps, NULL);
}

static void qmp__taps_for_all(qmp_server *srv)
{
    struct qmp__pairs ps;
    size_t i;
    memset(&ps, 0, sizeof ps);
    ps.reg = srv->reg;
    qom_type_foreach(srv->reg, NULL, true, qmp__collect_type, &ps);
    for (i = 0; i + 1 < ps.n; i += 2) {
        if (ps.v[i] != NULL && ps.v[i + 1] != NULL)
            qmp__tap_get(srv, ps.v[i], ps.v[i + 1], NULL);
        free(ps.v[i]);
        free(ps.v[i + 1]);
    }
    free(ps.v);
}

/* ---- subscriptions ---- */

static void qmp__sub_release(notify_sub *node)
{
    qmp__sub *sub = notify_container_of(node, qmp__sub, free_node);
    qmp__body *held = notify__load_acquire(&sub->held);  /* no emitter is left */
    if (held != NULL)
        qmp__body_unref(held);
    free(sub->type_name);
    free(sub->path);
    free(sub->source_desc);
    free(sub->property);
    free(sub->suffix);
    free(sub);
}

/* Stop a subscription (registry lock held): its object is leaving the
 * tree, or being finalized. Emitters stop finding the record at once; it
 * is freed once none can still hold it. Idempotent. */
static void qmp__sub_detach(qmp__sub_obj *so)
{
    qmp__sub *sub, **pp;
    qmp_server *srv = so->srv;
    if (srv == NULL)
        return;   /* never published */
    pthread_mutex_lock(&srv->lock);
    sub = so->sub;
    if (sub == NULL) {
        pthread_mutex_unlock(&srv->lock);
        return;
    }
    qmp__set_remove(&sub->tap->subs, sub);
    for (pp = &sub->session->subs; *pp != NULL; pp = &(*pp)->session_next)
        if (*pp == sub) {
            *pp = sub->session_next;
            sub->session->nsubs--;
            if (sub->throttle_ns != 0) {
                NOTIFY__STD atomic_fetch_sub_explicit(&sub->session->nthrottled, 1u,
                                                      NOTIFY__MO(relaxed));
                NOTIFY__STD atomic_fetch_sub_explicit(&srv->nthrottled, 1u, NOTIFY__MO(relaxed));
            }
            break;
        }
    sub->obj = NULL;
    so->sub = NULL;
    pthread_mutex_unlock(&srv->lock);
    /* emitters may still compare the pointer, never follow it */
    if (sub->source != NULL)
        qom_object_unref(sub->source);
    notify_defer(&sub->free_node, qmp__sub_release);
}

static void qmp__sub_obj_finalize(qom_object *obj)
{
    qmp__sub_detach((qmp__sub_obj *)(void *)obj);
}

static void qmp__sub_class_init(qom_class *k, void *data)
{
    (void)data;
    qom_class_add_str(k, "source", offsetof(qmp__sub_obj, source), false,
                      "the object path, or the type, subscribed to");
    qom_class_add_bool(k, "type-wide", offsetof(qmp__sub_obj, type_wide), false,
                       "covers every object of the type, including later ones");
    qom_class_add_str(k, "property", offsetof(qmp__sub_obj, property), false,
                      "the event property");
    qom_class_add_str(k, "event", offsetof(qmp__sub_obj, event), false, "the event's name");
    qom_class_add_uint(k, "throttle-ms", offsetof(qmp__sub_obj, throttle_ms), false,
                       "at most one event per this many milliseconds (0: all)");
    qom_class_add_str(k, "session", offsetof(qmp__sub_obj, session), false,
                      "the QMP session that owns it");
}

static const char qmp__cap_error[] =
    "Subscriptions need the 'subscriptions' capability (enable it with qmp_capabilities)";

static void qmp__sub_free_unpublished(qmp__sub *sub)
{
    if (sub != NULL) {
        free(sub->type_name);
        free(sub->path);
        free(sub->source_desc);
        free(sub->property);
        free(sub->suffix);
        free(sub);
    }
}

/* Subscribe session s to `property` of `source` (a reference, which this
 * takes over) or of every object of type `type_name`. */
static int qmp__subscribe(qmp_session *s, qom_object *source, const char *type_name,
                          const char *property, int64_t throttle_ms, char **path_out,
                          qmp_error *err)
{
    qmp_server *srv = s->srv;
    const qom_type *type, *decl;
    const qom_property *prop = NULL;
    qmp__sub *sub = NULL;
    qmp__sub_obj *so;
    qom_object *obj = NULL;
    qmp__tap *tap;
    qom_error qerr;
    qmp_writer w;
    bool full;

    if (throttle_ms < 0 || throttle_ms > 86400000) {
        qmp_error_set(err, "GenericError",
                      "Parameter 'throttle-ms' expects a value from 0 to 86400000");
        goto fail;
    }
    pthread_mutex_lock(&srv->lock);
    full = s->nsubs >= srv->cfg.max_subscriptions;
    pthread_mutex_unlock(&srv->lock);
    if (full) {
        qmp_error_set(err, "GenericError", "Too many subscriptions (at most %u per session)",
                      srv->cfg.max_subscriptions);
        goto fail;
    }
    type = source != NULL ? qom_object_type(source) : qom_type_lookup(srv->reg, type_name);
    if (type == NULL) {
        qmp_error_set(err, "GenericError", "Class '%s' not found", type_name);
        goto fail;
    }
    decl = qmp__declaring_type(srv->reg, type, property, &prop);
    if (prop == NULL) {
        qmp_error_set(err, "GenericError",
                      source != NULL && qom_property_find(source, property) != NULL
                          ? "Property '%s.%s' is not an event of its class"
                          : "Property '%s.%s' not found",
                      qom_type_name(type), property);
        goto fail;
    }
    if (prop->event == NULL) {
        qmp_error_set(err, "GenericError", "Property '%s.%s' is not an event",
                      qom_type_name(type), property);
        goto fail;
    }
    tap = qmp__tap_get(srv, qom_type_name(decl), property, err);
    if (tap == NULL)
        goto fail;

    sub = (qmp__sub *)calloc(1, sizeof *sub);
    obj = qom_object_new(srv->reg, "qmp-subscription", &qerr);
    if (sub == NULL || obj == NULL)
        goto oom;
    so = (qmp__sub_obj *)(void *)obj;
    sub->session = s;
    sub->tap = tap;
    sub->event = prop->event->name;
    sub->throttle_ms = (uint64_t)throttle_ms;
    sub->throttle_ns = (uint64_t)throttle_ms * 1000000u;
    sub->property = qmp__strdup(property);
    sub->type_name = source == NULL ? qmp__strdup(type_name) : NULL;
    sub->source_desc = source != NULL ? qom_object_path(source) : qmp__strdup(type_name);
    so->source = qmp__strdup(sub->source_desc);
    so->property = qmp__strdup(property);
    so->event = qmp__strdup(sub->event);
    so->session = qmp__strdup(s->path);
    so->type_wide = source == NULL;
    so->throttle_ms = sub->throttle_ms;
    if (sub->property == NULL || sub->source_desc == NULL || so->source == NULL ||
        so->property == NULL || so->event == NULL || so->session == NULL ||
        (source == NULL && sub->type_name == NULL))
        goto oom;
    if (qom_object_add_child(qom_container_get(srv->reg, s->path), "sub[*]", obj, &qerr) != 0) {
        qmp_error_set(err, "GenericError", "%s", qerr.message);
        goto fail;
    }
    sub->path = qom_object_path(obj);
    qmp_writer_init(&w);
    qmp__lit(&w, ", \"subscription\": ");
    if (sub->path != NULL)
        qmp__w_string(&w, sub->path, strlen(sub->path));
    qmp__lit(&w, "}\r\n");
    sub->suffix = w.buf;
    sub->suffix_len = w.len;
    if (sub->path == NULL || w.oom) {
        qom_object_unparent(obj);
        goto oom;
    }
    sub->source = source;
    source = NULL;
    so->srv = srv;
    pthread_mutex_lock(&srv->lock);
    if (qmp__set_add(&tap->subs, sub) != 0) {
        pthread_mutex_unlock(&srv->lock);
        source = sub->source;   /* back to us: fail drops it */
        sub->source = NULL;
        qom_object_unparent(obj);
        goto oom;
    }
    so->sub = sub;
    sub->obj = obj;
    sub->session_next = s->subs;
    s->subs = sub;
    s->nsubs++;
    if (sub->throttle_ns != 0) {
        NOTIFY__STD atomic_fetch_add_explicit(&s->nthrottled, 1u, NOTIFY__MO(relaxed));
        NOTIFY__STD atomic_fetch_add_explicit(&srv->nthrottled, 1u, NOTIFY__MO(relaxed));
    }
    pthread_mutex_unlock(&srv->lock);
    /* A source that left the tree meanwhile would never end this. */
    if (sub->source != NULL) {
        char *still = qom_object_path(sub->source);
        if (still == NULL) {
            qmp_error_set(err, "DeviceNotFound", "Device '%s' not found", so->source);
            qom_object_unparent(obj);
            qom_object_unref(obj);
            return -1;
        }
        free(still);
    }
    *path_out = qmp__strdup(sub->path);
    qom_object_unref(obj);   /* the tree holds it */
    return *path_out != NULL ? 0 : qmp_error_set(err, "GenericError", "Out of memory");
oom:
    qmp_error_set(err, "GenericError", "Out of memory");
fail:
    qmp__sub_free_unpublished(sub);
    if (obj != NULL)
        qom_object_unref(obj);
    if (source != NULL)
        qom_object_unref(source);
    return -1;
}

/* Registry lock held. An object leaving the tree: if it is one of our
 * subscription objects, it stops (whoever still holds a reference); if it
 * is the source of path subscriptions, they end. */
static int qmp__on_lifecycle(qom_lifecycle_sub *node, const qom_lifecycle_event *ev)
{
    qmp_server *srv = notify_container_of(node, qmp_server, lifecycle);
    qom_object *so = qom_dynamic_cast(ev->obj, "qmp-subscription");
    qom_object **doomed = NULL;
    size_t n = 0, cap = 0, i, j;
    if (ev->added)
        return 0;
    if (so != NULL) {
        qmp__sub_detach((qmp__sub_obj *)(void *)so);
        return 0;
    }
    pthread_mutex_lock(&srv->lock);
    for (i = 0; i < srv->ntaps; i++) {
        qmp__set *subs = notify__load_relaxed(&srv->taps[i]->subs);
        for (j = 0; subs != NULL && j < subs->n; j++) {
            qmp__sub *sub = (qmp__sub *)subs->v[j];
            if (sub == NULL || sub->source != ev->obj || sub->obj == NULL)
                continue;
            if (n == cap) {
                size_t c = cap ? 2 * cap : 8;
                qom_object **d = (qom_object **)realloc(doomed, c * sizeof *d);
                if (d == NULL)
                    break;
                doomed = d;
                cap = c;
            }
            /* `obj` is in the tree while `sub->obj` is set (detach clears
             * it as the object leaves), so the tree's reference keeps it */
            qom_object_ref(sub->obj);
            doomed[n++] = sub->obj;
        }
    }
    pthread_mutex_unlock(&srv->lock);
    for (i = 0; i < n; i++) {
        qom_object_unparent(doomed[i]);
        qom_object_unref(doomed[i]);
    }
    free(doomed);
    return 0;
}

/* ---- sessions ---- */

static void qmp__on_message(void *opaque, const qmp_json *msg, const char *error);

static void qmp__greeting(qmp_session *s)
{
    qmp_server *srv = s->srv;
    qmp_writer *w = &s->reply;
    qmp_writer_reset(w);
    qmp__lit(w, "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": ");
    qmp__w_i64(w, srv->cfg.version_micro);
    qmp__lit(w, ", \"minor\": ");
    qmp__w_i64(w, srv->cfg.version_minor);
    qmp__lit(w, ", \"major\": ");
    qmp__w_i64(w, srv->cfg.version_major);
    qmp__lit(w, "}, \"package\": ");
    qmp__w_string(w, srv->cfg.package, strlen(srv->cfg.package));
    qmp__lit(w, "}, \"capabilities\": [\"subscriptions\"]}}\r\n");
    if (!w->oom)
        qmp__push_reply(s, w->buf, w->len);
}

qmp_session *qmp_session_new(qmp_server *srv, void (*on_output)(qmp_session *, void *),
                             void *opaque)
{
    qmp_session *s;
    char path[64];
    if (srv == NULL)
        return NULL;
    s = (qmp_session *)calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->srv = srv;
    s->on_output = on_output;
    s->opaque = opaque;
    qmp_writer_init(&s->reply);
    qmp_writer_init(&s->ret);
    notify__store_relaxed(&s->stub.next, (qmp__msg *)NULL);
    notify__store_relaxed(&s->head, &s->stub);
    s->tail = &s->stub;
    s->reader = qmp_reader_new(srv->cfg.max_message, srv->cfg.max_depth, qmp__on_message, s);
    pthread_mutex_lock(&srv->lock);
    s->id = srv->next_id++;
    s->next = srv->sessions;
    srv->sessions = s;
    pthread_mutex_unlock(&srv->lock);
    snprintf(path, sizeof path, "/qmp/sessions/%u", s->id);
    s->path = qmp__strdup(path);
    if (s->reader == NULL || s->path == NULL || qom_container_get(srv->reg, path) == NULL) {
        qmp_session_free(s);
        return NULL;
    }
    qmp__greeting(s);
    return s;
}

static void qmp__session_release(notify_sub *node)
{
    qmp_session *s = notify_container_of(node, qmp_session, free_node);
    qmp__msg *m;
    if (s->cur != NULL)
        qmp__msg_free(s->cur);
    while ((m = qmp__pop(s)) != NULL)
        if (m != &s->stub)
            qmp__msg_free(m);
    free(s->path);
    free(s);
}

void qmp_session_free(qmp_session *s)
{
    qmp_server *srv;
    qmp_session **pp;
    if (s == NULL)
        return;
    srv = s->srv;
    notify__store_release(&s->closed, 1);
    pthread_mutex_lock(&srv->lock);
    qmp__set_remove(&srv->legacy, s);
    for (pp = &srv->sessions; *pp != NULL; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    pthread_mutex_unlock(&srv->lock);
    /* its container, and with it every subscription it owns */
    if (s->path != NULL) {
        qom_object *c = qom_resolve(srv->reg, s->path, NULL);
        if (c != NULL) {
            qom_object_unparent(c);
            qom_object_unref(c);
        }
    }
    qmp_reader_free(s->reader);
    s->reader = NULL;
    qmp_writer_free(&s->reply);
    qmp_writer_free(&s->ret);
    /* Emitters may still be queueing to it (and calling on_output): wait
     * for them where waiting is allowed, so that the transport may free
     * what `opaque` points to on return; else free it after them. */
    if (!notify_in_emission())
        notify_synchronize();
    notify_defer(&s->free_node, qmp__session_release);
}

int qmp_session_feed(qmp_session *s, const void *data, size_t len)
{
    if (s == NULL || notify__load_acquire(&s->closed))
        return -EPIPE;
    if (len != 0 && qmp_reader_feed(s->reader, data, len) != 0)
        qmp__session_close(s, "out of memory");
    return notify__load_acquire(&s->closed) ? -EPIPE : 0;
}

bool qmp_session_closed(const qmp_session *s)
{
    return notify__load_acquire(&((qmp_session *)(uintptr_t)s)->closed) != 0;
}
const char *qmp_session_path(const qmp_session *s) { return s->path; }
qmp_server *qmp_session_server(const qmp_session *s) { return s->srv; }
uint64_t qmp_session_dropped(const qmp_session *s)
{
    return notify__load_relaxed(&((qmp_session *)(uintptr_t)s)->dropped_total);
}

/* ---- dispatch ---- */

static void qmp__reply_error(qmp_session *s, const qmp_json *id, const char *cls,
                             const char *desc)
{
    qmp_writer *w = &s->reply;
    qmp_writer_reset(w);
    /* QEMU's member order: "id" first in an error, last in a return */
    qmp__lit(w, "{");
    if (id != NULL) {
        qmp__lit(w, "\"id\": ");
        w->after_key = true;
        qmp_write_json(w, id);
        qmp__lit(w, ", ");
    }
    qmp__lit(w, "\"error\": {\"class\": ");
    qmp__w_string(w, cls, strlen(cls));
    qmp__lit(w, ", \"desc\": ");
    qmp__w_string(w, desc, strlen(desc));
    qmp__lit(w, "}}\r\n");
    if (!w->oom)
        qmp__push_reply(s, w->buf, w->len);
    else
        qmp__session_close(s, "out of memory for a reply");
}

static void qmp__reply_return(qmp_session *s, const qmp_json *id, const qmp_writer *ret)
{
    qmp_writer *w = &s->reply;
    qmp_writer_reset(w);
    qmp__lit(w, "{\"return\": ");
    if (ret->len != 0)
        qmp__raw(w, ret->buf, ret->len);
    else
        qmp__lit(w, "{}");
    if (id != NULL) {
        qmp__lit(w, ", \"id\": ");
        w->after_key = true;
        qmp_write_json(w, id);
    }
    qmp__lit(w, "}\r\n");
    if (!w->oom && !ret->oom)
        qmp__push_reply(s, w->buf, w->len);
    else
        qmp__session_close(s, "out of memory for a reply");
}

static const char *qmp__type_word(qmp_arg_type t)
{
    switch (t) {
    case QMP_ARG_STR: return "string";
    case QMP_ARG_BOOL: return "boolean";
    case QMP_ARG_INT: case QMP_ARG_UINT: return "integer";
    case QMP_ARG_NUMBER: return "number";
    case QMP_ARG_OBJECT: return "object";
    case QMP_ARG_ARRAY: return "array";
    default: return "value";
    }
}

static bool qmp__type_ok(const qmp_json *v, qmp_arg_type t)
{
    switch (t) {
    case QMP_ARG_STR: return v->type == QMP_JSON_STRING;
    case QMP_ARG_BOOL: return v->type == QMP_JSON_BOOL;
    case QMP_ARG_INT: return v->type == QMP_JSON_INT;
    case QMP_ARG_UINT: return (v->type == QMP_JSON_INT && v->v.i >= 0) || v->type == QMP_JSON_UINT;
    case QMP_ARG_NUMBER:
        return v->type == QMP_JSON_INT || v->type == QMP_JSON_UINT || v->type == QMP_JSON_DOUBLE;
    case QMP_ARG_OBJECT: return v->type == QMP_JSON_OBJECT;
    case QMP_ARG_ARRAY: return v->type == QMP_JSON_ARRAY;
    default: return true;
    }
}

/* QEMU's order: declared arguments in order (missing, mistyped), then
 * anything undeclared. */
static int qmp__check_args(const qmp_arg *spec, const qmp_json *args, qmp_error *err)
{
    const qmp_arg *a;
    const qmp_json *m;
    for (a = spec; a != NULL && a->name != NULL; a++) {
        m = qmp_json_member(args, a->name);
        if (m == NULL) {
            if (!a->optional)
                return qmp_error_set(err, "GenericError", "Parameter '%s' is missing", a->name);
            continue;
        }
        if (!qmp__type_ok(m, a->type))
            return qmp_error_set(err, "GenericError",
                                 "Invalid parameter type for '%s', expected: %s", a->name,
                                 qmp__type_word(a->type));
    }
    for (m = args->child; m != NULL; m = m->next) {
        for (a = spec; a != NULL && a->name != NULL; a++)
            if (strcmp(a->name, m->key) == 0)
                break;
        if (a == NULL || a->name == NULL)
            return qmp_error_set(err, "GenericError", "Parameter '%s' is unexpected", m->key);
    }
    return 0;
}

static const qmp__command *qmp__find_command(const qmp_server *srv, const char *name)
{
    size_t i;
    for (i = 0; i < srv->ncmds; i++)
        if (strcmp(srv->cmds[i].name, name) == 0)
            return &srv->cmds[i];
    return NULL;
}

static void qmp__dispatch(qmp_session *s, const qmp_json *msg)
{
    static const qmp_json empty = { QMP_JSON_OBJECT, 0, NULL, { false }, NULL, NULL };
    const qmp_json *id, *execute = NULL, *args = &empty, *m;
    const qmp__command *cmd;
    qmp_error err;
    if (msg->type != QMP_JSON_OBJECT) {
        qmp__reply_error(s, NULL, "GenericError", "QMP input must be a JSON object");
        return;
    }
    id = qmp_json_member(msg, "id");
    for (m = msg->child; m != NULL; m = m->next) {
        if (strcmp(m->key, "execute") == 0) {
            if (m->type != QMP_JSON_STRING) {
                qmp__reply_error(s, id, "GenericError",
                                 "QMP input member 'execute' must be a string");
                return;
            }
            execute = m;
        } else if (strcmp(m->key, "arguments") == 0) {
            if (m->type != QMP_JSON_OBJECT) {
                qmp__reply_error(s, id, "GenericError",
                                 "QMP input member 'arguments' must be an object");
                return;
            }
            args = m;
        } else if (strcmp(m->key, "id") != 0) {
            qmp_error_set(&err, "GenericError", "QMP input member '%s' is unexpected", m->key);
            qmp__reply_error(s, id, err.cls, err.desc);
            return;
        }
    }
    if (execute == NULL) {
        qmp__reply_error(s, id, "GenericError", "QMP input lacks member 'execute'");
        return;
    }
    if (!s->negotiated && strcmp(execute->v.s, "qmp_capabilities") != 0) {
        qmp__reply_error(s, id, "CommandNotFound",
                         "Expecting capabilities negotiation with 'qmp_capabilities'");
        return;
    }
    if (s->negotiated && strcmp(execute->v.s, "qmp_capabilities") == 0) {
        qmp__reply_error(s, id, "CommandNotFound",
                         "Capabilities negotiation is already complete, command ignored");
        return;
    }
    cmd = qmp__find_command(s->srv, execute->v.s);
    if (cmd == NULL) {
        qmp_error_set(&err, "CommandNotFound", "The command %s has not been found",
                      execute->v.s);
        qmp__reply_error(s, id, err.cls, err.desc);
        return;
    }
    err.cls = "GenericError";
    err.desc[0] = '\0';
    qmp_writer_reset(&s->ret);
    if (qmp__check_args(cmd->args, args, &err) != 0 ||
        cmd->fn(s, args, &s->ret, &err, cmd->opaque) != 0) {
        qmp__reply_error(s, id, err.cls != NULL ? err.cls : "GenericError", err.desc);
        return;
    }
    qmp__reply_return(s, id, &s->ret);
}

static void qmp__on_message(void *opaque, const qmp_json *msg, const char *error)
{
    qmp_session *s = (qmp_session *)opaque;
    if (notify__load_relaxed(&s->closed))
        return;
    if (msg == NULL)
        qmp__reply_error(s, NULL, "GenericError", error);
    else
        qmp__dispatch(s, msg);
}

/* ---- the built-in commands ---- */

static const char *qmp__str_arg(const qmp_json *args, const char *name)
{
    const qmp_json *m = qmp_json_member(args, name);
    return m != NULL && m->type == QMP_JSON_STRING ? m->v.s : NULL;
}

static int qmp__qerr(qmp_error *err, const qom_error *qerr)
{
    return qmp_error_set(err, qerr->cls == QOM_ERROR_DEVICE_NOT_FOUND ? "DeviceNotFound"
                                                                      : "GenericError",
                         "%s", qerr->message);
}

static int qmp__cmd_capabilities(qmp_session *s, const qmp_json *args, qmp_writer *ret,
                                 qmp_error *err, void *opaque)
{
    const qmp_json *enable = qmp_json_member(args, "enable"), *m;
    bool subs = false;
    unsigned i = 0;
    (void)ret;
    (void)opaque;
    for (m = enable != NULL ? enable->child : NULL; m != NULL; m = m->next, i++) {
        if (m->type != QMP_JSON_STRING)
            return qmp_error_set(err, "GenericError",
                                 "Invalid parameter type for 'enable[%u]', expected: string", i);
        if (strcmp(m->v.s, "subscriptions") == 0)
            subs = true;
        else if (strcmp(m->v.s, "oob") == 0)
            return qmp_error_set(err, "GenericError", "Capability 'oob' not available");
        else
            return qmp_error_set(err, "GenericError",
                                 "Parameter 'enable[%u]' does not accept value '%s'", i, m->v.s);
    }
    if (!subs) {
        /* a legacy session: every event, as from QEMU */
        qmp__taps_for_all(s->srv);
        pthread_mutex_lock(&s->srv->lock);
        if (qmp__set_add(&s->srv->legacy, s) != 0) {
            pthread_mutex_unlock(&s->srv->lock);
            return qmp_error_set(err, "GenericError", "Out of memory");
        }
        pthread_mutex_unlock(&s->srv->lock);
    }
    s->subscriptions = subs;
    s->negotiated = true;
    return 0;
}

static int qmp__cmd_query_version(qmp_session *s, const qmp_json *args, qmp_writer *ret,
                                  qmp_error *err, void *opaque)
{
    const qmp_server_config *c = &s->srv->cfg;
    (void)args; (void)err; (void)opaque;
    qmp_write_object_begin(ret);
    qmp_write_key(ret, "qemu");
    qmp_write_object_begin(ret);
    qmp_write_key(ret, "micro");
    qmp_write_int(ret, c->version_micro);
    qmp_write_key(ret, "minor");
    qmp_write_int(ret, c->version_minor);
    qmp_write_key(ret, "major");
    qmp_write_int(ret, c->version_major);
    qmp_write_object_end(ret);
    qmp_write_key(ret, "package");
    qmp_write_str(ret, c->package);
    qmp_write_object_end(ret);
    return 0;
}

static int qmp__cmd_query_commands(qmp_session *s, const qmp_json *args, qmp_writer *ret,
                                   qmp_error *err, void *opaque)
{
    size_t i;
    (void)args; (void)err; (void)opaque;
    qmp_write_array_begin(ret);
    for (i = 0; i < s->srv->ncmds; i++) {
        qmp_write_object_begin(ret);
        qmp_write_key(ret, "name");
        qmp_write_str(ret, s->srv->cmds[i].name);
        qmp_write_object_end(ret);
    }
    qmp_write_array_end(ret);
    return 0;
}

/* ObjectPropertyInfo, in QEMU's member order. */
static void qmp__write_prop(void *opaque, const qom_property *p)
{
    qmp_writer *w = (qmp_writer *)opaque;
    qmp_write_object_begin(w);
    qmp_write_key(w, "name");
    qmp_write_str(w, p->name);
    if (p->description != NULL) {
        qmp_write_key(w, "description");
        qmp_write_str(w, p->description);
    }
    qmp_write_key(w, "type");
    qmp_write_str(w, p->type);
    qmp_write_object_end(w);
}

static qom_object *qmp__resolve(qmp_session *s, const char *path, qmp_error *err)
{
    qom_error qerr;
    qom_object *obj = qom_resolve_err(s->srv->reg, path, &qerr);
    if (obj == NULL)
        qmp__qerr(err, &qerr);
    return obj;
}

/* qom-list's entries: QEMU 7.2 writes no description there. */
static void qmp__write_prop_brief(void *opaque, const qom_property *p)
{
    qmp_writer *w = (qmp_writer *)opaque;
    qmp_write_object_begin(w);
    qmp_write_key(w, "name");
    qmp_write_str(w, p->name);
    qmp_write_key(w, "type");
    qmp_write_str(w, p->type);
    qmp_write_object_end(w);
}

static int qmp__cmd_qom_list(qmp_session *s, const qmp_json *args, qmp_writer *ret,
                             qmp_error *err, void *opaque)
{
    qom_object *obj = qmp__resolve(s, qmp__str_arg(args, "path"), err);
    (void)opaque;
    if (obj == NULL)
        return -1;
    qmp_write_array_begin(ret);
    qom_property_foreach(obj, qmp__write_prop_brief, ret);
    qmp_write_array_end(ret);
    qom_object_unref(obj);
    return 0;
}

static int qmp__cmd_qom_get(qmp_session *s, const qmp_json *args, qmp_writer *ret,
                            qmp_error *err, void *opaque)
{
    const char *name = qmp__str_arg(args, "property");
    qom_object *obj = qmp__resolve(s, qmp__str_arg(args, "path"), err);
    const qom_property *p;
    qom_error qerr;
    qom_value v;
    (void)opaque;
    if (obj == NULL)
        return -1;
    p = qom_property_find(obj, name);
    if (p != NULL && p->event != NULL) {
        /* the plan9 way: reading an event subscribes, and names the result */
        char *path = NULL;
        if (!s->subscriptions) {
            qom_object_unref(obj);
            return qmp_error_set(err, "GenericError", "%s", qmp__cap_error);
        }
        if (qmp__subscribe(s, obj, NULL, name, 0, &path, err) != 0)
            return -1;
        qmp_write_str(ret, path);
        free(path);
        return 0;
    }
    if (qom_property_get(obj, name, &v, &qerr) != 0) {
        qom_object_unref(obj);
        return qmp__qerr(err, &qerr);
    }
    switch (v.kind) {
    case QOM_VALUE_BOOL: qmp_write_bool(ret, v.b); break;
    case QOM_VALUE_INT: qmp_write_int(ret, v.i); break;
    case QOM_VALUE_UINT: qmp_write_uint(ret, v.u); break;
    case QOM_VALUE_STR: case QOM_VALUE_PATH: qmp_write_str(ret, v.s); break;
    default: qmp_write_null(ret); break;
    }
    qom_value_clear(&v);
    qom_object_unref(obj);
    return 0;
}

static int qmp__cmd_qom_set(qmp_session *s, const qmp_json *args, qmp_writer *ret,
                            qmp_error *err, void *opaque)
{
    const qmp_json *value = qmp_json_member(args, "value");
    qom_object *obj = qmp__resolve(s, qmp__str_arg(args, "path"), err);
    qom_error qerr;
    qom_value v;
    int rc;
    (void)ret; (void)opaque;
    if (obj == NULL)
        return -1;
    memset(&v, 0, sizeof v);
    switch (value->type) {
    case QMP_JSON_BOOL: v = qom_value_bool(value->v.b); break;
    case QMP_JSON_INT: v = qom_value_int(value->v.i); break;
    case QMP_JSON_UINT: v = qom_value_uint(value->v.u); break;
    case QMP_JSON_STRING: v = qom_value_str(value->v.s); break;
    default: v.kind = QOM_VALUE_NONE; break;
    }
    rc = qom_property_set(obj, qmp__str_arg(args, "property"), &v, &qerr);
    qom_object_unref(obj);
    return rc != 0 ? qmp__qerr(err, &qerr) : 0;
}

static void qmp__write_type(void *opaque, const qom_type *t)
{
    qmp_writer *w = (qmp_writer *)opaque;
    const char *parent = qom_type_parent_name(t);
    qmp_write_object_begin(w);
    if (qom_type_is_abstract(t)) {
        qmp_write_key(w, "abstract");
        qmp_write_bool(w, true);
    }
    qmp_write_key(w, "name");
    qmp_write_str(w, qom_type_name(t));
    if (parent != NULL) {
        qmp_write_key(w, "parent");
        qmp_write_str(w, parent);
    }
    qmp_write_object_end(w);
}

static int qmp__cmd_qom_list_types(qmp_session *s, const qmp_json *args, qmp_writer *ret,
                                   qmp_error *err, void *opaque)
{
    const qmp_json *abs = qmp_json_member(args, "abstract");
    (void)err; (void)opaque;
    qmp_write_array_begin(ret);
    qom_type_foreach(s->srv->reg, qmp__str_arg(args, "implements"), abs != NULL && abs->v.b,
                     qmp__write_type, ret);
    qmp_write_array_end(ret);
    return 0;
}

static int qmp__cmd_qom_list_properties(qmp_session *s, const qmp_json *args, qmp_writer *ret,
                                        qmp_error *err, void *opaque)
{
    const char *type = qmp__str_arg(args, "typename");
    qom_error qerr;
    (void)opaque;
    if (qom_type_lookup(s->srv->reg, type) == NULL)
        return qmp_error_set(err, "GenericError", "Class '%s' not found", type);
    qmp_write_array_begin(ret);
    if (qom_type_property_foreach(s->srv->reg, type, qmp__write_prop, ret, &qerr) != 0)
        return qmp__qerr(err, &qerr);
    qmp_write_array_end(ret);
    return 0;
}

static int64_t qmp__throttle_arg(const qmp_json *args)
{
    const qmp_json *t = qmp_json_member(args, "throttle-ms");
    return t != NULL ? t->v.i : 0;
}

static int qmp__write_subscription(qmp_writer *ret, char *path)
{
    qmp_write_object_begin(ret);
    qmp_write_key(ret, "subscription");
    qmp_write_str(ret, path);
    qmp_write_object_end(ret);
    free(path);
    return 0;
}

static int qmp__cmd_subscribe(qmp_session *s, const qmp_json *args, qmp_writer *ret,
                              qmp_error *err, void *opaque)
{
    qom_object *obj;
    char *path = NULL;
    (void)opaque;
    if (!s->subscriptions)
        return qmp_error_set(err, "GenericError", "%s", qmp__cap_error);
    obj = qmp__resolve(s, qmp__str_arg(args, "path"), err);
    if (obj == NULL)
        return -1;
    if (qmp__subscribe(s, obj, NULL, qmp__str_arg(args, "property"), qmp__throttle_arg(args),
                       &path, err) != 0)
        return -1;
    return qmp__write_subscription(ret, path);
}

static int qmp__cmd_subscribe_type(qmp_session *s, const qmp_json *args, qmp_writer *ret,
                                   qmp_error *err, void *opaque)
{
    char *path = NULL;
    (void)opaque;
    if (!s->subscriptions)
        return qmp_error_set(err, "GenericError", "%s", qmp__cap_error);
    if (qmp__subscribe(s, NULL, qmp__str_arg(args, "typename"), qmp__str_arg(args, "property"),
                       qmp__throttle_arg(args), &path, err) != 0)
        return -1;
    return qmp__write_subscription(ret, path);
}

static int qmp__cmd_unsubscribe(qmp_session *s, const qmp_json *args, qmp_writer *ret,
                                qmp_error *err, void *opaque)
{
    const char *path = qmp__str_arg(args, "subscription");
    qom_object *obj;
    qmp__sub_obj *so;
    bool mine;
    (void)ret; (void)opaque;
    if (!s->subscriptions)
        return qmp_error_set(err, "GenericError", "%s", qmp__cap_error);
    obj = qom_resolve(s->srv->reg, path, NULL);
    so = (qmp__sub_obj *)(void *)qom_dynamic_cast(obj, "qmp-subscription");
    pthread_mutex_lock(&s->srv->lock);
    mine = so != NULL && so->sub != NULL && so->sub->session == s;
    pthread_mutex_unlock(&s->srv->lock);
    if (!mine) {
        if (obj != NULL)
            qom_object_unref(obj);
        return qmp_error_set(err, "GenericError", "Subscription '%s' not found in this session",
                             path);
    }
    qom_object_unparent(obj);
    qom_object_unref(obj);
    return 0;
}

static int qmp__cmd_query_subscriptions(qmp_session *s, const qmp_json *args, qmp_writer *ret,
                                        qmp_error *err, void *opaque)
{
    qmp__sub *sub, *rev = NULL, *next;
    (void)args; (void)err; (void)opaque;
    qmp_write_array_begin(ret);
    pthread_mutex_lock(&s->srv->lock);
    /* the list is newest first: reverse it to report in creation order,
     * and back again */
    for (sub = s->subs; sub != NULL; sub = next) {
        next = sub->session_next;
        sub->session_next = rev;
        rev = sub;
    }
    s->subs = NULL;
    for (sub = rev; sub != NULL; sub = next) {
        next = sub->session_next;
        qmp_write_object_begin(ret);
        qmp_write_key(ret, "subscription");
        qmp_write_str(ret, sub->path);
        qmp_write_key(ret, "source");
        qmp_write_str(ret, sub->source_desc);
        qmp_write_key(ret, "type-wide");
        qmp_write_bool(ret, sub->type_name != NULL);
        qmp_write_key(ret, "property");
        qmp_write_str(ret, sub->property);
        qmp_write_key(ret, "event");
        qmp_write_str(ret, sub->event);
        qmp_write_key(ret, "throttle-ms");
        qmp_write_uint(ret, sub->throttle_ms);
        qmp_write_object_end(ret);
        sub->session_next = s->subs;
        s->subs = sub;
    }
    pthread_mutex_unlock(&s->srv->lock);
    qmp_write_array_end(ret);
    return 0;
}

/* ---- the server ---- */

int qmp_server_add_command(qmp_server *srv, const char *name, const qmp_arg *args,
                           qmp_command_fn fn, void *opaque)
{
    qmp__command *c;
    size_t i;
    if (srv == NULL || name == NULL || fn == NULL)
        return -EINVAL;
    for (i = 0; i < srv->ncmds; i++)
        if (strcmp(srv->cmds[i].name, name) == 0) {
            srv->cmds[i].args = args;
            srv->cmds[i].fn = fn;
            srv->cmds[i].opaque = opaque;
            return 0;
        }
    if (srv->ncmds == srv->ccap) {
        size_t cap = srv->ccap ? 2 * srv->ccap : 16;
        c = (qmp__command *)realloc(srv->cmds, cap * sizeof *c);
        if (c == NULL)
            return -ENOMEM;
        srv->cmds = c;
        srv->ccap = cap;
    }
    c = &srv->cmds[srv->ncmds];
    c->name = qmp__strdup(name);
    if (c->name == NULL)
        return -ENOMEM;
    c->args = args;
    c->fn = fn;
    c->opaque = opaque;
    srv->ncmds++;
    return 0;
}

#define QMP__END { NULL, QMP_ARG_ANY, false }
static const qmp_arg qmp__args_none[] = { QMP__END };
static const qmp_arg qmp__args_caps[] = { { "enable", QMP_ARG_ARRAY, true }, QMP__END };
static const qmp_arg qmp__args_path[] = { { "path", QMP_ARG_STR, false }, QMP__END };
static const qmp_arg qmp__args_get[] = {
    { "path", QMP_ARG_STR, false }, { "property", QMP_ARG_STR, false }, QMP__END };
static const qmp_arg qmp__args_set[] = {
    { "path", QMP_ARG_STR, false }, { "property", QMP_ARG_STR, false },
    { "value", QMP_ARG_ANY, false }, QMP__END };
static const qmp_arg qmp__args_types[] = {
    { "implements", QMP_ARG_STR, true }, { "abstract", QMP_ARG_BOOL, true }, QMP__END };
static const qmp_arg qmp__args_typename[] = { { "typename", QMP_ARG_STR, false }, QMP__END };
static const qmp_arg qmp__args_subscribe[] = {
    { "path", QMP_ARG_STR, false }, { "property", QMP_ARG_STR, false },
    { "throttle-ms", QMP_ARG_INT, true }, QMP__END };
static const qmp_arg qmp__args_subscribe_type[] = {
    { "typename", QMP_ARG_STR, false }, { "property", QMP_ARG_STR, false },
    { "throttle-ms", QMP_ARG_INT, true }, QMP__END };
static const qmp_arg qmp__args_unsubscribe[] = {
    { "subscription", QMP_ARG_STR, false }, QMP__END };
#undef QMP__END

static const struct {
    const char *name;
    const qmp_arg *args;
    qmp_command_fn fn;
} qmp__builtins[] = {
    { "qmp_capabilities", qmp__args_caps, qmp__cmd_capabilities },
    { "query-version", qmp__args_none, qmp__cmd_query_version },
    { "query-commands", qmp__args_none, qmp__cmd_query_commands },
    { "qom-list", qmp__args_path, qmp__cmd_qom_list },
    { "qom-get", qmp__args_get, qmp__cmd_qom_get },
    { "qom-set", qmp__args_set, qmp__cmd_qom_set },
    { "qom-list-types", qmp__args_types, qmp__cmd_qom_list_types },
    { "qom-list-properties", qmp__args_typename, qmp__cmd_qom_list_properties },
    { "qom-subscribe", qmp__args_subscribe, qmp__cmd_subscribe },
    { "qom-subscribe-type", qmp__args_subscribe_type, qmp__cmd_subscribe_type },
    { "qom-unsubscribe", qmp__args_unsubscribe, qmp__cmd_unsubscribe },
    { "query-subscriptions", qmp__args_none, qmp__cmd_query_subscriptions },
};

/* Runs inside an emission on the server's private list, so the sessions
 * it finds in the legacy set stay valid while it uses them. */
static int qmp__broadcast_fn(notify_sub *node, void *event)
{
    qmp_server *srv = notify_container_of(node, qmp_server, bcast_sub);
    qmp__to_legacy(srv, (qmp__emission *)event);
    return 0;
}

qmp_server *qmp_server_new(qom_registry *reg, const qmp_server_config *cfg)
{
    static const qom_type_info sub_type = {
        "qmp-subscription", "object", sizeof(qmp__sub_obj), 0, qmp__sub_class_init, NULL,
        NULL, qmp__sub_obj_finalize, false, NULL
    };
    qmp_server *srv;
    size_t i;
    int rc = 0;
    if (reg == NULL)
        return NULL;
    srv = (qmp_server *)calloc(1, sizeof *srv);
    if (srv == NULL)
        return NULL;
    srv->reg = reg;
    if (cfg != NULL)
        srv->cfg = *cfg;
    if (srv->cfg.max_message == 0) srv->cfg.max_message = QMP__DEFAULT_MAX_MESSAGE;
    if (srv->cfg.max_depth == 0) srv->cfg.max_depth = QMP__DEFAULT_MAX_DEPTH;
    if (srv->cfg.max_depth > 64) srv->cfg.max_depth = 64;   /* what the writer tracks */
    if (srv->cfg.max_output == 0) srv->cfg.max_output = QMP__DEFAULT_MAX_OUTPUT;
    if (srv->cfg.max_subscriptions == 0) srv->cfg.max_subscriptions = QMP__DEFAULT_MAX_SUBS;
    if (srv->cfg.package == NULL) {
        srv->cfg.package = "qomnotify";
        srv->cfg.version_major = 0;
        srv->cfg.version_minor = 1;
        srv->cfg.version_micro = 0;
    }
    pthread_mutex_init(&srv->lock, NULL);
    pthread_mutex_init(&srv->tap_lock, NULL);
    notify_list_init(&srv->bcast);
    notify_sub_init(&srv->bcast_sub, qmp__broadcast_fn, 0);
    qom_lifecycle_sub_init(&srv->lifecycle, qmp__on_lifecycle, 0);
    if (qom_type_lookup(reg, "qmp-subscription") == NULL)
        qom_type_register(reg, &sub_type, NULL);
    for (i = 0; i < sizeof qmp__builtins / sizeof qmp__builtins[0]; i++)
        rc |= qmp_server_add_command(srv, qmp__builtins[i].name, qmp__builtins[i].args,
                                     qmp__builtins[i].fn, NULL);
    if (rc != 0 || qom_type_lookup(reg, "qmp-subscription") == NULL ||
        qom_container_get(reg, "/qmp/sessions") == NULL ||
        notify_subscribe(&srv->bcast, &srv->bcast_sub) != 0 ||
        qom_lifecycle_subscribe(qom_lifecycle(reg), &srv->lifecycle) != 0) {
        qmp_server_free(srv);
        return NULL;
    }
    return srv;
}

void qmp_server_free(qmp_server *srv)
{
    qom_object *q;
    size_t i;
    if (srv == NULL)
        return;
    while (srv->sessions != NULL)
        qmp_session_free(srv->sessions);
    if (notify_sub_subscribed(&srv->lifecycle.base))
        qom_lifecycle_unsubscribe(&srv->lifecycle);
    if (notify_sub_subscribed(&srv->bcast_sub))
        notify_unsubscribe(&srv->bcast_sub);
    /* the taps: their memory goes with their subscriptions' release */
    for (i = 0; i < srv->ntaps; i++) {
        q = srv->taps[i]->path != NULL ? qom_resolve(srv->reg, srv->taps[i]->path, NULL) : NULL;
        if (q != NULL) {
            qom_object_unparent(q);
            qom_object_unref(q);
        }
    }
    q = qom_resolve(srv->reg, "/qmp", NULL);
    if (q != NULL) {
        qom_object_unparent(q);
        qom_object_unref(q);
    }
    /* after this, no emission that could reach a tap or a session remains */
    notify_synchronize();
    free(notify__load_relaxed(&srv->legacy));   /* empty: every session is gone */
    for (i = 0; i < srv->ncmds; i++)
        free(srv->cmds[i].name);
    free(srv->cmds);
    free(srv->taps);
    pthread_mutex_destroy(&srv->lock);
    pthread_mutex_destroy(&srv->tap_lock);
    free(srv);
}

qom_registry *qmp_server_registry(qmp_server *srv) { return srv->reg; }

void qmp_server_broadcast(qmp_server *srv, const qmp_event_type *t, const void *payload)
{
    qom_event_info info;
    qmp__emission e;
    info.name = t->name;
    info.marshal = t;
    e.event = &info;
    e.payload = payload;
    e.body = NULL;
    e.failed = 0;
    notify_emit(&srv->bcast, &e);
    if (e.body != NULL)
        qmp__body_unref(e.body);
}

#ifdef __cplusplus
}
#endif
#endif /* QMP_SUB_IMPLEMENTATION */
