/* cmocka tests for qmp_sub.h: the JSON reader and writer, the event
 * serializer, and transcripts of the session engine (bytes in, bytes out)
 * for QMP as QEMU speaks it, every error path, subscriptions, slow
 * consumers and limits. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#define NOTIFY_IMPLEMENTATION
#define QOM_LITE_IMPLEMENTATION
#define QMP_SUB_IMPLEMENTATION
#include "qmp_sub.h"

/* ---- the machine: ide-device (abstract) > ide-cd, at /machine/peripheral ---- */
#define TRAY_FIELDS(F) F(str, device, "device", _) F(bool, tray_open, "tray-open", _) \
                       F(str, id, "id", _)
QMP_STRUCT(tray_moved, TRAY_FIELDS);
QMP_DEFINE_EVENT(TRAY_EV, "DEVICE_TRAY_MOVED", tray_moved);
QOM_DEFINE_EVENT(tray, tray_moved);
/* The sessions' marshal counts its calls: an event is written once,
 * however many sessions receive it. */
static int tray_writes;
static void counted_tray_write(qmp_writer *w, const void *payload)
{
    tray_writes++;
    TRAY_EV.data(w, payload);
}
static const qmp_event_type COUNTED_TRAY_EV = { "DEVICE_TRAY_MOVED", counted_tray_write,
                                                NULL, 0 };
static const qom_event_info TRAY_INFO = { "DEVICE_TRAY_MOVED", &COUNTED_TRAY_EV };

typedef struct {
    qom_object obj;
    bool tray_open;
    tray_list moved;
} ide_dev;

static void ide_class_init(qom_class *k, void *d)
{
    (void)d;
    qom_class_add_bool(k, "tray-open", offsetof(ide_dev, tray_open), false, NULL);
    QOM_CLASS_ADD_EVENT(k, "tray-moved", ide_dev, moved, tray, &TRAY_INFO, NULL);
}

static qom_registry *reg;
static qmp_server *srv;
static int woken;

static void on_output(qmp_session *s, void *opaque)
{
    (void)s;
    (void)opaque;
    woken++;
}

static void quiet_log(void *opaque, const char *msg)
{
    (void)opaque;
    (void)msg;
}

static int make_machine(size_t max_output)
{
    const qom_type_info dev = { "ide-device", "object", sizeof(ide_dev), 0, ide_class_init,
                                NULL, NULL, NULL, true, NULL };
    const qom_type_info cd = { "ide-cd", "ide-device", 0, 0, NULL, NULL, NULL, NULL, false, NULL };
    qmp_server_config cfg;
    qom_error err;
    reg = qom_registry_new();
    if (reg == NULL || qom_type_register(reg, &dev, &err) != 0 ||
        qom_type_register(reg, &cd, &err) != 0)
        return -1;
    if (qom_object_new_child(qom_container_get(reg, "/machine/peripheral"), "cd0", "ide-cd",
                             &err) == NULL)
        return -1;
    memset(&cfg, 0, sizeof cfg);
    cfg.max_output = max_output;
    cfg.log = quiet_log;
    srv = qmp_server_new(reg, &cfg);
    return srv != NULL ? 0 : -1;
}

static int setup(void **state)
{
    (void)state;
    return make_machine(0);
}

static int teardown(void **state)
{
    (void)state;
    qmp_server_free(srv);
    qom_registry_free(reg);
    return 0;
}

/* What the session has queued, as one string (caller frees). */
static char *drain(qmp_session *s)
{
    size_t cap = 1 << 16, len = 0, n;
    char *buf = malloc(cap + 1);
    assert_non_null(buf);
    while ((n = qmp_session_read(s, buf + len, cap - len)) != 0) {
        len += n;
        if (len == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
            assert_non_null(buf);
        }
    }
    buf[len] = '\0';
    return buf;
}

/* Feed text, return what came back. */
static char *talk(qmp_session *s, const char *in)
{
    assert_int_equal(qmp_session_feed(s, in, strlen(in)), 0);
    return drain(s);
}

static void expect(qmp_session *s, const char *in, const char *out)
{
    char *got = talk(s, in);
    assert_string_equal(got, out);
    free(got);
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (hay = strstr(hay, needle); hay != NULL; hay = strstr(hay + 1, needle))
        n++;
    return n;
}

static qmp_session *open_session(const char *caps)
{
    qmp_session *s = qmp_session_new(srv, on_output, NULL);
    char *greeting, *r;
    assert_non_null(s);
    greeting = drain(s);
    assert_non_null(strstr(greeting, "\"capabilities\": [\"subscriptions\"]"));
    free(greeting);
    if (caps != NULL) {
        char cmd[256];
        snprintf(cmd, sizeof cmd,
                 "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [%s]}}", caps);
        r = talk(s, cmd);
        assert_string_equal(r, "{\"return\": {}}\r\n");
        free(r);
    }
    return s;
}

