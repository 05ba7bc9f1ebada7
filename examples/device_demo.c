/* device_demo: a small device model emits a typed event from two threads
 * while subscribers come and go.
 *
 * A "timer" device has two channels, each driven by its own thread, both
 * emitting TIMER_EXPIRED on the device's one notifier list. Meanwhile:
 *   - a logger is subscribed for the whole run (it must see every event);
 *   - a one-shot hears only the first event;
 *   - a "counter" unsubscribes itself from inside its callback after 5 events
 *     and is freed by its release hook;
 *   - the main thread attaches and detaches a watchdog 20 times, freeing it
 *     the moment notify_unsubscribe returns.
 * Uses only the public API of notify.h. */
#define NOTIFY_IMPLEMENTATION
#include "notify.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef struct {
    int channel;
    unsigned long count;
} timer_expired;
NOTIFY_DEFINE_EVENT(timer, timer_expired);

typedef struct {
    timer_list expired;            /* the device's event */
    NOTIFY__ATOMIC(int) running;
    unsigned long emitted[2];
} timer_device;

static void sleep_us(long us)
{
    struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
    nanosleep(&ts, NULL);
}

typedef struct { timer_device *dev; int channel; } channel_arg;

static void *channel_thread(void *p)
{
    channel_arg *a = (channel_arg *)p;
    timer_expired ev;
    ev.channel = a->channel;
    ev.count = 0;
    while (NOTIFY__STD atomic_load(&a->dev->running)) {
        ev.count++;
        timer_emit(&a->dev->expired, &ev);   /* lock-free, any thread */
        a->dev->emitted[a->channel]++;
        sleep_us(2000);
    }
    return NULL;
}

/* The logger: subscribed for the whole run. */
typedef struct { timer_sub sub; NOTIFY__ATOMIC(unsigned long) seen; } logger;
static int logger_cb(timer_sub *s, const timer_expired *ev)
{
    logger *l = notify_container_of(s, logger, sub);
    (void)ev;
    NOTIFY__STD atomic_fetch_add(&l->seen, 1);
    return 0;
}

static int first_cb(timer_sub *s, const timer_expired *ev)
{
    (void)s;
    printf("  one-shot: first event came from channel %d (count %lu); removed now\n",
           ev->channel, ev->count);
    return 0;
}

/* The counter: heap allocated, removes itself, freed by its release hook. */
typedef struct { timer_sub sub; int left; } counter;
static int counter_cb(timer_sub *s, const timer_expired *ev)
{
    counter *c = notify_container_of(s, counter, sub);
    if (--c->left == 0) {
        printf("  counter: 5 events heard (last from channel %d); unsubscribing itself\n",
               ev->channel);
        timer_unsubscribe(s);              /* inside a callback: deferred */
    }
    return 0;
}
static void counter_release(notify_sub *s)
{
    printf("  counter: release hook ran; freeing it\n");
    free(notify_container_of(notify_container_of(s, timer_sub, base), counter, sub));
}

/* The watchdog: attached and detached by the main thread. */
typedef struct { timer_sub sub; unsigned long seen; } watchdog;
static int watchdog_cb(timer_sub *s, const timer_expired *ev)
{
    (void)ev;
    notify_container_of(s, watchdog, sub)->seen++;
    return 0;
}

int main(void)
{
    timer_device dev;
    channel_arg args[2];
    pthread_t th[2];
    logger log;
    timer_sub first;
    counter *cnt;
    unsigned long watch_total = 0;
    int i;

    timer_list_init(&dev.expired);
    dev.emitted[0] = dev.emitted[1] = 0;
    NOTIFY__STD atomic_init(&dev.running, 1);

    printf("device_demo: a timer device with two channels, one thread each\n");
    timer_sub_init(&log.sub, logger_cb, 100);    /* priority 100: runs first */
    NOTIFY__STD atomic_init(&log.seen, 0);
    timer_subscribe(&dev.expired, &log.sub);
    timer_sub_init(&first, first_cb, 0);
    timer_subscribe_once(&dev.expired, &first);
    cnt = (counter *)malloc(sizeof *cnt);
    if (cnt == NULL)
        return 1;
    cnt->left = 5;
    timer_sub_init(&cnt->sub, counter_cb, 0);
    timer_sub_set_release(&cnt->sub, counter_release);
    timer_subscribe(&dev.expired, &cnt->sub);
    printf("  subscribed: logger (priority 100), one-shot, counter; %d on the list\n",
           notify_list_count(&dev.expired.base));

    for (i = 0; i < 2; i++) {
        args[i].dev = &dev;
        args[i].channel = i;
        pthread_create(&th[i], NULL, channel_thread, &args[i]);
    }

    for (i = 0; i < 20; i++) {
        watchdog *w = (watchdog *)malloc(sizeof *w);
        if (w == NULL)
            break;
        w->seen = 0;
        timer_sub_init(&w->sub, watchdog_cb, 0);
        timer_subscribe(&dev.expired, &w->sub);
        sleep_us(10000);
        timer_unsubscribe(&w->sub);   /* returns once no callback can run */
        watch_total += w->seen;
        if (i % 5 == 4)
            printf("  watchdog #%d: heard %lu events while attached; detached and freed\n",
                   i + 1, w->seen);
        free(w);
    }

    NOTIFY__STD atomic_store(&dev.running, 0);
    for (i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    timer_unsubscribe(&log.sub);

    printf("device_demo: channel 0 emitted %lu, channel 1 emitted %lu\n",
           dev.emitted[0], dev.emitted[1]);
    printf("  logger heard %lu of %lu events; 20 watchdogs heard %lu in total\n",
           (unsigned long)NOTIFY__STD atomic_load(&log.seen),
           dev.emitted[0] + dev.emitted[1], watch_total);
    printf("  list empty at the end: %s\n", notify_list_empty(&dev.expired.base) ? "yes" : "no");
    return NOTIFY__STD atomic_load(&log.seen) == dev.emitted[0] + dev.emitted[1] ? 0 : 1;
}
