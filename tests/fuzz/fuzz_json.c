/* libFuzzer target: the JSON parser and the streaming reader. The first
 * byte chooses the chunk size the reader is fed in; the rest is the input.
 * Checks: no crash, leak or undefined behaviour; the reader, fed in chunks,
 * reports as many values and errors as fed whole. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NOTIFY_IMPLEMENTATION
#define QOM_LITE_IMPLEMENTATION
#define QMP_SUB_IMPLEMENTATION
#include "qmp_sub.h"

static size_t calls;
static void on_value(void *opaque, const qmp_json *msg, const char *error)
{
    (void)opaque;
    if (msg != NULL) {
        qmp_writer w;   /* whatever parsed can be written back */
        qmp_writer_init(&w);
        qmp_write_json(&w, msg);
        qmp_writer_free(&w);
    }
    if ((msg == NULL) == (error == NULL))
        abort();
    calls++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static qmp_json_arena arena;
    const qmp_json *v;
    const char *err;
    size_t chunk, i, whole;
    qmp_reader *r;
    if (size == 0)
        return 0;
    chunk = (size_t)data[0] % 16 + 1;
    data++;
    size--;
    (void)qmp_json_parse(&arena, (const char *)data, size, 0, &v, &err);

    r = qmp_reader_new(4096, 32, on_value, NULL);
    calls = 0;
    qmp_reader_feed(r, data, size);
    whole = calls;
    qmp_reader_free(r);

    r = qmp_reader_new(4096, 32, on_value, NULL);
    calls = 0;
    for (i = 0; i < size; i += chunk)
        qmp_reader_feed(r, data + i, size - i < chunk ? size - i : chunk);
    qmp_reader_free(r);
    if (calls != whole)
        abort();   /* how input is split must not change what is read */
    return 0;
}
