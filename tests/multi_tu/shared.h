/* Three translation units include notify.h; main.c alone defines
 * NOTIFY_IMPLEMENTATION. Emission state is per thread across all of them. */
#include "notify.h"

typedef struct { int seq; } tick_event;
NOTIFY_DEFINE_EVENT(tick, tick_event);

/* device.c */
tick_list *device_ticks(void);
int device_tick(int seq);
/* listener.c */
int listener_attach(void);
int listener_calls(void);
int listener_releases(void);
int listener_detach_from_other_unit(void);
