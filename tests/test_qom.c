/* cmocka tests for qom_lite.h: types, objects, paths, properties, event
 * properties and subscription objects, type-wide subscriptions. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define NOTIFY_IMPLEMENTATION
#define QOM_LITE_IMPLEMENTATION
#include "qom_lite.h"

/* ---- a device model shaped like QEMU's ide-cd ---- */
typedef struct { const char *device; const char *id; bool tray_open; } tray_moved;
QOM_DEFINE_EVENT(tray, tray_moved);
static const qom_event_info TRAY_MOVED = { "DEVICE_TRAY_MOVED", NULL };

typedef struct { int64_t code; } media_changed;
QOM_DEFINE_EVENT(media, media_changed);
static const qom_event_info MEDIA_CHANGED = { "MEDIA_CHANGED", NULL };

typedef struct {
    qom_object obj;
    bool tray_open;
    int64_t unit;
    uint64_t wwn;
    char *serial;
    qom_object *bus;           /* link<bus> */
    qom_object *owner;         /* strong link<object> */
    tray_list tray_moved;
    media_list media;
} ide_dev;

static char order[128];
static void note(const char *s) { strncat(order, s, sizeof order - strlen(order) - 1); }

static void device_class_init(qom_class *k, void *d)
{
    (void)d;
    qom_class_add_int(k, "unit", offsetof(ide_dev, unit), true, NULL);
    qom_class_add_uint(k, "wwn", offsetof(ide_dev, wwn), true, NULL);
    qom_class_add_str(k, "serial", offsetof(ide_dev, serial), true, NULL);
    qom_class_add_link(k, "parent_bus", "bus", offsetof(ide_dev, bus), false, NULL);
    qom_class_add_link(k, "owner", "object", offsetof(ide_dev, owner), true, NULL);
}
static void cd_class_init(qom_class *k, void *d)
{
    (void)d;
    qom_class_add_bool(k, "tray-open", offsetof(ide_dev, tray_open), false, "tray state");
    QOM_CLASS_ADD_EVENT(k, "tray-moved", ide_dev, tray_moved, tray, &TRAY_MOVED, NULL);
    QOM_CLASS_ADD_EVENT(k, "media", ide_dev, media, media, &MEDIA_CHANGED, NULL);
}
static void device_init(qom_object *o) { (void)o; note("I:device "); }
static void cd_init(qom_object *o) { (void)o; note("I:cd "); }
static void device_fin(qom_object *o) { (void)o; note("F:device "); }
static void cd_fin(qom_object *o) { (void)o; note("F:cd "); }
static void special_fin(qom_object *o) { (void)o; note("F:special "); }

static const char *const cd_ifaces[] = { "removable", NULL };

static qom_registry *make_registry(void)
{
    qom_registry *reg = qom_registry_new();
    qom_error err;
    const qom_type_info types[] = {
        { "removable", "interface", 0, 0, NULL, NULL, NULL, NULL, true, NULL },
        { "bus", "object", 0, 0, NULL, NULL, NULL, NULL, false, NULL },
        { "device", "object", 0, 0, NULL, NULL, NULL, NULL, true, NULL },
        { "ide-device", "device", sizeof(ide_dev), 0, device_class_init, NULL,
          device_init, device_fin, true, NULL },
        { "ide-cd", "ide-device", 0, 0, cd_class_init, NULL, cd_init, cd_fin, false, cd_ifaces },
        { "ide-hd", "ide-device", 0, 0, NULL, NULL, NULL, NULL, false, NULL },
        { "ide-cd-special", "ide-cd", 0, 0, NULL, NULL, NULL, special_fin, false, NULL },
    };
    size_t i;
    assert_non_null(reg);
    for (i = 0; i < sizeof types / sizeof types[0]; i++)
        assert_int_equal(qom_type_register(reg, &types[i], &err), 0);
    return reg;
}

static int setup(void **state)
{
    order[0] = 0;
    *state = make_registry();
    return 0;
}

static int teardown(void **state)
{
    qom_registry_free((qom_registry *)*state);
    return 0;
}

static ide_dev *add_cd(qom_registry *reg, const char *where, const char *name, const char *type)
{
    qom_error err;
    qom_object *o = qom_object_new_child(qom_container_get(reg, where), name, type, &err);
    assert_non_null(o);
    return (ide_dev *)(void *)o;
}

/* ---- a sink that records ---- */
typedef struct {
    qom_sink sink;
    int events;
    int released;
    bool last_open;
    qom_object *last_source;
    char last_sub[64];
} rec_sink;

