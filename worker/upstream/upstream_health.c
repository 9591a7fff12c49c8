/*
 * upstream_health.c: passive health records of upstream servers in shared
 * memory (see upstream_health.h for the states).
 */
#include "common/pt.h"
#include "common/clock.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/shm.h"
#include "common/sock.h"
#include "worker/core/conf.h"
#include "worker/upstream/upstream_eject.h"
#include "worker/upstream/upstream_health.h"
#include "worker/upstream/upstream_metrics.h"
#include "worker/upstream/upstream_probe.h"
#include "worker/upstream/upstream_retry.h"

#include <stdatomic.h>

#define PT_UPSTREAM_HEALTH_MAGIC    0x50545549u     /* this layout (with groups) */
#define PT_UPSTREAM_HEALTH_ZONE     "portico.upstreams"

typedef struct {
    uint32_t magic;
    uint32_t nrecords;
    pt_upstream_peer_t records[PT_UPSTREAM_HEALTH_RECORDS];
    pt_upstream_group_t groups[PT_UPSTREAM_HEALTH_GROUPS];
} pt_upstream_health_zone_t;

/* Fixed, so that the zone is adopted by every reload whatever the number
 * of servers (adoption needs the same size); the slab's page descriptors
 * live in the zone too, hence the margin. */
#define PT_UPSTREAM_HEALTH_BYTES                                                              \
    (sizeof(pt_upstream_health_zone_t) + sizeof(pt_upstream_health_zone_t) / 8               \
     + 4 * PT_SLAB_PAGE)

/* ---- load time, in the master ------------------------------------------- */

static void pt_upstream_health_key(const pt_server_t *s, char *key, size_t n)
{
    char addr[PT_SOCK_ADDRSTRLEN];

    /* dns: a slot of a host name keeps its record while its address stays
     * (upstream_dns.h), so the record is the slot's */
    if (s->dns) {
        snprintf(key, n, "%s/%s#%u", s->upstream->name, s->name, s->dns_slot);
        return;
    }
    /* end dns */

    pt_sock_ntop((const struct sockaddr *) &s->addr.ss, addr, sizeof(addr));
    snprintf(key, n, "%s/%s", s->upstream->name, addr);
}

/* What probes say of a server before the first one ran. */
static unsigned pt_upstream_health_probe_start(const pt_upstream_t *u)
{
    return u->health_check && u->health_check->initial_state == PT_PROBE_START_DOWN
           ? PT_UPSTREAM_PROBE_DOWN : PT_UPSTREAM_PROBE_UNKNOWN;
}

static void pt_upstream_health_reset(pt_upstream_peer_t *rec, unsigned probe)
{
    atomic_store(&rec->state, PT_UPSTREAM_HEALTH_UP);
    atomic_store(&rec->fails, 0);
    atomic_store(&rec->window_start, 0);
    atomic_store(&rec->down_until, 0);
    atomic_store(&rec->probe, probe);
    atomic_store(&rec->probe_ok, 0);
    atomic_store(&rec->probe_failed, 0);
    atomic_store(&rec->probe_at, 0);
    atomic_store(&rec->errors, 0);
    atomic_store(&rec->ejections, 0);
    atomic_store(&rec->ejected_until, 0);
    atomic_store(&rec->returned_at, 0);
    atomic_store(&rec->rate_start, 0);
    atomic_store(&rec->rate_requests, 0);
    atomic_store(&rec->rate_errors, 0);
}

/* The record of key: the one a previous generation had, else a free one,
 * else one no live generation can still use (older than max_generations
 * generations back). NULL when every record is taken. */
static pt_upstream_peer_t *pt_upstream_health_claim(pt_upstream_health_zone_t *hz,
                                                    const char *key, unsigned generation,
                                                    unsigned keep, unsigned probe)
{
    pt_upstream_table_t t = PT_UPSTREAM_TABLE(hz->records, hz->nrecords, pt_upstream_peer_t,
                                              tag, key);
    bool fresh;
    pt_upstream_peer_t *rec = pt_upstream_record_claim(&t, key, generation, keep, &fresh);
    if (rec != NULL && fresh) {
        pt_upstream_health_reset(rec, probe);
        pt_upstream_record_name(&t, rec, key, generation);
    }
    return rec;
}

/* The group record of upstream name, as pt_upstream_health_claim does for
 * servers. A reused stale record starts with nothing counted. */
