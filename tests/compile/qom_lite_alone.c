/* qom_lite.h alone (it brings notify.h), as C11 and as C++17, with both
 * implementations included after the headers. Compiled with -Werror. */
#include "qom_lite.h"
#include <string.h>

typedef struct { int open; } tray_moved;
QOM_DEFINE_EVENT(tray, tray_moved);
static const qom_event_info TRAY = { "DEVICE_TRAY_MOVED", NULL };
typedef struct { qom_object obj; tray_list moved; } cd;

static void cd_class_init(qom_class *k, void *d)
{
    (void)d;
    QOM_CLASS_ADD_EVENT(k, "tray-moved", cd, moved, tray, &TRAY, NULL);
}

int compile_qom_alone(void);
int compile_qom_alone(void)
{
    qom_registry *reg = qom_registry_new();
    qom_type_info info;
    qom_error err;
    qom_object *o;
    tray_moved ev = { 1 };
    memset(&info, 0, sizeof info);
    info.name = "cd";
    info.parent = "object";
    info.instance_size = sizeof(cd);
    info.class_init = cd_class_init;
    if (reg == NULL || qom_type_register(reg, &info, &err) != 0)
        return -1;
    o = qom_object_new_child(qom_root(reg), "cd0", "cd", &err);
    if (o == NULL)
        return -1;
    tray_emit(&QOM_CAST(cd, o, "cd")->moved, &ev);
    qom_registry_free(reg);
    return 0;
}

#define NOTIFY_IMPLEMENTATION
#define QOM_LITE_IMPLEMENTATION
#include "qom_lite.h"
