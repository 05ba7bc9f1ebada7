/* qmp_server: a QMP server on a UNIX socket (qmp_server --socket PATH),
 * hosting a small machine shaped like QEMU's. Public API only.
 *
 *   /machine                 "machine": event property "device-deleted"
 *                            (DEVICE_DELETED {device, path})
 *   /machine/peripheral/cd0  "ide-cd": bool "tray-open" (read-only), event
 *                            property "tray-moved" (DEVICE_TRAY_MOVED
 *                            {device, tray-open, id}, as QEMU); from its
 *                            abstract parent "ide-device", event property
 *                            "heartbeat" (DEVICE_HEARTBEAT {id, count}:
 *                            every 100 ms, from a device thread)
 * Commands besides the built-in ones: blockdev-open-tray, blockdev-close-tray,
 * device_add (driver "ide-cd" only), device_del.
 *
 * Transport: one thread, poll(), non-blocking sockets, one qmp_session per
 * connection. Events may be queued from the device thread, so on_output
 * wakes the loop through a pipe. Bytes a full socket did not take wait in
 * the connection's pending buffer; meanwhile it is polled for POLLOUT only,
 * so a client that does not read gets no more replies queued. */
#define _POSIX_C_SOURCE 200809L
#define NOTIFY_IMPLEMENTATION
#define QOM_LITE_IMPLEMENTATION
#define QMP_SUB_IMPLEMENTATION
#include "qmp_sub.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* ---- event payloads: struct and serializer from one field list ---- */

#define TRAY_FIELDS(F) F(str, device, "device", _) F(bool, tray_open, "tray-open", _) \
                       F(str, id, "id", _)
QMP_STRUCT(tray_moved_event, TRAY_FIELDS);
QMP_DEFINE_EVENT(TRAY_EV, "DEVICE_TRAY_MOVED", tray_moved_event);
static const qom_event_info DEVICE_TRAY_MOVED = { "DEVICE_TRAY_MOVED", &TRAY_EV };
QOM_DEFINE_EVENT(tray_moved, tray_moved_event);

#define DELETED_FIELDS(F) F(opt_str, device, "device", _) F(str, path, "path", _)
QMP_STRUCT(device_deleted_event, DELETED_FIELDS);
QMP_DEFINE_EVENT(DELETED_EV, "DEVICE_DELETED", device_deleted_event);
static const qom_event_info DEVICE_DELETED = { "DEVICE_DELETED", &DELETED_EV };
QOM_DEFINE_EVENT(device_deleted, device_deleted_event);

#define HEARTBEAT_FIELDS(F) F(str, id, "id", _) F(uint, count, "count", _)
QMP_STRUCT(heartbeat_event, HEARTBEAT_FIELDS);
QMP_DEFINE_EVENT(HEARTBEAT_EV, "DEVICE_HEARTBEAT", heartbeat_event);
static const qom_event_info DEVICE_HEARTBEAT = { "DEVICE_HEARTBEAT", &HEARTBEAT_EV };
QOM_DEFINE_EVENT(heartbeat, heartbeat_event);

/* ---- the device types ---- */

typedef struct {
    qom_object parent_obj;
    device_deleted_list device_deleted;
} machine;

/* Every IDE device has a qdev id and a heartbeat; a CD also has a tray. */
typedef struct {
    qom_object parent_obj;
    char *id;                     /* set before the device is published */
    uint64_t heartbeats;          /* device thread only */
    heartbeat_list heartbeat;
} ide_device;

typedef struct {
    ide_device dev;
    bool tray_open;               /* main thread only */
    tray_moved_list tray_moved;
} ide_cd;

static void machine_class_init(qom_class *klass, void *data)
{
    (void)data;
    QOM_CLASS_ADD_EVENT(klass, "device-deleted", machine, device_deleted, device_deleted,
                        &DEVICE_DELETED, "a device was removed");
}