static void rec_deliver(qom_sink *sink, qom_object *sub, qom_object *source,
                        const qom_event_info *event, const void *payload)
{
    rec_sink *r = (rec_sink *)(void *)sink;
    char *p = qom_object_path(sub);
    r->events++;
    r->last_source = source;
    if (event == &TRAY_MOVED)
        r->last_open = ((const tray_moved *)payload)->tray_open;
    snprintf(r->last_sub, sizeof r->last_sub, "%s", p ? p : "?");
    free(p);
}
static void rec_release(qom_sink *sink, qom_object *sub)
{
    (void)sub;
    ((rec_sink *)(void *)sink)->released++;
}
static void rec_init(rec_sink *r)
{
    memset(r, 0, sizeof *r);
    r->sink.deliver = rec_deliver;
    r->sink.release = rec_release;
    r->sink.name = "test";
}

static void emit_tray(ide_dev *d, bool open)
{
    tray_moved ev = { "", "cd0", open };
    tray_emit(&d->tray_moved, &ev);
}

static char *get_str(qom_object *o, const char *prop)
{
    qom_value v;
    qom_error err;
    assert_int_equal(qom_property_get(o, prop, &v, &err), 0);
    return v.s;    /* caller frees */
}

/* ---- types ---- */

static void collect_type(void *opaque, const qom_type *t)
{
    char *buf = (char *)opaque;
    strcat(buf, qom_type_name(t));
    strcat(buf, qom_type_is_abstract(t) ? "* " : " ");
}

static void test_types_and_casts(void **state)
{
    qom_registry *reg = (qom_registry *)*state;
    qom_error err;
    const qom_type_info dup = { "ide-cd", "object", 0, 0, NULL, NULL, NULL, NULL, false, NULL };
    const qom_type_info orphan = { "x", "nope", 0, 0, NULL, NULL, NULL, NULL, false, NULL };
    char list[256] = "";
    qom_object *o;

    assert_int_equal(qom_type_register(reg, &dup, &err), -EEXIST);
    assert_string_equal(err.message, "Type 'ide-cd' is already registered");
    assert_int_equal(qom_type_register(reg, &orphan, &err), -ENOENT);
    assert_null(qom_object_new(reg, "device", &err));
    assert_string_equal(err.message, "Object type 'device' is abstract");
    assert_null(qom_object_new(reg, "nosuch", &err));
    assert_string_equal(err.message, "Invalid object type 'nosuch'");

    o = qom_object_new(reg, "ide-cd", &err);
    assert_non_null(o);
    assert_string_equal(order, "I:device I:cd ");          /* parent's init first */
    assert_ptr_equal(qom_dynamic_cast(o, "ide-cd"), o);
    assert_ptr_equal(qom_dynamic_cast(o, "device"), o);
    assert_ptr_equal(qom_dynamic_cast(o, "removable"), o);  /* interface */
    assert_null(qom_dynamic_cast(o, "ide-hd"));
    assert_null(qom_dynamic_cast(o, "bus"));
    assert_ptr_equal(QOM_CAST(ide_dev, o, "ide-device"), (ide_dev *)(void *)o);
    assert_string_equal(qom_object_type_name(o), "ide-cd");
    qom_object_unref(o);

    qom_type_foreach(reg, "ide-device", false, collect_type, list);
    assert_string_equal(list, "ide-cd ide-hd ide-cd-special ");
    list[0] = 0;
    qom_type_foreach(reg, "ide-device", true, collect_type, list);
    assert_string_equal(list, "ide-device* ide-cd ide-hd ide-cd-special ");
    list[0] = 0;
    qom_type_foreach(reg, "removable", false, collect_type, list);
    assert_string_equal(list, "ide-cd ide-cd-special ");
    assert_string_equal(qom_type_parent_name(qom_type_lookup(reg, "ide-cd")), "ide-device");
}

/* ---- objects ---- */

static void test_refcount_and_finalize_order(void **state)
{
    qom_registry *reg = (qom_registry *)*state;
    qom_error err;
    qom_object *o = qom_object_new(reg, "ide-cd-special", &err);
    order[0] = 0;
    qom_object_ref(o);
    qom_object_unref(o);
    assert_string_equal(order, "");                 /* still referenced */
    qom_object_unref(o);
    assert_string_equal(order, "F:special F:cd F:device ");   /* subclass first */
}

