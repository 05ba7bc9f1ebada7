/* json_jsonc.c: the json-c side of bench_qmp's JSON figures (a module; see
 * json_peer.h). Event: json_object_new_object & co., then
 * json_object_to_json_string_ext with JSON_C_TO_STRING_SPACED, the closest
 * json-c comes to QMP's spacing (it also puts a space inside each brace:
 * the same value, 6 bytes longer); parse: json_tokener_parse. */
#include <json-c/json.h>
#include <string.h>

#include "json_peer.h"

static size_t tray_event(char *buf, size_t cap, long long seconds, long long micros,
                         const char *device, int tray_open, const char *id)
{
    struct json_object *ev = json_object_new_object(), *ts = json_object_new_object();
    struct json_object *data = json_object_new_object();
    const char *text;
    size_t n = 0;
    json_object_object_add(ts, "seconds", json_object_new_int64(seconds));
    json_object_object_add(ts, "microseconds", json_object_new_int64(micros));
    json_object_object_add(ev, "timestamp", ts);
    json_object_object_add(ev, "event", json_object_new_string("DEVICE_TRAY_MOVED"));
    json_object_object_add(data, "device", json_object_new_string(device));
    json_object_object_add(data, "tray-open", json_object_new_boolean(tray_open));
    json_object_object_add(data, "id", json_object_new_string(id));
    json_object_object_add(ev, "data", data);
    text = json_object_to_json_string_ext(ev, JSON_C_TO_STRING_SPACED);
    if (text != NULL && (n = strlen(text)) + 2 <= cap) {
        memcpy(buf, text, n);
        buf[n++] = '\r';
        buf[n++] = '\n';
    } else {
        n = 0;
    }
    json_object_put(ev);   /* frees the text too */
    return n;
}

static int parse(const char *text)
{
    struct json_object *v = json_tokener_parse(text);
    if (v == NULL)
        return -1;
    json_object_put(v);
    return 0;
}

static int same_value(const char *a, const char *b)
{
    struct json_object *x = json_tokener_parse(a), *y = json_tokener_parse(b);
    int same = x != NULL && y != NULL && json_object_equal(x, y);
    json_object_put(x);
    json_object_put(y);
    return same;
}

const bench_json_peer bench_json_peer_entry = {
    "json-c " JSON_C_VERSION, "json_object_new_* + json_object_to_json_string_ext",
    tray_event, parse, same_value
};
