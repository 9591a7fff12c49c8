/*
 * proxy_body.c: request buffering. On a route with request_buffering the
 * request body is collected before any server is chosen, so a client that
 * trickles its body holds a client connection and some memory, never an
 * upstream connection. The first request_buffer_size bytes of payload stay
 * in memory; the rest goes to an unlinked temporary file in
 * request_buffer_path, one span per event so that a fast client cannot
 * keep the loop in write(). A body that passes request_buffer_max (or
 * cannot be spilled) is sent as collected so far and streamed from there,
 * as on a route without buffering. What is kept is the body as it will be
 * sent: its bytes as received, chunk framing included, with the trailer
 * section scrubbed (proxy_head.c), so the framing the head announces is
 * the client's own. A body held whole may be sent again on a retry.
 */
#include "common/pt.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include "common/log.h"
#include "worker/http/h1/h1_write.h"
#include "worker/proxy/proxy.h"

#define PT_PROXY_BODY_IO        65536   /* file bytes read per send */
#define PT_PROXY_BODY_TURNS     16      /* spans (sends) per event */

struct pt_proxy_store_s {
    char *mem;                  /* malloc: the first bytes of the body */
    size_t mem_len, mem_cap;
    int fd;                     /* the spill file, unlinked; -1: none */
    int64_t file_len;
    int64_t total;              /* bytes collected (chunk framing included) */
    int64_t sent;               /* of them, handed to the upstream socket */
    char *io;                   /* malloc: file bytes on their way out */
    bool overflow;              /* stream the rest of the body after the store */
    bool done;                  /* all of the store is handed to the socket */
};

static void pt_proxy_body_cleanup(void *data)
{
    pt_proxy_store_t *st = data;

    if (st->fd >= 0)
        close(st->fd);
    free(st->mem);
    free(st->io);
}

/* An unlinked file in the route's directory: O_TMPFILE where the file
 * system has it (never a name to leak), else a name removed at once. */
static int pt_proxy_body_open(const char *dir)
{
    int fd = -1;
#ifdef O_TMPFILE
    fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
#endif
    if (fd >= 0)
        return fd;
    char path[4096];
    if (snprintf(path, sizeof(path), "%s/portico-body.XXXXXX", dir) >= (int) sizeof(path))
        return -1;
    fd = mkostemp(path, O_CLOEXEC);
    if (fd >= 0)
        unlink(path);
    return fd;
}

/* Append all of p to the file. PT_OK or PT_ERROR (errno kept). */
static int pt_proxy_body_write(int fd, const char *p, size_t n)
{
    for (int tries = 0; n && tries < 64; tries++) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return PT_ERROR;
        p += w;
        n -= (size_t) w;
    }
    return n ? PT_ERROR : PT_OK;
}

/* Keep one span of the body: memory while it fits request_buffer_size,
 * the file after. A span that cannot go to the file is kept in memory all
 * the same (its bytes are consumed from the decoder) and the rest of the
 * body streams. *to_file: the span was written to the file. */
static int pt_proxy_body_keep(pt_proxy_t *p, pt_str_t span, bool *to_file)
{
    pt_proxy_store_t *st = p->store;
    size_t room = (size_t) p->conf->request_buffer_size;

    *to_file = false;
    if (st->fd < 0 && st->mem_len + span.len > room && !st->overflow) {
        if ((st->fd = pt_proxy_body_open(p->conf->request_buffer_path)) < 0) {
            pt_log_errno(PT_LOG_ERR, errno, "cannot create a request body file in %s: "
                         "streaming the body", p->conf->request_buffer_path);
            st->overflow = true;
        }
    }
    if (st->fd >= 0) {
        if (pt_proxy_body_write(st->fd, span.p, span.len) != PT_OK) {
            pt_log_errno(PT_LOG_ERR, errno, "cannot write the request body file");
            return PT_ERROR;
        }
        st->file_len += (int64_t) span.len;
        *to_file = true;
    } else {
        if (st->mem_len + span.len > st->mem_cap) {
            size_t cap = pt_max(st->mem_cap * 2, st->mem_len + span.len);
            if (!st->overflow && cap > room)
                cap = pt_max(room, st->mem_len + span.len);
            char *m = realloc(st->mem, cap);
            if (m == NULL)
                return PT_ERROR;
            st->mem = m;
            st->mem_cap = cap;
        }
        memcpy(st->mem + st->mem_len, span.p, span.len);
        st->mem_len += span.len;
    }
    st->total += (int64_t) span.len;
    if (st->total > p->conf->request_buffer_max)
        st->overflow = true;
    return PT_OK;
}

int pt_proxy_body_start(pt_proxy_t *p)
{
    pt_request_t *r = p->r;
    const pt_proxy_conf_t *pc = p->conf;

    /* An upgrade's body leads into the tunnel and a route's request body
     * filters keep state of their own: those stream. */
    if (pc->request_buffering != 1 || r->body_done || p->upgrade || p->req_filter_out)
        return PT_DECLINED;
    if (r->body_kind == PT_BODY_LENGTH && r->head.content_length > pc->request_buffer_max)
        return PT_DECLINED;
    pt_proxy_store_t *st = pt_arena_calloc(r->arena, sizeof(*st));
    if (st == NULL)
        return 500;
    st->fd = -1;
    if (pt_arena_cleanup_add(r->arena, pt_proxy_body_cleanup, st) != PT_OK)
        return 500;
    p->store = st;
    p->collecting = true;
    /* RFC 9110 10.1.1: the client waits for a word before sending the
     * body; none is needed if some of it is here already. The server will
     * see no Expect: the body comes with the head. */
    if (r->head.expect_continue && r->body_pos == r->conn->rbuf->last) {
        struct iovec iov = { (void *) pt_h1_write_continue.p, pt_h1_write_continue.len };
        r->head_bytes += iov.iov_len;
        if (pt_io_send(&r->conn->io, &iov, 1) == PT_ERROR)
            return 400;
    }
    return PT_OK;
}

