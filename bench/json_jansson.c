/* json_jansson.c: the jansson side of bench_qmp's JSON figures (a module;
 * see json_peer.h). Event: json_pack, then json_dumps with
 * JSON_PRESERVE_ORDER, whose default separators are QMP's (", " and ": ");
 * parse: json_loads. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "json_peer.h"

static size_t tray_event(char *buf, size_t cap, long long seconds, long long micros,
                         const char *device, int tray_open, const char *id)
{
    json_t *ev = json_pack("{s:{s:I,s:I},s:s,s:{s:s,s:b,s:s}}",
                           "timestamp", "seconds", (json_int_t)seconds,
                           "microseconds", (json_int_t)micros,
                           "event", "DEVICE_TRAY_MOVED",
                           "data", "device", device, "tray-open", tray_open, "id", id);
    char *text;
    size_t n = 0;
    if (ev == NULL)
        return 0;
    text = json_dumps(ev, JSON_PRESERVE_ORDER);
    if (text != NULL && (n = strlen(text)) + 2 <= cap) {
        memcpy(buf, text, n);
        buf[n++] = '\r';
        buf[n++] = '\n';
    } else {
        n = 0;
    }
    free(text);
    json_decref(ev);
    return n;
}

static int parse(const char *text)
{
    json_error_t err;
    json_t *v = json_loads(text, 0, &err);
    if (v == NULL)
        return -1;
    json_decref(v);
    return 0;
}

static int same_value(const char *a, const char *b)
{
    json_error_t err;
    json_t *x = json_loads(a, 0, &err), *y = json_loads(b, 0, &err);
    int same = x != NULL && y != NULL && json_equal(x, y);
    json_decref(x);
    json_decref(y);
    return same;
}

const bench_json_peer bench_json_peer_entry = {
    "jansson " JANSSON_VERSION, "json_pack + json_dumps", tray_event, parse, same_value
};
