/*
 * upstream_health.c: passive health records of upstream servers in shared
 * memory (see upstream_health.h for the states).
 */
#include "common/pt.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/shm.h"
#include "common/sock.h"
#include "worker/core/conf.h"
#include "worker/upstream/upstream_health.h"

#include <stdatomic.h>

#define PT_UPSTREAM_HEALTH_MAGIC    0x50545548u     /* "PTUH": this layout */
#define PT_UPSTREAM_HEALTH_ZONE     "portico.upstreams"

typedef struct {
    uint32_t magic;
    uint32_t nrecords;
    pt_upstream_peer_t records[PT_UPSTREAM_HEALTH_RECORDS];
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

static void pt_upstream_health_reset(pt_upstream_peer_t *rec)
{
    atomic_store(&rec->state, PT_UPSTREAM_HEALTH_UP);
    atomic_store(&rec->fails, 0);
    atomic_store(&rec->window_start, 0);
    atomic_store(&rec->down_until, 0);
}

/* The record of key: the one a previous generation had, else a free one,
 * else one no live generation can still use (older than max_generations
 * generations back). NULL when every record is taken. */
static pt_upstream_peer_t *pt_upstream_health_claim(pt_upstream_health_zone_t *hz,
                                                    const char *key, unsigned generation,
                                                    unsigned keep)
{
    uint64_t h = pt_hash(key, strlen(key), 0) | 1;      /* 0 marks a free record */
    pt_upstream_peer_t *free_rec = NULL, *stale = NULL;

    for (uint32_t i = 0; i < hz->nrecords; i++) {
        pt_upstream_peer_t *rec = &hz->records[i];
        if (rec->hash == h && strcmp(rec->key, key) == 0) {
            rec->generation = generation;
            return rec;
        }
        if (rec->hash == 0 && free_rec == NULL)
            free_rec = rec;
        else if (rec->hash != 0 && stale == NULL && rec->generation + keep < generation)
            stale = rec;
    }
    pt_upstream_peer_t *rec = free_rec ? free_rec : stale;
    if (rec == NULL)
        return NULL;
    pt_upstream_health_reset(rec);
    rec->hash = h;
    rec->generation = generation;
    snprintf(rec->key, sizeof(rec->key), "%s", key);
    return rec;
}

int pt_upstream_health_zone_init(pt_zone_t *zone, pt_zone_t *old, void *data)
{
    pt_conf_t *conf = data;
    pt_upstream_health_zone_t *hz = *pt_zone_root(zone);
    char key[PT_UPSTREAM_HEALTH_KEY];

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
        for (size_t k = 0; k < u->nservers; k++) {
            pt_upstream_health_key(&u->servers[k], key, sizeof(key));
            u->servers[k].health = pt_upstream_health_claim(hz, key, conf->generation, keep);
            if (u->servers[k].health == NULL) {
                pt_log(PT_LOG_ERR, "zone \"%s\": more than %d upstream servers",
                       PT_UPSTREAM_HEALTH_ZONE, PT_UPSTREAM_HEALTH_RECORDS);
                return PT_ERROR;
            }
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

bool pt_upstream_health_up(const pt_server_t *s)
{
    if (s->absent)                  /* dns: a slot without an address */
        return false;
    return s->health == NULL || atomic_load(&s->health->state) == PT_UPSTREAM_HEALTH_UP;
}

bool pt_upstream_health_usable(const pt_server_t *s, pt_msec_t now)
{
    pt_upstream_peer_t *rec = s->health;

    if (s->absent)                  /* dns: a slot without an address */
        return false;
    if (rec == NULL)
        return true;
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

void pt_upstream_health_ok(const pt_server_t *s)
{
    pt_upstream_peer_t *rec = s->health;

    if (rec == NULL)
        return;
    /* Only written when set: a busy server's line stays shared-clean. */
    if (atomic_load(&rec->fails) != 0)
        atomic_store(&rec->fails, 0);
    uint32_t trial = PT_UPSTREAM_HEALTH_TRIAL;
    if (atomic_load(&rec->state) == PT_UPSTREAM_HEALTH_TRIAL
        && atomic_compare_exchange_strong(&rec->state, &trial, PT_UPSTREAM_HEALTH_UP))
        pt_upstream_health_log(s, "up", "trial request succeeded", 0);
}

bool pt_upstream_health_status_fails(const pt_upstream_t *u, unsigned status)
{
    return u->fail_statuses && status < 600
           && (u->fail_statuses[status / 8] & (1u << (status % 8)));
}

int64_t pt_upstream_health_retry_after(const pt_upstream_t *u, pt_msec_t now)
{
    int64_t best = -1;

    for (size_t i = 0; i < u->nservers; i++) {
        const pt_upstream_peer_t *rec = u->servers[i].health;
        if (rec == NULL)
            continue;
        int64_t until = atomic_load(&rec->down_until);
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
        pt_upstream_health_reset(s->health);
}
/* end dns */
