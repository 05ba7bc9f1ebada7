/* A consumer of notify.h alone, through qomnotify::core. */
#define NOTIFY_IMPLEMENTATION
#include "notify.h"

static int seen;
static int on_event(notify_sub *sub, void *event)
{
    (void)sub;
    seen += *(int *)event;
    return 0;
}

int main(void)
{
    notify_list list = NOTIFY_LIST_INIT;
    notify_sub sub;
    int one = 1;
    notify_sub_init(&sub, on_event, 0);
    notify_subscribe(&list, &sub);
    notify_emit(&list, &one);
    notify_unsubscribe(&sub);
    notify_emit(&list, &one);
    return seen == 1 ? 0 : 1;
}
