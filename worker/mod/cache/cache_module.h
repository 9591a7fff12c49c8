/*
 * cache_module.h: what the files of the cache module share: the route
 * conf, the per-request state and the calls between mod_cache.c (conf,
 * phases, filters, purge) and cache_revalidate.c (conditional requests
 * upstream, background refreshes).
 */
#ifndef PT_CACHE_MODULE_H
#define PT_CACHE_MODULE_H

#include "common/pt.h"
#include "common/conf.h"
#include "common/shm.h"
#include "worker/core/core.h"
#include "worker/core/module.h"
#include "worker/core/timer.h"
#include "worker/http/cache_control.h"
#include "worker/mod/cache/cache_rules.h"
#include "worker/mod/cache/cache_serve.h"
#include "worker/mod/cache/cache_store.h"

extern pt_module_t pt_cache_module;

/* Key parts (cache_key). */
#define PT_CACHE_K_SCHEME   0x01
#define PT_CACHE_K_HOST     0x02
#define PT_CACHE_K_PATH     0x04
#define PT_CACHE_K_QUERY    0x08
#define PT_CACHE_K_CONSUMER 0x10

typedef struct {
    int family;                 /* AF_INET, AF_INET6 */
    unsigned bits;
    uint8_t addr[16];
} pt_cache_net_t;

typedef struct {
    pt_conf_zone_t *zone;       /* cache_zone: the route caches when set */
    const char *name;           /* cache_name: first member of Cache-Status */
    int64_t max_object;
    const char **key;
    const char **valid;
    int valid_override;
    int heuristic;
    pt_msec_t heuristic_max;
    int set_cookie;
    int lock;
    pt_msec_t stale_if_error;
    pt_msec_t lock_timeout;
    int purge;
    const char **purge_allow;
    const char *purge_path;
    int status_key;
    /* compiled by init_route */
    pt_cache_policy_t policy;
    unsigned key_parts;
    pt_str_t *key_headers;
    size_t nkey_headers;
    pt_cache_net_t *allow;
    size_t nallow;
    pt_str_t name_str;
    pt_str_t purge_path_str;
} pt_cache_conf_t;

/* How a request's response is made, for the header filter. */
enum pt_cache_mode {
    PT_CACHE_MODE_FETCH = 0,    /* the content handler answers (a miss, a bypass) */
    PT_CACHE_MODE_HIT,          /* served from a stored response */
    PT_CACHE_MODE_SUBRESP,      /* served from a revalidation's answer */
    PT_CACHE_MODE_WAIT          /* waiting (collapsed, or revalidating) */
};

/* What a revalidation decided, for the resumed pre-content handler. */
enum pt_cache_next {
    PT_CACHE_NEXT_NONE = 0,
    PT_CACHE_NEXT_SERVE_OBJ,    /* ctx->obj (updated or stale) */
    PT_CACHE_NEXT_SERVE_SR,     /* ctx->sr_* : the upstream's answer */
    PT_CACHE_NEXT_ERROR         /* ctx->err_status */
};

typedef struct {
    pt_zone_t *zone;
    const pt_cache_conf_t *conf;
    enum pt_cache_mode mode;
    enum pt_cache_next next;
    const char *fwd;            /* Cache-Status fwd=, NULL: a hit */
    const char *detail;
    unsigned fwd_status;
    int64_t ttl;
    bool has_ttl;
    bool stored;
    bool collapsed;
    bool filler;                /* this request set the key's fill marker */
    bool may_store;
    bool invalidate;            /* an unsafe method: §4.4 on success */
    bool authorized;
    bool capturing;
    bool refetched;             /* a mismatched 304 was followed by a plain GET */
    pt_cache_cc_t req_cc;
    pt_cache_req_t rq;
    pt_cache_key_t key;
    int64_t request_ms;
    pt_cache_obj_t *obj;        /* a stored response (pinned in the zone, or a refreshed
                                 * copy in the arena) */
    pt_cache_obj_t *pinned;     /* released when the request ends */
    pt_str_t hide;              /* no-cache fields not to serve */
    int64_t age;
    /* the capture of a response to store */
    pt_cache_obj_t hdr;
    pt_str_t parts[PT_CACHE_NPARTS];
    char *buf;
    size_t len, cap;
    int64_t expect;             /* Content-Length of the body, -1: unknown */
    /* the served copy's memory, to tell its fields from the gateway's */
    const char *own_lo, *own_hi;
    /* waiting */
    pt_timer_t timer;
    pt_msec_t wait_until;
    void *sr;                   /* a revalidation subrequest in flight */
    unsigned err_status;
    const char *err_detail;
    /* the upstream's answer to serve (SERVE_SR) */
    unsigned sr_status;
    pt_http_field_t *sr_fields;
    unsigned sr_nfields;
    pt_str_t sr_body;
} pt_cache_ctx_t;

/* The seed of the index's hash of a key's URI part. */
#define PT_CACHE_HASH_SEED      UINT64_C(0x9e3779b97f4a7c15)

/* cache_key.c: the URI part of a key: [scheme "://"] [host] path
 * ["?" query], with extra bytes of room after it (arena). */
pt_str_t pt_cache_uri(pt_arena_t *a, const pt_cache_conf_t *cc, bool tls, pt_str_t host,
                      pt_str_t path, pt_str_t query, size_t extra);

/* cache_key.c: r's key as cc composes it. PT_OK or PT_ERROR (memory). */
int pt_cache_make_key(pt_request_t *r, const pt_cache_conf_t *cc, pt_cache_key_t *k);

/* cache_key.c: drop what is stored for ref (a target, absolute or
 * origin-form) when it is on r's origin (§4.4). */
void pt_cache_invalidate_uri(pt_request_t *r, pt_cache_ctx_t *ctx, pt_str_t ref);

/* cache_key.c: "address" or "address/prefix". PT_OK or PT_ERROR. */
int pt_cache_parse_net(const char *s, pt_cache_net_t *n);

/* cache_key.c: answer a purge of path?query (a trailing '*': a prefix);
 * PT_DONE, or a status. */
int pt_cache_purge(pt_request_t *r, pt_cache_ctx_t *ctx, pt_str_t path, pt_str_t query);

/* cache_revalidate.c: ask the upstream about ctx->obj (with its
 * validators when it has them) and decide in ctx->next, resuming r.
 * PT_AGAIN (started), PT_DECLINED (no upstream: fetch through the
 * content handler) or a status. */
int pt_cache_revalidate(pt_request_t *r, pt_cache_ctx_t *ctx);

/* cache_revalidate.c: refresh ctx->obj in the background (stale-while-
 * revalidate), unless another request in any worker already does. */
void pt_cache_refresh_background(pt_request_t *r, pt_cache_ctx_t *ctx);

/* cache_revalidate.c: cancel background refreshes (worker exit). */
void pt_cache_refresh_stop(void);

/* mod_cache.c: store a response described by in for key k (hdr and parts
 * filled by pt_cache_storable, body given). true when stored. */
bool pt_cache_store_response(pt_zone_t *zone, const pt_cache_key_t *k, pt_cache_obj_t *hdr,
                             pt_str_t parts[PT_CACHE_NPARTS], pt_str_t body);

/* mod_cache.c: an object laid out in arena as the store keeps it. */
pt_cache_obj_t *pt_cache_obj_build(pt_arena_t *arena, const pt_cache_obj_t *hdr,
                                   const pt_str_t parts[PT_CACHE_NPARTS]);

/* mod_cache.c: whether stored object o's Vary matches request r. */
bool pt_cache_vary_matches(const pt_cache_obj_t *o, void *r);

#endif
