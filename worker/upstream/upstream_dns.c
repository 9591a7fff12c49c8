/*
 * upstream_dns.c: re-resolving host-name servers in the workers (see
 * upstream_dns.h): one timer per name and worker watches the shared
 * record, copies a changed set into the slots, and resolves when the
 * record is due and this worker wins it.
 */
#include "common/pt.h"
#include "common/clock.h"
#include "common/log.h"
#include "worker/net/conn.h"
#include "worker/upstream/upstream.h"
#include "worker/upstream/upstream_dns.h"
#include "worker/upstream/upstream_dns_ares.h"
#include "worker/upstream/upstream_health.h"
#include "worker/upstream/upstream_state.h"

#include <stdatomic.h>

static const pt_conf_t *pt_upstream_dns_conf;
static bool pt_upstream_dns_running;

/* How often a worker looks at a record: often enough that every worker
 * follows a change within about a second, never on the request path. */
static pt_msec_t pt_upstream_dns_tick_ms(const pt_upstream_t *u)
{
    return pt_max(pt_min(u->resolve_interval / 2, (pt_msec_t) 1000), (pt_msec_t) 50);
}

void pt_upstream_dns_log_diff(const pt_upstream_dns_t *d, const pt_upstream_dns_slot_t *slots,
                              const pt_upstream_dns_diff_t *diff, unsigned naddrs, int level)
{
    char text[1024], addr[PT_SOCK_ADDRSTRLEN];
    size_t len = 0;

    for (unsigned i = 0; i < diff->nadded && len < sizeof(text); i++) {
        pt_upstream_dns_addr_print(&slots[diff->added[i]].addr, addr, sizeof(addr));
        len += (size_t) snprintf(text + len, sizeof(text) - len, "%s%s",
                                 i ? ", " : "added ", addr);
    }
    for (unsigned i = 0; i < diff->nremoved && len < sizeof(text); i++) {
        pt_upstream_dns_addr_print(&diff->removed[i], addr, sizeof(addr));
        len += (size_t) snprintf(text + len, sizeof(text) - len, "%s%s",
                                 i ? ", " : len ? "; removed " : "removed ", addr);
    }
    if (len >= sizeof(text))
        len = sizeof(text) - 1;
    snprintf(text + len, sizeof(text) - len, "%s%u address%s%s", len ? "; " : "", naddrs,
             naddrs == 1 ? "" : "es",
             diff->dropped ? " (more than max_addresses: the rest left out)" : "");
    pt_log(level, "upstream %s: %s resolved: %s", d->upstream->name, d->name, text);
}

void pt_upstream_dns_sync(pt_upstream_dns_t *d)
{
    pt_upstream_dns_slot_t slots[PT_UPSTREAM_DNS_SLOTS_MAX];
    uint32_t version;

    if (d->rec == NULL || atomic_load(&d->rec->version) == d->seen
        || !pt_upstream_dns_read(d->rec, slots, &version))
        return;
    for (unsigned k = 0; k < d->nslots; k++) {
        pt_server_t *s = &d->upstream->servers[d->first + k];
        const pt_upstream_dns_slot_t *sl = &slots[k];
        if (sl->addr.family == 0) {
            if (!s->absent) {
                s->absent = true;   /* drains: requests in flight keep their connection */
                s->addr_version++;  /* and close it when they are done */
                pt_upstream_close_server_idle(s);
            }
            continue;
        }
        pt_sockaddr_t sa;
        pt_upstream_dns_addr_to_sa(&sl->addr, &sa);
        if (s->absent || s->addr.len != sa.len || memcmp(&s->addr.ss, &sa.ss, sa.len) != 0) {
            pt_upstream_close_server_idle(s);   /* pooled to the old address */
            s->addr = sa;
            s->absent = false;
            s->addr_version++;
        }
        d->joined[k] = sl->joined_at;
    }
    d->seen = version;
}

static void pt_upstream_dns_arm(pt_upstream_dns_t *d)
{
    if (pt_upstream_dns_running)
        pt_timer_set(&d->timer, pt_upstream_dns_tick_ms(d->upstream));
}

/* The answer of this worker's query: merge it into the record, or keep
 * the last good set. Either way the record is due again after a wait. */