static void test_children_go_with_parent(void **state)
{
    qom_registry *reg = (qom_registry *)*state;
    qom_error err;
    qom_object *box = qom_object_new_child(qom_root(reg), "box", "container", &err);
    qom_object *keep;
    assert_non_null(qom_object_new_child(box, "cd", "ide-cd", &err));
    keep = qom_object_new_child(box, "hd", "ide-hd", &err);
    qom_object_ref(keep);
    order[0] = 0;
    assert_int_equal(qom_object_unparent(box), 0);
    /* the cd went with its parent; the hd lives on through our reference */
    assert_string_equal(order, "F:cd F:device ");
    assert_null(qom_object_path(keep));
    order[0] = 0;
    qom_object_unref(keep);
    assert_string_equal(order, "F:device ");
    assert_int_equal(qom_object_unparent(keep == NULL ? box : qom_root(reg)), -ENOENT);
}

static void test_paths(void **state)
{
    qom_registry *reg = (qom_registry *)*state;
    ide_dev *cd0 = add_cd(reg, "/machine/peripheral", "cd0", "ide-cd");
    qom_object *o;
    qom_error err;
    bool ambiguous;
    char *p = qom_object_path(&cd0->obj);

    assert_string_equal(p, "/machine/peripheral/cd0");
    free(p);
    o = qom_resolve(reg, "/machine/peripheral/cd0", &ambiguous);
    assert_ptr_equal(o, &cd0->obj);
    qom_object_unref(o);
    o = qom_resolve(reg, "/", NULL);
    assert_ptr_equal(o, qom_root(reg));
    qom_object_unref(o);
    o = qom_resolve(reg, "cd0", &ambiguous);                 /* partial */
    assert_ptr_equal(o, &cd0->obj);
    assert_false(ambiguous);
    qom_object_unref(o);
    o = qom_resolve(reg, "peripheral/cd0", &ambiguous);
    assert_ptr_equal(o, &cd0->obj);
    qom_object_unref(o);
    assert_null(qom_resolve(reg, "/machine/nope", &ambiguous));
    assert_false(ambiguous);
    assert_null(qom_resolve_err(reg, "/nope", &err));
    assert_int_equal(err.cls, QOM_ERROR_DEVICE_NOT_FOUND);
    assert_string_equal(err.message, "Device '/nope' not found");
    /* empty components are skipped, as QEMU does */
    o = qom_resolve(reg, "//machine//peripheral/cd0/", &ambiguous);
    assert_ptr_equal(o, &cd0->obj);
    qom_object_unref(o);
    assert_null(qom_resolve_err(reg, NULL, &err));
    assert_string_equal(err.message, "Parameter 'path' is missing");

    /* a second cd0 elsewhere makes the partial path ambiguous */
    add_cd(reg, "/machine/other", "cd0", "ide-cd");
    assert_null(qom_resolve(reg, "cd0", &ambiguous));
    assert_true(ambiguous);
    assert_null(qom_resolve_err(reg, "cd0", &err));
    assert_int_equal(err.cls, QOM_ERROR_GENERIC);
    assert_string_equal(err.message, "Path 'cd0' is ambiguous");
    o = qom_resolve(reg, "peripheral/cd0", &ambiguous);      /* still unique */
    assert_ptr_equal(o, &cd0->obj);
    qom_object_unref(o);
}

static void test_auto_numbering(void **state)
{
    qom_registry *reg = (qom_registry *)*state;
    qom_object *c = qom_container_get(reg, "/q");
    qom_error err;
    qom_object *a = qom_object_new_child(c, "sub[*]", "container", &err);
    qom_object *b = qom_object_new_child(c, "sub[*]", "container", &err);
    char *pa = qom_object_path(a), *pb = qom_object_path(b), *pc;
    assert_string_equal(pa, "/q/sub[0]");
    assert_string_equal(pb, "/q/sub[1]");
    qom_object_unparent(a);
    a = qom_object_new_child(c, "sub[*]", "container", &err);   /* first free index */
    pc = qom_object_path(a);
    assert_string_equal(pc, "/q/sub[0]");
    assert_null(qom_object_new_child(c, "sub[1]", "container", &err));
    assert_string_equal(err.message,
                        "attempt to add duplicate property 'sub[1]' to object (type 'container')");
    free(pa); free(pb); free(pc);
}

/* ---- properties ---- */

static void collect_prop(void *opaque, const qom_property *p)
{
    char *buf = (char *)opaque;
    strcat(buf, p->name);
    strcat(buf, ":");
    strcat(buf, p->type);
    strcat(buf, " ");
}