static ide_dev *cd(const char *path)
{
    qom_object *o = qom_resolve(reg, path, NULL);
    assert_non_null(o);
    qom_object_unref(o);   /* the tree keeps it */
    return (ide_dev *)(void *)o;
}

static void move_tray(const char *path, const char *id, bool open)
{
    ide_dev *d = cd(path);
    tray_moved ev = { "", open, id };
    d->tray_open = open;
    tray_emit(&d->moved, &ev);
}

/* ---- JSON ---- */

static void test_parse_values(void **state)
{
    qmp_json_arena a;
    const qmp_json *v, *m;
    const char *err = NULL;
    const char *text = "{\"i\": -42, \"u\": 18446744073709551615, \"d\": 1.5e3, "
                       "\"s\": \"a\\u00e9\\ud83d\\ude00\\n\", \"b\": true, \"n\": null, "
                       "\"a\": [1, [], {}]}";
    (void)state;
    qmp_json_arena_init(&a);
    assert_int_equal(qmp_json_parse(&a, text, strlen(text), 0, &v, &err), 0);
    assert_int_equal(v->type, QMP_JSON_OBJECT);
    assert_int_equal(v->len, 7);
    m = qmp_json_member(v, "i");
    assert_int_equal(m->type, QMP_JSON_INT);
    assert_true(m->v.i == -42);
    m = qmp_json_member(v, "u");
    assert_int_equal(m->type, QMP_JSON_UINT);
    assert_true(m->v.u == UINT64_MAX);
    m = qmp_json_member(v, "d");
    assert_int_equal(m->type, QMP_JSON_DOUBLE);
    assert_true(m->v.d == 1500.0);
    m = qmp_json_member(v, "s");
    assert_string_equal(m->v.s, "a\xc3\xa9\xf0\x9f\x98\x80\n");
    assert_int_equal(m->len, 8);
    assert_true(qmp_json_member(v, "b")->v.b);
    assert_int_equal(qmp_json_member(v, "n")->type, QMP_JSON_NULL);
    m = qmp_json_member(v, "a");
    assert_int_equal(m->len, 3);
    assert_int_equal(m->child->next->type, QMP_JSON_ARRAY);
    assert_null(qmp_json_member(v, "missing"));
    qmp_json_arena_free(&a);
}

static void test_parse_errors(void **state)
{
    static const char *bad[] = {
        "{\"a\" 1}", "{\"a\": }", "[1,]", "{1: 2}", "tru", "\"\\x\"", "\"\\ud800\"",
        "\"\\u0000\"", "01", "1.", "\"\xff\"", "\"\xc0\xaf\"", "[1] 2", "\"a\nb\"", "",
    };
    qmp_json_arena a;
    const qmp_json *v;
    const char *err;
    size_t i;
    (void)state;
    qmp_json_arena_init(&a);
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err = NULL;
        assert_int_equal(qmp_json_parse(&a, bad[i], strlen(bad[i]), 0, &v, &err), -EINVAL);
        assert_non_null(err);
        assert_memory_equal(err, "JSON parse error", 16);
    }
    /* nesting: 64 levels pass, 65 fail */
    {
        char deep[200];
        memset(deep, '[', 65);
        memset(deep + 65, ']', 65);
        assert_int_equal(qmp_json_parse(&a, deep + 1, 128, 64, &v, &err), 0);
        assert_int_equal(qmp_json_parse(&a, deep, 130, 64, &v, &err), -EINVAL);
        assert_string_equal(err, "JSON nesting depth limit exceeded");
    }
    qmp_json_arena_free(&a);
}

static void test_writer_escapes_to_ascii(void **state)
{
    qmp_writer w;
    (void)state;
    qmp_writer_init(&w);
    qmp_write_object_begin(&w);
    qmp_write_key(&w, "s");
    /* quote, backslash, slash, controls, DEL, é, U+1F600, invalid byte */
    qmp_write_str(&w, "\"\\/\b\f\n\r\t\x01\x7f\xc3\xa9\xf0\x9f\x98\x80\xff");
    qmp_write_key(&w, "list");
    qmp_write_array_begin(&w);
    qmp_write_int(&w, -9223372036854775807LL - 1);
    qmp_write_uint(&w, UINT64_MAX);
    qmp_write_double(&w, 0.5);
    qmp_write_bool(&w, false);
    qmp_write_null(&w);
    qmp_write_array_end(&w);
    qmp_write_object_end(&w);
    assert_false(w.oom);
    w.buf[w.len] = '\0';
    assert_string_equal(w.buf,
        "{\"s\": \"\\\"\\\\/\\b\\f\\n\\r\\t\\u0001\\u007F\\u00E9\\uD83D\\uDE00\\uFFFD\", "
        "\"list\": [-9223372036854775808, 18446744073709551615, 0.5, false, null]}");
    qmp_writer_free(&w);
}

