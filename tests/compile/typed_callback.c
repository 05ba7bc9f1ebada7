/* Expected-compile-failure test of the typed layer. Built with -Werror:
 * with -DRIGHT_CALLBACK it must compile (the control); without it, or with
 * -DWRONG_PAYLOAD, it must not (CTest WILL_FAIL). */
#include "notify.h"

typedef struct { int level; } irq_event;
typedef struct { const char *name; } other_event;
NOTIFY_DEFINE_EVENT(irq, irq_event);
NOTIFY_DEFINE_EVENT(other, other_event);

static int irq_cb(irq_sub *s, const irq_event *ev) { (void)s; return ev->level; }
static int other_cb(other_sub *s, const other_event *ev) { (void)s; return ev->name != 0; }

int typed_callback(void);
int typed_callback(void)
{
    irq_list l = { NOTIFY_LIST_INIT };
    irq_sub s;
    irq_event ev = { 1 };
#if defined(RIGHT_CALLBACK)
    irq_sub_init(&s, irq_cb, 0);
    (void)other_cb;
#elif defined(WRONG_PAYLOAD)
    other_event oev = { "x" };
    irq_sub_init(&s, irq_cb, 0);
    (void)other_cb;
    irq_subscribe(&l, &s);
    return irq_emit(&l, &oev);        /* wrong payload type: rejected */
#else
    irq_sub_init(&s, other_cb, 0);    /* wrong callback type: rejected */
    (void)irq_cb;
#endif
    irq_subscribe(&l, &s);
    return irq_emit(&l, &ev);
}
