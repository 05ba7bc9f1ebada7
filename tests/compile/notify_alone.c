/* notify.h alone, as C11 and as C++17: declarations, typed layer, and the
 * implementation included after the header (stb style: order must not
 * matter). Compiled with -Werror by CTest. */
#include "notify.h"

typedef struct { int level; } irq_event;
NOTIFY_DEFINE_EVENT(irq, irq_event);

struct led { irq_sub sub; int on; };

static int led_cb(irq_sub *s, const irq_event *ev)
{
    notify_container_of(s, struct led, sub)->on = ev->level;
    return 0;
}

int compile_notify_alone(void);
int compile_notify_alone(void)
{
    irq_list line = { NOTIFY_LIST_INIT };
    struct led led;
    irq_event ev = { 1 };
    irq_sub_init(&led.sub, led_cb, 0);
    led.on = 0;
    if (irq_subscribe(&line, &led.sub) != 0)
        return -1;
    irq_emit(&line, &ev);
    irq_unsubscribe(&led.sub);
    return led.on;
}

#define NOTIFY_IMPLEMENTATION
#include "notify.h"