/* every field kind of the macros */
static const char *const colors[] = { "red", "green" };
#define INNER_FIELDS(F) F(int, x, "x", _) F(opt_str, note, "note", _)
QMP_STRUCT(inner_t, INNER_FIELDS);
#define ALL_FIELDS(F) F(str, s, "s", _) F(bool, b, "b", _) F(int, i, "i", _) \
    F(uint, u, "u", _) F(double, d, "d", _) F(enum, c, "color", colors) \
    F(object, in, "inner", inner_t) F(opt_int, maybe, "maybe", _) F(opt_bool, flag, "flag", _)
QMP_STRUCT(all_t, ALL_FIELDS);
QMP_DEFINE_EVENT(ALL_EV, "ALL_KINDS", all_t);

static void test_event_serializer(void **state)
{
    qmp_writer w;
    tray_moved tm = { "", true, "cd0" };
    all_t all;
    (void)state;
    qmp_writer_init(&w);
    /* byte for byte what QEMU 7.2 writes (../shared/reference) */
    qmp_write_event(&w, &TRAY_EV, &tm, 1795543046, 584946);
    assert_int_equal(w.len, strlen("{\"timestamp\": {\"seconds\": 1795543046, \"microseconds\": "
                                   "584946}, \"event\": \"DEVICE_TRAY_MOVED\", \"data\": "
                                   "{\"device\": \"\", \"tray-open\": true, \"id\": \"cd0\"}}\r\n"));
    assert_memory_equal(w.buf, "{\"timestamp\": {\"seconds\": 1795543046, \"microseconds\": "
                               "584946}, \"event\": \"DEVICE_TRAY_MOVED\", \"data\": "
                               "{\"device\": \"\", \"tray-open\": true, \"id\": \"cd0\"}}\r\n",
                        w.len);
    qmp_writer_reset(&w);
    memset(&all, 0, sizeof all);
    all.s = "q\"";
    all.i = -3;
    all.u = 7;
    all.d = 2.25;
    all.c = 1;
    all.in.x = 5;
    all.has_flag = true;
    qmp_write_event(&w, &ALL_EV, &all, 1, 2);
    w.buf[w.len] = '\0';
    assert_string_equal(w.buf,
        "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, \"event\": \"ALL_KINDS\", "
        "\"data\": {\"s\": \"q\\\"\", \"b\": false, \"i\": -3, \"u\": 7, \"d\": 2.25, "
        "\"color\": \"green\", \"inner\": {\"x\": 5}, \"flag\": false}}\r\n");
    /* an enum out of range is written as its number; a NULL string as "" */
    qmp_writer_reset(&w);
    all.c = 9;
    all.s = NULL;
    all.in.has_note = true;
    all.in.note = "n";
    qmp_write_event(&w, &ALL_EV, &all, 1, 2);
    w.buf[w.len] = '\0';
    assert_non_null(strstr(w.buf, "\"s\": \"\""));
    assert_non_null(strstr(w.buf, "\"color\": 9"));
    assert_non_null(strstr(w.buf, "\"inner\": {\"x\": 5, \"note\": \"n\"}"));
    qmp_writer_free(&w);
}

/* ---- QMP as QEMU speaks it ---- */

static void test_greeting_and_negotiation(void **state)
{
    qmp_session *s = qmp_session_new(srv, on_output, NULL);
    char *g;
    (void)state;
    woken = 0;
    g = drain(s);
    assert_string_equal(g, "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 1, "
                           "\"major\": 0}, \"package\": \"qomnotify\"}, \"capabilities\": "
                           "[\"subscriptions\"]}}\r\n");
    free(g);
    expect(s, "{\"execute\":\"qom-list\",\"arguments\":{\"path\":\"/\"}}",
           "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"Expecting capabilities "
           "negotiation with 'qmp_capabilities'\"}}\r\n");
    expect(s, "{\"execute\":\"nonexistent\",\"id\":\"x\"}",
           "{\"id\": \"x\", \"error\": {\"class\": \"CommandNotFound\", \"desc\": \"Expecting "
           "capabilities negotiation with 'qmp_capabilities'\"}}\r\n");
    expect(s, "{\"execute\":\"qmp_capabilities\",\"id\":1}", "{\"return\": {}, \"id\": 1}\r\n");
    expect(s, "{\"execute\":\"qmp_capabilities\"}",
           "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"Capabilities negotiation "
           "is already complete, command ignored\"}}\r\n");
    expect(s, "{\"execute\":\"nonexistent\",\"id\":\"x\"}",
           "{\"id\": \"x\", \"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command "
           "nonexistent has not been found\"}}\r\n");
    /* id of any JSON type comes back as sent */
    expect(s, "{\"execute\":\"query-version\",\"id\":{\"a\":[1,\"b\",null]}}",
           "{\"return\": {\"qemu\": {\"micro\": 0, \"minor\": 1, \"major\": 0}, \"package\": "
           "\"qomnotify\"}, \"id\": {\"a\": [1, \"b\", null]}}\r\n");
    assert_true(woken > 0);
    qmp_session_free(s);
}

