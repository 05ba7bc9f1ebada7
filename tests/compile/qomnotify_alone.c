/* The amalgamated qomnotify.h alone, as C and as C++17: everything, with
 * the implementations, in one translation unit. Compiled with -Werror. */
#define QOMNOTIFY_IMPLEMENTATION
#include "qomnotify.h"

#define TRAY_FIELDS(F) F(str, device, "device", _) F(bool, tray_open, "tray-open", _) \
                       F(str, id, "id", _)
QMP_STRUCT(tray_moved, TRAY_FIELDS);
QMP_DEFINE_EVENT(TRAY_EV, "DEVICE_TRAY_MOVED", tray_moved);
QOM_DEFINE_EVENT(tray, tray_moved);

int compile_amalgamated(void);
int compile_amalgamated(void)
{
    qom_registry *reg = qom_registry_new();
    qmp_server *srv = reg != NULL ? qmp_server_new(reg, NULL) : NULL;
    tray_list list;
    tray_moved ev = { "", true, "cd0" };
    tray_list_init(&list);
    tray_emit(&list, &ev);
    qmp_server_free(srv);
    qom_registry_free(reg);
    return QOMNOTIFY_VERSION_MAJOR;
}
