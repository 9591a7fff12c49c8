/*
 * upstream_probe.c: active health checks run by the worker that holds an
 * upstream's lease (see upstream_probe.h): HTTP probes through a
 * subrequest aimed at one server, TCP probes as a bare connect.
 */
#include "common/pt.h"
#include "common/clock.h"
#include "common/log.h"
#include "worker/upstream/subrequest.h"
#include "worker/upstream/upstream.h"
#include "worker/upstream/upstream_health.h"
#include "worker/upstream/upstream_probe.h"

#include <signal.h>
#include <stdatomic.h>
#include <unistd.h>

/* An HTTP probe reads at most this much of a body (more fails it). */
#define PT_PROBE_MAX_BODY   (64 * 1024)
#define PT_PROBE_LEASE_BITS PT_UPSTREAM_LEASE_BITS
#define PT_PROBE_LEASE_MASK ((UINT64_C(1) << PT_PROBE_LEASE_BITS) - 1)

typedef struct pt_probe_group_s pt_probe_group_t;

typedef struct {
    pt_probe_group_t *pg;
    pt_server_t *s;
    pt_subrequest_t *sr;        /* an HTTP probe in flight */
    pt_upconn_t *up;            /* a TCP probe in flight */
    pt_timer_t timer;           /* its timeout */
    bool busy;
} pt_probe_t;

struct pt_probe_group_s {
    pt_upstream_t *u;
    const pt_upstream_probe_conf_t *c;
    pt_timer_t tick;
    bool owner;                 /* this worker held the lease at its last look */
    pt_probe_t *probes;         /* one per server */
};

static pt_probe_group_t *pt_probe_groups;
static size_t pt_probe_ngroups;
static unsigned pt_probe_pid;

/* ---- verdicts ------------------------------------------------------------ */

unsigned pt_upstream_probe_result(const pt_server_t *s, bool ok, const char *why,
                                  pt_msec_t now)
{
    pt_upstream_peer_t *rec = s->health;
    const pt_upstream_probe_conf_t *c = s->upstream->health_check;

    if (rec == NULL || c == NULL)
        return PT_UPSTREAM_PROBE_UP;
    unsigned st = atomic_load(&rec->probe);
    atomic_store(&rec->probe_at, now);
    if (ok) {
        atomic_store(&rec->probe_failed, 0);
        uint32_t n = atomic_fetch_add(&rec->probe_ok, 1) + 1;
        if (st == PT_UPSTREAM_PROBE_UP || (st == PT_UPSTREAM_PROBE_DOWN && n < c->rise))
            return st;
        atomic_store(&rec->probe, PT_UPSTREAM_PROBE_UP);
        /* The server answers: a passive down is over too. */
        if (atomic_load(&rec->state) != PT_UPSTREAM_HEALTH_UP) {
            atomic_store(&rec->fails, 0);
            atomic_store(&rec->state, PT_UPSTREAM_HEALTH_UP);
        }
        pt_log(PT_LOG_NOTICE, "upstream %s: server %s up by probe: %s, %u passed in a row",
               s->upstream->name, s->name, why, n);
        return PT_UPSTREAM_PROBE_UP;
    }
    atomic_store(&rec->probe_ok, 0);
    uint32_t n = atomic_fetch_add(&rec->probe_failed, 1) + 1;
    if (st == PT_UPSTREAM_PROBE_DOWN || (st == PT_UPSTREAM_PROBE_UP && n < c->fall))
        return st;
    atomic_store(&rec->probe, PT_UPSTREAM_PROBE_DOWN);
    pt_log(PT_LOG_NOTICE, "upstream %s: server %s down by probe: %s, %u failed in a row",
           s->upstream->name, s->name, why, n);
    return PT_UPSTREAM_PROBE_DOWN;
}

/* ---- the lease ----------------------------------------------------------- */

uint64_t pt_upstream_probe_lease(unsigned pid, pt_msec_t until)
{
    return ((uint64_t) pid << PT_PROBE_LEASE_BITS) | ((uint64_t) until & PT_PROBE_LEASE_MASK);
}

