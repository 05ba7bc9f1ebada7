/* qom_lite.h - a small object model whose events are properties.
 * Part of qomnotify. MIT licensed (see LICENSE). Depends on notify.h only.
 *
 * WHAT
 *   Types with single inheritance and interfaces, reference-counted objects
 *   in a composition tree with canonical paths (/machine/peripheral/cd0),
 *   typed properties, and event properties: an event property IS a notifier
 *   list of the object (notify.h); getting it creates a subscription object
 *   in the tree, and destroying that object unsubscribes. Subscriptions
 *   deliver to a native function or to a sink of a higher layer (qmp_sub.h),
 *   and can cover every object of a type, including objects created later.
 *
 * EXAMPLE
 *   #define QOM_LITE_IMPLEMENTATION  // and NOTIFY_IMPLEMENTATION, in one .c
 *   #include "qom_lite.h"
 *   typedef struct { const char *device, *id; bool tray_open; } tray_moved;
 *   QOM_DEFINE_EVENT(tray, tray_moved)                 // notify.h typed event
 *   static const qom_event_info TRAY_MOVED = { "DEVICE_TRAY_MOVED", NULL };
 *   typedef struct { qom_object obj; bool open; tray_list moved; } ide_cd;
 *   static void cd_class_init(qom_class *k, void *d) {
 *       QOM_CLASS_ADD_EVENT(k, "tray-moved", ide_cd, moved, tray, &TRAY_MOVED, NULL);
 *   }
 *   ... qom_type_register(reg, &info, &err);
 *   qom_object *cd = qom_object_new_child(qom_container_get(reg, "/machine/peripheral"),
 *                                         "cd0", "ide-cd", &err);
 *   char *path; qom_subscribe_native(cd, "tray-moved", my_fn, me, NULL, &path, &err);
 *   tray_emit(&((ide_cd *)cd)->moved, &ev);           // lock-free, any thread
 *   qom_object_unparent(qom_resolve(reg, path, NULL)); // unsubscribes
 *
 * THREADS
 *   One recursive mutex per registry serialises every change to types, the
 *   tree and properties, and runs user hooks (class_init, finalizers,
 *   getters, setters, lifecycle listeners) under it; they may call back in.
 *   Emitting never takes it: devices emit with notify.h on their lists,
 *   lock-free, from any thread, while subscriptions come and go and objects
 *   are destroyed; a thread that emits on an object holds a reference to it
 *   (as a device thread holds its device). Nothing here waits for a grace
 *   period under the mutex: unsubscribing is asynchronous, and memory that
 *   emitters may still reach (subscription objects, objects with event
 *   lists) is freed by notify.h's release hooks once no emitter can reach
 *   it. Hence the rules for hooks: code that runs under the mutex
 *   (finalizers, lifecycle listeners) must use notify.h's _async calls, never
 *   the waiting ones; a sink's release may run in any thread, possibly with
 *   the mutex held, so it should only free memory or drop a count; a sink's
 *   deliver gets a borrowed subscription object (do not ref it there; to end
 *   the subscription, unparent it).
 *
 * OWNERSHIP
 *   qom_object_new returns a reference; adding a child takes another;
 *   qom_object_unparent drops the tree's. qom_resolve returns a reference.
 *   Strong links hold a reference; weak links do not, and are cleared when
 *   their target is finalized. An object cannot be added below itself.
 *   A subscription keeps its source object alive; removing the source from
 *   the tree destroys its subscriptions. Subscription objects live under the
 *   owner container given at subscribe time (default /subscriptions), so
 *   destroying the owner (a QMP session's container, say) drops them all.
 *
 * NO HIDDEN GLOBALS
 *   Everything lives in a qom_registry the user creates and passes; the only
 *   global state is notify.h's (one NOTIFY_IMPLEMENTATION per program).
 *
 * CONFIGURATION
 *   QOM_LITE_IMPLEMENTATION   define in exactly one translation unit.
 *   QOM_LITE_DEBUG            1: fill an object's memory with 0x6b before it
 *                             is freed, so a use after free reads poison.
 *                             Default: NOTIFY_DEBUG (1 unless NDEBUG).
 *
 * LICENSE: MIT. Copyright (c) 2026 the qomnotify authors.
 */
#ifndef QOM_LITE_H
#define QOM_LITE_H

#include "notify.h"

#ifndef QOM_LITE_DEBUG
#  define QOM_LITE_DEBUG NOTIFY_DEBUG
#endif

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------
 * Public API: types
 * ------------------------------------------------------------------------ */
typedef struct qom_registry qom_registry;
typedef struct qom_type qom_type;
typedef struct qom_class qom_class;
typedef struct qom_object qom_object;
typedef struct qom_property qom_property;
typedef struct qom_sink qom_sink;

/* An error: a negative errno, a QMP error class and a message worded as
 * QEMU words it. Every function that can fail on user input fills one. */
typedef enum { QOM_ERROR_GENERIC = 0, QOM_ERROR_DEVICE_NOT_FOUND = 1 } qom_error_class;
typedef struct qom_error {
    int code;
    qom_error_class cls;
    char message[256];
} qom_error;

/* The class part of a type; a type's class struct starts with it. */
struct qom_class {
    const qom_type *type;
};

/* The object part; an instance struct starts with it. Fields are private. */
struct qom_object {
    qom_class *klass;
    qom_registry *reg;
    NOTIFY__ATOMIC(int) ref;
    qom_object *parent;        /* (registry lock) */
    char *name;                /* (registry lock) name in parent */
    qom_property **props;      /* (registry lock) instance properties */
    size_t nprops, cap;
    NOTIFY__ATOMIC(int) hold;  /* memory kept for emitters (subscriptions) */
    unsigned flags;
    notify_sub free_node;      /* deferred free */
};

typedef struct qom_type_info {
    const char *name;
    const char *parent;                 /* NULL for the root type "object" */
    size_t instance_size;               /* 0: the parent's */
    size_t class_size;                  /* 0: the parent's */
    void (*class_init)(qom_class *klass, void *data);
    void *class_data;
    void (*instance_init)(qom_object *obj);      /* parent's first */
    void (*instance_finalize)(qom_object *obj);  /* subclass's first */
    bool abstract;
    const char *const *interfaces;      /* NULL-terminated, or NULL */
} qom_type_info;

/* A property value, for get and set without knowing the object. Strings
 * from a get are malloc'd (qom_value_clear frees them); strings given to a
 * set are borrowed. */
typedef enum {
    QOM_VALUE_NONE, QOM_VALUE_BOOL, QOM_VALUE_INT, QOM_VALUE_UINT,
    QOM_VALUE_STR, QOM_VALUE_PATH
} qom_value_kind;
typedef struct qom_value {
    qom_value_kind kind;
    bool b;
    int64_t i;
    uint64_t u;
    char *s;
} qom_value;

typedef int (*qom_getter)(qom_object *obj, qom_property *prop, qom_value *out, qom_error *err);
typedef int (*qom_setter)(qom_object *obj, qom_property *prop, const qom_value *in, qom_error *err);

/* An event's identity; `marshal` is for a higher layer (qmp_sub.h), opaque
 * here. */
typedef struct qom_event_info {
    const char *name;          /* e.g. "DEVICE_TRAY_MOVED" */
    const void *marshal;
} qom_event_info;

/* A property. Add them with the functions below; fields are read-only. */
struct qom_property {
    char *name;
    char *type;                /* bool int uint str child<T> link<T> event<NAME> */
    char *description;         /* or NULL */
    qom_getter get;            /* NULL: not readable */
    qom_setter set;            /* NULL: read-only */
    size_t offset;             /* field properties, link slots, event lists */
    qom_object *child;         /* child<T> */
    const qom_event_info *event;
    notify_fn deliver;         /* event properties: the typed trampoline */
    unsigned flags;
};

/* Where subscriptions deliver. Embed it in your own struct. */
struct qom_sink {
    /* Called in the emitting thread, lock-free, for each event. */
    void (*deliver)(qom_sink *sink, qom_object *subscription, qom_object *source,
                    const qom_event_info *event, const void *payload);
    /* Optional: the subscription's memory is gone; the sink may go when
     * every subscription it had has been released. */
    void (*release)(qom_sink *sink, qom_object *subscription);
    const char *name;          /* shown in the subscription's "sink" property */
};

/* Context for getting an event property (which subscribes). */
typedef struct qom_get_ctx {
    qom_sink *sink;
    qom_object *owner;         /* container for the subscription, or NULL */
} qom_get_ctx;

/* Lifecycle events, emitted under the registry lock. */
typedef struct qom_lifecycle_event {
    qom_object *obj;
    bool added;                /* true: entered the tree; false: leaving it */
} qom_lifecycle_event;
NOTIFY_DEFINE_EVENT(qom_lifecycle, qom_lifecycle_event);

/* ------------------------------------------------------------------------
 * Public API: functions
 * ------------------------------------------------------------------------ */

/* A registry with the built-in types (object, container, interface,
 * subscription) and a root container at "/". NULL when out of memory. */
qom_registry *qom_registry_new(void);
/* Destroy the tree and the types. No other thread may use it meanwhile. */
void qom_registry_free(qom_registry *reg);
/* The root object "/" (borrowed). */
qom_object *qom_root(qom_registry *reg);
/* Lifecycle events of the tree: subscribe with qom_lifecycle_subscribe. */
qom_lifecycle_list *qom_lifecycle(qom_registry *reg);

/* Register a type: 0, or -EEXIST / -ENOENT (unknown parent) / -EINVAL. */
int qom_type_register(qom_registry *reg, const qom_type_info *info, qom_error *err);
/* The type of that name, or NULL. */
const qom_type *qom_type_lookup(qom_registry *reg, const char *name);
const char *qom_type_name(const qom_type *type);
/* Parent type's name, or NULL for "object". */
const char *qom_type_parent_name(const qom_type *type);
bool qom_type_is_abstract(const qom_type *type);
/* True when `type` is `name`, descends from it, or implements it. */
bool qom_type_is_a(const qom_type *type, const char *name);
/* Call fn for each type that is-a `implements` (NULL: all), abstract ones
 * only when asked; in registration order. */
void qom_type_foreach(qom_registry *reg, const char *implements, bool include_abstract,
                      void (*fn)(void *opaque, const qom_type *type), void *opaque);
/* Call fn for each property of the type's class (ancestors' first). */
int qom_type_property_foreach(qom_registry *reg, const char *type_name,
                              void (*fn)(void *opaque, const qom_property *prop),
                              void *opaque, qom_error *err);

