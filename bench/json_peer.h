/* json_peer.h: what bench_qmp asks of a peer JSON library. Each peer is a
 * module (json_jansson.c, json_jsonc.c) exporting one bench_json_peer named
 * BENCH_JSON_PEER_SYMBOL; bench_qmp dlopen()s it. */
#ifndef QOMNOTIFY_BENCH_JSON_PEER_H
#define QOMNOTIFY_BENCH_JSON_PEER_H
#include <stddef.h>

typedef struct bench_json_peer {
    const char *name;   /* library and version */
    const char *how;    /* the calls, for the table */
    /* DEVICE_TRAY_MOVED {device, tray-open, id} with its timestamp as QMP
     * wire text, ending in CRLF, into buf: built with the library and
     * printed by it. Its length, or 0. */
    size_t (*tray_event)(char *buf, size_t cap, long long seconds, long long micros,
                         const char *device, int tray_open, const char *id);
    /* Parse a NUL-terminated JSON text into the library's tree, then free
     * the tree. 0, or -1 when it does not parse. */
    int (*parse)(const char *text);
    /* 1 when a and b (NUL-terminated) parse to equal values. */
    int (*same_value)(const char *a, const char *b);
} bench_json_peer;

#define BENCH_JSON_PEER_SYMBOL "bench_json_peer_entry"

#endif
