/* libFuzzer target: path resolution, absolute and partial, against a small
 * tree with ambiguous names. Checks: no crash, leak or undefined
 * behaviour; a resolved object's canonical path resolves to itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NOTIFY_IMPLEMENTATION
#define QOM_LITE_IMPLEMENTATION
#include "qom_lite.h"

static qom_registry *reg;

static void setup(void)
{
    static const char *paths[] = {
        "/machine/peripheral/cd0", "/machine/peripheral/cd1", "/machine/unattached/cd0",
        "/machine/unattached/device[0]", "/a/b/c/d/e/f", "/a/x/c",
    };
    size_t i;
    reg = qom_registry_new();
    for (i = 0; i < sizeof paths / sizeof paths[0]; i++)
        qom_container_get(reg, paths[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *path = (char *)malloc(size + 1);
    qom_object *o;
    bool ambiguous = false;
    qom_error err;
    if (reg == NULL)
        setup();
    memcpy(path, data, size);
    path[size] = '\0';
    o = qom_resolve(reg, path, &ambiguous);
    if (o != NULL) {
        char *canon = qom_object_path(o);
        qom_object *again = canon != NULL ? qom_resolve(reg, canon, NULL) : NULL;
        if (canon == NULL || again != o)
            abort();
        qom_object_unref(again);
        qom_object_unref(o);
        free(canon);
    } else {
        o = qom_resolve_err(reg, path, &err);
        if (o != NULL)
            abort();
    }
    free(path);
    return 0;
}
