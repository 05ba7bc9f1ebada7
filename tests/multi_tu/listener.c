#include "shared.h"

static tick_sub sub;
static int calls, releases;

static void on_release(notify_sub *s) { (void)s; releases++; }

static int on_tick(tick_sub *s, const tick_event *ev)
{
    (void)s;
    calls++;
    if (ev->seq == 2) {
        /* The emission began in device.c; this unit must see it too, so
         * the unsubscribe defers instead of waiting (which would hang). */
        if (!notify_in_emission())
            return 100;
        if (tick_unsubscribe(&sub) != 0)
            return 101;
    }
    return 0;
}

int listener_attach(void)
{
    tick_sub_init(&sub, on_tick, 0);
    tick_sub_set_release(&sub, on_release);
    return tick_subscribe(device_ticks(), &sub);
}

int listener_calls(void) { return calls; }
int listener_releases(void) { return releases; }
int listener_detach_from_other_unit(void) { return tick_unsubscribe(&sub); }