static void ide_device_class_init(qom_class *klass, void *data)
{
    (void)data;
    QOM_CLASS_ADD_EVENT(klass, "heartbeat", ide_device, heartbeat, heartbeat,
                        &DEVICE_HEARTBEAT, "every 100 ms, from the device thread");
}

static void ide_device_finalize(qom_object *obj)
{
    free(((ide_device *)(void *)obj)->id);
}

static void ide_cd_class_init(qom_class *klass, void *data)
{
    (void)data;
    qom_class_add_bool(klass, "tray-open", offsetof(ide_cd, tray_open), false,
                       "whether the tray is open");
    QOM_CLASS_ADD_EVENT(klass, "tray-moved", ide_cd, tray_moved, tray_moved,
                        &DEVICE_TRAY_MOVED, "the tray opened or closed");
}

/* ---- the machine: devices in the tree, and the device thread ---- */

#define MAX_DEVICES 64

typedef struct {
    qom_registry *reg;
    machine *machine;
    qom_object *peripheral;       /* /machine/peripheral (borrowed) */
    /* Every ide-cd in the tree, each with a reference of ours. The device
     * thread takes its own reference on each one it emits on (qom_lite's
     * rule), under `lock`, so device_del may drop ours at any time. */
    pthread_mutex_t lock;
    ide_cd *devs[MAX_DEVICES];
    size_t ndevs;
    atomic_bool stop;
    atomic_int bursts;            /* x-tray-burst threads still running */
} app;

/* The device with that id and a reference to it, or NULL. `remove`: the
 * device thread forgets it, and our reference goes to the caller. */
static ide_cd *device_find(app *a, const char *id, bool remove)
{
    ide_cd *cd = NULL;
    size_t i;
    pthread_mutex_lock(&a->lock);
    for (i = 0; i < a->ndevs && cd == NULL; i++) {
        if (strcmp(a->devs[i]->dev.id, id) != 0)
            continue;
        cd = a->devs[i];
        if (remove)
            a->devs[i] = a->devs[--a->ndevs];
        else
            qom_object_ref(&cd->dev.parent_obj);
    }
    pthread_mutex_unlock(&a->lock);
    return cd;
}

/* A new ide-cd at /machine/peripheral/<id>. 0, or -1 with err set. */
static int device_create(app *a, const char *id, qmp_error *err)
{
    qom_error qerr;
    qom_object *obj;
    ide_cd *cd;

    if (a->ndevs == MAX_DEVICES)   /* only this thread adds devices */
        return qmp_error_set(err, "GenericError", "Too many devices");
    if ((obj = qom_object_new(a->reg, "ide-cd", &qerr)) == NULL)
        return qmp_error_set(err, "GenericError", "%s", qerr.message);
    cd = (ide_cd *)(void *)obj;
    if ((cd->dev.id = malloc(strlen(id) + 1)) != NULL)
        strcpy(cd->dev.id, id);
    /* into the tree (it takes a reference), then hand ours to the list */
    if (cd->dev.id == NULL || qom_object_add_child(a->peripheral, id, obj, &qerr) != 0) {
        qom_object_unref(obj);
        return qmp_error_set(err, "GenericError", "%s",
                             cd->dev.id == NULL ? "Out of memory" : qerr.message);
    }
    pthread_mutex_lock(&a->lock);
    a->devs[a->ndevs++] = cd;
    pthread_mutex_unlock(&a->lock);
    return 0;
}

/* Every 100 ms, DEVICE_HEARTBEAT on each ide-cd: emission from a thread
 * other than the transport's. */
