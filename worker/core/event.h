/*
 * event.h: the worker's epoll loop. Sockets are registered once,
 * edge-triggered, for both directions; handlers remember readiness and
 * act on it, so the hot path makes no epoll_ctl calls per request.
 */
#ifndef PT_EVENT_H
#define PT_EVENT_H

#include "common/pt.h"

#include <sys/epoll.h>

typedef struct pt_event_s pt_event_t;
typedef void (*pt_event_handler_pt)(pt_event_t *ev, uint32_t events);

struct pt_event_s {
    int fd;
    pt_event_handler_pt handler;    /* NULL once closed: pending events are dropped */
    void *data;
    pt_event_t *posted_next;
    bool posted;
};

#define PT_EV_RW    (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET)
#define PT_EV_R     (EPOLLIN | EPOLLRDHUP | EPOLLET)

int pt_event_init(unsigned max_events);
void pt_event_exit(void);

/* Register ev->fd for events (EPOLLET is the caller's choice). */
int pt_event_add(pt_event_t *ev, uint32_t events);
int pt_event_mod(pt_event_t *ev, uint32_t events);
int pt_event_del(pt_event_t *ev);

/* Close ev->fd and make sure no event still queued in this batch reaches
 * its handler. */
void pt_event_close(pt_event_t *ev);

/* Run ev->handler(ev, 0) after the current batch of events. */
void pt_event_post(pt_event_t *ev);
void pt_event_unpost(pt_event_t *ev);

/* Free obj with fn after the current batch, when no queued event can
 * still point at it. */
void pt_event_defer_free(void *obj, void (*fn)(void *));

/* Wait up to timeout ms (-1: forever), dispatch the events, run posted
 * handlers and deferred frees. Returns PT_OK or PT_ERROR (epoll failed). */
int pt_event_process(pt_msec_t timeout);

#endif