static void test_properties(void **state)
{
    qom_registry *reg = (qom_registry *)*state;
    ide_dev *cd = add_cd(reg, "/machine/peripheral", "cd0", "ide-cd");
    qom_object *bus = qom_object_new_child(qom_container_get(reg, "/machine"), "ide.1", "bus", NULL);
    qom_object *o = &cd->obj;
    qom_value v;
    qom_error err;
    char *s, list[512] = "";

    s = get_str(o, "type");
    assert_string_equal(s, "ide-cd");
    free(s);
    assert_int_equal(qom_property_get(o, "tray-open", &v, &err), 0);
    assert_int_equal(v.kind, QOM_VALUE_BOOL);
    assert_false(v.b);
    v = qom_value_int(3);
    assert_int_equal(qom_property_set(o, "unit", &v, &err), 0);
    assert_int_equal(cd->unit, 3);
    v = qom_value_uint(77);
    assert_int_equal(qom_property_set(o, "wwn", &v, &err), 0);
    assert_int_equal(cd->wwn, 77);
    v = qom_value_str("QM0001");
    assert_int_equal(qom_property_set(o, "serial", &v, &err), 0);
    s = get_str(o, "serial");
    assert_string_equal(s, "QM0001");
    free(s);

    /* errors, worded as QEMU words them */
    assert_int_equal(qom_property_get(o, "nosuch", &v, &err), -ENOENT);
    assert_string_equal(err.message, "Property 'ide-cd.nosuch' not found");
    v = qom_value_str("x");
    assert_int_equal(qom_property_set(o, "type", &v, &err), -EACCES);
    assert_string_equal(err.message, "Property 'ide-cd.type' is not writable");
    assert_int_equal(qom_property_set(o, "tray-open", &v, &err), -EACCES);
    assert_int_equal(qom_property_set(o, "unit", &v, &err), -EINVAL);
    assert_string_equal(err.message, "Invalid parameter type for 'unit', expected: integer");
    v = qom_value_bool(true);
    assert_int_equal(qom_property_set(o, "serial", &v, &err), -EINVAL);
    assert_string_equal(err.message, "Invalid parameter type for 'serial', expected: string");
    v = qom_value_int(-1);
    assert_int_equal(qom_property_set(o, "wwn", &v, &err), -EINVAL);
    assert_int_equal(qom_property_get(o, "tray-moved", &v, &err), -EINVAL);  /* needs a sink */

    /* links: set by path, type-checked, weak or strong */
    v = qom_value_str("/machine/ide.1");
    assert_int_equal(qom_property_set(o, "parent_bus", &v, &err), 0);
    assert_ptr_equal(cd->bus, bus);
    s = get_str(o, "parent_bus");
    assert_string_equal(s, "/machine/ide.1");
    free(s);
    v = qom_value_str("/machine/peripheral");
    assert_int_equal(qom_property_set(o, "parent_bus", &v, &err), -EINVAL);
    assert_string_equal(err.message, "Invalid parameter type for 'parent_bus', expected: bus");
    v = qom_value_str("/nope");
    assert_int_equal(qom_property_set(o, "parent_bus", &v, &err), -ENOENT);
    assert_int_equal(err.cls, QOM_ERROR_DEVICE_NOT_FOUND);
    v = qom_value_str("cd0");     /* fine while unique... */
    assert_int_equal(qom_property_set(o, "owner", &v, &err), 0);
    v = qom_value_str("");
    assert_int_equal(qom_property_set(o, "owner", &v, &err), 0);
    {   /* a path can go through a link */
        qom_object *via = qom_resolve(reg, "/machine/peripheral/cd0/parent_bus", NULL);
        assert_ptr_equal(via, bus);
        qom_object_unref(via);
    }
    {   /* a strong link keeps its target alive */
        qom_object *t = qom_object_new_child(qom_root(reg), "tgt", "bus", NULL);
        v = qom_value_str("/tgt");
        assert_int_equal(qom_property_set(o, "owner", &v, &err), 0);
        qom_object_unparent(t);
        assert_ptr_equal(cd->owner, t);                 /* still there */
        assert_string_equal(qom_object_type_name(cd->owner), "bus");
        v = qom_value_str("");
        assert_int_equal(qom_property_set(o, "owner", &v, &err), 0);
        assert_null(cd->owner);
    }

    /* instance properties and introspection */
    {
        qom_property def;
        memset(&def, 0, sizeof def);
        def.name = (char *)"extra";
        def.type = (char *)"bool";
        assert_int_equal(qom_property_add(o, &def, &err), 0);
        assert_int_equal(qom_property_add(o, &def, &err), -EEXIST);
        assert_int_equal(qom_property_get(o, "extra", &v, &err), -EACCES);
    }
    qom_property_foreach(o, collect_prop, list);
    assert_string_equal(list, "type:string unit:int wwn:uint serial:str parent_bus:link<bus> "
                              "owner:link<object> tray-open:bool "
                              "tray-moved:event<DEVICE_TRAY_MOVED> media:event<MEDIA_CHANGED> "
                              "extra:bool ");
    list[0] = 0;
    assert_int_equal(qom_type_property_foreach(reg, "ide-hd", collect_prop, list, &err), 0);
    assert_string_equal(list, "type:string unit:int wwn:uint serial:str parent_bus:link<bus> "
                              "owner:link<object> ");
    assert_int_equal(qom_type_property_foreach(reg, "nope", collect_prop, list, &err), -ENOENT);
    assert_string_equal(err.message, "Class 'nope' not found");
    list[0] = 0;
    qom_property_foreach(qom_container_get(reg, "/machine"), collect_prop, list);
    assert_string_equal(list, "type:string peripheral:child<container> ide.1:child<bus> ");
}