static void pt_upstream_dns_done(void *data, bool ok, const char *error,
                                 const pt_upstream_dns_addr_t *addrs, unsigned n, int ttl)
{
    pt_upstream_dns_t *d = data;
    pt_upstream_dns_rec_t *rec = d->rec;
    const pt_upstream_t *u = d->upstream;
    pt_upstream_dns_diff_t diff;

    d->busy = false;
    pt_clock_update();
    if (!ok) {
        pt_log(PT_LOG_WARN, "upstream %s: cannot resolve %s: %s; keeping the last %u address%s",
               u->name, d->name, error, rec->naddrs, rec->naddrs == 1 ? "" : "es");
        atomic_store(&rec->next_at, pt_clock_now + pt_upstream_dns_wait(u, 0));
        return;
    }
    if (!pt_upstream_dns_lock(rec)) {
        /* Another writer right now: try again at the next tick. */
        atomic_store(&rec->next_at, pt_clock_now);
        return;
    }
    pt_upstream_dns_write_begin(rec);
    bool changed = pt_upstream_dns_merge(rec->slots, d->nslots, addrs, n, pt_clock_now, &diff);
    rec->naddrs = 0;
    for (unsigned k = 0; k < d->nslots; k++)
        rec->naddrs += rec->slots[k].addr.family != 0;
    /* A slot given a new address starts with a clean health record;
     * slots and their records are the same in every worker. */
    for (unsigned i = 0; i < diff.nadded; i++)
        pt_upstream_health_reset_server(&u->servers[d->first + diff.added[i]]);
    atomic_store(&rec->next_at, pt_clock_now + pt_upstream_dns_wait(u, ttl));
    pt_upstream_dns_write_end(rec);
    pt_upstream_dns_unlock(rec);
    if (changed)
        pt_upstream_dns_log_diff(d, rec->slots, &diff, rec->naddrs, PT_LOG_NOTICE);
    pt_upstream_dns_sync(d);
    /* A new address is a cold server: slow start ramps it up, for every
     * worker (the ramp's start is in the slot's shared record). */
    for (unsigned i = 0; i < diff.nadded; i++) {
        const pt_server_t *s = &u->servers[d->first + diff.added[i]];
        if (s->slow_start > 0)
            pt_upstream_server_start_ramp(s, "added by DNS");
    }
}

static void pt_upstream_dns_tick(pt_timer_t *t)
{
    pt_upstream_dns_t *d = t->data;
    pt_upstream_dns_rec_t *rec = d->rec;

    pt_upstream_dns_sync(d);
    /* A retiring worker still follows the set for what it finishes, but
     * leaves the resolving to the new generation. */
    if (!d->busy && !pt_conn_draining) {
        int64_t due = atomic_load(&rec->next_at);
        pt_msec_t lease = pt_upstream_dns_ares_lease(&pt_upstream_dns_conf->main);
        if (pt_clock_now >= due
            && atomic_compare_exchange_strong(&rec->next_at, &due, pt_clock_now + lease)) {
            d->busy = true;
            if (pt_upstream_dns_ares_query(d->host, d->port, pt_upstream_dns_done, d) != PT_OK) {
                d->busy = false;
                atomic_store(&rec->next_at, pt_clock_now + pt_upstream_dns_wait(d->upstream, 0));
            }
        }
    }
    pt_upstream_dns_arm(d);
}

int pt_upstream_dns_init_worker(const pt_conf_t *conf)
{
    bool any = false;

    pt_upstream_dns_conf = conf;
    for (size_t i = 0; i < conf->nupstreams; i++)
        for (pt_upstream_dns_t *d = conf->upstreams[i].dns; d; d = d->next)
            any |= d->rec != NULL;
    if (!any)
        return PT_OK;
    /* Without a resolver the set stays what the master resolved. */
    if (pt_upstream_dns_ares_init(&conf->main) != PT_OK)
        return PT_OK;
    pt_upstream_dns_running = true;
    for (size_t i = 0; i < conf->nupstreams; i++)
        for (pt_upstream_dns_t *d = conf->upstreams[i].dns; d; d = d->next) {
            if (d->rec == NULL)
                continue;
            d->busy = false;
            pt_timer_prepare(&d->timer, pt_upstream_dns_tick, d);
            pt_upstream_dns_arm(d);
        }
    return PT_OK;
}

void pt_upstream_dns_exit_worker(void)
{
    if (!pt_upstream_dns_running)
        return;
    pt_upstream_dns_running = false;
    for (size_t i = 0; i < pt_upstream_dns_conf->nupstreams; i++)
        for (pt_upstream_dns_t *d = pt_upstream_dns_conf->upstreams[i].dns; d; d = d->next)
            if (d->rec)
                pt_timer_del(&d->timer);
    pt_upstream_dns_ares_exit();
}

pt_msec_t pt_upstream_dns_joined_at(const pt_server_t *s)
{
    return s->dns ? s->dns->joined[s->dns_slot] : 0;
}
