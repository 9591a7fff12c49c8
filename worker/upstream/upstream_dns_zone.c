/*
 * upstream_dns_zone.c: the shared address sets of host-name servers (the
 * zone "portico.dns"): merging an answer into a set, the record's write
 * lock and version, and binding each name of a conf to its record.
 */
#include "common/pt.h"
#include "common/clock.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/shm.h"
#include "worker/core/conf.h"
#include "worker/upstream/upstream_dns.h"
#include "worker/upstream/upstream_health.h"
#include "worker/upstream/upstream_state.h"

#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <unistd.h>

#define PT_UPSTREAM_DNS_MAGIC       0x50544453u     /* "PTDS": this layout */
#define PT_UPSTREAM_DNS_ZONE        "portico.dns"
#define PT_UPSTREAM_DNS_RECORDS     256             /* names a zone holds */

typedef struct {
    uint32_t magic;
    uint32_t nrecords;
    pt_upstream_dns_rec_t records[PT_UPSTREAM_DNS_RECORDS];
} pt_upstream_dns_zone_t;

/* Fixed, so that every reload adopts it (see upstream_health.c). */
#define PT_UPSTREAM_DNS_BYTES                                                                 \
    (sizeof(pt_upstream_dns_zone_t) + sizeof(pt_upstream_dns_zone_t) / 8 + 4 * PT_SLAB_PAGE)

/* ---- addresses ------------------------------------------------------------ */

bool pt_upstream_dns_addr_from_sa(const struct sockaddr *sa, uint16_t port,
                                  pt_upstream_dns_addr_t *a)
{
    memset(a, 0, sizeof(*a));
    if (sa == NULL)
        return false;
    if (sa->sa_family == AF_INET) {
        a->family = AF_INET;
        memcpy(a->ip, &((const struct sockaddr_in *) (const void *) sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        a->family = AF_INET6;
        memcpy(a->ip, &((const struct sockaddr_in6 *) (const void *) sa)->sin6_addr, 16);
    } else {
        return false;
    }
    a->port = port;
    return true;
}

void pt_upstream_dns_addr_to_sa(const pt_upstream_dns_addr_t *a, pt_sockaddr_t *sa)
{
    memset(sa, 0, sizeof(*sa));
    if (a->family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *) (void *) &sa->ss;
        in->sin_family = AF_INET;
        in->sin_port = htons(a->port);
        memcpy(&in->sin_addr, a->ip, 4);
        sa->len = sizeof(*in);
    } else if (a->family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) (void *) &sa->ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(a->port);
        memcpy(&in6->sin6_addr, a->ip, 16);
        sa->len = sizeof(*in6);
    }
}

size_t pt_upstream_dns_addr_print(const pt_upstream_dns_addr_t *a, char *buf, size_t n)
{
    pt_sockaddr_t sa;

    pt_upstream_dns_addr_to_sa(a, &sa);
    return pt_sock_ntop((const struct sockaddr *) &sa.ss, buf, n);
}

pt_msec_t pt_upstream_dns_wait(const pt_upstream_t *u, int ttl)
{
    pt_msec_t floor = pt_min(u->resolve_interval, (pt_msec_t) 1000);

    if (ttl <= 0 || (pt_msec_t) ttl * 1000 >= u->resolve_interval)
        return u->resolve_interval;
    return pt_max((pt_msec_t) ttl * 1000, floor);
}

/* ---- merging ------------------------------------------------------------- */

static bool pt_upstream_dns_same(const pt_upstream_dns_addr_t *a, const pt_upstream_dns_addr_t *b)
{
    return a->family == b->family && a->port == b->port
           && memcmp(a->ip, b->ip, a->family == AF_INET ? 4 : 16) == 0;
}

