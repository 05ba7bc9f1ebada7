/* A consumer of all three headers: one event through a QMP session. */
#define NOTIFY_IMPLEMENTATION
#define QOM_LITE_IMPLEMENTATION
#define QMP_SUB_IMPLEMENTATION
#include "qmp_sub.h"
#include <stdio.h>
#include <string.h>

int main(void)
{
    qom_registry *reg = qom_registry_new();
    qmp_server *srv = qmp_server_new(reg, NULL);
    qmp_session *s = qmp_session_new(srv, NULL, NULL);
    char buf[512];
    size_t n;
    const char *cmd = "{\"execute\": \"qmp_capabilities\"}{\"execute\": \"query-version\"}";
    qmp_session_feed(s, cmd, strlen(cmd));
    n = qmp_session_read(s, buf, sizeof buf - 1);
    buf[n] = '\0';
    qmp_session_free(s);
    qmp_server_free(srv);
    qom_registry_free(reg);
    if (strstr(buf, "\"package\": \"qomnotify\"") == NULL) {
        fprintf(stderr, "unexpected output: %s\n", buf);
        return 1;
    }
    printf("consumer: qomnotify %s works\n", QOMNOTIFY_VERSION);
    return 0;
}
