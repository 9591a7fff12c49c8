/*
 * upstream_dns.h: upstream servers named by host name, re-resolved at run
 * time without blocking (c-ares on the workers' event loops).
 *
 * A server written "backend.internal:8080" in an upstream with resolve on
 * becomes max_addresses consecutive entries of u->servers, its slots. A
 * slot is present (it has an address) or absent (pt_server_t.absent: never
 * chosen, health reports it neither up nor usable). The address set of
 * each name lives in one record of the shared zone "portico.dns", so every
 * worker of every generation agrees on it:
 *
 *   - at load the master resolves the name (c-ares, blocking: it serves no
 *     traffic) and merges the answer into the record;
 *   - at run time the worker that wins the record's due time (a CAS on
 *     next_at, which doubles as a lease: a worker that dies mid-query loses
 *     it when the lease runs out) resolves, merges the answer into the
 *     record under a short write lock, and logs what changed;
 *   - every worker copies the record into its slots when its version moves
 *     (checked on a timer, never on the request path).
 *
 * Merging keeps each address that stays in its slot (so per-slot state,
 * health and pooled connections, is kept), empties the slots of addresses
 * that left (no new requests; requests in flight finish) and puts each new
 * address in the slot that has been empty longest, noting when it joined
 * (pt_upstream_dns_joined_at, for slow start). A failed resolution or an
 * answer without addresses keeps the last good set.
 */
#ifndef PT_UPSTREAM_DNS_H
#define PT_UPSTREAM_DNS_H

#include "common/pt.h"
#include "common/conf.h"
#include "common/sock.h"
#include "worker/core/core.h"
#include "worker/core/timer.h"
#include "worker/upstream/upstream_record.h"

#define PT_UPSTREAM_DNS_SLOTS_MAX   32      /* upper bound of max_addresses */
#define PT_UPSTREAM_DNS_RESOLVERS_MAX   8
#define PT_UPSTREAM_DNS_KEY         96

/* One address of a name, compact for the shared record; family 0: none. */
typedef struct {
    uint8_t family;                 /* AF_INET, AF_INET6 or 0 */
    uint8_t pad;
    uint16_t port;                  /* host order */
    uint8_t ip[16];
} pt_upstream_dns_addr_t;

typedef struct {
    pt_upstream_dns_addr_t addr;
    int64_t joined_at;              /* CLOCK_MONOTONIC ms the address joined */
    int64_t left_at;                /* CLOCK_MONOTONIC ms the slot emptied; 0: never used */
} pt_upstream_dns_slot_t;

typedef struct pt_upstream_dns_rec_s pt_upstream_dns_rec_t;

/* The shared record of one name of one upstream. */
struct pt_upstream_dns_rec_s {
    _Atomic uint32_t version;       /* odd while written; bumped by each change */
    _Atomic int32_t writer;         /* pid holding the write lock; 0: free */
    _Atomic int64_t next_at;        /* CLOCK_MONOTONIC ms the next resolution is due */
    uint32_t nslots;
    uint32_t naddrs;
    pt_upstream_tag_t tag;
    char key[PT_UPSTREAM_DNS_KEY];  /* "upstream/host:port", possibly cut */
    pt_upstream_dns_slot_t slots[PT_UPSTREAM_DNS_SLOTS_MAX];
};
PT_UPSTREAM_KEY_AFTER_TAG(pt_upstream_dns_rec_t);

typedef struct pt_upstream_dns_s pt_upstream_dns_t;

/* A host-name server of an upstream (conf arena; the fields after rec are
 * each worker's own copy). */
struct pt_upstream_dns_s {
    const char *name;               /* "host:port" as written */
    const char *host;
    uint16_t port;
    unsigned line;                  /* where it was written */
    const config_setting_t *where;  /* the same, while the config is read */
    pt_upstream_t *upstream;
    unsigned first;                 /* its slots: u->servers[first .. first + nslots) */
    unsigned nslots;
    pt_upstream_dns_rec_t *rec;     /* bound by the zone init; NULL: none (unit tests) */
    pt_upstream_dns_addr_t loaded[PT_UPSTREAM_DNS_SLOTS_MAX];   /* the answer at load */
    unsigned nloaded;
    int loaded_ttl;
    pt_upstream_dns_t *next;        /* the upstream's next host-name server */
    /* worker state */
    uint32_t seen;                  /* record version the slots show */
    bool busy;                      /* a query of this worker is out */
    pt_timer_t timer;
    int64_t joined[PT_UPSTREAM_DNS_SLOTS_MAX];
};

/* ---- load time (master) -------------------------------------------------- */

/* The per-upstream rows (resolve, resolve_interval, max_addresses), walked
 * with pt_upstream_directives over the same pt_upstream_t. */
extern const pt_directive_t pt_upstream_dns_directives[];

/* portico { resolver = [ "127.0.0.1:5353" ]; }: the field is the c-ares
 * server list ("ip:port,[v6]:port"). */
int pt_upstream_dns_conf_set_resolver(pt_conf_ctx_t *cf, const config_setting_t *s,
                                      void *field, const pt_directive_t *d);
void pt_upstream_dns_conf_dump_resolver(FILE *out, const void *field, const pt_directive_t *d,
                                        int indent);