static void test_qemu_error_texts(void **state)
{
    qmp_session *s = open_session("");
    (void)state;
    expect(s, "{\"execute\":\"qom-list\",\"arguments\":{}}",
           "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Parameter 'path' is missing\"}}\r\n");
    expect(s, "{\"execute\":\"qom-list\",\"arguments\":{\"path\":\"/machine/peripheral/cd0\",\"extra\":1}}",
           "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Parameter 'extra' is unexpected\"}}\r\n");
    expect(s, "{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"cd0\",\"property\":1}}",
           "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Invalid parameter type for "
           "'property', expected: string\"}}\r\n");
    expect(s, "[1,2]",
           "{\"error\": {\"class\": \"GenericError\", \"desc\": \"QMP input must be a JSON object\"}}\r\n");
    expect(s, "{\"execute\":1}",
           "{\"error\": {\"class\": \"GenericError\", \"desc\": \"QMP input member 'execute' "
           "must be a string\"}}\r\n");
    expect(s, "{\"foo\":\"bar\"}",
           "{\"error\": {\"class\": \"GenericError\", \"desc\": \"QMP input member 'foo' is "
           "unexpected\"}}\r\n");
    expect(s, "{\"execute\":\"qom-list\",\"arguments\":[]}",
           "{\"error\": {\"class\": \"GenericError\", \"desc\": \"QMP input member 'arguments' "
           "must be an object\"}}\r\n");
    expect(s, "{\"id\":3}",
           "{\"id\": 3, \"error\": {\"class\": \"GenericError\", \"desc\": \"QMP input lacks "
           "member 'execute'\"}}\r\n");
    expect(s, "{\"execute\":\"qom-list\",\"arguments\":{\"path\":\"/nope\"}}",
           "{\"error\": {\"class\": \"DeviceNotFound\", \"desc\": \"Device '/nope' not found\"}}\r\n");
    expect(s, "{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"/machine/peripheral/cd0\",\"property\":\"nosuch\"}}",
           "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Property 'ide-cd.nosuch' not found\"}}\r\n");
    expect(s, "{\"execute\":\"qom-set\",\"arguments\":{\"path\":\"/machine/peripheral/cd0\",\"property\":\"type\",\"value\":\"x\"}}",
           "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Property 'ide-cd.type' is not writable\"}}\r\n");
    expect(s, "{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"/machine/peripheral/cd0\",\"property\":\"type\"}}",
           "{\"return\": \"ide-cd\"}\r\n");
    expect(s, "{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"cd0\",\"property\":\"tray-open\"}}",
           "{\"return\": false}\r\n");
    qmp_session_free(s);
}

static void test_split_and_batched_input(void **state)
{
    qmp_session *s = open_session("");
    char *r;
    (void)state;
    r = talk(s, "{\"execute\":\"qom-list\"");
    assert_string_equal(r, "");
    free(r);
    expect(s, ",\"arguments\":{\"path\":\"/machine/peripheral\"}}",
           "{\"return\": [{\"name\": \"type\", \"type\": \"string\"}, "
           "{\"name\": \"cd0\", \"type\": \"child<ide-cd>\"}]}\r\n");
    /* byte by byte */
    {
        const char *cmd = "{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"cd0\",\"property\":\"type\"},\"id\":7}\r\n";
        size_t i;
        for (i = 0; cmd[i] != '\0'; i++)
            assert_int_equal(qmp_session_feed(s, cmd + i, 1), 0);
        r = drain(s);
        assert_string_equal(r, "{\"return\": \"ide-cd\", \"id\": 7}\r\n");
        free(r);
    }
    expect(s, "{\"execute\":\"query-version\",\"id\":1}{\"execute\":\"nope\",\"id\":2}\n",
           "{\"return\": {\"qemu\": {\"micro\": 0, \"minor\": 1, \"major\": 0}, \"package\": "
           "\"qomnotify\"}, \"id\": 1}\r\n{\"id\": 2, \"error\": {\"class\": \"CommandNotFound\", "
           "\"desc\": \"The command nope has not been found\"}}\r\n");
    /* event properties show as event<NAME> */
    r = talk(s, "{\"execute\":\"qom-list\",\"arguments\":{\"path\":\"cd0\"}}");
    assert_non_null(strstr(r, "{\"name\": \"tray-moved\", \"type\": \"event<DEVICE_TRAY_MOVED>\"}"));
    free(r);
    qmp_session_free(s);
}

