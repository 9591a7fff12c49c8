/*
 * jwt_int.h: between the files of mod_jwt (the route conf, the JWKS
 * fetcher's per-worker state).
 */
#ifndef PT_JWT_INT_H
#define PT_JWT_INT_H

#include "common/pt.h"
#include "common/conf.h"
#include "worker/core/module.h"
#include "worker/core/timer.h"
#include "worker/mod/auth/jwt/jwt_keys.h"
#include "worker/mod/auth/jwt/jwt_token.h"

/* Requests of one worker that may wait for one JWKS fetch. */
#define PT_JWT_WAITERS_MAX  64

/* One key as written in jwt_keys. */
typedef struct {
    const char *file;           /* a PEM public key */
    const char *secret;         /* an HMAC secret, inline */
    const char *secret_file;    /* an HMAC secret, the bytes of a file */
    const char *kid;
    const char **algorithms;
    unsigned line;
} pt_jwt_keyspec_t;

typedef struct {
    pt_jwt_keyspec_t *v;
    size_t n;
} pt_jwt_keyspecs_t;

typedef struct pt_jwt_jwks_s pt_jwt_jwks_t;

typedef struct {
    int enabled;                /* BOOL */
    pt_jwt_keyspecs_t *keys;    /* CUSTOM */
    const char *jwks_file;      /* STRING */
    const char *jwks_upstream;
    const char *jwks_path;
    pt_msec_t jwks_refresh;
    pt_msec_t jwks_min_refresh;
    pt_msec_t jwks_timeout;
    pt_conf_zone_t *jwks_zone;
    const char **algorithms;    /* STRINGS: NULL: what the keys allow */
    pt_msec_t leeway;
    const char **issuers;
    const char **audiences;
    const char **require;
    const char *consumer_claim;
    const char *groups_claim;
    const char *cookie;
    int64_t max_token_size;
    int strip;
    const char *realm;
    int64_t cache_size;
    /* compiled by init_route */
    pt_jwt_keyset_t *static_keys;   /* jwt_keys and jwt_jwks_file; malloc'd */
    uint32_t allowed;               /* PT_JWT_ALG_BIT set */
    pt_jwt_rules_t rules;
    const char *challenge_none;     /* WWW-Authenticate without a token */
    const char *challenge_invalid;
    pt_upstream_t *upstream;
    unsigned route_index;
} pt_jwt_conf_t;

extern pt_module_t pt_jwt_module;

/* jwt_jwks.c: the JWKS URL of routes, fetched by one worker at a time
 * into a shared zone and parsed by each worker into its own key set. */

/* Load time: validate jc's JWKS URL settings. */
int pt_jwt_jwks_conf(pt_conf_ctx_t *cf, pt_conf_t *conf, pt_route_t *route, pt_jwt_conf_t *jc);
/* In the worker: start the fetchers of every route; stop them. */
int pt_jwt_jwks_init_worker(const pt_conf_t *conf);
void pt_jwt_jwks_exit_worker(void);
/* The worker retires: stop the timers, end a fetch, wake its waiters. */
void pt_jwt_jwks_retire(void);
/* The worker's fetcher for route index i, or NULL. */
pt_jwt_jwks_t *pt_jwt_jwks_of(unsigned route_index);
/* The key set as the zone holds it now (reparsed when it changed). */
const pt_jwt_keyset_t *pt_jwt_jwks_keys(pt_jwt_jwks_t *j);
/* The generation of the key set pt_jwt_jwks_keys gives (after syncing). */
uint64_t pt_jwt_jwks_generation(pt_jwt_jwks_t *j);
/* A token named a kid no key has: fetch now if the period allows; PT_AGAIN
 * when r waits for that fetch (it is resumed when it ends), PT_DECLINED
 * when it cannot wait. */
int pt_jwt_jwks_unknown_kid(pt_jwt_jwks_t *j, pt_request_t *r);
/* The zone's init (the module's init_zone). */
int pt_jwt_jwks_init_zone(struct pt_zone_s *zone, struct pt_zone_s *old, void *data);

#define PT_JWT_ZONE_MAGIC   0x4a574b31u     /* "JWK1" */

#endif