/* Whether "host:port" names its host by name (not an IP literal). */
bool pt_upstream_dns_is_name(const char *hostport);

/* From the servers parser, for a server whose host is a name: the server
 * entry gets this as its dns (NULL: an error reported at s). Once the
 * upstream's settings are known, pt_upstream_dns_conf_expand resolves it
 * with the configured resolvers (an unresolvable name is an error at s's
 * file and line) and makes it max_addresses slots (resolve on) or one
 * fixed server per address (resolve off); then asks for the zone. */
pt_upstream_dns_t *pt_upstream_dns_conf_note(pt_conf_ctx_t *cf, const config_setting_t *s,
                                             pt_upstream_t *u, const char *name);
int pt_upstream_dns_conf_expand(pt_conf_ctx_t *cf, pt_conf_t *conf, pt_upstream_t *u);

/* -T: the name's entry with its resolved addresses as a comment. */
void pt_upstream_dns_conf_dump_server(FILE *out, const pt_server_t *s);

/* Blocking resolution for load time with the configured resolvers:
 * addresses (up to max) with port, the smallest TTL (0: none known).
 * PT_OK, or PT_ERROR with the reason in err. */
int pt_upstream_dns_resolve_blocking(const pt_main_conf_t *m, const char *host, uint16_t port,
                                     pt_upstream_dns_addr_t *out, unsigned max, unsigned *n,
                                     int *ttl, char *err, size_t errlen);

/* The zone init hook (exposed for unit tests): binds every host-name
 * server of the pt_conf_t data to its record and merges the load-time
 * answer into it. */
int pt_upstream_dns_zone_init(struct pt_zone_s *zone, struct pt_zone_s *old, void *data);

/* ---- the record (upstream_dns_zone.c) ------------------------------------ */

/* What a merge did, for the log. */
typedef struct {
    unsigned added[PT_UPSTREAM_DNS_SLOTS_MAX];      /* slot indexes */
    unsigned nadded;
    pt_upstream_dns_addr_t removed[PT_UPSTREAM_DNS_SLOTS_MAX];
    unsigned nremoved;
    unsigned dropped;               /* new addresses with no free slot */
} pt_upstream_dns_diff_t;

/* Apply the answer addrs[0..n) to slots[0..nslots) (see the top of this
 * file); duplicates count once. Slots from nslots to the end are emptied.
 * Returns whether any slot changed. */
bool pt_upstream_dns_merge(pt_upstream_dns_slot_t *slots, unsigned nslots,
                           const pt_upstream_dns_addr_t *addrs, unsigned n, int64_t now,
                           pt_upstream_dns_diff_t *diff);

/* The write lock of rec (a pid; a dead holder's lock is taken over).
 * false: another live process holds it. */
bool pt_upstream_dns_lock(pt_upstream_dns_rec_t *rec);
void pt_upstream_dns_unlock(pt_upstream_dns_rec_t *rec);
/* Under the lock: open and close a change (the version is odd between). */
void pt_upstream_dns_write_begin(pt_upstream_dns_rec_t *rec);
void pt_upstream_dns_write_end(pt_upstream_dns_rec_t *rec);
/* A consistent copy of rec's slots and its version; false when a writer
 * was busy (try again later). */
bool pt_upstream_dns_read(const pt_upstream_dns_rec_t *rec, pt_upstream_dns_slot_t *slots,
                          uint32_t *version);

/* "1.2.3.4:80" / "[::1]:80" and back. */
void pt_upstream_dns_addr_to_sa(const pt_upstream_dns_addr_t *a, pt_sockaddr_t *sa);
bool pt_upstream_dns_addr_from_sa(const struct sockaddr *sa, uint16_t port,
                                  pt_upstream_dns_addr_t *a);
size_t pt_upstream_dns_addr_print(const pt_upstream_dns_addr_t *a, char *buf, size_t n);

/* How long after an answer with ttl (seconds; 0: none known) the next
 * resolution is due: resolve_interval, shortened by a smaller TTL down to
 * min(1s, resolve_interval). */
pt_msec_t pt_upstream_dns_wait(const pt_upstream_t *u, int ttl);

/* Ask for the zone (once per conf is enough; again is the same zone). */
int pt_upstream_dns_conf_zone(pt_conf_ctx_t *cf, pt_conf_t *conf);

/* ---- in the workers (upstream_dns.c) ------------------------------------- */

/* Log a change of d's set at level: "added a, b; removed c; n addresses". */
void pt_upstream_dns_log_diff(const pt_upstream_dns_t *d, const pt_upstream_dns_slot_t *slots,
                              const pt_upstream_dns_diff_t *diff, unsigned naddrs, int level);

int pt_upstream_dns_init_worker(const pt_conf_t *conf);
void pt_upstream_dns_exit_worker(void);

/* Copy the record of d into its slots if it changed (exposed for tests). */
void pt_upstream_dns_sync(pt_upstream_dns_t *d);

/* When s's address joined its name's set (CLOCK_MONOTONIC ms), for slow
 * start; 0 for a fixed-address server. */
pt_msec_t pt_upstream_dns_joined_at(const pt_server_t *s);

#endif