static void *device_thread(void *opaque)
{
    app *a = (app *)opaque;
    ide_cd *snap[MAX_DEVICES];
    size_t n, i;

    while (!atomic_load_explicit(&a->stop, memory_order_acquire)) {
        struct timespec ts = { 0, 100 * 1000000L };
        nanosleep(&ts, NULL);
        /* take our references under the lock; emit without it */
        pthread_mutex_lock(&a->lock);
        for (n = 0; n < a->ndevs; n++) {
            snap[n] = a->devs[n];
            qom_object_ref(&snap[n]->dev.parent_obj);
        }
        pthread_mutex_unlock(&a->lock);
        for (i = 0; i < n; i++) {
            heartbeat_event ev;
            ev.id = snap[i]->dev.id;
            ev.count = ++snap[i]->dev.heartbeats;
            heartbeat_emit(&snap[i]->dev.heartbeat, &ev);   /* lock-free */
            qom_object_unref(&snap[i]->dev.parent_obj);     /* may finalize it */
        }
    }
    return NULL;
}

/* ---- commands ---- */

static const char *arg_str(const qmp_json *args, const char *name)
{
    return qmp_json_member(args, name)->v.s;   /* checked against the spec */
}

/* QEMU's blockdev-open-tray / blockdev-close-tray: the event goes out only
 * when the tray actually moves. */
static int set_tray(app *a, const char *id, bool open, qmp_error *err)
{
    ide_cd *cd = device_find(a, id, false);
    if (cd == NULL)
        return qmp_error_set(err, "DeviceNotFound", "Device '%s' not found", id);
    if (cd->tray_open != open) {
        tray_moved_event ev;
        cd->tray_open = open;
        ev.device = "";
        ev.tray_open = open;
        ev.id = cd->dev.id;
        tray_moved_emit(&cd->tray_moved, &ev);
    }
    qom_object_unref(&cd->dev.parent_obj);
    return 0;
}

static int cmd_open_tray(qmp_session *s, const qmp_json *args, qmp_writer *ret,
                         qmp_error *err, void *opaque)
{
    (void)s; (void)ret;   /* no lock to force: "force" is accepted, unused */
    return set_tray((app *)opaque, arg_str(args, "id"), true, err);
}

static int cmd_close_tray(qmp_session *s, const qmp_json *args, qmp_writer *ret,
                          qmp_error *err, void *opaque)
{
    (void)s; (void)ret;
    return set_tray((app *)opaque, arg_str(args, "id"), false, err);
}

/* x-tray-burst {id, count}: a benchmark aid, not in QEMU (hence "x-"). A
 * thread of its own, like a device doing work, emits `count` tray events
 * as fast as it can while the transport drains them; the reply comes at
 * once. The tray state itself is left alone. */
typedef struct {
    app *a;
    ide_cd *cd;                   /* a reference of the burst's */
    long count;
} burst;

static void *burst_thread(void *opaque)
{
    burst *b = (burst *)opaque;
    long i;
    for (i = 0; i < b->count && !atomic_load(&b->a->stop); i++) {
        tray_moved_event ev;
        ev.device = "";
        ev.tray_open = (i & 1) == 0;
        ev.id = b->cd->dev.id;
        tray_moved_emit(&b->cd->tray_moved, &ev);
    }
    qom_object_unref(&b->cd->dev.parent_obj);
    atomic_fetch_sub(&b->a->bursts, 1);
    free(b);
    return NULL;
}

static int cmd_tray_burst(qmp_session *s, const qmp_json *args, qmp_writer *ret,
                          qmp_error *err, void *opaque)
{
    app *a = (app *)opaque;
    const char *id = arg_str(args, "id");
    burst *b = (burst *)malloc(sizeof *b);
    pthread_t t;
    (void)s; (void)ret;
    if (b == NULL)
        return qmp_error_set(err, "GenericError", "Out of memory");
    b->a = a;
    b->count = (long)qmp_json_member(args, "count")->v.i;
    b->cd = device_find(a, id, false);
    if (b->cd == NULL) {
        free(b);
        return qmp_error_set(err, "DeviceNotFound", "Device '%s' not found", id);
    }
    atomic_fetch_add(&a->bursts, 1);
    if (pthread_create(&t, NULL, burst_thread, b) != 0) {
        atomic_fetch_sub(&a->bursts, 1);
        qom_object_unref(&b->cd->dev.parent_obj);
        free(b);
        return qmp_error_set(err, "GenericError", "Cannot start a thread");
    }
    pthread_detach(t);
    return 0;
}