bool pt_upstream_dns_merge(pt_upstream_dns_slot_t *slots, unsigned nslots,
                           const pt_upstream_dns_addr_t *addrs, unsigned n, int64_t now,
                           pt_upstream_dns_diff_t *diff)
{
    bool placed[PT_UPSTREAM_DNS_SLOTS_MAX] = { false };
    bool changed = false;

    memset(diff, 0, sizeof(*diff));
    nslots = pt_min(nslots, (unsigned) PT_UPSTREAM_DNS_SLOTS_MAX);
    n = pt_min(n, (unsigned) PT_UPSTREAM_DNS_SLOTS_MAX);
    /* Addresses that stay keep their slot; the others leave. */
    for (unsigned k = 0; k < PT_UPSTREAM_DNS_SLOTS_MAX; k++) {
        pt_upstream_dns_slot_t *s = &slots[k];
        bool stays = false;
        if (s->addr.family == 0)
            continue;
        for (unsigned i = 0; i < n && k < nslots && !stays; i++)
            if (!placed[i] && pt_upstream_dns_same(&s->addr, &addrs[i]))
                stays = placed[i] = true;
        if (stays)
            continue;
        diff->removed[diff->nremoved++] = s->addr;
        memset(&s->addr, 0, sizeof(s->addr));
        s->left_at = now;
        changed = true;
    }
    /* Each new one takes the slot empty longest (never used first), so
     * that a slot just emptied, whose requests may still be finishing,
     * is reused last. */
    for (unsigned i = 0; i < n; i++) {
        bool dup = false;
        for (unsigned j = 0; j < i && !dup; j++)
            dup = pt_upstream_dns_same(&addrs[i], &addrs[j]);
        if (placed[i] || dup || addrs[i].family == 0)
            continue;
        unsigned best = nslots;
        for (unsigned k = 0; k < nslots; k++)
            if (slots[k].addr.family == 0 && (best == nslots || slots[k].left_at < slots[best].left_at))
                best = k;
        if (best == nslots) {
            diff->dropped++;
            continue;
        }
        slots[best].addr = addrs[i];
        slots[best].joined_at = now;
        diff->added[diff->nadded++] = best;
        placed[i] = true;
        changed = true;
    }
    return changed;
}

/* ---- the record's lock and version ---------------------------------------- */

bool pt_upstream_dns_lock(pt_upstream_dns_rec_t *rec)
{
    int32_t me = (int32_t) getpid(), holder = 0;

    if (atomic_compare_exchange_strong(&rec->writer, &holder, me))
        return true;
    /* A holder that died mid-write must not wedge the record. */
    if (holder != me && kill((pid_t) holder, 0) != 0 && errno == ESRCH)
        return atomic_compare_exchange_strong(&rec->writer, &holder, me);
    return false;
}

void pt_upstream_dns_unlock(pt_upstream_dns_rec_t *rec)
{
    atomic_store(&rec->writer, 0);
}

void pt_upstream_dns_write_begin(pt_upstream_dns_rec_t *rec)
{
    /* Already odd: a writer died here; its half-made change is redone. */
    atomic_store(&rec->version, atomic_load(&rec->version) | 1u);
    atomic_thread_fence(memory_order_seq_cst);
}

void pt_upstream_dns_write_end(pt_upstream_dns_rec_t *rec)
{
    atomic_thread_fence(memory_order_seq_cst);
    atomic_store(&rec->version, atomic_load(&rec->version) + 1u);
}

bool pt_upstream_dns_read(const pt_upstream_dns_rec_t *rec, pt_upstream_dns_slot_t *slots,
                          uint32_t *version)
{
    for (int tries = 0; tries < 4; tries++) {
        uint32_t v = atomic_load(&((pt_upstream_dns_rec_t *) rec)->version);
        if (v & 1u) {
            sched_yield();
            continue;
        }
        memcpy(slots, rec->slots, sizeof(rec->slots));
        atomic_thread_fence(memory_order_seq_cst);
        if (atomic_load(&((pt_upstream_dns_rec_t *) rec)->version) == v) {
            *version = v;
            return true;
        }
    }
    return false;
}

/* ---- binding a conf (master, before the generation forks) ------------------ */

static pt_upstream_dns_rec_t *pt_upstream_dns_claim(pt_upstream_dns_zone_t *dz, const char *key,
                                                    unsigned generation, unsigned keep,
                                                    bool *fresh)
{
    pt_upstream_table_t t = PT_UPSTREAM_TABLE(dz->records, dz->nrecords, pt_upstream_dns_rec_t,
                                              tag, key);
    pt_upstream_dns_rec_t *rec = pt_upstream_record_claim(&t, key, generation, keep, fresh);
    if (rec != NULL && *fresh) {
        memset(rec, 0, sizeof(*rec));
        pt_upstream_record_name(&t, rec, key, generation);
    }
    return rec;
}

/* Merge the master's answer into the record, then show the record in the
 * conf's slots, so the new generation starts where the old one is. */