/* ---- event properties and subscription objects ---- */

static void test_subscribe_by_get_and_destroy(void **state)
{
    qom_registry *reg = (qom_registry *)*state;
    ide_dev *cd = add_cd(reg, "/machine/peripheral", "cd0", "ide-cd");
    qom_object *owner = qom_container_get(reg, "/session1");
    rec_sink r;
    qom_get_ctx ctx;
    qom_value v;
    qom_error err;
    qom_object *sub;
    char *s;

    rec_init(&r);
    ctx.sink = &r.sink;
    ctx.owner = owner;
    /* the plan9 way: reading the event property subscribes */
    assert_int_equal(qom_property_get_ctx(&cd->obj, "tray-moved", &v, &ctx, &err), 0);
    assert_int_equal(v.kind, QOM_VALUE_PATH);
    assert_string_equal(v.s, "/session1/sub[0]");
    sub = qom_resolve(reg, v.s, NULL);
    assert_non_null(sub);
    assert_true(qom_is_subscription(sub));
    s = get_str(sub, "source");   assert_string_equal(s, "/machine/peripheral/cd0"); free(s);
    s = get_str(sub, "property"); assert_string_equal(s, "tray-moved"); free(s);
    s = get_str(sub, "event");    assert_string_equal(s, "DEVICE_TRAY_MOVED"); free(s);
    s = get_str(sub, "sink");     assert_string_equal(s, "test"); free(s);

    emit_tray(cd, true);
    assert_int_equal(r.events, 1);
    assert_true(r.last_open);
    assert_ptr_equal(r.last_source, &cd->obj);
    assert_string_equal(r.last_sub, "/session1/sub[0]");

    /* destroying the subscription object unsubscribes */
    assert_int_equal(qom_object_unparent(sub), 0);
    qom_object_unref(sub);
    emit_tray(cd, false);
    assert_int_equal(r.events, 1);
    assert_int_equal(notify_synchronize(), 0);
    assert_int_equal(r.released, 1);      /* memory gone, sink told */
    qom_value_clear(&v);
}

/* A sink whose subscription destroys itself on its first event. */
typedef struct { qom_sink sink; int calls; } self_destroy;

static void self_destroy_deliver(qom_sink *sink, qom_object *subscription, qom_object *source,
                                 const qom_event_info *event, const void *payload)
{
    self_destroy *sd = (self_destroy *)(void *)sink;
    (void)source; (void)event; (void)payload;
    sd->calls++;
    assert_int_equal(qom_object_unparent(subscription), 0);   /* from its own callback */
}

static void test_destroy_subscription_inside_its_callback(void **state)
{
    qom_registry *reg = (qom_registry *)*state;
    ide_dev *cd = add_cd(reg, "/machine/peripheral", "cd0", "ide-cd");
    qom_error err;
    self_destroy sd;
    char *path = NULL;
    memset(&sd, 0, sizeof sd);
    sd.sink.deliver = self_destroy_deliver;
    assert_int_equal(qom_subscribe(&cd->obj, "tray-moved", &sd.sink, NULL, &path, &err), 0);
    emit_tray(cd, true);
    emit_tray(cd, true);
    assert_int_equal(sd.calls, 1);
    assert_null(qom_resolve(reg, path, NULL));
    assert_int_equal(notify_synchronize(), 0);
    assert_true(notify_list_empty(&cd->tray_moved.base));
    free(path);
}