/* QEMU's id_wellformed: a letter, then letters, digits, '-', '.', '_'. */
static bool id_wellformed(const char *id)
{
    static const char ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._";
    const char *first = id[0] != 0 ? strchr(ok, id[0]) : NULL;
    return first != NULL && first - ok < 52 && id[strspn(id, ok)] == 0;
}

static int cmd_device_add(qmp_session *s, const qmp_json *args, qmp_writer *ret,
                          qmp_error *err, void *opaque)
{
    app *a = (app *)opaque;
    const char *driver = arg_str(args, "driver"), *id = arg_str(args, "id");
    ide_cd *old;
    (void)s; (void)ret;
    if (!id_wellformed(id))
        return qmp_error_set(err, "GenericError", "Parameter 'id' expects an identifier");
    if ((old = device_find(a, id, false)) != NULL) {
        qom_object_unref(&old->dev.parent_obj);
        return qmp_error_set(err, "GenericError", "Duplicate ID '%s' for device", id);
    }
    if (strcmp(driver, "ide-cd") != 0)
        return qmp_error_set(err, "GenericError", "'%s' is not a valid device model name",
                             driver);
    return device_create(a, id, err);
}

static int cmd_device_del(qmp_session *s, const qmp_json *args, qmp_writer *ret,
                          qmp_error *err, void *opaque)
{
    app *a = (app *)opaque;
    const char *id = arg_str(args, "id");
    ide_cd *cd = device_find(a, id, true);   /* the device thread forgets it */
    device_deleted_event ev;
    char *path;
    (void)s; (void)ret;
    if (cd == NULL)
        return qmp_error_set(err, "DeviceNotFound", "Device '%s' not found", id);
    path = qom_object_path(&cd->dev.parent_obj);
    qom_object_unparent(&cd->dev.parent_obj);
    /* as QEMU: DEVICE_DELETED once the device has left the tree */
    ev.has_device = true;
    ev.device = cd->dev.id;
    ev.path = path != NULL ? path : "";
    device_deleted_emit(&a->machine->device_deleted, &ev);
    free(path);
    qom_object_unref(&cd->dev.parent_obj);       /* the device thread may hold one */
    return 0;
}

/* QEMU's arguments; a NULL name ends a list */
#define END_ARGS { NULL, QMP_ARG_ANY, false }
static const qmp_arg OPEN_TRAY_ARGS[] = { { "id", QMP_ARG_STR, false },
                                          { "force", QMP_ARG_BOOL, true }, END_ARGS };
static const qmp_arg ID_ARGS[] = { { "id", QMP_ARG_STR, false }, END_ARGS };
static const qmp_arg BURST_ARGS[] = { { "id", QMP_ARG_STR, false },
                                      { "count", QMP_ARG_INT, false }, END_ARGS };
static const qmp_arg DEVICE_ADD_ARGS[] = { { "driver", QMP_ARG_STR, false },
                                           { "id", QMP_ARG_STR, false }, END_ARGS };

/* ---- the transport ---- */

#define MAX_CONNS 1024

typedef struct {
    int fd;
    qmp_session *s;
    char pending[65536];          /* read from the session, not yet sent */
    size_t off, len;
} conn;

static int wake_pipe[2] = { -1, -1 };
static volatile sig_atomic_t quit;

/* A session has output (called in any thread), or a signal came: make
 * poll() return. A full pipe is already a wake-up. */
static void on_output(qmp_session *s, void *opaque)
{
    char c = 0;
    ssize_t r = write(wake_pipe[1], &c, 1);
    (void)s; (void)opaque; (void)r;
}

static void on_signal(int sig)
{
    (void)sig;
    quit = 1;
    on_output(NULL, NULL);
}

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0)
        return -1;
    return fcntl(fd, F_SETFD, FD_CLOEXEC);
}

