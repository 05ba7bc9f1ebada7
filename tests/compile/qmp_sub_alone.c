/* qmp_sub.h alone (it brings qom_lite.h and notify.h), as C11 and as
 * C++17, with the implementations included after the headers. Compiled
 * with -Werror. */
#include "qmp_sub.h"

#define TRAY_FIELDS(F) F(str, device, "device", _) F(bool, tray_open, "tray-open", _) \
                       F(str, id, "id", _) F(opt_uint, count, "count", _)
QMP_STRUCT(tray_moved, TRAY_FIELDS);
QMP_DEFINE_EVENT(TRAY_EV, "DEVICE_TRAY_MOVED", tray_moved);

int compile_qmp_alone(void);
int compile_qmp_alone(void)
{
    qom_registry *reg = qom_registry_new();
    qmp_server *srv = reg != NULL ? qmp_server_new(reg, NULL) : NULL;
    qmp_session *s = srv != NULL ? qmp_session_new(srv, NULL, NULL) : NULL;
    tray_moved ev = { "", true, "cd0", false, 0 };
    qmp_writer w;
    char buf[256];
    if (s == NULL)
        return -1;
    qmp_session_feed(s, "{\"execute\": \"qmp_capabilities\"}", 31);
    while (qmp_session_read(s, buf, sizeof buf) != 0)
        ;
    qmp_writer_init(&w);
    qmp_write_event(&w, &TRAY_EV, &ev, 1, 2);
    qmp_writer_free(&w);
    qmp_session_free(s);
    qmp_server_free(srv);
    qom_registry_free(reg);
    return 0;
}

#define NOTIFY_IMPLEMENTATION
#define QOM_LITE_IMPLEMENTATION
#define QMP_SUB_IMPLEMENTATION
#include "qmp_sub.h"