static int native_calls;
static void native_fn(void *opaque, qom_object *source, const void *payload)
{
    (void)source;
    native_calls += *(int *)opaque + (((const tray_moved *)payload)->tray_open ? 1 : 0);
}

static void test_native_subscriber(void **state)
{
    qom_registry *reg = (qom_registry *)*state;
    ide_dev *cd = add_cd(reg, "/machine/peripheral", "cd0", "ide-cd");
    int weight = 10;
    qom_error err;
    char *path = NULL;
    qom_object *sub;
    native_calls = 0;
    assert_int_equal(qom_subscribe_native(&cd->obj, "tray-moved", native_fn, &weight, NULL,
                                          &path, &err), 0);
    assert_string_equal(path, "/subscriptions/sub[0]");
    emit_tray(cd, true);
    assert_int_equal(native_calls, 11);
    assert_int_equal(qom_subscribe_native(&cd->obj, "unit", native_fn, &weight, NULL, NULL, &err),
                     -EINVAL);
    assert_string_equal(err.message, "Property 'ide-cd.unit' is not an event");
    assert_int_equal(qom_subscribe_native(&cd->obj, "nope", native_fn, &weight, NULL, NULL, &err),
                     -ENOENT);
    sub = qom_resolve(reg, path, NULL);
    qom_object_unparent(sub);
    qom_object_unref(sub);
    emit_tray(cd, true);
    assert_int_equal(native_calls, 11);
    free(path);
}

static void test_type_wide_subscription(void **state)
{
    qom_registry *reg = (qom_registry *)*state;
    ide_dev *cd0 = add_cd(reg, "/machine/peripheral", "cd0", "ide-cd");
    ide_dev *hd0 = add_cd(reg, "/machine/peripheral", "hd0", "ide-hd");
    ide_dev *late, *special;
    rec_sink r;
    qom_error err;
    char *path = NULL, *s;
    qom_object *sub;

    rec_init(&r);
    assert_int_equal(qom_subscribe_type(reg, "ide-cd", "tray-moved", &r.sink, NULL, &path, &err), 0);
    sub = qom_resolve(reg, path, NULL);
    s = get_str(sub, "source"); assert_string_equal(s, "ide-cd"); free(s);
    s = get_str(sub, "scope");  assert_string_equal(s, "type"); free(s);
    emit_tray(cd0, true);
    emit_tray(hd0, true);   /* no such event on an ide-hd: nothing */
    assert_int_equal(r.events, 1);

    /* objects created later are covered, subtypes included */
    late = add_cd(reg, "/machine/peripheral", "cd1", "ide-cd");
    special = add_cd(reg, "/machine/other", "cdx", "ide-cd-special");
    emit_tray(late, false);
    emit_tray(special, true);
    assert_int_equal(r.events, 3);
    assert_ptr_equal(r.last_source, &special->obj);

    /* an object destroyed while covered drops out cleanly */
    qom_object_unparent(&late->obj);
    emit_tray(cd0, true);
    assert_int_equal(r.events, 4);

    /* destroying the subscription detaches from all of them */
    qom_object_unparent(sub);
    qom_object_unref(sub);
    emit_tray(cd0, true);
    emit_tray(special, true);
    assert_int_equal(r.events, 4);
    assert_int_equal(notify_synchronize(), 0);
    assert_int_equal(r.released, 1);
    assert_int_equal(qom_subscribe_type(reg, "nope", "tray-moved", &r.sink, NULL, NULL, &err), -ENOENT);
    assert_string_equal(err.message, "Class 'nope' not found");
    assert_int_equal(qom_subscribe_type(reg, "ide-hd", "tray-moved", &r.sink, NULL, NULL, &err), -ENOENT);
    assert_string_equal(err.message, "Property 'ide-hd.tray-moved' not found");
    free(path);
}