static bool would_block(void)
{
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

/* Send what the session has, until it has nothing or the socket is full.
 * -1: the connection is broken. */
static int conn_flush(conn *c)
{
    for (;;) {
        ssize_t w;
        if (c->off == c->len) {   /* pull more only when drained */
            c->off = 0;
            c->len = qmp_session_read(c->s, c->pending, sizeof c->pending);
            if (c->len == 0)
                return 0;         /* on_output will tell when there is more */
        }
        w = write(c->fd, c->pending + c->off, c->len - c->off);
        if (w < 0)
            return would_block() ? 0 : -1;
        c->off += (size_t)w;
    }
}

/* Read what is there and feed it. -1: close the connection. */
static int conn_input(conn *c)
{
    char buf[65536];
    ssize_t r = read(c->fd, buf, sizeof buf);
    if (r <= 0)
        return r < 0 && would_block() ? 0 : -1;   /* EOF or error */
    if (qmp_session_feed(c->s, buf, (size_t)r) < 0 || qmp_session_closed(c->s)) {
        conn_flush(c);            /* best effort: its last words */
        return -1;
    }
    return 0;
}

static void conn_close(conn *c)
{
    close(c->fd);
    qmp_session_free(c->s);       /* drops its subscriptions */
    free(c);
}

static int listen_on(const char *path)
{
    struct sockaddr_un sa;
    int fd;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa.sun_path) {
        fprintf(stderr, "qmp_server: socket path too long\n");
        return -1;
    }
    strcpy(sa.sun_path, path);
    unlink(path);                 /* a stale socket from an earlier run */
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 64) != 0 ||
        set_nonblock(fd) != 0) {
        perror("qmp_server: listen");
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* The poll loop, until SIGINT or SIGTERM. */
static void serve(qmp_server *srv, int lfd)
{
    static conn *conns[MAX_CONNS];
    static struct pollfd pfd[MAX_CONNS + 2];
    size_t n = 0, i, j;

    while (!quit) {
        pfd[0].fd = lfd;
        pfd[0].events = n < MAX_CONNS ? POLLIN : 0;
        pfd[1].fd = wake_pipe[0];
        pfd[1].events = POLLIN;
        for (i = 0; i < n; i++) {
            pfd[i + 2].fd = conns[i]->fd;
            /* a full socket: wait until it drains, and read no more commands
             * meanwhile (a client that does not read gets no more replies) */
            pfd[i + 2].events = conns[i]->off < conns[i]->len ? POLLOUT : POLLIN;
        }
        /* throttled subscriptions: deliver what is due, sleep until the next */
        if (poll(pfd, n + 2, qmp_server_timers(srv)) < 0) {
            if (errno == EINTR)
                continue;
            perror("qmp_server: poll");
            break;
        }
        if (pfd[1].revents & POLLIN) {
            char drain[256];
            while (read(wake_pipe[0], drain, sizeof drain) > 0) {
            }
        }
        /* input, then output for every session: events may have been queued
         * by the device thread or by another session's command */
        for (i = j = 0; i < n; i++) {
            conn *c = conns[i];
            short re = pfd[i + 2].revents;
            if ((re & (POLLIN | POLLHUP | POLLERR)) && conn_input(c) != 0)
                conn_close(c);
            else if (conn_flush(c) != 0)
                conn_close(c);
            else
                conns[j++] = c;   /* keep it */
        }
        n = j;
        if (pfd[0].revents & POLLIN) {
            int fd = accept(lfd, NULL, NULL);
            conn *c = NULL;
            if (fd < 0)
                continue;
            if (set_nonblock(fd) != 0 || (c = calloc(1, sizeof *c)) == NULL ||
                (c->s = qmp_session_new(srv, on_output, c)) == NULL) {
                free(c);
                close(fd);
                continue;
            }
            c->fd = fd;
            if (conn_flush(c) != 0)   /* the greeting */
                conn_close(c);
            else
                conns[n++] = c;
        }
    }
    for (i = 0; i < n; i++)
        conn_close(conns[i]);
}

int main(int argc, char **argv)
{
    static const qom_type_info types[] = {
        { "machine", "object", sizeof(machine), 0, machine_class_init, NULL, NULL, NULL,
          false, NULL },
        { "ide-device", "object", sizeof(ide_device), 0, ide_device_class_init, NULL, NULL,
          ide_device_finalize, true, NULL },
        { "ide-cd", "ide-device", sizeof(ide_cd), 0, ide_cd_class_init, NULL, NULL, NULL,
          false, NULL },
    };
    const char *path = argc == 3 && strcmp(argv[1], "--socket") == 0 ? argv[2] : NULL;
    struct sigaction sa;
    qom_error qerr = { 0, QOM_ERROR_GENERIC, "" };
    qmp_error err;
    qmp_server *srv = NULL;
    pthread_t thread;
    static app a;
    int lfd = -1, rc = 1;
    size_t i;

    if (path == NULL) {
        fprintf(stderr, "usage: %s --socket PATH\n", argv[0]);
        return 2;
    }
    pthread_mutex_init(&a.lock, NULL);
    atomic_init(&a.stop, false);
    atomic_init(&a.bursts, 0);
    if ((a.reg = qom_registry_new()) == NULL)
        return 1;
    qmp_error_set(&err, "GenericError", "setup failed");
    for (i = 0; i < sizeof types / sizeof types[0]; i++)
        if (qom_type_register(a.reg, &types[i], &qerr) != 0)
            goto out;
    /* /machine first, so that /machine/peripheral goes below it */
    a.machine = (machine *)(void *)qom_object_new_child(qom_root(a.reg), "machine", "machine",
                                                        &qerr);
    if (a.machine == NULL || (a.peripheral = qom_container_get(a.reg, "/machine/peripheral"))
                                 == NULL || (srv = qmp_server_new(a.reg, NULL)) == NULL)
        goto out;
    if (device_create(&a, "cd0", &err) != 0 ||
        qmp_server_add_command(srv, "blockdev-open-tray", OPEN_TRAY_ARGS, cmd_open_tray, &a) ||
        qmp_server_add_command(srv, "blockdev-close-tray", ID_ARGS, cmd_close_tray, &a) ||
        qmp_server_add_command(srv, "device_add", DEVICE_ADD_ARGS, cmd_device_add, &a) ||
        qmp_server_add_command(srv, "device_del", ID_ARGS, cmd_device_del, &a) ||
        qmp_server_add_command(srv, "x-tray-burst", BURST_ARGS, cmd_tray_burst, &a))
        goto out;

    /* a broken connection is an error from write(), not a death */
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    sa.sa_handler = on_signal;    /* no SA_RESTART: poll() returns EINTR */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (pipe(wake_pipe) != 0 || set_nonblock(wake_pipe[0]) != 0 ||
        set_nonblock(wake_pipe[1]) != 0 || (lfd = listen_on(path)) < 0 ||
        pthread_create(&thread, NULL, device_thread, &a) != 0)
        goto out;
    serve(srv, lfd);              /* closes every session when done */
    atomic_store_explicit(&a.stop, true, memory_order_release);
    pthread_join(thread, NULL);
    while (atomic_load(&a.bursts) != 0)   /* they see `stop` and end */
        sched_yield();
    rc = quit ? 0 : 1;
out:
    if (lfd >= 0) {
        close(lfd);
        unlink(path);
    } else {
        fprintf(stderr, "qmp_server: %s %s\n", err.desc, qerr.message);
    }
    /* no emitter is left: the server, then our devices, then the tree */
    if (srv != NULL)
        qmp_server_free(srv);
    for (i = 0; i < a.ndevs; i++)
        qom_object_unref(&a.devs[i]->dev.parent_obj);
    qom_registry_free(a.reg);
    pthread_mutex_destroy(&a.lock);
    return rc;
}