/* After malformed input: exactly one error, then normal service. */
static void test_resynchronization(void **state)
{
    static const char *garbage[] = {
        "\xff\xfe garbage\n", "{\"execute\": }\n", "}}}\n", "{\"execute\": \"a\x01\"}\n",
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]"
        "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n",
        "{\"execute\": \"qom-list\", \"arguments\": {\"path\": \"/\"]}\n",
        "hello world foo\n",                  /* garbage words: one error for the line */
        "{\"execute\": \"abc\\\n",             /* a backslash, then the end of the line */
        "\"abc\\\n",
    };
    qmp_session *s = open_session("");
    size_t i;
    (void)state;
    for (i = 0; i < sizeof garbage / sizeof garbage[0]; i++) {
        char *in = malloc(strlen(garbage[i]) + 64), *r;
        sprintf(in, "%s{\"execute\":\"query-version\",\"id\":%zu}\n", garbage[i], i);
        r = talk(s, in);
        assert_int_equal(count(r, "\r\n"), 2);
        assert_int_equal(count(r, "\"error\""), 1);
        assert_non_null(strstr(r, "\"desc\": \"JSON"));
        {
            char tail[32];
            sprintf(tail, "\"id\": %zu}\r\n", i);
            assert_non_null(strstr(r, tail));
        }
        free(r);
        free(in);
    }
    /* 5000 deep, as in the reference: one error */
    {
        char *in = malloc(10100), *r;
        memset(in, '[', 5000);
        memset(in + 5000, ']', 5000);
        strcpy(in + 10000, "\n{\"execute\":\"query-version\"}\n");
        r = talk(s, in);
        assert_int_equal(count(r, "\r\n"), 2);
        assert_non_null(strstr(r, "JSON nesting depth limit exceeded"));
        free(r);
        free(in);
    }
    /* too long */
    {
        size_t n = 70000;
        char *in = malloc(n + 64), *r;
        memcpy(in, "{\"execute\": \"", 13);
        memset(in + 13, 'a', n - 13);
        strcpy(in + n, "\"}\n{\"execute\":\"query-version\"}\n");
        r = talk(s, in);
        assert_int_equal(count(r, "\r\n"), 2);
        assert_non_null(strstr(r, "JSON token size limit exceeded"));
        free(r);
        free(in);
    }
    qmp_session_free(s);
}

/* ---- events and subscriptions ---- */

static char *extract_string(const char *r, const char *key)
{
    const char *p = strstr(r, key), *e;
    char *out;
    assert_non_null(p);
    p += strlen(key);
    e = strchr(p, '"');
    out = malloc((size_t)(e - p) + 1);
    memcpy(out, p, (size_t)(e - p));
    out[e - p] = '\0';
    return out;
}

static void test_legacy_gets_everything_subscribers_only_theirs(void **state)
{
    qmp_session *legacy = open_session(""), *sub = open_session("\"subscriptions\"");
    qmp_session *fresh = qmp_session_new(srv, on_output, NULL);
    char *r, *p1, *p2, cmd[256];
    (void)state;
    free(drain(fresh));
    move_tray("/machine/peripheral/cd0", "cd0", true);
    r = drain(legacy);
    assert_memory_equal(r, "{\"timestamp\": {\"seconds\": ", 26);
    assert_non_null(strstr(r, "\"event\": \"DEVICE_TRAY_MOVED\", \"data\": {\"device\": \"\", "
                              "\"tray-open\": true, \"id\": \"cd0\"}}\r\n"));
    free(r);
    r = drain(sub);
    assert_string_equal(r, "");   /* not subscribed yet */
    free(r);
    r = drain(fresh);
    assert_string_equal(r, "");   /* not negotiated: no events */
    free(r);

    /* legacy sessions cannot subscribe */
    r = talk(legacy, "{\"execute\":\"qom-subscribe\",\"arguments\":{\"path\":\"cd0\",\"property\":\"tray-moved\"}}");
    assert_non_null(strstr(r, "'subscriptions' capability"));
    free(r);

    /* subscribe by get (the plan9 way) and by qom-subscribe */
    r = talk(sub, "{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"/machine/peripheral/cd0\",\"property\":\"tray-moved\"}}");
    p1 = extract_string(r, "{\"return\": \"");
    assert_memory_equal(p1, "/qmp/sessions/", 14);
    free(r);
    r = talk(sub, "{\"execute\":\"qom-subscribe\",\"arguments\":{\"path\":\"cd0\",\"property\":\"tray-moved\",\"throttle-ms\":0}}");
    p2 = extract_string(r, "{\"return\": {\"subscription\": \"");
    free(r);
    assert_string_not_equal(p1, p2);
    move_tray("/machine/peripheral/cd0", "cd0", false);
    r = drain(sub);
    assert_int_equal(count(r, "\r\n"), 2);
    snprintf(cmd, sizeof cmd, "\"tray-open\": false, \"id\": \"cd0\"}, \"subscription\": \"%s\"}\r\n", p1);
    assert_non_null(strstr(r, cmd));
    snprintf(cmd, sizeof cmd, "\"subscription\": \"%s\"}\r\n", p2);
    assert_non_null(strstr(r, cmd));
    free(r);

    /* the subscription object is in the tree, with its properties */
    snprintf(cmd, sizeof cmd, "{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"%s\",\"property\":\"source\"}}", p1);
    expect(sub, cmd, "{\"return\": \"/machine/peripheral/cd0\"}\r\n");
    r = talk(sub, "{\"execute\":\"query-subscriptions\"}");
    snprintf(cmd, sizeof cmd, "{\"subscription\": \"%s\", \"source\": \"/machine/peripheral/cd0\", "
             "\"type-wide\": false, \"property\": \"tray-moved\", \"event\": \"DEVICE_TRAY_MOVED\", "
             "\"throttle-ms\": 0}", p1);
    assert_non_null(strstr(r, cmd));
    assert_int_equal(count(r, "\"subscription\""), 2);
    free(r);

    /* another session cannot remove it; this one can */
    {
        qmp_session *other = open_session("\"subscriptions\"");
        snprintf(cmd, sizeof cmd, "{\"execute\":\"qom-unsubscribe\",\"arguments\":{\"subscription\":\"%s\"}}", p1);
        r = talk(other, cmd);
        assert_non_null(strstr(r, "not found in this session"));
        free(r);
        r = talk(other, "{\"execute\":\"qom-unsubscribe\",\"arguments\":{\"subscription\":\"/machine\"}}");
        assert_non_null(strstr(r, "\"error\""));
        free(r);
        qmp_session_free(other);
    }
    snprintf(cmd, sizeof cmd, "{\"execute\":\"qom-unsubscribe\",\"arguments\":{\"subscription\":\"%s\"}}", p1);
    expect(sub, cmd, "{\"return\": {}}\r\n");
    assert_null(qom_resolve(reg, p1, NULL));
    move_tray("/machine/peripheral/cd0", "cd0", true);
    r = drain(sub);
    assert_int_equal(count(r, "\r\n"), 1);
    assert_non_null(strstr(r, p2));
    free(r);
    free(drain(legacy));

    /* closing the session drops its subscriptions from the tree */
    qmp_session_free(sub);
    assert_null(qom_resolve(reg, p2, NULL));
    free(p1);
    free(p2);
    qmp_session_free(legacy);
    qmp_session_free(fresh);
}