static void test_destroying_source_ends_subscriptions(void **state)
{
    qom_registry *reg = (qom_registry *)*state;
    ide_dev *cd = add_cd(reg, "/machine/peripheral", "cd0", "ide-cd");
    rec_sink r;
    qom_error err;
    char *p1 = NULL, *p2 = NULL;
    qom_object *o;
    rec_init(&r);
    assert_int_equal(qom_subscribe(&cd->obj, "tray-moved", &r.sink, NULL, &p1, &err), 0);
    assert_int_equal(qom_subscribe(&cd->obj, "media", &r.sink, NULL, &p2, &err), 0);
    order[0] = 0;
    assert_int_equal(qom_object_unparent(&cd->obj), 0);
    /* the subscriptions left the tree with their source; the source itself
     * was finalized once they let go of it */
    assert_null(qom_resolve(reg, p1, NULL));
    assert_null(qom_resolve(reg, p2, NULL));
    assert_string_equal(order, "F:cd F:device ");
    assert_int_equal(notify_synchronize(), 0);
    assert_int_equal(r.released, 2);
    o = qom_resolve(reg, "/machine/peripheral/cd0", NULL);
    assert_null(o);
    free(p1);
    free(p2);
}

static void test_owner_container_drops_all(void **state)
{
    qom_registry *reg = (qom_registry *)*state;
    ide_dev *cd = add_cd(reg, "/machine/peripheral", "cd0", "ide-cd");
    qom_object *session = qom_container_get(reg, "/qmp/session7");
    rec_sink r;
    qom_error err;
    int i;
    rec_init(&r);
    for (i = 0; i < 3; i++)
        assert_int_equal(qom_subscribe(&cd->obj, "tray-moved", &r.sink, session, NULL, &err), 0);
    assert_int_equal(qom_subscribe_type(reg, "ide-cd", "media", &r.sink, session, NULL, &err), 0);
    emit_tray(cd, true);
    assert_int_equal(r.events, 3);
    assert_int_equal(qom_object_unparent(session), 0);   /* the connection is gone */
    emit_tray(cd, true);
    assert_int_equal(r.events, 3);
    assert_int_equal(notify_synchronize(), 0);
    assert_int_equal(r.released, 4);
    assert_true(notify_list_empty(&cd->tray_moved.base));
    assert_true(notify_list_empty(&cd->media.base));
}

static int lifecycle_added, lifecycle_removed;
static int on_lifecycle(qom_lifecycle_sub *s, const qom_lifecycle_event *ev)
{
    (void)s;
    if (qom_dynamic_cast(ev->obj, "ide-device") != NULL) {
        if (ev->added)
            lifecycle_added++;
        else
            lifecycle_removed++;
    }
    return 0;
}

static void test_lifecycle_events(void **state)
{
    qom_registry *reg = (qom_registry *)*state;
    qom_lifecycle_sub s;
    ide_dev *cd;
    qom_lifecycle_sub_init(&s, on_lifecycle, 0);
    assert_int_equal(qom_lifecycle_subscribe(qom_lifecycle(reg), &s), 0);
    lifecycle_added = lifecycle_removed = 0;
    cd = add_cd(reg, "/machine/peripheral", "cd0", "ide-cd");
    add_cd(reg, "/machine/peripheral", "cd1", "ide-cd");
    assert_int_equal(lifecycle_added, 2);
    qom_object_unparent(&cd->obj);
    assert_int_equal(lifecycle_removed, 1);
    qom_object_unparent(qom_container_get(reg, "/machine"));   /* a subtree leaves */
    assert_int_equal(lifecycle_removed, 2);
    assert_int_equal(qom_lifecycle_unsubscribe(&s), 0);
}

static void test_weak_link_cleared_when_target_goes(void **state)
{
    qom_registry *reg = (qom_registry *)*state;
    ide_dev *cd = add_cd(reg, "/machine/peripheral", "cd0", "ide-cd");
    qom_object *bus = qom_object_new_child(qom_container_get(reg, "/machine"), "ide.1", "bus", NULL);
    qom_value v = qom_value_str("/machine/ide.1");
    qom_error err;
    char *s;
    assert_int_equal(qom_property_set(&cd->obj, "parent_bus", &v, &err), 0);
    assert_ptr_equal(cd->bus, bus);
    qom_object_unparent(bus);                  /* the bus is destroyed */
    assert_null(cd->bus);
    s = get_str(&cd->obj, "parent_bus");
    assert_string_equal(s, "");
    free(s);
    assert_null(qom_resolve(reg, "/machine/peripheral/cd0/parent_bus", NULL));
}

