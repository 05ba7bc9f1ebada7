#define NOTIFY_IMPLEMENTATION
#include "shared.h"
#include <stdio.h>

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "multi_tu: %s failed\n", #c); return 1; } } while (0)

int main(void)
{
    CHECK(listener_attach() == 0);
    CHECK(device_tick(1) == 0);
    CHECK(listener_calls() == 1);
    CHECK(device_tick(2) == 0);          /* unsubscribes itself in listener.c */
    CHECK(listener_calls() == 2);
    CHECK(listener_releases() == 1);
    CHECK(device_tick(3) == 0);
    CHECK(listener_calls() == 2);
    CHECK(listener_detach_from_other_unit() == -ENOENT);
    CHECK(listener_attach() == 0);
    CHECK(listener_detach_from_other_unit() == 0);
    CHECK(listener_releases() == 2);
    CHECK(!notify_in_emission());
    printf("multi_tu: 3 translation units share one emission state: ok\n");
    return 0;
}