static void pt_upstream_dns_bind(pt_upstream_dns_t *d, pt_upstream_dns_rec_t *rec, bool fresh,
                                 pt_msec_t now)
{
    pt_upstream_t *u = d->upstream;
    pt_upstream_dns_diff_t diff;

    /* Old workers may be writing: wait a little, a write is short. A
     * holder that keeps it for longer is stopped, not writing: the master
     * takes the lock, as it must go on. */
    int waited = 0;
    while (!pt_upstream_dns_lock(rec) && waited++ < 200)
        usleep(1000);
    if (waited > 200)
        atomic_store(&rec->writer, (int32_t) getpid());
    pt_upstream_dns_write_begin(rec);
    rec->nslots = d->nslots;
    /* No answer at load (resolve_required off): the set stays as it is,
     * and the name is due at once. */
    bool changed = false;
    memset(&diff, 0, sizeof(diff));
    if (d->nloaded > 0)
        changed = pt_upstream_dns_merge(rec->slots, d->nslots, d->loaded, d->nloaded, now,
                                        &diff);
    rec->naddrs = 0;
    for (unsigned k = 0; k < d->nslots; k++)
        rec->naddrs += rec->slots[k].addr.family != 0;
    atomic_store(&rec->next_at,
                 d->nloaded ? now + pt_upstream_dns_wait(u, d->loaded_ttl) : now);
    pt_upstream_dns_write_end(rec);
    pt_upstream_dns_unlock(rec);
    if (changed)
        pt_upstream_dns_log_diff(d, rec->slots, &diff, rec->naddrs,
                                 fresh ? PT_LOG_INFO : PT_LOG_NOTICE);
    for (unsigned k = 0; k < d->nslots; k++) {
        pt_server_t *s = &u->servers[d->first + k];
        const pt_upstream_dns_slot_t *sl = &rec->slots[k];
        s->absent = sl->addr.family == 0;
        if (!s->absent)
            pt_upstream_dns_addr_to_sa(&sl->addr, &s->addr);
        else
            memset(&s->addr, 0, sizeof(s->addr));
        d->joined[k] = sl->joined_at;
    }
    /* A slot given a new address starts with a clean health record. */
    for (unsigned i = 0; i < diff.nadded; i++) {
        const pt_server_t *s = &u->servers[d->first + diff.added[i]];
        if (s->health == NULL)
            continue;
        pt_upstream_health_reset_server(s);
        /* A name that stays got a new address: slow start, as at run time
         * (a new name's slots ramp as servers added by the reload). */
        if (!fresh && s->slow_start > 0)
            pt_upstream_server_start_ramp(s, "added by DNS");
    }
    d->rec = rec;
    d->seen = atomic_load(&rec->version);
}

int pt_upstream_dns_zone_init(pt_zone_t *zone, pt_zone_t *old, void *data)
{
    pt_conf_t *conf = data;
    pt_upstream_dns_zone_t *dz = *pt_zone_root(zone);
    char key[4 * PT_UPSTREAM_DNS_KEY];  /* hashed whole, kept cut in the record */

    if (old == NULL || dz == NULL || dz->magic != PT_UPSTREAM_DNS_MAGIC) {
        if (dz == NULL && (dz = pt_zone_alloc(zone, sizeof(*dz))) == NULL)
            return PT_ERROR;
        memset(dz, 0, sizeof(*dz));
        dz->nrecords = PT_UPSTREAM_DNS_RECORDS;
        dz->magic = PT_UPSTREAM_DNS_MAGIC;
        *pt_zone_root(zone) = dz;
    }
    pt_clock_update();
    unsigned keep = (unsigned) pt_max(conf->main.max_generations, (int64_t) 1) + 1;
    for (size_t i = 0; i < conf->nupstreams; i++) {
        for (pt_upstream_dns_t *d = conf->upstreams[i].dns; d; d = d->next) {
            bool fresh;
            snprintf(key, sizeof(key), "%s/%s", conf->upstreams[i].name, d->name);
            pt_upstream_dns_rec_t *rec = pt_upstream_dns_claim(dz, key, conf->generation, keep,
                                                               &fresh);
            if (rec == NULL) {
                pt_log(PT_LOG_ERR, "zone \"%s\": more than %d upstream host names",
                       PT_UPSTREAM_DNS_ZONE, PT_UPSTREAM_DNS_RECORDS);
                return PT_ERROR;
            }
            pt_upstream_dns_bind(d, rec, fresh, pt_clock_now);
        }
    }
    return PT_OK;
}

int pt_upstream_dns_conf_zone(pt_conf_ctx_t *cf, pt_conf_t *conf)
{
    return pt_conf_zone_add(cf, conf, PT_UPSTREAM_DNS_ZONE, PT_UPSTREAM_DNS_BYTES, "upstream",
                            PT_UPSTREAM_DNS_MAGIC, pt_upstream_dns_zone_init, conf)
           ? PT_OK : PT_ERROR;
}