static void test_no_cycles(void **state)
{
    qom_registry *reg = (qom_registry *)*state;
    qom_object *a = qom_container_get(reg, "/a"), *b = qom_container_get(reg, "/a/b");
    qom_object *loose = qom_object_new(reg, "container", NULL), *inner;
    qom_error err;
    inner = qom_object_new_child(loose, "inner", "container", NULL);
    assert_int_equal(qom_object_add_child(b, "up", a, &err), -EBUSY);   /* a has a parent */
    assert_int_equal(qom_object_add_child(inner, "x", loose, &err), -ELOOP);
    assert_string_equal(err.message, "Cannot add an object below itself");
    assert_int_equal(qom_object_add_child(loose, "self", loose, &err), -ELOOP);
    qom_object_unref(loose);
}

static void test_device_clears_its_own_list(void **state)
{
    /* notify.h lets a device clear its own event list; its subscription
     * objects must survive that and be destroyed cleanly later */
    qom_registry *reg = (qom_registry *)*state;
    ide_dev *cd = add_cd(reg, "/machine/peripheral", "cd0", "ide-cd");
    rec_sink r;
    qom_error err;
    char *path = NULL, *tpath = NULL;
    qom_object *sub;
    rec_init(&r);
    assert_int_equal(qom_subscribe(&cd->obj, "tray-moved", &r.sink, NULL, &path, &err), 0);
    assert_int_equal(qom_subscribe_type(reg, "ide-cd", "tray-moved", &r.sink, NULL, &tpath, &err), 0);
    assert_int_equal(notify_list_clear(&cd->tray_moved.base), 2);
    emit_tray(cd, true);
    assert_int_equal(r.events, 0);
    sub = qom_resolve(reg, path, NULL);
    qom_object_unparent(sub);
    qom_object_unref(sub);
    sub = qom_resolve(reg, tpath, NULL);
    qom_object_unparent(sub);
    qom_object_unref(sub);
    assert_int_equal(notify_synchronize(), 0);
    assert_int_equal(r.released, 2);
    free(path);
    free(tpath);
}

static void test_subtree_removal_reaches_every_object(void **state)
{
    /* a subscription stored beside its source, in the container that
     * leaves the tree: every object still gets its "removed" event */
    qom_registry *reg = (qom_registry *)*state;
    qom_object *box = qom_container_get(reg, "/box");
    ide_dev *a, *b;
    qom_lifecycle_sub s;
    static rec_sink r;     /* outlives the test: the type-wide subscription
                              is released when the registry goes */
    qom_error err;
    rec_init(&r);
    a = add_cd(reg, "/box", "a", "ide-cd");
    assert_int_equal(qom_subscribe(&a->obj, "tray-moved", &r.sink, box, NULL, &err), 0);
    b = add_cd(reg, "/box", "b", "ide-cd");
    assert_int_equal(qom_subscribe_type(reg, "ide-cd", "tray-moved", &r.sink, NULL, NULL, &err), 0);
    qom_lifecycle_sub_init(&s, on_lifecycle, 0);
    qom_lifecycle_subscribe(qom_lifecycle(reg), &s);
    lifecycle_removed = 0;
    qom_object_ref(&b->obj);
    qom_object_unparent(box);
    assert_int_equal(lifecycle_removed, 2);
    emit_tray(b, true);               /* out of the tree: not covered any more */
    assert_int_equal(r.events, 0);
    qom_object_unref(&b->obj);
    qom_lifecycle_unsubscribe(&s);
}

int main(void)
{
    const struct CMUnitTest types[] = {
        cmocka_unit_test_setup_teardown(test_types_and_casts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refcount_and_finalize_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_children_go_with_parent, setup, teardown),
    };
    const struct CMUnitTest tree[] = {
        cmocka_unit_test_setup_teardown(test_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auto_numbering, setup, teardown),
        cmocka_unit_test_setup_teardown(test_properties, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lifecycle_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_weak_link_cleared_when_target_goes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_cycles, setup, teardown),
    };
    const struct CMUnitTest events[] = {
        cmocka_unit_test_setup_teardown(test_subscribe_by_get_and_destroy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_subscription_inside_its_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_native_subscriber, setup, teardown),
        cmocka_unit_test_setup_teardown(test_type_wide_subscription, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroying_source_ends_subscriptions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_owner_container_drops_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_device_clears_its_own_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subtree_removal_reaches_every_object, setup, teardown),
    };
    int fails = 0;
    fails += cmocka_run_group_tests_name("types", types, NULL, NULL);
    fails += cmocka_run_group_tests_name("tree", tree, NULL, NULL);
    fails += cmocka_run_group_tests_name("events", events, NULL, NULL);
    return fails != 0;
}