/* Keep a raw span of the body; the trailer section is held aside and kept
 * scrubbed once complete, as pt_proxy_send does when streaming. */
static int pt_proxy_body_keep_raw(pt_proxy_t *p, pt_str_t span, bool *to_file)
{
    pt_request_t *r = p->r;
    size_t keep = span.len;
    pt_str_t tail = PT_STR_NULL;
    bool more = false;

    if (r->body_kind == PT_BODY_CHUNKED
        && pt_proxy_head_split_trailers(r, &r->head, &r->chunked, &p->req_trailers, span.p,
                                        span.len, &keep, &tail) != PT_OK)
        return PT_ERROR;
    *to_file = false;
    if (keep && pt_proxy_body_keep(p, (pt_str_t) { span.p, keep }, to_file) != PT_OK)
        return PT_ERROR;
    if (tail.len && pt_proxy_body_keep(p, tail, &more) != PT_OK)
        return PT_ERROR;
    *to_file |= more;
    return PT_OK;
}

void pt_proxy_body_collect(pt_proxy_t *p)
{
    pt_request_t *r = p->r;
    pt_conn_t *c = r->conn;
    pt_proxy_store_t *st = p->store;
    pt_str_t span;

    for (int turn = 0; !r->body_done && !st->overflow; turn++) {
        if (turn == PT_PROXY_BODY_TURNS) {
            pt_event_post(&c->io.ev);       /* the others' turn first */
            return;
        }
        int rc = pt_request_body_next(r, true, &span);
        if (rc == PT_AGAIN) {
            pt_timer_set(&c->timer, pt_request_body_wait(r));
            return;
        }
        if (rc == PT_DONE)
            break;
        if (rc != PT_OK) {
            r->keepalive = false;
            pt_proxy_fail(p, (unsigned) rc, r->error_detail);
            return;
        }
        bool to_file;
        if (pt_proxy_body_keep_raw(p, span, &to_file) != PT_OK) {
            r->keepalive = false;
            pt_proxy_fail(p, 500, "the request body could not be buffered");
            return;
        }
        pt_request_body_consumed(r);
        if (to_file && !r->body_done && !st->overflow) {
            /* One write per event: the loop serves the others between. */
            pt_event_post(&c->io.ev);
            return;
        }
    }
    p->collecting = false;
    if (pt_timer_armed(&c->timer))
        pt_timer_del(&c->timer);
    /* Held whole, the body can be sent again after a dead connection. */
    p->replayable = !st->overflow && p->replay_ok;
    p->at_hand = !st->overflow && p->req_filter_out == NULL;
    pt_proxy_connect(p, NULL);
}

void pt_proxy_body_rewind(pt_proxy_t *p)
{
    p->store->sent = 0;
    p->store->done = false;
}

bool pt_proxy_body_stored_out(const pt_proxy_t *p)
{
    return p->store->done;
}

bool pt_proxy_body_whole(const pt_proxy_t *p)
{
    return p->store && !p->store->overflow;
}

int pt_proxy_body_send(pt_proxy_t *p)
{
    pt_upconn_t *up = p->up;
    pt_proxy_store_t *st = p->store;

    for (int turn = 0; turn < PT_PROXY_BODY_TURNS; turn++) {
        struct iovec iov[2];
        unsigned n = 0;

        /* The file bytes in st->io are reused only once written out. */
        if (pt_io_pending(&up->io) && pt_io_flush(&up->io) == PT_AGAIN)
            return PT_AGAIN;
        if (up->io.flags & PT_IO_ERROR)
            return PT_DONE;         /* pt_proxy_send reads what the server said */
        if (!p->head_queued) {
            iov[n++] = (struct iovec) { (void *) p->head.p, p->head.len };
            p->head_queued = true;
        }
        if (st->sent < (int64_t) st->mem_len) {
            iov[n++] = (struct iovec) { st->mem + st->sent, st->mem_len - (size_t) st->sent };
            st->sent = (int64_t) st->mem_len;
        } else if (st->sent < st->total) {
            if (st->io == NULL && (st->io = malloc(PT_PROXY_BODY_IO)) == NULL)
                return PT_ERROR;
            off_t at = (off_t) (st->sent - (int64_t) st->mem_len);
            size_t want = (size_t) pt_min(st->total - st->sent, (int64_t) PT_PROXY_BODY_IO);
            ssize_t got = pread(st->fd, st->io, want, at);
            if (got <= 0) {
                pt_log_errno(PT_LOG_ERR, got < 0 ? errno : 0,
                             "cannot read the request body file");
                return PT_ERROR;
            }
            iov[n++] = (struct iovec) { st->io, (size_t) got };
            st->sent += got;
        }
        if (n == 0) {
            st->done = true;
            return PT_OK;
        }
        pt_io_send(&up->io, iov, n);
    }
    pt_event_post(&up->io.ev);
    return PT_AGAIN;
}