/* Class-side properties, from class_init. */
int qom_class_property_add(qom_class *klass, const qom_property *def);
int qom_class_add_bool(qom_class *klass, const char *name, size_t offset, bool writable,
                       const char *description);
int qom_class_add_int(qom_class *klass, const char *name, size_t offset, bool writable,
                      const char *description);       /* int64_t field */
int qom_class_add_uint(qom_class *klass, const char *name, size_t offset, bool writable,
                       const char *description);      /* uint64_t field */
int qom_class_add_str(qom_class *klass, const char *name, size_t offset, bool writable,
                      const char *description);       /* char * field (owned) */
/* link<target_type> stored in a qom_object * field; strong links hold a
 * reference; set by path. */
int qom_class_add_link(qom_class *klass, const char *name, const char *target_type,
                       size_t offset, bool strong, const char *description);
/* An event property bound to a notify list field; see QOM_CLASS_ADD_EVENT. */
int qom_class_add_event(qom_class *klass, const char *name, size_t list_offset,
                        notify_fn deliver, const qom_event_info *event,
                        const char *description);

/* Define a typed event usable as an event property: NOTIFY_DEFINE_EVENT
 * plus the trampoline that hands its payload to subscription objects. */
#define QOM_DEFINE_EVENT(name, payload_type) \
    NOTIFY_DEFINE_EVENT(name, payload_type); \
    static NOTIFY__UNUSED int name##__qom_deliver(name##_sub *sub, const payload_type *ev) \
    { return qom__deliver(&sub->base, (const void *)ev); } \
    typedef int name##__qom_define_event_ends_here

/* Add event property `prop` to a class: instance_type's `field` must be a
 * name##_list (checked at compile time). */
