/* cdrom_device: a CD-ROM device model on qom_lite.h, shaped like QEMU's.
 *
 * An "ide-cd" object lives at /machine/peripheral/cd0 with a read-only
 * "tray-open" bool property and an event property "tray-moved" whose event is
 * DEVICE_TRAY_MOVED with QEMU's payload {device, id, tray-open}. One native
 * subscriber subscribes by path; another subscribes to every ide-cd by type,
 * and so also hears cd1, hot-plugged later. Each subscription is an object
 * in the tree; destroying it unsubscribes. Public API only. */
#define NOTIFY_IMPLEMENTATION
#define QOM_LITE_IMPLEMENTATION
#include "qom_lite.h"

#include <stdio.h>
#include <stdlib.h>

/* The event and its payload, as QEMU's DEVICE_TRAY_MOVED carries it. */
typedef struct {
    const char *device;   /* block backend name ("" when none) */
    const char *id;       /* qdev id */
    bool tray_open;
} tray_moved_event;
QOM_DEFINE_EVENT(tray_moved, tray_moved_event);
static const qom_event_info DEVICE_TRAY_MOVED = { "DEVICE_TRAY_MOVED", NULL };

typedef struct {
    qom_object parent_obj;
    bool tray_open;
    tray_moved_list tray_moved;   /* the event property's notifier list */
} ide_cd;

static void ide_cd_class_init(qom_class *klass, void *data)
{
    (void)data;
    qom_class_add_bool(klass, "tray-open", offsetof(ide_cd, tray_open), false,
                       "whether the tray is open");
    QOM_CLASS_ADD_EVENT(klass, "tray-moved", ide_cd, tray_moved, tray_moved,
                        &DEVICE_TRAY_MOVED, "the tray opened or closed");
}

/* The device's own behaviour: move the tray, emit the event (lock-free). */
static void ide_cd_set_tray(ide_cd *cd, const char *id, bool open)
{
    tray_moved_event ev = { "", id, open };
    cd->tray_open = open;
    tray_moved_emit(&cd->tray_moved, &ev);
}

/* Native subscribers. */
static void log_by_path(void *opaque, qom_object *source, const void *payload)
{
    const tray_moved_event *ev = (const tray_moved_event *)payload;
    (void)source;
    printf("  [%s] DEVICE_TRAY_MOVED id=%s tray-open=%s\n", (const char *)opaque, ev->id,
           ev->tray_open ? "true" : "false");
}

static void log_by_type(void *opaque, qom_object *source, const void *payload)
{
    const tray_moved_event *ev = (const tray_moved_event *)payload;
    char *path = qom_object_path(source);
    (void)opaque;
    printf("  [every ide-cd] %s: tray-open=%s\n", path ? path : "(detached)",
           ev->tray_open ? "true" : "false");
    free(path);
}

int main(void)
{
    qom_registry *reg = qom_registry_new();
    const qom_type_info ide_cd_info = {
        "ide-cd", "object", sizeof(ide_cd), 0, ide_cd_class_init,
        NULL, NULL, NULL, false, NULL
    };
    qom_object *peripheral, *cd0_obj, *cd1_obj, *sub, *target;
    qom_native_fn fn = log_by_path;
    qom_error err;
    qom_value v;
    char *by_path = NULL, *by_type = NULL;

    if (reg == NULL || qom_type_register(reg, &ide_cd_info, &err) != 0)
        return 1;
    peripheral = qom_container_get(reg, "/machine/peripheral");
    cd0_obj = qom_object_new_child(peripheral, "cd0", "ide-cd", &err);
    if (cd0_obj == NULL)
        return 1;
    printf("cdrom_device: /machine/peripheral/cd0 is an %s\n", qom_object_type_name(cd0_obj));

    /* by path: resolve it, subscribe to the object's event property */
    target = qom_resolve_err(reg, "/machine/peripheral/cd0", &err);
    if (target == NULL ||
        qom_subscribe_native(target, "tray-moved", fn, (void *)"cd0 by path", NULL, &by_path,
                             &err) != 0 ||
        qom_subscribe_type_native(reg, "ide-cd", "tray-moved", log_by_type, NULL, NULL,
                                  &by_type, &err) != 0) {
        fprintf(stderr, "subscribe: %s\n", err.message);
        return 1;
    }
    qom_object_unref(target);
    printf("subscribed: by path at %s, by type at %s\n", by_path, by_type);

    printf("open and close cd0's tray:\n");
    ide_cd_set_tray(QOM_CAST(ide_cd, cd0_obj, "ide-cd"), "cd0", true);
    ide_cd_set_tray(QOM_CAST(ide_cd, cd0_obj, "ide-cd"), "cd0", false);

    printf("hot-plug cd1 and open its tray (the type-wide subscription covers it):\n");
    cd1_obj = qom_object_new_child(peripheral, "cd1", "ide-cd", &err);
    ide_cd_set_tray(QOM_CAST(ide_cd, cd1_obj, "ide-cd"), "cd1", true);
    if (qom_property_get(cd1_obj, "tray-open", &v, &err) == 0)
        printf("  qom-get cd1 tray-open -> %s\n", v.b ? "true" : "false");
    if (qom_property_set(cd1_obj, "tray-open", &v, &err) != 0)
        printf("  qom-set cd1 tray-open -> error: %s\n", err.message);

    printf("destroy the by-path subscription object, then move cd0's tray:\n");
    sub = qom_resolve(reg, by_path, NULL);
    qom_object_unparent(sub);
    qom_object_unref(sub);
    ide_cd_set_tray(QOM_CAST(ide_cd, cd0_obj, "ide-cd"), "cd0", true);

    free(by_path);
    free(by_type);
    qom_registry_free(reg);
    return 0;
}
