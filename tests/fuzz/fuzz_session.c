/* libFuzzer target: the QMP session engine, arbitrary bytes in. One
 * machine for the whole run; a session per input, negotiated with
 * subscriptions or not (first byte), fed the input, drained, closed.
 * Checks: no crash, leak or undefined behaviour; the output is CRLF lines;
 * no session container or subscription object is left behind. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NOTIFY_IMPLEMENTATION
#define QOM_LITE_IMPLEMENTATION
#define QMP_SUB_IMPLEMENTATION
#include "qmp_sub.h"

#define TRAY_FIELDS(F) F(str, device, "device", _) F(bool, tray_open, "tray-open", _) \
                       F(str, id, "id", _)
QMP_STRUCT(tray_moved, TRAY_FIELDS);
QMP_DEFINE_EVENT(TRAY_EV, "DEVICE_TRAY_MOVED", tray_moved);
QOM_DEFINE_EVENT(tray, tray_moved);
static const qom_event_info TRAY_INFO = { "DEVICE_TRAY_MOVED", &TRAY_EV };
typedef struct { qom_object obj; bool tray_open; tray_list moved; } ide_cd;

static void cd_class_init(qom_class *k, void *d)
{
    (void)d;
    qom_class_add_bool(k, "tray-open", offsetof(ide_cd, tray_open), true, NULL);
    QOM_CLASS_ADD_EVENT(k, "tray-moved", ide_cd, moved, tray, &TRAY_INFO, NULL);
}

static qom_registry *reg;
static qmp_server *srv;
static ide_cd *cd0;

static void quiet(void *o, const char *m) { (void)o; (void)m; }

static void setup(void)
{
    const qom_type_info info = { "ide-cd", "object", sizeof(ide_cd), 0, cd_class_init,
                                 NULL, NULL, NULL, false, NULL };
    qmp_server_config cfg;
    qom_error err;
    reg = qom_registry_new();
    qom_type_register(reg, &info, &err);
    cd0 = (ide_cd *)(void *)qom_object_new_child(qom_container_get(reg, "/machine/peripheral"),
                                                 "cd0", "ide-cd", &err);
    memset(&cfg, 0, sizeof cfg);
    cfg.max_output = 16384;
    cfg.max_message = 4096;
    cfg.log = quiet;
    srv = qmp_server_new(reg, &cfg);
}

static char out[1 << 16];

static void count_children(void *opaque, const qom_property *p)
{
    if (strncmp(p->type, "child<", 6) == 0)
        ++*(int *)opaque;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *caps[] = {
        "", "{\"execute\":\"qmp_capabilities\"}",
        "{\"execute\":\"qmp_capabilities\",\"arguments\":{\"enable\":[\"subscriptions\"]}}",
    };
    qmp_session *s;
    tray_moved ev = { "", true, "cd0" };
    size_t n, len = 0;
    qom_object *left;
    int children;
    if (reg == NULL)
        setup();
    if (size == 0)
        return 0;
    s = qmp_session_new(srv, NULL, NULL);
    qmp_session_feed(s, caps[data[0] % 3], strlen(caps[data[0] % 3]));
    qmp_session_feed(s, data + 1, size - 1);
    tray_emit(&cd0->moved, &ev);
    while ((n = qmp_session_read(s, out + len, sizeof out - len)) != 0) {
        len += n;
        if (len == sizeof out)
            len = 0;   /* keep reading; check line ends on the last block */
    }
    if (len >= 2 && (out[len - 2] != '\r' || out[len - 1] != '\n') && !qmp_session_closed(s))
        abort();   /* output ends at a line end */
    qmp_session_free(s);
    /* a closed session leaves no container and no subscription behind */
    left = qom_resolve(reg, "/qmp/sessions", NULL);
    children = 0;
    qom_property_foreach(left, count_children, &children);
    qom_object_unref(left);
    if (children != 0)
        abort();
    return 0;
}