bool pt_upstream_probe_lease_free(uint64_t old, unsigned pid, pt_msec_t now,
                                  bool (*alive)(unsigned pid))
{
    unsigned owner = (unsigned) (old >> PT_PROBE_LEASE_BITS);
    pt_msec_t until = (pt_msec_t) (old & PT_PROBE_LEASE_MASK);

    return old == 0 || owner == pid || until <= now || (alive && !alive(owner));
}

static bool pt_probe_alive(unsigned pid)
{
    return kill((pid_t) pid, 0) == 0 || errno == EPERM;
}

/* ---- one probe ----------------------------------------------------------- */

static void pt_probe_end(pt_probe_t *pr, bool ok, const char *why)
{
    pr->busy = false;
    pr->sr = NULL;
    pt_timer_del(&pr->timer);
    if (pr->up) {
        pt_upstream_release(pr->up, false);
        pr->up = NULL;
    }
    pt_upstream_probe_result(pr->s, ok, why, pt_clock_now);
}

static void pt_probe_http_done(pt_subrequest_t *sr, int rc, void *data)
{
    pt_probe_t *pr = data;
    const pt_upstream_probe_conf_t *c = pr->pg->c;
    char why[64];

    if (rc != PT_OK) {
        pt_probe_end(pr, false, sr->error ? sr->error : "no answer");
        return;
    }
    if (!pt_upstream_probe_status_ok(c, sr->status)) {
        snprintf(why, sizeof(why), "status %u", sr->status);
        pt_probe_end(pr, false, why);
        return;
    }
    if (c->body && memmem(sr->body.p, sr->body.len, c->body, strlen(c->body)) == NULL) {
        snprintf(why, sizeof(why), "status %u without the expected body", sr->status);
        pt_probe_end(pr, false, why);
        return;
    }
    snprintf(why, sizeof(why), "status %u", sr->status);
    pt_probe_end(pr, true, why);
}

static void pt_probe_tcp_event(pt_upconn_t *up)
{
    pt_probe_t *pr = up->owner;
    int rc = pt_upstream_connected(up);

    if (rc == PT_AGAIN)
        return;
    if (rc == PT_ERROR) {
        pt_probe_end(pr, false, up->io.ssl ? "TLS handshake failed"
                                : errno == ECONNREFUSED ? "connect refused" : "connect failed");
        return;
    }
    pt_probe_end(pr, true, up->io.ssl ? "TLS handshake done" : "connected");
}

static void pt_probe_timeout(pt_timer_t *t)
{
    pt_probe_t *pr = t->data;

    pt_probe_end(pr, false, "timed out");
}

static void pt_probe_start_one(pt_probe_t *pr)
{
    const pt_upstream_probe_conf_t *c = pr->pg->c;

    pr->busy = true;
    if (c->type == PT_PROBE_TCP) {
        pt_upconn_t *up = pt_upstream_get(pr->s, true);
        if (up == NULL) {
            pt_probe_end(pr, false, errno == ECONNREFUSED ? "connect refused"
                                                          : "connect failed");
            return;
        }
        pt_upstream_uncount(up);
        pr->up = up;
        up->owner = pr;
        up->handler = pt_probe_tcp_event;
        pt_timer_set(&pr->timer, c->timeout);
        return;
    }
    pt_subrequest_spec_t spec = {
        .method = c->method,
        .path = { c->path, strlen(c->path) },
        .host = c->host ? (pt_str_t) { c->host, strlen(c->host) } : PT_STR_NULL,
        .max_body = PT_PROBE_MAX_BODY,
        .timeout = c->timeout,
        .server = pr->s,
    };
    pr->sr = pt_subrequest_start(pr->pg->u, &spec, pt_probe_http_done, pr);
    if (pr->sr == NULL)
        pt_probe_end(pr, false, "out of memory");
}

static void pt_probe_cancel(pt_probe_t *pr)
{
    if (!pr->busy)
        return;
    pt_subrequest_cancel(pr->sr);
    pr->sr = NULL;
    if (pr->up) {
        pt_upstream_release(pr->up, false);
        pr->up = NULL;
    }
    pt_timer_del(&pr->timer);
    pr->busy = false;
}

/* ---- rounds -------------------------------------------------------------- */

static pt_msec_t pt_probe_jitter(const pt_upstream_probe_conf_t *c)
{
    return c->jitter > 0 ? (pt_msec_t) ((uint64_t) random() % (uint64_t) (c->jitter + 1)) : 0;
}