static pt_upstream_group_t *pt_upstream_health_group(pt_upstream_health_zone_t *hz,
                                                     const char *name, unsigned generation,
                                                     unsigned keep)
{
    pt_upstream_table_t t = PT_UPSTREAM_TABLE(hz->groups, PT_UPSTREAM_HEALTH_GROUPS,
                                              pt_upstream_group_t, tag, key);
    bool fresh;
    pt_upstream_group_t *g = pt_upstream_record_claim(&t, name, generation, keep, &fresh);
    if (g != NULL && fresh) {
        memset(g, 0, sizeof(*g));
        pt_upstream_record_name(&t, g, name, generation);
    }
    return g;
}

int pt_upstream_health_zone_init(pt_zone_t *zone, pt_zone_t *old, void *data)
{
    pt_conf_t *conf = data;
    pt_upstream_health_zone_t *hz = *pt_zone_root(zone);
    char key[4 * PT_UPSTREAM_HEALTH_KEY];   /* hashed whole, kept cut in the record */

    if (old == NULL || hz == NULL || hz->magic != PT_UPSTREAM_HEALTH_MAGIC) {
        if (hz == NULL && (hz = pt_zone_alloc(zone, sizeof(*hz))) == NULL)
            return PT_ERROR;
        memset(hz, 0, sizeof(*hz));
        hz->nrecords = PT_UPSTREAM_HEALTH_RECORDS;
        hz->magic = PT_UPSTREAM_HEALTH_MAGIC;
        *pt_zone_root(zone) = hz;
    }
    /* Old generations may still live for max_generations reloads: their
     * records are not handed to new servers before that. */
    unsigned keep = (unsigned) pt_max(conf->main.max_generations, (int64_t) 1) + 1;
    for (size_t i = 0; i < conf->nupstreams; i++) {
        pt_upstream_t *u = &conf->upstreams[i];
        unsigned start = pt_upstream_health_probe_start(u);
        if ((u->group = pt_upstream_health_group(hz, u->name, conf->generation, keep)) == NULL) {
            pt_log(PT_LOG_ERR, "zone \"%s\": more than %d upstreams",
                   PT_UPSTREAM_HEALTH_ZONE, PT_UPSTREAM_HEALTH_GROUPS);
            return PT_ERROR;
        }
        for (size_t k = 0; k < u->nservers; k++) {
            pt_upstream_health_key(&u->servers[k], key, sizeof(key));
            pt_upstream_peer_t *rec = pt_upstream_health_claim(hz, key, conf->generation, keep,
                                                               start);
            if ((u->servers[k].health = rec) == NULL) {
                pt_log(PT_LOG_ERR, "zone \"%s\": more than %d upstream servers",
                       PT_UPSTREAM_HEALTH_ZONE, PT_UPSTREAM_HEALTH_RECORDS);
                return PT_ERROR;
            }
            /* Nobody probes it now: a verdict of old probes would stay for ever. */
            if (u->health_check == NULL)
                atomic_store(&rec->probe, PT_UPSTREAM_PROBE_UNKNOWN);
            if (u->outlier_ejection == NULL)
                atomic_store(&rec->ejected_until, 0);
        }
    }
    return PT_OK;
}

int pt_upstream_health_conf(pt_conf_ctx_t *cf, pt_conf_t *conf)
{
    return pt_conf_zone_add(cf, conf, PT_UPSTREAM_HEALTH_ZONE, PT_UPSTREAM_HEALTH_BYTES,
                            "upstream", PT_UPSTREAM_HEALTH_MAGIC, pt_upstream_health_zone_init,
                            conf) ? PT_OK : PT_ERROR;
}

int pt_upstream_health_conf_upstream(pt_conf_ctx_t *cf, pt_conf_t *conf,
                                     const config_setting_t *s, pt_upstream_t *u)
{
    u->retry_on_mask = pt_upstream_retry_on_mask(u->retry_on);
    (void) s;
    return pt_upstream_health_conf(cf, conf);
}

/* ---- in the workers ------------------------------------------------------ */

static void pt_upstream_health_log(const pt_server_t *s, const char *change, const char *why,
                                   uint32_t fails)
{
    char addr[PT_SOCK_ADDRSTRLEN];
    pt_msec_t t = s->upstream->fail_timeout;

    pt_sock_ntop((const struct sockaddr *) &s->addr.ss, addr, sizeof(addr));
    if (fails == 0)
        pt_log(PT_LOG_NOTICE, "upstream %s: server %s %s: %s", s->upstream->name, addr, change,
               why);
    else if (t % 1000 == 0)
        pt_log(PT_LOG_NOTICE, "upstream %s: server %s %s: %s, %u failure%s in %llds",
               s->upstream->name, addr, change, why, fails, fails == 1 ? "" : "s",
               (long long) (t / 1000));
    else
        pt_log(PT_LOG_NOTICE, "upstream %s: server %s %s: %s, %u failure%s in %lldms",
               s->upstream->name, addr, change, why, fails, fails == 1 ? "" : "s",
               (long long) t);
}