#define QOM_CLASS_ADD_EVENT(klass, prop, instance_type, field, name, event_info, description) \
    qom_class_add_event((klass), (prop), \
        offsetof(instance_type, field) \
            + 0 * sizeof(&((instance_type *)0)->field == (name##_list *)0), \
        (notify_fn)name##__qom_deliver, (event_info), (description))

/* Objects. */
/* A new object (reference count 1, not in the tree); NULL with err set for
 * an unknown or abstract type. */
qom_object *qom_object_new(qom_registry *reg, const char *type_name, qom_error *err);
void qom_object_ref(qom_object *obj);
void qom_object_unref(qom_object *obj);
/* Add `child` under `parent` as child<T> property `name` (the tree takes a
 * reference). A name ending in "[*]" is numbered: sub[0], sub[1], ... */
int qom_object_add_child(qom_object *parent, const char *name, qom_object *child,
                         qom_error *err);
/* New object added as a child; the tree holds the only reference (the
 * pointer is borrowed). NULL with err set on failure. */
qom_object *qom_object_new_child(qom_object *parent, const char *name,
                                 const char *type_name, qom_error *err);
/* Detach from the parent and drop the parent's reference. 0, or -ENOENT. */
int qom_object_unparent(qom_object *obj);
const char *qom_object_type_name(const qom_object *obj);
const qom_type *qom_object_type(const qom_object *obj);
/* Canonical path (malloc'd), or NULL when not in the tree. */
char *qom_object_path(qom_object *obj);
/* Name in the parent (malloc'd), or NULL. */
char *qom_object_name(qom_object *obj);
/* `obj` if it is-a `type_name`, else NULL. */
qom_object *qom_dynamic_cast(qom_object *obj, const char *type_name);
/* Checked cast: NULL on mismatch, and a NOTIFY_ASSERT in debug builds. */
#define QOM_CAST(T, obj, type_name) \
    ((T *)(void *)qom__checked_cast((obj), (type_name), __FILE__, __LINE__))
/* Containers along an absolute path, created as needed (borrowed). */
qom_object *qom_container_get(qom_registry *reg, const char *path);
/* Resolve an absolute path, or a partial one (QEMU's meaning: it resolves
 * when exactly one object in the tree ends with it). A new reference, or
 * NULL; *ambiguous tells the two failures apart. */
qom_object *qom_resolve(qom_registry *reg, const char *path, bool *ambiguous);
/* As qom_resolve, with err worded as QEMU's qom-list words it. */
qom_object *qom_resolve_err(qom_registry *reg, const char *path, qom_error *err);

/* Properties. */
int qom_property_add(qom_object *obj, const qom_property *def, qom_error *err);
/* The property (instance first, then class), or NULL. */
const qom_property *qom_property_find(qom_object *obj, const char *name);
/* Get: 0 and *out filled (qom_value_clear it), or an error. Getting an event
 * property subscribes, which needs a context: qom_property_get_ctx. */
int qom_property_get(qom_object *obj, const char *name, qom_value *out, qom_error *err);
int qom_property_get_ctx(qom_object *obj, const char *name, qom_value *out,
                         const qom_get_ctx *ctx, qom_error *err);
int qom_property_set(qom_object *obj, const char *name, const qom_value *in, qom_error *err);
/* Call fn for each property of obj ("type" first). */
void qom_property_foreach(qom_object *obj, void (*fn)(void *opaque, const qom_property *prop),
                          void *opaque);

qom_value qom_value_bool(bool b);
qom_value qom_value_int(int64_t i);
qom_value qom_value_uint(uint64_t u);
qom_value qom_value_str(const char *s);   /* borrowed, for set */
void qom_value_clear(qom_value *v);

/* Subscriptions. The path of the new subscription object goes to *path_out
 * (malloc'd) when path_out is not NULL. */
int qom_subscribe(qom_object *source, const char *property, qom_sink *sink,
                  qom_object *owner, char **path_out, qom_error *err);
/* A native subscriber: fn(opaque, source, payload) in the emitting thread. */
typedef void (*qom_native_fn)(void *opaque, qom_object *source, const void *payload);
int qom_subscribe_native(qom_object *source, const char *property, qom_native_fn fn,
                         void *opaque, qom_object *owner, char **path_out, qom_error *err);
/* Every object of `type_name` and its subtypes in the tree, now and later,
 * as one subscription object; `type_name` itself must have the event
 * property `property` (declared by it or an ancestor). */
int qom_subscribe_type(qom_registry *reg, const char *type_name, const char *property,
                       qom_sink *sink, qom_object *owner, char **path_out, qom_error *err);
int qom_subscribe_type_native(qom_registry *reg, const char *type_name,
                              const char *property, qom_native_fn fn, void *opaque,
                              qom_object *owner, char **path_out, qom_error *err);
/* True when obj is a subscription object; its sink, source description. */
bool qom_is_subscription(qom_object *obj);
qom_sink *qom_subscription_sink(qom_object *subscription);

/* Internal, used by the macros. */
int qom__deliver(notify_sub *node, const void *payload);
qom_object *qom__checked_cast(qom_object *obj, const char *type_name, const char *file, int line);

#ifdef __cplusplus
}
#endif
#endif /* QOM_LITE_H */

/* ------------------------------------------------------------------------
 * Implementation: once per program
 * ------------------------------------------------------------------------ */
#if defined(QOM_LITE_IMPLEMENTATION) && !defined(QOM_LITE__IMPLEMENTED)
#define QOM_LITE__IMPLEMENTED

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#define QOM__F_SUBSCRIPTION 1u   /* a qom__subscription */
#define QOM__F_FINALIZED    2u
#define QOM__P_CHILD  1u
#define QOM__P_LINK   2u
#define QOM__P_STRONG 4u
#define QOM__P_EVENT  8u
#define QOM__P_OWNED_STR 16u     /* str field property: the field is owned */

struct qom_type {
    char *name;
    char *parent_name;
    qom_type *parent;
    size_t instance_size, class_size;
    void (*class_init)(qom_class *klass, void *data);
    void *class_data;
    void (*instance_init)(qom_object *obj);
    void (*instance_finalize)(qom_object *obj);
    bool abstract;
    char **interfaces;
    size_t ninterfaces;
    qom_class *klass;              /* created on first use */
    qom_property **props;          /* this type's own class properties */
    size_t nprops, cap;
};

typedef struct qom__cover qom__cover;
struct qom__weak { qom_object *holder; size_t offset; };
typedef struct qom__subscription qom__subscription;

struct qom_registry {
    pthread_mutex_t lock;          /* taken recursively, see qom__lock */
    NOTIFY__ATOMIC(const void *) owner; /* the holder's qom__self token */
    unsigned depth;                /* (lock) */
    qom_type **types;
    size_t ntypes, tcap;
    qom_object *root;
    qom_lifecycle_list lifecycle;
    qom__subscription **subs;      /* live subscriptions */
    size_t nsubs, scap;
    struct qom__weak *weak;        /* weak link slots */
    size_t nweak, wcap;
    NOTIFY__ATOMIC(long) objects;  /* allocated objects, for leak checks */
};

struct qom__cover {
    notify_sub node;               /* on the source's event list */
    qom__subscription *sub;
    qom_object *source;
    qom__cover *next;              /* (lock) in sub->covers */
    NOTIFY__ATOMIC(int) owners;    /* the list (until released) + the chain */
};

struct qom__subscription {
    qom_object obj;
    qom_lifecycle_sub lifecycle;   /* type-wide: hears objects come and go */
    qom_sink *sink;
    qom_object *source;            /* by path: a strong reference; by type: NULL */
    char *source_desc;             /* path, or type name */
    char *property;
    char *type_name;               /* by type */
    const qom_event_info *event;
    qom__cover *covers;            /* (lock) */
    NOTIFY__ATOMIC(int) dead;
    qom_sink *owned_sink;          /* a native sink made for it */
};

typedef struct qom__native_sink {
    qom_sink sink;
    qom_native_fn fn;
    void *opaque;
} qom__native_sink;

/* A recursive lock from a plain mutex: each thread is known by the address
 * of a thread-local token; only the holder can find its own token in
 * `owner`, so reading it unlocked is safe. */
static NOTIFY__TLS char qom__self;
static void qom__lock(qom_registry *reg)
{
    if (notify__load_relaxed(&reg->owner) == (const void *)&qom__self) {
        reg->depth++;
        return;
    }
    pthread_mutex_lock(&reg->lock);
    notify__store_relaxed(&reg->owner, (const void *)&qom__self);
    reg->depth = 1;
}
static void qom__unlock(qom_registry *reg)
{
    if (--reg->depth == 0) {
        notify__store_relaxed(&reg->owner, (const void *)NULL);
        pthread_mutex_unlock(&reg->lock);
    }
}

static int qom__set_error(qom_error *err, int code, qom_error_class cls, const char *fmt, ...)
{
    if (err != NULL) {
        va_list ap;
        err->code = code;
        err->cls = cls;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return code;
}

static char *qom__strdup(const char *s)
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

static int qom__grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    void *n;
    size_t c;
    if (need <= *cap)
        return 0;
    c = *cap ? *cap * 2 : 8;
    while (c < need)
        c *= 2;
    n = realloc(*arr, c * elem);
    if (n == NULL)
        return -ENOMEM;
    *arr = n;
    *cap = c;
    return 0;
}

/* ---- values ---- */

qom_value qom_value_bool(bool b) { qom_value v; memset(&v, 0, sizeof v); v.kind = QOM_VALUE_BOOL; v.b = b; return v; }
qom_value qom_value_int(int64_t i) { qom_value v; memset(&v, 0, sizeof v); v.kind = QOM_VALUE_INT; v.i = i; return v; }
qom_value qom_value_uint(uint64_t u) { qom_value v; memset(&v, 0, sizeof v); v.kind = QOM_VALUE_UINT; v.u = u; return v; }
qom_value qom_value_str(const char *s) { qom_value v; memset(&v, 0, sizeof v); v.kind = QOM_VALUE_STR; v.s = (char *)s; return v; }
void qom_value_clear(qom_value *v)
{
    if (v->kind == QOM_VALUE_STR || v->kind == QOM_VALUE_PATH)
        free(v->s);
    memset(v, 0, sizeof *v);
}

static int qom__owned_str(qom_value *out, qom_value_kind kind, const char *s)
{
    memset(out, 0, sizeof *out);
    out->kind = kind;
    out->s = qom__strdup(s != NULL ? s : "");
    return out->s != NULL ? 0 : -ENOMEM;
}

/* ---- types ---- */

static qom_type *qom__type_find(qom_registry *reg, const char *name)
{
    size_t i;
    if (name == NULL)
        return NULL;
    for (i = 0; i < reg->ntypes; i++)
        if (strcmp(reg->types[i]->name, name) == 0)
            return reg->types[i];
    return NULL;
}

const qom_type *qom_type_lookup(qom_registry *reg, const char *name)
{
    const qom_type *t;
    qom__lock(reg);
    t = qom__type_find(reg, name);
    qom__unlock(reg);
    return t;
}

const char *qom_type_name(const qom_type *type) { return type->name; }
const char *qom_type_parent_name(const qom_type *type) { return type->parent ? type->parent->name : NULL; }
bool qom_type_is_abstract(const qom_type *type) { return type->abstract; }

bool qom_type_is_a(const qom_type *type, const char *name)
{
    const qom_type *t;
    size_t i;
    for (t = type; t != NULL; t = t->parent) {
        if (strcmp(t->name, name) == 0)
            return true;
        for (i = 0; i < t->ninterfaces; i++)
            if (strcmp(t->interfaces[i], name) == 0)
                return true;
    }
    return false;
}

static void qom__property_free(qom_property *p)
{
    if (p == NULL)
        return;
    free(p->name);
    free(p->type);
    free(p->description);
    free(p);
}

static qom_property *qom__property_copy(const qom_property *def)
{
    qom_property *p = (qom_property *)calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    *p = *def;
    p->name = qom__strdup(def->name);
    p->type = qom__strdup(def->type);
    p->description = qom__strdup(def->description);
    if (p->name == NULL || p->type == NULL || (def->description && !p->description)) {
        qom__property_free(p);
        return NULL;
    }
    return p;
}

int qom_type_register(qom_registry *reg, const qom_type_info *info, qom_error *err)
{
    qom_type *t, *parent = NULL;
    size_t i, n = 0;
    int rc = 0;

    if (reg == NULL || info == NULL || info->name == NULL || info->name[0] == 0)
        return qom__set_error(err, -EINVAL, QOM_ERROR_GENERIC, "Type name is missing");
    qom__lock(reg);
    if (qom__type_find(reg, info->name) != NULL) {
        rc = qom__set_error(err, -EEXIST, QOM_ERROR_GENERIC,
                            "Type '%s' is already registered", info->name);
        goto out;
    }
    if (info->parent != NULL && (parent = qom__type_find(reg, info->parent)) == NULL) {
        rc = qom__set_error(err, -ENOENT, QOM_ERROR_GENERIC,
                            "Type '%s' has unknown parent '%s'", info->name, info->parent);
        goto out;
    }
    if (parent != NULL && ((info->instance_size && info->instance_size < parent->instance_size) ||
                           (info->class_size && info->class_size < parent->class_size))) {
        rc = qom__set_error(err, -EINVAL, QOM_ERROR_GENERIC,
                            "Type '%s' is smaller than its parent '%s'", info->name, info->parent);
        goto out;
    }
    if (qom__grow((void **)&reg->types, &reg->tcap, reg->ntypes + 1, sizeof *reg->types) ||
        (t = (qom_type *)calloc(1, sizeof *t)) == NULL) {
        rc = qom__set_error(err, -ENOMEM, QOM_ERROR_GENERIC, "Out of memory");
        goto out;
    }
    t->name = qom__strdup(info->name);
    t->parent_name = qom__strdup(info->parent);
    t->parent = parent;
    t->instance_size = info->instance_size ? info->instance_size
                     : parent ? parent->instance_size : sizeof(qom_object);
    t->class_size = info->class_size ? info->class_size
                  : parent ? parent->class_size : sizeof(qom_class);
    t->class_init = info->class_init;
    t->class_data = info->class_data;
    t->instance_init = info->instance_init;
    t->instance_finalize = info->instance_finalize;
    t->abstract = info->abstract;
    if (info->interfaces != NULL)
        while (info->interfaces[n] != NULL)
            n++;
    t->interfaces = n ? (char **)calloc(n, sizeof(char *)) : NULL;
    for (i = 0; i < n && t->interfaces; i++)
        t->interfaces[i] = qom__strdup(info->interfaces[i]);
    t->ninterfaces = t->interfaces ? n : 0;
    reg->types[reg->ntypes++] = t;
out:
    qom__unlock(reg);
    return rc;
}

/* Under the lock: the class, created (parent's copied, then class_init). */
static qom_class *qom__class_of(qom_type *t)
{
    if (t->klass == NULL) {
        qom_class *k = (qom_class *)calloc(1, t->class_size);
        if (k == NULL)
            return NULL;
        if (t->parent != NULL) {
            qom_class *pk = qom__class_of(t->parent);
            if (pk == NULL) {
                free(k);
                return NULL;
            }
            memcpy(k, pk, t->parent->class_size);
        }
        k->type = t;
        t->klass = k;
        if (t->class_init != NULL)
            t->class_init(k, t->class_data);
    }
    return t->klass;
}

void qom_type_foreach(qom_registry *reg, const char *implements, bool include_abstract,
                      void (*fn)(void *opaque, const qom_type *type), void *opaque)
{
    size_t i;
    qom__lock(reg);
    for (i = 0; i < reg->ntypes; i++) {
        qom_type *t = reg->types[i];
        if (t->abstract && !include_abstract)
            continue;
        if (implements == NULL || qom_type_is_a(t, implements))
            fn(opaque, t);
    }
    qom__unlock(reg);
}

/* ---- class properties ---- */

int qom_class_property_add(qom_class *klass, const qom_property *def)
{
    qom_type *t = (qom_type *)klass->type;
    qom_property *p;
    if (def == NULL || def->name == NULL || def->type == NULL)
        return -EINVAL;
    if (qom__grow((void **)&t->props, &t->cap, t->nprops + 1, sizeof *t->props))
        return -ENOMEM;
    if ((p = qom__property_copy(def)) == NULL)
        return -ENOMEM;
    t->props[t->nprops++] = p;
    return 0;
}

static int qom__get_bool(qom_object *obj, qom_property *p, qom_value *out, qom_error *err)
{
    (void)err;
    *out = qom_value_bool(*(bool *)((char *)obj + p->offset));
    return 0;
}
static int qom__set_bool(qom_object *obj, qom_property *p, const qom_value *in, qom_error *err)
{
    if (in->kind != QOM_VALUE_BOOL)
        return qom__set_error(err, -EINVAL, QOM_ERROR_GENERIC,
                              "Invalid parameter type for '%s', expected: %s", p->name, "boolean");
    *(bool *)((char *)obj + p->offset) = in->b;
    return 0;
}
static int qom__get_int(qom_object *obj, qom_property *p, qom_value *out, qom_error *err)
{
    (void)err;
    *out = qom_value_int(*(int64_t *)((char *)obj + p->offset));
    return 0;
}
static int qom__set_int(qom_object *obj, qom_property *p, const qom_value *in, qom_error *err)
{
    int64_t v;
    if (in->kind == QOM_VALUE_INT)
        v = in->i;
    else if (in->kind == QOM_VALUE_UINT && in->u <= (uint64_t)INT64_MAX)
        v = (int64_t)in->u;
    else
        return qom__set_error(err, -EINVAL, QOM_ERROR_GENERIC,
                              "Invalid parameter type for '%s', expected: %s", p->name, "integer");
    *(int64_t *)((char *)obj + p->offset) = v;
    return 0;
}
static int qom__get_uint(qom_object *obj, qom_property *p, qom_value *out, qom_error *err)
{
    (void)err;
    *out = qom_value_uint(*(uint64_t *)((char *)obj + p->offset));
    return 0;
}
static int qom__set_uint(qom_object *obj, qom_property *p, const qom_value *in, qom_error *err)
{
    uint64_t v;
    if (in->kind == QOM_VALUE_UINT)
        v = in->u;
    else if (in->kind == QOM_VALUE_INT && in->i >= 0)
        v = (uint64_t)in->i;
    else
        return qom__set_error(err, -EINVAL, QOM_ERROR_GENERIC,
                              "Invalid parameter type for '%s', expected: %s", p->name, "integer");
    *(uint64_t *)((char *)obj + p->offset) = v;
    return 0;
}
static int qom__get_str(qom_object *obj, qom_property *p, qom_value *out, qom_error *err)
{
    (void)err;
    return qom__owned_str(out, QOM_VALUE_STR, *(char **)((char *)obj + p->offset));
}
static int qom__set_str(qom_object *obj, qom_property *p, const qom_value *in, qom_error *err)
{
    char **field = (char **)((char *)obj + p->offset), *copy;
    if (in->kind != QOM_VALUE_STR || in->s == NULL)
        return qom__set_error(err, -EINVAL, QOM_ERROR_GENERIC,
                              "Invalid parameter type for '%s', expected: %s", p->name, "string");
    if ((copy = qom__strdup(in->s)) == NULL)
        return qom__set_error(err, -ENOMEM, QOM_ERROR_GENERIC, "Out of memory");
    free(*field);
    *field = copy;
    return 0;
}

static int qom__class_add_field(qom_class *klass, const char *name, const char *type,
                                size_t offset, qom_getter get, qom_setter set,
                                const char *description, unsigned flags)
{
    qom_property def;
    memset(&def, 0, sizeof def);
    def.name = (char *)name;
    def.type = (char *)type;
    def.description = (char *)description;
    def.get = get;
    def.set = set;
    def.offset = offset;
    def.flags = flags;
    return qom_class_property_add(klass, &def);
}

int qom_class_add_bool(qom_class *k, const char *name, size_t offset, bool writable, const char *d)
{ return qom__class_add_field(k, name, "bool", offset, qom__get_bool, writable ? qom__set_bool : NULL, d, 0); }
int qom_class_add_int(qom_class *k, const char *name, size_t offset, bool writable, const char *d)
{ return qom__class_add_field(k, name, "int", offset, qom__get_int, writable ? qom__set_int : NULL, d, 0); }
int qom_class_add_uint(qom_class *k, const char *name, size_t offset, bool writable, const char *d)
{ return qom__class_add_field(k, name, "uint", offset, qom__get_uint, writable ? qom__set_uint : NULL, d, 0); }
int qom_class_add_str(qom_class *k, const char *name, size_t offset, bool writable, const char *d)
{ return qom__class_add_field(k, name, "str", offset, qom__get_str, writable ? qom__set_str : NULL, d, QOM__P_OWNED_STR); }

/* ---- objects ---- */

static char *qom__path_locked(qom_object *obj);
static qom_object *qom__resolve_locked(qom_registry *reg, const char *path, bool *ambiguous);

static const char *qom__link_target(const qom_property *p, char *buf, size_t size)
{
    const char *lt = strchr(p->type, '<');
    size_t n;
    if (lt == NULL)
        return "object";
    n = strlen(lt + 1);
    if (n == 0 || n >= size)
        return "object";
    memcpy(buf, lt + 1, n - 1);
    buf[n - 1] = 0;
    return buf;
}

/* Weak links hold no reference: the registry remembers each set slot, so
 * that a target's finalization clears the slots pointing at it. */
static void qom__weak_forget(qom_registry *reg, qom_object *holder, size_t offset)
{
    size_t i;
    for (i = 0; i < reg->nweak; i++)
        if (reg->weak[i].holder == holder && reg->weak[i].offset == offset) {
            reg->weak[i] = reg->weak[--reg->nweak];
            return;
        }
}

/* Under the lock, obj being finalized: clear weak links to it, and forget
 * its own. */
static void qom__weak_finalize(qom_object *obj)
{
    qom_registry *reg = obj->reg;
    size_t i = 0;
    while (i < reg->nweak) {
        struct qom__weak *w = &reg->weak[i];
        qom_object **slot = (qom_object **)(void *)((char *)w->holder + w->offset);
        if (*slot == obj)
            *slot = NULL;
        if (*slot == NULL || w->holder == obj)
            *w = reg->weak[--reg->nweak];
        else
            i++;
    }
}

static int qom__get_link(qom_object *obj, qom_property *p, qom_value *out, qom_error *err)
{
    qom_object *target = *(qom_object **)((char *)obj + p->offset);
    char *path = target ? qom__path_locked(target) : NULL;
    int rc;
    (void)err;
    rc = qom__owned_str(out, QOM_VALUE_PATH, path ? path : "");
    free(path);
    return rc;
}

static int qom__set_link(qom_object *obj, qom_property *p, const qom_value *in, qom_error *err)
{
    qom_object **slot = (qom_object **)((char *)obj + p->offset), *target = NULL, *old;
    char buf[160];
    const char *want = qom__link_target(p, buf, sizeof buf);
    bool ambiguous = false;
    if ((in->kind != QOM_VALUE_STR && in->kind != QOM_VALUE_PATH) || in->s == NULL)
        return qom__set_error(err, -EINVAL, QOM_ERROR_GENERIC,
                              "Invalid parameter type for '%s', expected: %s", p->name, "string");
    if (in->s[0] != 0) {
        target = qom__resolve_locked(obj->reg, in->s, &ambiguous);
        if (target == NULL)
            return ambiguous
                ? qom__set_error(err, -EINVAL, QOM_ERROR_GENERIC,
                                 "Path '%s' does not uniquely identify an object", in->s)
                : qom__set_error(err, -ENOENT, QOM_ERROR_DEVICE_NOT_FOUND,
                                 "Device '%s' not found", in->s);
        if (!qom_type_is_a(target->klass->type, want)) {
            qom_object_unref(target);
            return qom__set_error(err, -EINVAL, QOM_ERROR_GENERIC,
                                  "Invalid parameter type for '%s', expected: %s", p->name, want);
        }
        if (!(p->flags & QOM__P_STRONG)) {
            /* weak: the slot holds no reference, but is cleared if the
             * target goes */
            if (qom__grow((void **)&obj->reg->weak, &obj->reg->wcap, obj->reg->nweak + 1,
                          sizeof *obj->reg->weak) != 0) {
                qom_object_unref(target);
                return qom__set_error(err, -ENOMEM, QOM_ERROR_GENERIC, "Out of memory");
            }
            qom_object_unref(target);
        }
    }
    if (!(p->flags & QOM__P_STRONG)) {
        qom__weak_forget(obj->reg, obj, p->offset);
        if (target != NULL) {
            obj->reg->weak[obj->reg->nweak].holder = obj;
            obj->reg->weak[obj->reg->nweak++].offset = p->offset;
        }
    }
    old = *slot;
    *slot = target;
    if ((p->flags & QOM__P_STRONG) && old != NULL)
        qom_object_unref(old);
    return 0;
}

int qom_class_add_link(qom_class *klass, const char *name, const char *target_type,
                       size_t offset, bool strong, const char *description)
{
    char type[160];
    if (snprintf(type, sizeof type, "link<%s>", target_type) >= (int)sizeof type)
        return -EINVAL;
    return qom__class_add_field(klass, name, type, offset, qom__get_link, qom__set_link,
                                description, QOM__P_LINK | (strong ? QOM__P_STRONG : 0));
}

int qom_class_add_event(qom_class *klass, const char *name, size_t list_offset,
                        notify_fn deliver, const qom_event_info *event,
                        const char *description)
{
    qom_property def;
    char type[160];
    if (event == NULL || deliver == NULL ||
        snprintf(type, sizeof type, "event<%s>", event->name) >= (int)sizeof type)
        return -EINVAL;
    memset(&def, 0, sizeof def);
    def.name = (char *)name;
    def.type = type;
    def.description = (char *)description;
    def.offset = list_offset;
    def.event = event;
    def.deliver = deliver;
    def.flags = QOM__P_EVENT;
    return qom_class_property_add(klass, &def);
}

/* Under the lock: find a property (instance, then class chain). */
static qom_property *qom__prop_find(qom_object *obj, const char *name)
{
    const qom_type *t;
    size_t i;
    for (i = 0; i < obj->nprops; i++)
        if (strcmp(obj->props[i]->name, name) == 0)
            return obj->props[i];
    for (t = obj->klass->type; t != NULL; t = t->parent)
        for (i = 0; i < t->nprops; i++)
            if (strcmp(t->props[i]->name, name) == 0)
                return t->props[i];
    return NULL;
}

const qom_property *qom_property_find(qom_object *obj, const char *name)
{
    const qom_property *p;
    qom__lock(obj->reg);
    p = qom__prop_find(obj, name);
    qom__unlock(obj->reg);
    return p;
}

static void qom__init_chain(qom_object *obj, const qom_type *t)
{
    if (t == NULL)
        return;
    qom__init_chain(obj, t->parent);
    if (t->instance_init != NULL)
        t->instance_init(obj);
}

qom_object *qom_object_new(qom_registry *reg, const char *type_name, qom_error *err)
{
    qom_type *t;
    qom_class *k;
    qom_object *obj = NULL;

    if (reg == NULL || type_name == NULL) {
        qom__set_error(err, -EINVAL, QOM_ERROR_GENERIC, "Parameter 'typename' is missing");
        return NULL;
    }
    qom__lock(reg);
    t = qom__type_find(reg, type_name);
    if (t == NULL) {
        qom__set_error(err, -ENOENT, QOM_ERROR_GENERIC, "Invalid object type '%s'", type_name);
    } else if (t->abstract) {
        qom__set_error(err, -EINVAL, QOM_ERROR_GENERIC, "Object type '%s' is abstract", type_name);
    } else if ((k = qom__class_of(t)) == NULL ||
               (obj = (qom_object *)calloc(1, t->instance_size)) == NULL) {
        qom__set_error(err, -ENOMEM, QOM_ERROR_GENERIC, "Out of memory");
    } else {
        obj->klass = k;
        obj->reg = reg;
        notify__store_relaxed(&obj->ref, 1);
        notify__store_relaxed(&obj->hold, 1);
        NOTIFY__STD atomic_fetch_add(&reg->objects, 1L);
        /* event lists start empty: calloc'd zero is NOTIFY_LIST_INIT */
        qom__init_chain(obj, t);
    }
    qom__unlock(reg);
    return obj;
}

/* A reference, unless the count already reached 0: an unref that got
 * there first is waiting for the lock to finalize it. */
static bool qom__try_ref(qom_object *obj)
{
    int r = notify__load_relaxed(&obj->ref);
    while (r > 0)
        if (NOTIFY__STD atomic_compare_exchange_weak_explicit(&obj->ref, &r, r + 1,
                NOTIFY__MO(relaxed), NOTIFY__MO(relaxed)))
            return true;
    return false;
}

void qom_object_ref(qom_object *obj)
{
    if (obj != NULL) {
        int was = NOTIFY__STD atomic_fetch_add_explicit(&obj->ref, 1, NOTIFY__MO(relaxed));
        NOTIFY_ASSERT(was > 0, "qom_object_ref: the object is being finalized "
                               "(a subscription passed to deliver is borrowed)");
        (void)was;
    }
}

const char *qom_object_type_name(const qom_object *obj) { return obj->klass->type->name; }
const qom_type *qom_object_type(const qom_object *obj) { return obj->klass->type; }

qom_object *qom_dynamic_cast(qom_object *obj, const char *type_name)
{
    return obj != NULL && qom_type_is_a(obj->klass->type, type_name) ? obj : NULL;
}

qom_object *qom__checked_cast(qom_object *obj, const char *type_name, const char *file, int line)
{
    qom_object *r = qom_dynamic_cast(obj, type_name);
#if NOTIFY_DEBUG
    if (r == NULL && obj != NULL) {
        char msg[200];
        snprintf(msg, sizeof msg, "QOM_CAST: object of type '%s' is not a '%s'",
                 obj->klass->type->name, type_name);
        notify__assert_fail(msg, file, line);
    }
#else
    (void)file; (void)line;
#endif
    return r;
}

/* Under the lock: the canonical path, malloc'd, or NULL if detached. */
static char *qom__path_locked(qom_object *obj)
{
    size_t len = 0, pos;
    qom_object *o;
    char *path;
    if (obj == obj->reg->root)
        return qom__strdup("/");
    for (o = obj; o != obj->reg->root; o = o->parent) {
        if (o->parent == NULL)
            return NULL;
        len += strlen(o->name) + 1;
    }
    if ((path = (char *)malloc(len + 1)) == NULL)
        return NULL;
    path[len] = 0;
    pos = len;
    for (o = obj; o != obj->reg->root; o = o->parent) {
        size_t n = strlen(o->name);
        pos -= n;
        memcpy(path + pos, o->name, n);
        path[--pos] = '/';
    }
    return path;
}

char *qom_object_path(qom_object *obj)
{
    char *p;
    qom__lock(obj->reg);
    p = qom__path_locked(obj);
    qom__unlock(obj->reg);
    return p;
}

char *qom_object_name(qom_object *obj)
{
    char *n;
    qom__lock(obj->reg);
    n = qom__strdup(obj->name);
    qom__unlock(obj->reg);
    return n;
}

static bool qom__in_tree(qom_object *obj)
{
    qom_object *o;
    for (o = obj; o != NULL; o = o->parent)
        if (o == obj->reg->root)
            return true;
    return false;
}

static void qom__on_added(qom_object *obj, void *opaque);
static void qom__on_removed(qom_object *obj, void *opaque);

/* Under the lock: call fn on obj and every descendant (parents first). */
static void qom__subtree(qom_object *obj, void (*fn)(qom_object *, void *), void *opaque)
{
    qom_object **kids;
    size_t i, n = 0;
    fn(obj, opaque);
    /* fn may change obj's children (ending subscriptions stored beside
     * it): walk a snapshot, each child held meanwhile */
    if (obj->nprops == 0)
        return;
    kids = (qom_object **)malloc(obj->nprops * sizeof *kids);
    if (kids == NULL)
        return;
    for (i = 0; i < obj->nprops; i++)
        if ((obj->props[i]->flags & QOM__P_CHILD) && qom__try_ref(obj->props[i]->child))
            kids[n++] = obj->props[i]->child;
    for (i = 0; i < n; i++) {
        if (kids[i]->parent == obj)
            qom__subtree(kids[i], fn, opaque);
        qom_object_unref(kids[i]);
    }
    free(kids);
}

static int qom__get_child(qom_object *obj, qom_property *p, qom_value *out, qom_error *err)
{
    char *path = qom__path_locked(p->child);
    int rc;
    (void)obj; (void)err;
    rc = qom__owned_str(out, QOM_VALUE_PATH, path ? path : "");
    free(path);
    return rc;
}

int qom_object_add_child(qom_object *parent, const char *name, qom_object *child, qom_error *err)
{
    qom_registry *reg;
    qom_property def, *p;
    char type[160], *final_name = NULL;
    size_t n;
    int rc = 0;

    if (parent == NULL || child == NULL || name == NULL || name[0] == 0 || strchr(name, '/'))
        return qom__set_error(err, -EINVAL, QOM_ERROR_GENERIC, "Invalid child name '%s'",
                              name ? name : "");
    reg = parent->reg;
    qom__lock(reg);
    if (child->parent != NULL || child == reg->root) {
        rc = qom__set_error(err, -EBUSY, QOM_ERROR_GENERIC,
                            "Object is already a child of another object");
        goto out;
    }
    {
        qom_object *a;
        for (a = parent; a != NULL; a = a->parent)
            if (a == child) {
                rc = qom__set_error(err, -ELOOP, QOM_ERROR_GENERIC,
                                    "Cannot add an object below itself");
                goto out;
            }
    }
    n = strlen(name);
    if (n >= 3 && strcmp(name + n - 3, "[*]") == 0) {
        unsigned i;
        final_name = (char *)malloc(n + 16);
        for (i = 0; final_name != NULL; i++) {
            snprintf(final_name, n + 16, "%.*s[%u]", (int)(n - 3), name, i);
            if (qom__prop_find(parent, final_name) == NULL)
                break;
        }
    } else {
        final_name = qom__strdup(name);
        if (final_name != NULL && qom__prop_find(parent, final_name) != NULL) {
            rc = qom__set_error(err, -EEXIST, QOM_ERROR_GENERIC,
                                "attempt to add duplicate property '%s' to object (type '%s')",
                                name, parent->klass->type->name);
            goto out;
        }
    }
    if (final_name == NULL ||
        qom__grow((void **)&parent->props, &parent->cap, parent->nprops + 1, sizeof *parent->props)) {
        rc = qom__set_error(err, -ENOMEM, QOM_ERROR_GENERIC, "Out of memory");
        goto out;
    }
    snprintf(type, sizeof type, "child<%s>", child->klass->type->name);
    memset(&def, 0, sizeof def);
    def.name = final_name;
    def.type = type;
    def.get = qom__get_child;
    def.child = child;
    def.flags = QOM__P_CHILD;
    if ((p = qom__property_copy(&def)) == NULL) {
        rc = qom__set_error(err, -ENOMEM, QOM_ERROR_GENERIC, "Out of memory");
        goto out;
    }
    parent->props[parent->nprops++] = p;
    qom_object_ref(child);
    child->parent = parent;
    child->name = final_name;
    final_name = NULL;
    if (qom__in_tree(child))
        qom__subtree(child, qom__on_added, NULL);
out:
    free(final_name);
    qom__unlock(reg);
    return rc;
}

qom_object *qom_object_new_child(qom_object *parent, const char *name, const char *type_name,
                                 qom_error *err)
{
    qom_object *obj;
    if (parent == NULL) {
        qom__set_error(err, -EINVAL, QOM_ERROR_GENERIC, "No parent");
        return NULL;
    }
    obj = qom_object_new(parent->reg, type_name, err);
    if (obj == NULL)
        return NULL;
    if (qom_object_add_child(parent, name, obj, err) != 0) {
        qom_object_unref(obj);
        return NULL;
    }
    qom_object_unref(obj);
    return obj;
}

int qom_object_unparent(qom_object *obj)
{
    qom_registry *reg;
    qom_object *parent;
    size_t i;
    if (obj == NULL)
        return -EINVAL;
    reg = obj->reg;
    qom__lock(reg);
    parent = obj->parent;
    if (parent == NULL) {
        qom__unlock(reg);
        return -ENOENT;
    }
    if (qom__in_tree(obj))
        qom__subtree(obj, qom__on_removed, NULL);
    for (i = 0; i < parent->nprops; i++) {
        qom_property *p = parent->props[i];
        if ((p->flags & QOM__P_CHILD) && p->child == obj) {
            memmove(&parent->props[i], &parent->props[i + 1],
                    (parent->nprops - i - 1) * sizeof *parent->props);
            parent->nprops--;
            qom__property_free(p);
            break;
        }
    }
    obj->parent = NULL;
    free(obj->name);
    obj->name = NULL;
    qom_object_unref(obj);
    qom__unlock(reg);
    return 0;
}

/* ---- lifetime ---- */

static bool qom__has_events(const qom_type *t)
{
    size_t i;
    for (; t != NULL; t = t->parent)
        for (i = 0; i < t->nprops; i++)
            if (t->props[i]->flags & QOM__P_EVENT)
                return true;
    return false;
}

/* The memory goes when nothing holds it: the object itself (until
 * finalized) and each subscription node emitters may still reach. */
static void qom__hold_put(qom_object *obj)
{
    qom_registry *reg = obj->reg;
    if (NOTIFY__STD atomic_fetch_sub_explicit(&obj->hold, 1, NOTIFY__MO(acq_rel)) != 1)
        return;
    if (obj->flags & QOM__F_SUBSCRIPTION) {
        qom__subscription *s = (qom__subscription *)(void *)obj;
        if (s->sink != NULL && s->sink->release != NULL)
            s->sink->release(s->sink, obj);
        free(s->owned_sink);
        free(s->source_desc);
        free(s->property);
        free(s->type_name);
    }
#if QOM_LITE_DEBUG
    memset((void *)obj, 0x6b, obj->klass->type->instance_size);
#endif
    free(obj);
    NOTIFY__STD atomic_fetch_sub(&reg->objects, 1L);
}

/* After a grace period: free once every event list is out of notify.h's
 * hands (a late emitter may have queued one again meanwhile). */
static void qom__free_when_idle(notify_sub *node)
{
    qom_object *obj = notify_container_of(node, qom_object, free_node);
    const qom_type *t;
    size_t i;
    for (t = obj->klass->type; t != NULL; t = t->parent)
        for (i = 0; i < t->nprops; i++)
            if ((t->props[i]->flags & QOM__P_EVENT) &&
                !notify_list_idle((notify_list *)(void *)((char *)obj + t->props[i]->offset))) {
                notify_defer(node, qom__free_when_idle);
                return;
            }
    qom__hold_put(obj);
}

static void qom__forget_source(qom_object *obj);

/* Under the lock, reference count 0. */
static void qom__finalize(qom_object *obj)
{
    const qom_type *t;
    size_t i;
    obj->flags |= QOM__F_FINALIZED;
    /* no subscription may keep a node on lists about to be cleared */
    qom__forget_source(obj);
    qom__weak_finalize(obj);
    for (t = obj->klass->type; t != NULL; t = t->parent)
        if (t->instance_finalize != NULL)
            t->instance_finalize(obj);
    /* children go with their parent */
    for (;;) {
        qom_object *child = NULL;
        for (i = 0; i < obj->nprops && child == NULL; i++)
            if (obj->props[i]->flags & QOM__P_CHILD)
                child = obj->props[i]->child;
        if (child == NULL)
            break;
        qom_object_unparent(child);
    }
    for (i = 0; i < obj->nprops; i++)
        qom__property_free(obj->props[i]);
    free(obj->props);
    obj->props = NULL;
    obj->nprops = 0;
    for (t = obj->klass->type; t != NULL; t = t->parent) {
        for (i = 0; i < t->nprops; i++) {
            qom_property *p = t->props[i];
            void *field = (char *)obj + p->offset;
            if (p->flags & QOM__P_OWNED_STR) {
                free(*(char **)field);
                *(char **)field = NULL;
            } else if ((p->flags & QOM__P_STRONG) && *(qom_object **)field != NULL) {
                qom_object *target = *(qom_object **)field;
                *(qom_object **)field = NULL;
                qom_object_unref(target);
            } else if (p->flags & QOM__P_EVENT) {
                /* never waits: we hold the registry lock */
                notify_list_clear_async((notify_list *)field);
            }
        }
    }
    if (qom__has_events(obj->klass->type))
        notify_defer(&obj->free_node, qom__free_when_idle);
    else
        qom__hold_put(obj);
}

void qom_object_unref(qom_object *obj)
{
    qom_registry *reg;
    if (obj == NULL)
        return;
    if (NOTIFY__STD atomic_fetch_sub_explicit(&obj->ref, 1, NOTIFY__MO(acq_rel)) != 1)
        return;
    reg = obj->reg;
    qom__lock(reg);
    qom__finalize(obj);
    qom__unlock(reg);
    /* Without waiting, release what can be released; never while this
     * thread still holds the lock (an outer call will). */
    if (notify__load_relaxed(&reg->owner) != (const void *)&qom__self)
        notify_reclaim();
}

/* ---- paths ---- */

/* Under the lock: one path component from obj (child or link), or NULL. */
static qom_object *qom__step(qom_object *obj, const char *name, size_t len)
{
    size_t i;
    const qom_type *t;
    for (i = 0; i < obj->nprops; i++) {
        qom_property *p = obj->props[i];
        if ((p->flags & QOM__P_CHILD) && strlen(p->name) == len && memcmp(p->name, name, len) == 0)
            return p->child;
    }
    for (t = obj->klass->type; t != NULL; t = t->parent)
        for (i = 0; i < t->nprops; i++) {
            qom_property *p = t->props[i];
            if ((p->flags & QOM__P_LINK) && strlen(p->name) == len &&
                memcmp(p->name, name, len) == 0)
                return *(qom_object **)((char *)obj + p->offset);
        }
    return NULL;
}

/* Under the lock: follow a relative path ("a/b") from obj. Empty
 * components are skipped, as QEMU does ("//a/" is "/a"). */
static qom_object *qom__walk(qom_object *obj, const char *path)
{
    while (obj != NULL && *path) {
        const char *slash = strchr(path, '/');
        size_t len = slash ? (size_t)(slash - path) : strlen(path);
        if (len != 0)
            obj = qom__step(obj, path, len);
        path += len + (slash ? 1 : 0);
    }
    return obj;
}

/* Under the lock: partial resolution from every object below obj. */
static void qom__partial(qom_object *obj, const char *path, qom_object **found, int *count)
{
    qom_object *m = qom__walk(obj, path);
    size_t i;
    if (m != NULL) {   /* any second match is ambiguous, as in QEMU */
        *found = m;
        (*count)++;
    }
    for (i = 0; i < obj->nprops && *count < 2; i++)
        if (obj->props[i]->flags & QOM__P_CHILD)
            qom__partial(obj->props[i]->child, path, found, count);
}

static qom_object *qom__resolve_locked(qom_registry *reg, const char *path, bool *ambiguous)
{
    qom_object *found = NULL;
    int count = 0;
    if (ambiguous != NULL)
        *ambiguous = false;
    if (path == NULL || path[0] == 0)
        return NULL;
    if (path[0] == '/') {
        found = qom__walk(reg->root, path + 1);
    } else {
        qom__partial(reg->root, path, &found, &count);
        if (count > 1) {
            if (ambiguous != NULL)
                *ambiguous = true;
            found = NULL;
        }
    }
    /* an object whose last reference is gone (its finalize waiting for
     * the lock) is as good as not found */
    if (found != NULL && !qom__try_ref(found))
        found = NULL;
    return found;
}

qom_object *qom_resolve(qom_registry *reg, const char *path, bool *ambiguous)
{
    qom_object *o;
    qom__lock(reg);
    o = qom__resolve_locked(reg, path, ambiguous);
    qom__unlock(reg);
    return o;
}

qom_object *qom_resolve_err(qom_registry *reg, const char *path, qom_error *err)
{
    bool ambiguous;
    qom_object *o;
    if (path == NULL) {
        qom__set_error(err, -EINVAL, QOM_ERROR_GENERIC, "Parameter 'path' is missing");
        return NULL;
    }
    o = qom_resolve(reg, path, &ambiguous);
    if (o == NULL) {
        if (ambiguous)
            qom__set_error(err, -EINVAL, QOM_ERROR_GENERIC, "Path '%s' is ambiguous", path);
        else
            qom__set_error(err, -ENOENT, QOM_ERROR_DEVICE_NOT_FOUND, "Device '%s' not found",
                           path ? path : "");
    }
    return o;
}

qom_object *qom_container_get(qom_registry *reg, const char *path)
{
    qom_object *obj;
    const char *p = path;
    qom__lock(reg);
    obj = reg->root;
    while (obj != NULL && p != NULL && *p) {
        const char *slash;
        size_t len;
        qom_object *next;
        while (*p == '/')
            p++;
        if (!*p)
            break;
        slash = strchr(p, '/');
        len = slash ? (size_t)(slash - p) : strlen(p);
        next = qom__step(obj, p, len);
        if (next == NULL) {
            char *name = (char *)malloc(len + 1);
            if (name != NULL) {
                memcpy(name, p, len);
                name[len] = 0;
                next = qom_object_new_child(obj, name, "container", NULL);
                free(name);
            }
        }
        obj = next;
        p += len;
    }
    qom__unlock(reg);
    return obj;
}

/* ---- properties ---- */

int qom_property_add(qom_object *obj, const qom_property *def, qom_error *err)
{
    qom_property *p;
    int rc = 0;
    if (obj == NULL || def == NULL || def->name == NULL || def->type == NULL)
        return qom__set_error(err, -EINVAL, QOM_ERROR_GENERIC, "Invalid property");
    qom__lock(obj->reg);
    if (qom__prop_find(obj, def->name) != NULL) {
        rc = qom__set_error(err, -EEXIST, QOM_ERROR_GENERIC,
                            "attempt to add duplicate property '%s' to object (type '%s')",
                            def->name, obj->klass->type->name);
    } else if (qom__grow((void **)&obj->props, &obj->cap, obj->nprops + 1, sizeof *obj->props) ||
               (p = qom__property_copy(def)) == NULL) {
        rc = qom__set_error(err, -ENOMEM, QOM_ERROR_GENERIC, "Out of memory");
    } else {
        /* instance properties are plain get/set: no child, link or event
         * bookkeeping (those are class properties) */
        p->flags = 0;
        obj->props[obj->nprops++] = p;
    }
    qom__unlock(obj->reg);
    return rc;
}

static int qom__subscribe_locked(qom_object *source, qom_property *p, qom_sink *sink,
                                 qom_sink *owned, qom_object *owner, char **path_out,
                                 qom_error *err);

int qom_property_get_ctx(qom_object *obj, const char *name, qom_value *out,
                         const qom_get_ctx *ctx, qom_error *err)
{
    qom_property *p;
    int rc;
    memset(out, 0, sizeof *out);
    if (obj == NULL || name == NULL)
        return qom__set_error(err, -EINVAL, QOM_ERROR_GENERIC, "Parameter 'property' is missing");
    qom__lock(obj->reg);
    p = qom__prop_find(obj, name);
    if (p == NULL) {
        rc = qom__set_error(err, -ENOENT, QOM_ERROR_GENERIC, "Property '%s.%s' not found",
                            obj->klass->type->name, name);
    } else if (p->flags & QOM__P_EVENT) {
        char *path = NULL;
        if (ctx == NULL || ctx->sink == NULL)
            rc = qom__set_error(err, -EINVAL, QOM_ERROR_GENERIC,
                                "Property '%s.%s' is an event: getting it subscribes, "
                                "which needs a sink", obj->klass->type->name, name);
        else
            rc = qom__subscribe_locked(obj, p, ctx->sink, NULL, ctx->owner, &path, err);
        if (rc == 0) {
            out->kind = QOM_VALUE_PATH;
            out->s = path;
        }
    } else if (p->get == NULL) {
        rc = qom__set_error(err, -EACCES, QOM_ERROR_GENERIC, "Property '%s.%s' is not readable",
                            obj->klass->type->name, name);
    } else {
        rc = p->get(obj, p, out, err);
    }
    qom__unlock(obj->reg);
    return rc;
}

int qom_property_get(qom_object *obj, const char *name, qom_value *out, qom_error *err)
{
    return qom_property_get_ctx(obj, name, out, NULL, err);
}

int qom_property_set(qom_object *obj, const char *name, const qom_value *in, qom_error *err)
{
    qom_property *p;
    int rc;
    if (obj == NULL || name == NULL || in == NULL)
        return qom__set_error(err, -EINVAL, QOM_ERROR_GENERIC, "Parameter 'property' is missing");
    qom__lock(obj->reg);
    p = qom__prop_find(obj, name);
    if (p == NULL)
        rc = qom__set_error(err, -ENOENT, QOM_ERROR_GENERIC, "Property '%s.%s' not found",
                            obj->klass->type->name, name);
    else if (p->set == NULL)
        rc = qom__set_error(err, -EACCES, QOM_ERROR_GENERIC, "Property '%s.%s' is not writable",
                            obj->klass->type->name, name);
    else
        rc = p->set(obj, p, in, err);
    qom__unlock(obj->reg);
    return rc;
}

static void qom__class_props(const qom_type *t, void (*fn)(void *, const qom_property *), void *opaque)
{
    size_t i;
    if (t == NULL)
        return;
    qom__class_props(t->parent, fn, opaque);
    for (i = 0; i < t->nprops; i++)
        fn(opaque, t->props[i]);
}

void qom_property_foreach(qom_object *obj, void (*fn)(void *opaque, const qom_property *prop),
                          void *opaque)
{
    size_t i;
    qom__lock(obj->reg);
    qom__class_props(obj->klass->type, fn, opaque);
    for (i = 0; i < obj->nprops; i++)
        fn(opaque, obj->props[i]);
    qom__unlock(obj->reg);
}

int qom_type_property_foreach(qom_registry *reg, const char *type_name,
                              void (*fn)(void *opaque, const qom_property *prop),
                              void *opaque, qom_error *err)
{
    qom_type *t;
    int rc = 0;
    qom__lock(reg);
    t = qom__type_find(reg, type_name);
    if (t == NULL)
        rc = qom__set_error(err, -ENOENT, QOM_ERROR_DEVICE_NOT_FOUND, "Class '%s' not found",
                            type_name ? type_name : "");
    else if (qom__class_of(t) == NULL)
        rc = qom__set_error(err, -ENOMEM, QOM_ERROR_GENERIC, "Out of memory");
    else
        qom__class_props(t, fn, opaque);
    qom__unlock(reg);
    return rc;
}

/* ---- subscriptions ---- */

int qom__deliver(notify_sub *node, const void *payload)
{
    qom__cover *c = notify_container_of(node, qom__cover, node);
    qom__subscription *s = c->sub;
    if (!notify__load_acquire(&s->dead))
        s->sink->deliver(s->sink, &s->obj, c->source, s->event, payload);
    return 0;
}

static void qom__native_deliver(qom_sink *sink, qom_object *subscription, qom_object *source,
                                const qom_event_info *event, const void *payload)
{
    qom__native_sink *n = (qom__native_sink *)(void *)sink;
    (void)subscription; (void)event;
    n->fn(n->opaque, source, payload);
}

static qom_sink *qom__native_sink_new(qom_native_fn fn, void *opaque)
{
    qom__native_sink *n = (qom__native_sink *)calloc(1, sizeof *n);
    if (n == NULL)
        return NULL;
    n->sink.deliver = qom__native_deliver;
    n->sink.name = "native";
    n->fn = fn;
    n->opaque = opaque;
    return &n->sink;
}

/* A cover has two owners: its list (until its release hook) and its
 * subscription's chain (until dropped from it). The last one frees it. */
static void qom__cover_put(qom__cover *c)
{
    qom_object *sub = &c->sub->obj;
    if (NOTIFY__STD atomic_fetch_sub_explicit(&c->owners, 1, NOTIFY__MO(acq_rel)) != 1)
        return;
    free(c);
    qom__hold_put(sub);
}

static void qom__cover_release(notify_sub *node)
{
    qom__cover_put(notify_container_of(node, qom__cover, node));
}

/* Under the lock: subscribe one more node of `s` to source's list. */
static int qom__cover_add(qom__subscription *s, qom_object *source, const qom_property *p)
{
    qom__cover *c = (qom__cover *)calloc(1, sizeof *c);
    int rc;
    if (c == NULL)
        return -ENOMEM;
    notify_sub_init(&c->node, p->deliver, 0);
    notify_sub_set_release(&c->node, qom__cover_release);
    c->sub = s;
    c->source = source;
    notify__store_relaxed(&c->owners, 2);
    NOTIFY__STD atomic_fetch_add(&s->obj.hold, 1);
    rc = notify_subscribe((notify_list *)(void *)((char *)source + p->offset), &c->node);
    if (rc != 0) {
        NOTIFY__STD atomic_fetch_sub(&s->obj.hold, 1);
        free(c);
        return rc;
    }
    c->next = s->covers;
    s->covers = c;
    return 0;
}

/* Under the lock: unsubscribe the covers for which keep() says no; their
 * memory goes in their release hooks. */
static void qom__covers_drop(qom__subscription *s, qom_object *only)
{
    qom__cover **pc = &s->covers;
    while (*pc != NULL) {
        qom__cover *c = *pc;
        if (only == NULL || c->source == only) {
            *pc = c->next;
            /* never waits (we hold the registry lock); -ENOENT means a
             * clear of the list got there first: its release still comes */
            notify_unsubscribe_async(&c->node);
            qom__cover_put(c);
        } else {
            pc = &c->next;
        }
    }
}

static void qom__sub_unlist(qom_registry *reg, qom__subscription *s)
{
    size_t i;
    for (i = 0; i < reg->nsubs; i++)
        if (reg->subs[i] == s) {
            reg->subs[i] = reg->subs[--reg->nsubs];
            break;
        }
}

/* Under the lock: stop delivering, detach from sources, leave the tree. */
static void qom__sub_detach(qom__subscription *s)
{
    qom__covers_drop(s, NULL);
    if (s->type_name != NULL)
        notify_unsubscribe_async(&s->lifecycle.base);   /* -ENOENT once done */
}

static void qom__sub_kill(qom__subscription *s)
{
    if (notify__exchange_acq_rel(&s->dead, 1) != 0)
        return;
    qom__sub_detach(s);
    qom__sub_unlist(s->obj.reg, s);
    if (s->obj.parent != NULL)
        qom_object_unparent(&s->obj);
}

static void qom__sub_finalize(qom_object *obj)
{
    qom__subscription *s = (qom__subscription *)(void *)obj;
    qom_object *source = s->source;
    if (notify__exchange_acq_rel(&s->dead, 1) == 0)
        qom__sub_detach(s);
    qom__sub_unlist(obj->reg, s);
    s->source = NULL;
    if (source != NULL)
        qom_object_unref(source);
}

static void qom__sub_instance_init(qom_object *obj)
{
    obj->flags |= QOM__F_SUBSCRIPTION;
}

static qom__subscription *qom__sub_new(qom_registry *reg, qom_sink *sink, qom_sink *owned,
                                       qom_object *owner, const char *source_desc,
                                       const char *property, const char *type_name,
                                       const qom_event_info *event, qom_error *err)
{
    qom__subscription *s;
    qom_object *obj = qom_object_new(reg, "subscription", err);
    /* `owned` is ours from here on, success or not */
    if (obj == NULL) {
        free(owned);
        return NULL;
    }
    s = (qom__subscription *)(void *)obj;
    s->sink = sink;
    s->owned_sink = owned;
    s->event = event;
    s->source_desc = qom__strdup(source_desc);
    s->property = qom__strdup(property);
    s->type_name = qom__strdup(type_name);
    if (owner == NULL)
        owner = qom_container_get(reg, "/subscriptions");
    if (s->source_desc == NULL || s->property == NULL || (type_name && !s->type_name) ||
        qom__grow((void **)&reg->subs, &reg->scap, reg->nsubs + 1, sizeof *reg->subs)) {
        qom__set_error(err, -ENOMEM, QOM_ERROR_GENERIC, "Out of memory");
        qom_object_unref(obj);
        return NULL;
    }
    if (qom_object_add_child(owner, "sub[*]", obj, err) != 0) {
        qom_object_unref(obj);
        return NULL;
    }
    reg->subs[reg->nsubs++] = s;
    qom_object_unref(obj);   /* the tree holds it now */
    return s;
}

static int qom__subscribe_locked(qom_object *source, qom_property *p, qom_sink *sink,
                                 qom_sink *owned, qom_object *owner, char **path_out,
                                 qom_error *err)
{
    qom_registry *reg = source->reg;
    char *desc = qom__path_locked(source);
    qom__subscription *s;
    int rc;
    s = qom__sub_new(reg, sink, owned, owner, desc ? desc : "", p->name, NULL, p->event, err);
    free(desc);
    if (s == NULL)
        return err ? err->code : -ENOMEM;
    qom_object_ref(source);
    s->source = source;
    rc = qom__cover_add(s, source, p);
    if (rc != 0) {
        qom__sub_kill(s);
        return qom__set_error(err, rc, QOM_ERROR_GENERIC, "Cannot subscribe: %s",
                              rc == -ENOMEM ? "out of memory" : "list refused the node");
    }
    if (path_out != NULL)
        *path_out = qom__path_locked(&s->obj);
    return 0;
}

static int qom__event_prop(qom_object *obj, const char *property, qom_property **out,
                           qom_error *err)
{
    qom_property *p = qom__prop_find(obj, property);
    if (p == NULL)
        return qom__set_error(err, -ENOENT, QOM_ERROR_GENERIC, "Property '%s.%s' not found",
                              obj->klass->type->name, property);
    if (!(p->flags & QOM__P_EVENT))
        return qom__set_error(err, -EINVAL, QOM_ERROR_GENERIC,
                              "Property '%s.%s' is not an event", obj->klass->type->name,
                              property);
    *out = p;
    return 0;
}

static int qom__subscribe(qom_object *source, const char *property, qom_sink *sink,
                          qom_sink *owned, qom_object *owner, char **path_out, qom_error *err)
{
    qom_property *p = NULL;
    int rc;
    if (source == NULL || property == NULL || sink == NULL || sink->deliver == NULL) {
        free(owned);
        return qom__set_error(err, -EINVAL, QOM_ERROR_GENERIC, "Invalid subscription");
    }
    qom__lock(source->reg);
    rc = qom__event_prop(source, property, &p, err);
    if (rc == 0)
        rc = qom__subscribe_locked(source, p, sink, owned, owner, path_out, err);
    else
        free(owned);
    qom__unlock(source->reg);
    return rc;
}

int qom_subscribe(qom_object *source, const char *property, qom_sink *sink,
                  qom_object *owner, char **path_out, qom_error *err)
{
    return qom__subscribe(source, property, sink, NULL, owner, path_out, err);
}

int qom_subscribe_native(qom_object *source, const char *property, qom_native_fn fn,
                         void *opaque, qom_object *owner, char **path_out, qom_error *err)
{
    qom_sink *n = fn ? qom__native_sink_new(fn, opaque) : NULL;
    if (n == NULL)
        return qom__set_error(err, fn ? -ENOMEM : -EINVAL, QOM_ERROR_GENERIC,
                              "Invalid subscription");
    return qom__subscribe(source, property, n, n, owner, path_out, err);
}

/* Under the lock: cover obj if a type-wide subscription wants it. */
static void qom__type_cover(qom__subscription *s, qom_object *obj)
{
    qom_property *p;
    if (obj->flags & (QOM__F_FINALIZED | QOM__F_SUBSCRIPTION))
        return;
    if (!qom_type_is_a(obj->klass->type, s->type_name))
        return;
    p = qom__prop_find(obj, s->property);
    if (p != NULL && (p->flags & QOM__P_EVENT))
        qom__cover_add(s, obj, p);
}

static void qom__type_walk(qom_object *obj, void *opaque)
{
    qom__type_cover((qom__subscription *)opaque, obj);
}

/* A type-wide subscription follows the tree through its lifecycle events
 * (delivered under the registry lock, in the thread that changed the tree). */
static int qom__type_lifecycle(qom_lifecycle_sub *node, const qom_lifecycle_event *ev)
{
    qom__subscription *s = notify_container_of(node, qom__subscription, lifecycle);
    if (notify__load_relaxed(&s->dead))
        return 0;
    if (ev->added)
        qom__type_cover(s, ev->obj);
    else
        qom__covers_drop(s, ev->obj);
    return 0;
}

static void qom__lifecycle_release(notify_sub *node)
{
    qom__subscription *s = notify_container_of(
        notify_container_of(node, qom_lifecycle_sub, base), qom__subscription, lifecycle);
    qom__hold_put(&s->obj);
}

static int qom__subscribe_type(qom_registry *reg, const char *type_name, const char *property,
                               qom_sink *sink, qom_sink *owned, qom_object *owner,
                               char **path_out, qom_error *err)
{
    qom_type *t;
    qom_class *k;
    const qom_type *tt;
    const qom_property *p = NULL;
    qom__subscription *s;
    size_t i;
    int rc = 0;

    if (reg == NULL || type_name == NULL || property == NULL || sink == NULL) {
        free(owned);
        return qom__set_error(err, -EINVAL, QOM_ERROR_GENERIC, "Invalid subscription");
    }
    qom__lock(reg);
    t = qom__type_find(reg, type_name);
    if (t == NULL || (k = qom__class_of(t)) == NULL) {
        rc = qom__set_error(err, -ENOENT, QOM_ERROR_DEVICE_NOT_FOUND, "Class '%s' not found",
                            type_name);
        goto fail;
    }
    for (tt = t; tt != NULL && p == NULL; tt = tt->parent)
        for (i = 0; i < tt->nprops; i++)
            if (strcmp(tt->props[i]->name, property) == 0) {
                p = tt->props[i];
                break;
            }
    if (p == NULL || !(p->flags & QOM__P_EVENT)) {
        rc = qom__set_error(err, p ? -EINVAL : -ENOENT, QOM_ERROR_GENERIC,
                            p ? "Property '%s.%s' is not an event" : "Property '%s.%s' not found",
                            type_name, property);
        goto fail;
    }
    s = qom__sub_new(reg, sink, owned, owner, type_name, property, type_name, p->event, err);
    if (s == NULL) {
        qom__unlock(reg);
        return err ? err->code : -ENOMEM;
    }
    /* every object of the type now in the tree; later ones as they come */
    qom__subtree(reg->root, qom__type_walk, s);
    qom_lifecycle_sub_init(&s->lifecycle, qom__type_lifecycle, 0);
    qom_lifecycle_sub_set_release(&s->lifecycle, qom__lifecycle_release);
    NOTIFY__STD atomic_fetch_add(&s->obj.hold, 1);
    if (qom_lifecycle_subscribe(&reg->lifecycle, &s->lifecycle) != 0)
        NOTIFY__STD atomic_fetch_sub(&s->obj.hold, 1);
    if (path_out != NULL)
        *path_out = qom__path_locked(&s->obj);
    qom__unlock(reg);
    return 0;
fail:
    free(owned);
    qom__unlock(reg);
    return rc;
}

int qom_subscribe_type(qom_registry *reg, const char *type_name, const char *property,
                       qom_sink *sink, qom_object *owner, char **path_out, qom_error *err)
{
    return qom__subscribe_type(reg, type_name, property, sink, NULL, owner, path_out, err);
}

int qom_subscribe_type_native(qom_registry *reg, const char *type_name,
                              const char *property, qom_native_fn fn, void *opaque,
                              qom_object *owner, char **path_out, qom_error *err)
{
    qom_sink *n = fn ? qom__native_sink_new(fn, opaque) : NULL;
    if (n == NULL)
        return qom__set_error(err, fn ? -ENOMEM : -EINVAL, QOM_ERROR_GENERIC,
                              "Invalid subscription");
    return qom__subscribe_type(reg, type_name, property, n, n, owner, path_out, err);
}

bool qom_is_subscription(qom_object *obj)
{
    return obj != NULL && (obj->flags & QOM__F_SUBSCRIPTION) != 0;
}

qom_sink *qom_subscription_sink(qom_object *subscription)
{
    return qom_is_subscription(subscription)
        ? ((qom__subscription *)(void *)subscription)->sink : NULL;
}

/* ---- the tree's lifecycle ---- */

static void qom__on_added(qom_object *obj, void *opaque)
{
    qom_lifecycle_event ev;
    (void)opaque;
    ev.obj = obj;
    ev.added = true;
    qom_lifecycle_emit(&obj->reg->lifecycle, &ev);
}

/* Under the lock: subscriptions to obj end; type-wide ones let go of it. */
static void qom__forget_source(qom_object *obj)
{
    qom_registry *reg = obj->reg;
    qom__subscription **end;
    size_t i, n = 0;
    for (i = 0; i < reg->nsubs; i++) {
        qom__subscription *s = reg->subs[i];
        if (s->type_name != NULL)
            qom__covers_drop(s, obj);
        else if (s->source == obj)
            n++;
    }
    if (n == 0)
        return;
    /* ending one may end others (finalizers): a snapshot, each held */
    end = (qom__subscription **)malloc(n * sizeof *end);
    if (end == NULL)
        return;
    for (i = 0, n = 0; i < reg->nsubs; i++)
        if (reg->subs[i]->type_name == NULL && reg->subs[i]->source == obj &&
            qom__try_ref(&reg->subs[i]->obj))   /* at 0, its finalize comes */
            end[n++] = reg->subs[i];
    for (i = 0; i < n; i++) {
        qom__sub_kill(end[i]);
        qom_object_unref(&end[i]->obj);
    }
    free(end);
}

static void qom__on_removed(qom_object *obj, void *opaque)
{
    qom_lifecycle_event ev;
    (void)opaque;
    ev.obj = obj;
    ev.added = false;
    qom_lifecycle_emit(&obj->reg->lifecycle, &ev);
    qom__forget_source(obj);
}

qom_lifecycle_list *qom_lifecycle(qom_registry *reg) { return &reg->lifecycle; }
qom_object *qom_root(qom_registry *reg) { return reg->root; }

/* ---- built-in types and the registry ---- */

static int qom__get_type(qom_object *obj, qom_property *p, qom_value *out, qom_error *err)
{
    (void)p; (void)err;
    return qom__owned_str(out, QOM_VALUE_STR, obj->klass->type->name);
}

static void qom__object_class_init(qom_class *k, void *data)
{
    (void)data;
    qom__class_add_field(k, "type", "string", 0, qom__get_type, NULL, NULL, 0);
}

static int qom__sub_get(qom_object *obj, qom_property *p, qom_value *out, qom_error *err)
{
    qom__subscription *s = (qom__subscription *)(void *)obj;
    const char *v = "";
    (void)err;
    switch (p->offset) {
    case 0: v = s->source_desc; break;
    case 1: v = s->property; break;
    case 2: v = s->event ? s->event->name : ""; break;
    case 3: v = s->sink && s->sink->name ? s->sink->name : "native"; break;
    case 4: v = s->type_name ? "type" : "path"; break;
    }
    return qom__owned_str(out, QOM_VALUE_STR, v);
}

static void qom__sub_class_init(qom_class *k, void *data)
{
    (void)data;
    qom__class_add_field(k, "source", "str", 0, qom__sub_get, NULL,
                         "object path, or type name for a type-wide subscription", 0);
    qom__class_add_field(k, "property", "str", 1, qom__sub_get, NULL, "event property", 0);
    qom__class_add_field(k, "event", "str", 2, qom__sub_get, NULL, "event name", 0);
    qom__class_add_field(k, "sink", "str", 3, qom__sub_get, NULL, "where events go", 0);
    qom__class_add_field(k, "scope", "str", 4, qom__sub_get, NULL, "path or type", 0);
}

qom_registry *qom_registry_new(void)
{
    static const qom_type_info builtin[] = {
        { "object", NULL, sizeof(qom_object), sizeof(qom_class), qom__object_class_init,
          NULL, NULL, NULL, false, NULL },
        { "interface", "object", 0, 0, NULL, NULL, NULL, NULL, true, NULL },
        { "container", "object", 0, 0, NULL, NULL, NULL, NULL, false, NULL },
        { "subscription", "object", sizeof(qom__subscription), 0, qom__sub_class_init, NULL,
          qom__sub_instance_init, qom__sub_finalize, false, NULL },
    };
    qom_registry *reg = (qom_registry *)calloc(1, sizeof *reg);
    size_t i;
    if (reg == NULL)
        return NULL;
    pthread_mutex_init(&reg->lock, NULL);
    qom_lifecycle_list_init(&reg->lifecycle);
    for (i = 0; i < sizeof builtin / sizeof builtin[0]; i++)
        if (qom_type_register(reg, &builtin[i], NULL) != 0)
            break;
    if (i < sizeof builtin / sizeof builtin[0] ||
        (reg->root = qom_object_new(reg, "container", NULL)) == NULL) {
        qom_registry_free(reg);
        return NULL;
    }
    return reg;
}

void qom_registry_free(qom_registry *reg)
{
    size_t i, j;
    int rounds;
    if (reg == NULL)
        return;
    if (reg->root != NULL) {
        qom_object *root = reg->root;
        qom__lock(reg);
        for (;;) {            /* leave the tree the usual way, events and all */
            qom_object *child = NULL;
            for (i = 0; i < root->nprops && child == NULL; i++)
                if (root->props[i]->flags & QOM__P_CHILD)
                    child = root->props[i]->child;
            if (child == NULL)
                break;
            qom_object_unparent(child);
        }
        reg->root = NULL;
        qom__unlock(reg);
        qom_object_unref(root);
    }
    /* objects whose memory emitters might still reach go after a grace
     * period; wait for them (a user's leaked references stay leaked) */
    for (rounds = 0; rounds < 100 && notify__load_acquire(&reg->objects) > 0; rounds++)
        if (notify_synchronize() != 0)
            break;
    if (notify__load_acquire(&reg->objects) > 0)
        return;   /* still referenced: leak the registry rather than fault */
    notify_list_clear(&reg->lifecycle.base);
    for (i = 0; i < reg->ntypes; i++) {
        qom_type *t = reg->types[i];
        for (j = 0; j < t->nprops; j++)
            qom__property_free(t->props[j]);
        for (j = 0; j < t->ninterfaces; j++)
            free(t->interfaces[j]);
        free(t->interfaces);
        free(t->props);
        free(t->klass);
        free(t->name);
        free(t->parent_name);
        free(t);
    }
    free(reg->types);
    free(reg->subs);
    free(reg->weak);
    pthread_mutex_destroy(&reg->lock);
    free(reg);
}

#ifdef __cplusplus
}
#endif
#endif /* QOM_LITE_IMPLEMENTATION */
