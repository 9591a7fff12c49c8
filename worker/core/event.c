/*
 * event.c: epoll dispatch, posted events and deferred frees.
 */
#include "common/pt.h"
#include "common/clock.h"
#include "common/log.h"
#include "worker/core/event.h"

#include <unistd.h>

typedef struct pt_event_defer_s {
    void *obj;
    void (*fn)(void *);
} pt_event_defer_t;

static int pt_event_epfd = -1;
static struct epoll_event *pt_event_list;
static unsigned pt_event_nlist;
static pt_event_t *pt_event_posted_head, **pt_event_posted_tail = &pt_event_posted_head;
static pt_event_defer_t *pt_event_defers;
static size_t pt_event_ndefers, pt_event_cdefers;

int pt_event_init(unsigned max_events)
{
    pt_event_epfd = epoll_create1(EPOLL_CLOEXEC);
    if (pt_event_epfd < 0)
        return PT_ERROR;
    pt_event_nlist = max_events;
    pt_event_list = calloc(max_events, sizeof(*pt_event_list));
    return pt_event_list ? PT_OK : PT_ERROR;
}

void pt_event_exit(void)
{
    if (pt_event_epfd >= 0)
        close(pt_event_epfd);
    pt_event_epfd = -1;
    free(pt_event_list);
    pt_event_list = NULL;
    /* Objects closed on the way out (pooled upstream connections at
     * exit_worker) still wait for the end of a batch that never comes. */
    for (size_t i = 0; i < pt_event_ndefers; i++)
        pt_event_defers[i].fn(pt_event_defers[i].obj);
    free(pt_event_defers);
    pt_event_defers = NULL;
    pt_event_ndefers = pt_event_cdefers = 0;
}

static int pt_event_ctl(int op, pt_event_t *ev, uint32_t events)
{
    struct epoll_event ee = { .events = events, .data.ptr = ev };

    if (epoll_ctl(pt_event_epfd, op, ev->fd, &ee) != 0) {
        pt_log_errno(PT_LOG_ERR, errno, "epoll_ctl(%d, fd %d)", op, ev->fd);
        return PT_ERROR;
    }
    return PT_OK;
}

int pt_event_add(pt_event_t *ev, uint32_t events)
{
    return pt_event_ctl(EPOLL_CTL_ADD, ev, events);
}

int pt_event_mod(pt_event_t *ev, uint32_t events)
{
    return pt_event_ctl(EPOLL_CTL_MOD, ev, events);
}

int pt_event_del(pt_event_t *ev)
{
    return pt_event_ctl(EPOLL_CTL_DEL, ev, 0);
}

void pt_event_close(pt_event_t *ev)
{
    if (ev->fd >= 0)
        close(ev->fd);
    ev->fd = -1;
    ev->handler = NULL;
    pt_event_unpost(ev);
}

void pt_event_post(pt_event_t *ev)
{
    if (ev->posted)
        return;
    ev->posted = true;
    ev->posted_next = NULL;
    *pt_event_posted_tail = ev;
    pt_event_posted_tail = &ev->posted_next;
}

void pt_event_unpost(pt_event_t *ev)
{
    if (!ev->posted)
        return;
    for (pt_event_t **p = &pt_event_posted_head; *p; p = &(*p)->posted_next) {
        if (*p == ev) {
            *p = ev->posted_next;
            if (pt_event_posted_tail == &ev->posted_next)
                pt_event_posted_tail = p;
            break;
        }
    }
    ev->posted = false;
}

void pt_event_defer_free(void *obj, void (*fn)(void *))
{
    if (pt_event_ndefers == pt_event_cdefers) {
        size_t n = pt_event_cdefers ? pt_event_cdefers * 2 : 64;
        pt_event_defer_t *d = realloc(pt_event_defers, n * sizeof(*d));
        if (d == NULL) {
            /* No room to defer: nothing can be queued for obj once the
             * batch is over, so leaking it is the only safe choice. */
            pt_log(PT_LOG_CRIT, "out of memory deferring a free");
            return;
        }
        pt_event_defers = d;
        pt_event_cdefers = n;
    }
    pt_event_defers[pt_event_ndefers++] = (pt_event_defer_t) { obj, fn };
}

static void pt_event_run_posted(void)
{
    /* Handlers may post again; bound the rounds so a handler that always
     * re-posts cannot starve epoll. */
    for (int round = 0; pt_event_posted_head && round < 16; round++) {
        pt_event_t *list = pt_event_posted_head;
        pt_event_posted_head = NULL;
        pt_event_posted_tail = &pt_event_posted_head;
        while (list) {
            pt_event_t *ev = list;
            list = ev->posted_next;
            ev->posted = false;
            if (ev->handler)
                ev->handler(ev, 0);
        }
    }
}

int pt_event_process(pt_msec_t timeout)
{
    if (pt_event_posted_head)
        timeout = 0;
    int n = epoll_wait(pt_event_epfd, pt_event_list, (int) pt_event_nlist,
                       timeout > INT32_MAX ? INT32_MAX : (int) timeout);
    int err = errno;
    pt_clock_update();
    if (n < 0) {
        if (err == EINTR)
            return PT_OK;
        pt_log_errno(PT_LOG_ALERT, err, "epoll_wait");
        return PT_ERROR;
    }
    for (int i = 0; i < n; i++) {
        pt_event_t *ev = pt_event_list[i].data.ptr;
        if (ev->handler)
            ev->handler(ev, pt_event_list[i].events);
    }
    pt_event_run_posted();
    for (size_t i = 0; i < pt_event_ndefers; i++)
        pt_event_defers[i].fn(pt_event_defers[i].obj);
    pt_event_ndefers = 0;
    return PT_OK;
}