/* A verdict counts only where this generation probes: a prober of the
 * generation before, still finishing, could otherwise leave one behind
 * that nobody would ever lift. */
static bool pt_upstream_health_probe_down(const pt_server_t *s, const pt_upstream_peer_t *rec)
{
    return s->upstream->health_check && atomic_load(&rec->probe) == PT_UPSTREAM_PROBE_DOWN;
}

bool pt_upstream_health_up(const pt_server_t *s)
{
    const pt_upstream_peer_t *rec = s->health;

    if (s->absent)                  /* dns: a slot without an address */
        return false;
    return rec == NULL
           || (atomic_load(&rec->state) == PT_UPSTREAM_HEALTH_UP
               && !pt_upstream_health_probe_down(s, rec)
               && pt_upstream_eject_in(s, pt_clock_now));
}

bool pt_upstream_health_usable(const pt_server_t *s, pt_msec_t now)
{
    pt_upstream_peer_t *rec = s->health;

    if (s->absent)                  /* dns: a slot without an address */
        return false;
    if (rec == NULL)
        return true;
    /* A probe's down and an ejection leave no room for a passive trial. */
    if (pt_upstream_health_probe_down(s, rec) || !pt_upstream_eject_in(s, now))
        return false;
    uint32_t st = atomic_load(&rec->state);
    if (st == PT_UPSTREAM_HEALTH_UP)
        return true;
    int64_t until = atomic_load(&rec->down_until);
    if (now < until)
        return false;
    /* One winner gateway-wide: the CAS on down_until (which every down or
     * trial state carries) decides, then the state says trial. */
    if (!atomic_compare_exchange_strong(&rec->down_until, &until,
                                        now + s->upstream->fail_timeout))
        return false;
    atomic_store(&rec->state, PT_UPSTREAM_HEALTH_TRIAL);
    return true;
}

void pt_upstream_health_fail(const pt_server_t *s, const char *reason, pt_msec_t now)
{
    pt_upstream_peer_t *rec = s->health;
    const pt_upstream_t *u = s->upstream;

    pt_upstream_eject_error(s, reason, now);
    pt_upstream_metric_error(s);
    if (rec == NULL || u->max_fails == 0)
        return;
    uint32_t st = atomic_load(&rec->state);
    if (st == PT_UPSTREAM_HEALTH_TRIAL) {
        uint32_t trial = PT_UPSTREAM_HEALTH_TRIAL;
        atomic_store(&rec->down_until, now + u->fail_timeout);
        if (atomic_compare_exchange_strong(&rec->state, &trial, PT_UPSTREAM_HEALTH_DOWN))
            pt_upstream_health_log(s, "still down", reason, 0);
        return;
    }
    if (st != PT_UPSTREAM_HEALTH_UP)
        return;                     /* a late failure of a server already down */
    int64_t start = atomic_load(&rec->window_start);
    uint32_t fails;
    if (now - start >= u->fail_timeout
        && atomic_compare_exchange_strong(&rec->window_start, &start, now)) {
        atomic_store(&rec->fails, 1);   /* a new window: this failure opens it */
        fails = 1;
    } else {
        fails = atomic_fetch_add(&rec->fails, 1) + 1;
    }
    if (fails < (uint64_t) u->max_fails)
        return;
    uint32_t up = PT_UPSTREAM_HEALTH_UP;
    atomic_store(&rec->down_until, now + u->fail_timeout);
    if (atomic_compare_exchange_strong(&rec->state, &up, PT_UPSTREAM_HEALTH_DOWN))
        pt_upstream_health_log(s, "down", reason, fails);
}

/* Passive health's side of a success: the failure count clears, a trial
 * ends up. */
static void pt_upstream_health_passive_ok(const pt_server_t *s, pt_upstream_peer_t *rec)
{
    /* Only written when set: a busy server's line stays shared-clean. The
     * window goes too: the next failure opens a new one, so that max_fails
     * counts within fail_timeout of the first failure since the success,
     * not within what is left of a window the success ended. */
    if (atomic_load(&rec->fails) != 0) {
        atomic_store(&rec->fails, 0);
        atomic_store(&rec->window_start, 0);
    }
    uint32_t trial = PT_UPSTREAM_HEALTH_TRIAL;
    if (atomic_load(&rec->state) == PT_UPSTREAM_HEALTH_TRIAL
        && atomic_compare_exchange_strong(&rec->state, &trial, PT_UPSTREAM_HEALTH_UP))
        pt_upstream_health_log(s, "up", "trial request succeeded", 0);
}