static void test_type_wide_covers_later_objects(void **state)
{
    qmp_session *s = open_session("\"subscriptions\"");
    qom_error err;
    char *r, *p;
    (void)state;
    r = talk(s, "{\"execute\":\"qom-subscribe-type\",\"arguments\":{\"typename\":\"ide-device\",\"property\":\"tray-moved\"}}");
    p = extract_string(r, "{\"return\": {\"subscription\": \"");
    free(r);
    assert_non_null(qom_object_new_child(qom_container_get(reg, "/machine/peripheral"), "cd1",
                                         "ide-cd", &err));
    move_tray("/machine/peripheral/cd1", "cd1", true);
    move_tray("/machine/peripheral/cd0", "cd0", true);
    r = drain(s);
    assert_int_equal(count(r, "\r\n"), 2);
    assert_non_null(strstr(r, "\"id\": \"cd1\"}"));
    assert_non_null(strstr(r, "\"id\": \"cd0\"}"));
    assert_int_equal(count(r, p), 2);
    free(r);
    /* errors */
    r = talk(s, "{\"execute\":\"qom-subscribe-type\",\"arguments\":{\"typename\":\"nope\",\"property\":\"tray-moved\"}}");
    assert_non_null(strstr(r, "Class 'nope' not found"));
    free(r);
    r = talk(s, "{\"execute\":\"qom-subscribe-type\",\"arguments\":{\"typename\":\"ide-cd\",\"property\":\"tray-open\"}}");
    assert_non_null(strstr(r, "Property 'ide-cd.tray-open' is not an event"));
    free(r);
    /* a path subscription ends with its source */
    r = talk(s, "{\"execute\":\"qom-subscribe\",\"arguments\":{\"path\":\"cd1\",\"property\":\"tray-moved\"}}");
    free(p);
    p = extract_string(r, "{\"return\": {\"subscription\": \"");
    free(r);
    assert_int_equal(qom_object_unparent(&cd("/machine/peripheral/cd1")->obj), 0);
    assert_null(qom_resolve(reg, p, NULL));
    free(p);
    qmp_session_free(s);
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* throttle-ms: the first event of a quiet spell at once; inside the window
 * the latest wins and arrives when the window closes. */
static void test_serialized_once(void **state)
{
    qmp_session *legacy = open_session("");   /* negotiated, without subscriptions */
    qmp_session *a = open_session("\"subscriptions\"");
    qmp_session *b = open_session("\"subscriptions\"");
    char *r, *ra, *rb, *rl;
    (void)state;
    free(talk(a, "{\"execute\":\"qom-subscribe\",\"arguments\":{\"path\":\"cd0\",\"property\":\"tray-moved\"}}"));
    free(talk(a, "{\"execute\":\"qom-subscribe-type\",\"arguments\":{\"typename\":\"ide-cd\",\"property\":\"tray-moved\"}}"));
    free(talk(b, "{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"cd0\",\"property\":\"tray-moved\"}}"));
    free(drain(legacy));
    tray_writes = 0;
    move_tray("/machine/peripheral/cd0", "cd0", true);
    assert_int_equal(tray_writes, 1);          /* four copies, one serialization */
    ra = drain(a);
    rb = drain(b);
    rl = drain(legacy);
    assert_int_equal(count(ra, "DEVICE_TRAY_MOVED"), 2);
    assert_int_equal(count(rb, "DEVICE_TRAY_MOVED"), 1);
    assert_int_equal(count(rl, "DEVICE_TRAY_MOVED"), 1);
    /* the same bytes, each with its own subscription member (none: legacy) */
    r = strstr(rl, "{\"timestamp\"");
    assert_non_null(r);
    assert_non_null(strstr(rl, "\"data\": {\"device\": \"\", \"tray-open\": true, \"id\": \"cd0\"}}\r\n"));
    assert_null(strstr(rl, "subscription"));
    assert_non_null(strstr(rb, "\"data\": {\"device\": \"\", \"tray-open\": true, \"id\": \"cd0\"}, \"subscription\": \"/qmp/sessions/"));
    free(ra);
    free(rb);
    free(rl);
    qmp_session_free(legacy);
    qmp_session_free(a);
    qmp_session_free(b);
}

static void test_throttle(void **state)
{
    qmp_session *s = open_session("\"subscriptions\"");
    char *r;
    int i, w, before;
    (void)state;
    assert_int_equal(qmp_server_timers(srv), -1);          /* nothing throttled */
    r = talk(s, "{\"execute\":\"qom-subscribe\",\"arguments\":{\"path\":\"cd0\",\"property\":\"tray-moved\",\"throttle-ms\":60000}}");
    free(r);
    for (i = 0; i < 50; i++)
        move_tray("/machine/peripheral/cd0", "cd0", i & 1);
    r = drain(s);
    assert_int_equal(count(r, "DEVICE_TRAY_MOVED"), 1);   /* the first, at once */
    assert_non_null(strstr(r, "\"tray-open\": false"));
    free(r);
    w = qmp_server_timers(srv);                            /* the latest is held */
    assert_true(w > 59000 && w <= 60000);
    r = drain(s);
    assert_int_equal(count(r, "DEVICE_TRAY_MOVED"), 0);
    free(r);
    r = talk(s, "{\"execute\":\"qom-subscribe\",\"arguments\":{\"path\":\"cd0\",\"property\":\"tray-moved\",\"throttle-ms\":-1}}");
    assert_non_null(strstr(r, "throttle-ms"));
    free(r);
    qmp_session_free(s);                 /* frees what it held: no leak */
    assert_int_equal(qmp_server_timers(srv), -1);

    s = open_session("\"subscriptions\"");
    r = talk(s, "{\"execute\":\"qom-subscribe\",\"arguments\":{\"path\":\"cd0\",\"property\":\"tray-moved\",\"throttle-ms\":40}}");
    free(r);
    move_tray("/machine/peripheral/cd0", "cd0", true);     /* delivered at once */
    before = woken;
    for (i = 0; i < 9; i++)                                /* held: the last wins */
        move_tray("/machine/peripheral/cd0", "cd0", i == 8 ? false : (i & 1));
    assert_int_equal(woken, before + 1);                   /* the transport is told once */
    r = drain(s);
    assert_int_equal(count(r, "DEVICE_TRAY_MOVED"), 1);
    assert_non_null(strstr(r, "\"tray-open\": true"));
    free(r);
    w = qmp_server_timers(srv);
    assert_true(w > 0 && w <= 40);
    sleep_ms(w + 5);
    assert_int_equal(qmp_server_timers(srv), -1);          /* delivered; none held */
    r = drain(s);
    assert_int_equal(count(r, "DEVICE_TRAY_MOVED"), 1);
    assert_non_null(strstr(r, "\"tray-open\": false"));  /* the latest of the window */
    assert_non_null(strstr(r, "\"subscription\": \"/qmp/sessions/"));
    free(r);
    /* the delivery opened a new window: this one is held, and reading the
     * session after it closes delivers it without the timer call */
    move_tray("/machine/peripheral/cd0", "cd0", true);
    r = drain(s);
    assert_int_equal(count(r, "DEVICE_TRAY_MOVED"), 0);
    free(r);
    sleep_ms(50);
    r = drain(s);
    assert_int_equal(count(r, "DEVICE_TRAY_MOVED"), 1);
    assert_non_null(strstr(r, "\"tray-open\": true"));
    free(r);
    /* a quiet spell: the next event goes out at once */
    sleep_ms(50);
    move_tray("/machine/peripheral/cd0", "cd0", false);
    r = drain(s);
    assert_int_equal(count(r, "DEVICE_TRAY_MOVED"), 1);
    free(r);
    qmp_session_free(s);
}

/* A slow consumer: events past the bound are dropped and counted, then
 * reported first; replies still come. */
static void test_slow_consumer(void **state)
{
    qmp_session *slow, *r2;
    char *r;
    int i;
    (void)state;
    teardown(NULL);
    assert_int_equal(make_machine(4096), 0);
    slow = open_session("");
    for (i = 0; i < 1000; i++)
        move_tray("/machine/peripheral/cd0", "cd0", i & 1);
    assert_true(qmp_session_dropped(slow) > 900);
    /* what fitted, then, the queue drained, the report of the rest */
    r = drain(slow);
    assert_true(count(r, "DEVICE_TRAY_MOVED") < 100);
    {
        const char *report = strstr(r, "\"event\": \"EVENTS_DROPPED\", \"data\": {\"count\": ");
        assert_non_null(report);
        assert_null(strstr(report, "DEVICE_TRAY_MOVED"));   /* nothing after it yet */
        assert_true(strtoull(strstr(report, "\"count\": ") + 9, NULL, 10) ==
                    qmp_session_dropped(slow));
    }
    free(r);
    move_tray("/machine/peripheral/cd0", "cd0", true);
    r = talk(slow, "{\"execute\":\"query-version\"}");
    assert_non_null(strstr(r, "DEVICE_TRAY_MOVED"));
    assert_non_null(strstr(r, "{\"return\": {\"qemu\""));
    free(r);
    /* a client that never reads its replies is closed, not grown */
    r2 = open_session("\"subscriptions\"");
    for (i = 0; i < 10000 && !qmp_session_closed(r2); i++)
        qmp_session_feed(r2, "{\"execute\":\"query-commands\"}", 28);
    assert_true(qmp_session_closed(r2));
    assert_int_equal(qmp_session_feed(r2, "{}", 2), -EPIPE);
    qmp_session_free(r2);
    qmp_session_free(slow);
}

static void test_subscription_cap(void **state)
{
    qmp_session *s = open_session("\"subscriptions\"");
    char *r;
    int i;
    (void)state;
    for (i = 0; i < 256; i++) {
        r = talk(s, "{\"execute\":\"qom-subscribe\",\"arguments\":{\"path\":\"cd0\",\"property\":\"tray-moved\"}}");
        assert_non_null(strstr(r, "{\"return\": {\"subscription\""));
        free(r);
    }
    r = talk(s, "{\"execute\":\"qom-subscribe\",\"arguments\":{\"path\":\"cd0\",\"property\":\"tray-moved\"}}");
    assert_non_null(strstr(r, "Too many subscriptions"));
    free(r);
    expect(s, "{\"execute\":\"qmp_capabilities\"}",
           "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"Capabilities negotiation "
           "is already complete, command ignored\"}}\r\n");
    qmp_session_free(s);
    r = NULL;
    {
        qom_object *c = qom_resolve(reg, "/qmp/sessions", NULL);
        assert_non_null(c);
        qom_object_unref(c);
    }
}

/* A subscription object someone still holds when its session goes: it stops
 * at once, and nothing touches the freed session (ASan checks). */
static void test_held_subscription_outlives_session(void **state)
{
    qmp_session *s = open_session("\"subscriptions\"");
    qom_object *held;
    char *r, *p;
    (void)state;
    r = talk(s, "{\"execute\":\"qom-subscribe\",\"arguments\":{\"path\":\"cd0\",\"property\":\"tray-moved\"}}");
    p = extract_string(r, "{\"return\": {\"subscription\": \"");
    free(r);
    held = qom_resolve(reg, p, NULL);
    assert_non_null(held);
    qmp_session_free(s);
    notify_synchronize();
    move_tray("/machine/peripheral/cd0", "cd0", true);   /* must reach nothing */
    assert_null(qom_resolve(reg, p, NULL));
    qom_object_unref(held);
    /* limits of throttle-ms; qom-list lists name and type only, as QEMU */
    s = open_session("\"subscriptions\"");
    r = talk(s, "{\"execute\":\"qom-subscribe\",\"arguments\":{\"path\":\"cd0\",\"property\":\"tray-moved\",\"throttle-ms\":9223372036854775807}}");
    assert_non_null(strstr(r, "expects a value from 0 to 86400000"));
    free(r);
    r = talk(s, "{\"execute\":\"qom-list\",\"arguments\":{\"path\":\"/qmp/sessions\"}}");
    assert_null(strstr(r, "description"));
    free(r);
    free(p);
    qmp_session_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_values),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_writer_escapes_to_ascii),
        cmocka_unit_test(test_event_serializer),
        cmocka_unit_test_setup_teardown(test_greeting_and_negotiation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_qemu_error_texts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_split_and_batched_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resynchronization, setup, teardown),
        cmocka_unit_test_setup_teardown(test_legacy_gets_everything_subscribers_only_theirs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_type_wide_covers_later_objects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_serialized_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_throttle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slow_consumer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subscription_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_held_subscription_outlives_session, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
