#include "shared.h"

static tick_list ticks;

tick_list *device_ticks(void) { return &ticks; }

int device_tick(int seq)
{
    tick_event ev;
    ev.seq = seq;
    return tick_emit(&ticks, &ev);
}