/* Every interval, in every worker: take or renew the lease; the holder
 * probes each server whose last probe is done, once the interval since
 * the gateway's last round is over. */
static void pt_probe_tick(pt_timer_t *t)
{
    pt_probe_group_t *pg = t->data;
    pt_upstream_group_t *g = pg->u->group;
    const pt_upstream_probe_conf_t *c = pg->c;
    pt_msec_t now = pt_clock_now;
    uint64_t old = atomic_load(&g->lease);

    if (!pt_upstream_probe_lease_free(old, pt_probe_pid, now, pt_probe_alive)
        || !atomic_compare_exchange_strong(&g->lease, &old,
                                           pt_upstream_probe_lease(pt_probe_pid,
                                                                   now + 3 * c->interval
                                                                   + c->jitter))) {
        if (pg->owner)
            pt_log(PT_LOG_INFO, "upstream %s: probing handed over", pg->u->name);
        pg->owner = false;
        pt_timer_set(t, c->interval);
        return;
    }
    if (!pg->owner)
        pt_log(PT_LOG_NOTICE, "upstream %s: probing its servers (worker pid %u holds the "
               "lease)", pg->u->name, pt_probe_pid);
    pg->owner = true;
    int64_t round = atomic_load(&g->round_at);
    if (round != 0 && now - round < c->interval && now >= round) {
        pt_timer_set(t, round + c->interval - now);
        return;
    }
    atomic_store(&g->round_at, now);
    for (size_t i = 0; i < pg->u->nservers; i++)
        if (!pg->probes[i].busy && !pg->u->servers[i].absent)  /* dns: an empty slot */
            pt_probe_start_one(&pg->probes[i]);
    pt_timer_set(t, c->interval + pt_probe_jitter(c));
}

int pt_upstream_probe_start(const pt_conf_t *conf)
{
    size_t n = 0;

    pt_probe_pid = (unsigned) getpid();
    for (size_t i = 0; i < conf->nupstreams; i++)
        n += conf->upstreams[i].health_check && conf->upstreams[i].group;
    if (n == 0)
        return PT_OK;
    if ((pt_probe_groups = calloc(n, sizeof(*pt_probe_groups))) == NULL)
        return PT_ERROR;
    srandom(pt_probe_pid ^ (unsigned) pt_clock_now);
    for (size_t i = 0; i < conf->nupstreams; i++) {
        pt_upstream_t *u = &conf->upstreams[i];
        if (u->health_check == NULL || u->group == NULL)
            continue;
        pt_probe_group_t *pg = &pt_probe_groups[pt_probe_ngroups++];
        pg->u = u;
        pg->c = u->health_check;
        if ((pg->probes = calloc(u->nservers, sizeof(*pg->probes))) == NULL)
            return PT_ERROR;
        for (size_t k = 0; k < u->nservers; k++) {
            pg->probes[k].pg = pg;
            pg->probes[k].s = &u->servers[k];
            pt_timer_prepare(&pg->probes[k].timer, pt_probe_timeout, &pg->probes[k]);
        }
        pt_timer_prepare(&pg->tick, pt_probe_tick, pg);
        /* A first look soon, spread a little so the workers do not all CAS at once. */
        pt_timer_set(&pg->tick, 1 + (pt_msec_t) ((uint64_t) random() % 50));
    }
    return PT_OK;
}

void pt_upstream_probe_stop(void)
{
    for (size_t i = 0; i < pt_probe_ngroups; i++) {
        pt_probe_group_t *pg = &pt_probe_groups[i];
        pt_timer_del(&pg->tick);
        for (size_t k = 0; k < pg->u->nservers; k++)
            pt_probe_cancel(&pg->probes[k]);
        free(pg->probes);
        /* Hand the lease back so another worker probes at its next look. */
        uint64_t old = atomic_load(&pg->u->group->lease);
        if ((unsigned) (old >> PT_PROBE_LEASE_BITS) == pt_probe_pid)
            atomic_compare_exchange_strong(&pg->u->group->lease, &old, 0);
    }
    free(pt_probe_groups);
    pt_probe_groups = NULL;
    pt_probe_ngroups = 0;
}