void pt_upstream_health_ok(const pt_server_t *s)
{
    pt_upstream_peer_t *rec = s->health;

    if (rec == NULL)
        return;
    pt_upstream_eject_success(s, pt_clock_now);
    pt_upstream_health_passive_ok(s, rec);
}

bool pt_upstream_health_status_fails(const pt_upstream_t *u, unsigned status)
{
    return u->fail_statuses && status < 600
           && (u->fail_statuses[status / 8] & (1u << (status % 8)));
}

void pt_upstream_health_status(const pt_server_t *s, unsigned status, pt_msec_t now)
{
    if (pt_upstream_health_status_fails(s->upstream, status)) {
        char why[16];
        snprintf(why, sizeof(why), "status %u", status);
        pt_upstream_health_fail(s, why, now);
        return;
    }
    if (status >= 500 && s->upstream->outlier_ejection && s->health) {
        char why[16];
        snprintf(why, sizeof(why), "status %u", status);
        /* A success for passive health (not a fail_status), an error for ejection. */
        pt_upstream_health_passive_ok(s, s->health);
        pt_upstream_eject_error(s, why, now);
        return;
    }
    pt_upstream_health_ok(s);
}

void pt_upstream_health_read(const pt_server_t *s, pt_msec_t now,
                             pt_upstream_health_view_t *out)
{
    const pt_upstream_peer_t *rec = s->health;

    memset(out, 0, sizeof(*out));
    out->usable = true;
    if (rec == NULL)
        return;
    out->passive = atomic_load(&rec->state);
    out->probe = atomic_load(&rec->probe);
    out->ejected_until = atomic_load(&rec->ejected_until);
    out->ejected = s->upstream->outlier_ejection && out->ejected_until > now;
    out->fails = atomic_load(&rec->fails);
    out->errors = atomic_load(&rec->errors);
    out->ejections = atomic_load(&rec->ejections);
    out->down_until = atomic_load(&rec->down_until);
    out->probe_at = atomic_load(&rec->probe_at);
    out->usable = out->passive == PT_UPSTREAM_HEALTH_UP && !pt_upstream_health_probe_down(s, rec)
                  && !out->ejected;
}

void pt_upstream_health_group_read(const pt_upstream_t *u, pt_msec_t now,
                                   pt_upstream_group_view_t *out)
{
    const pt_upstream_group_t *g = u->group;

    memset(out, 0, sizeof(*out));
    if (g == NULL)
        return;
    uint64_t lease = atomic_load(&g->lease);
    out->lease_until = (int64_t) (lease & ((UINT64_C(1) << PT_UPSTREAM_LEASE_BITS) - 1));
    if (lease != 0 && out->lease_until > now)
        out->prober_pid = (unsigned) (lease >> PT_UPSTREAM_LEASE_BITS);
    out->round_at = atomic_load(&g->round_at);
    for (unsigned i = 0; i < PT_UPSTREAM_BUDGET_SECONDS; i++) {
        if (now / 1000 - atomic_load(&g->sec[i]) >= PT_UPSTREAM_BUDGET_SECONDS)
            continue;
        out->requests += atomic_load(&g->requests[i]);
        out->retries += atomic_load(&g->retried[i]);
    }
}

int64_t pt_upstream_health_retry_after(const pt_upstream_t *u, pt_msec_t now)
{
    int64_t best = -1;

    for (size_t i = 0; i < u->nservers; i++) {
        const pt_upstream_peer_t *rec = u->servers[i].health;
        if (rec == NULL)
            continue;
        int64_t until = atomic_load(&rec->down_until);
        if (atomic_load(&rec->state) == PT_UPSTREAM_HEALTH_UP)
            until = 0;
        int64_t ej = u->outlier_ejection ? atomic_load(&rec->ejected_until) : 0;
        if (ej > until)
            until = ej;
        if (u->health_check && atomic_load(&rec->probe) == PT_UPSTREAM_PROBE_DOWN) {
            /* the next probe might bring it back */
            int64_t next = atomic_load(&rec->probe_at) + u->health_check->interval;
            if (next > until)
                until = next;
        }
        if (until > now && (best < 0 || until < best))
            best = until;
    }
    if (best < 0)
        return 1;
    return pt_max((best - now + 999) / 1000, (int64_t) 1);
}

/* dns: a slot of a host name got a new address (upstream_dns.h) */
void pt_upstream_health_reset_server(const pt_server_t *s)
{
    if (s->health)
        pt_upstream_health_reset(s->health, pt_upstream_health_probe_start(s->upstream));
}
/* end dns */
