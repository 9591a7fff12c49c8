/*
 * cache_rules.h: what RFC 9111 §3 lets a shared cache store, and the
 * object built from a response that may be stored: its header fields as
 * stored (hop-by-hop and per-message fields left out), its Vary data and
 * its freshness.
 */
#ifndef PT_CACHE_RULES_H
#define PT_CACHE_RULES_H

#include "common/pt.h"
#include "common/arena.h"
#include "worker/core/core.h"
#include "worker/http/http_parse.h"
#include "worker/http/cache_control.h"
#include "worker/mod/cache/cache_fresh.h"
#include "worker/mod/cache/cache_store.h"

/* A route's TTL for a status when the response gives none (cache_valid). */
typedef struct {
    unsigned status;            /* 0: any status */
    int64_t ttl;                /* seconds */
} pt_cache_valid_t;

/* The route's storing policy, compiled from its directives. */
typedef struct {
    const pt_cache_valid_t *valid;
    size_t nvalid;
    bool heuristic;             /* heuristic freshness (§4.2.2) */
    int64_t heuristic_max;      /* seconds */
    bool set_cookie;            /* store responses with Set-Cookie (the field stripped) */
    bool valid_override;        /* valid's TTLs replace the response's own lifetime */
    int64_t max_object;         /* bytes of body */
} pt_cache_policy_t;

/* The facts of a response the rules look at. */
typedef struct {
    unsigned status;
    const pt_http_field_t *fields;
    unsigned nfields;
    int64_t request_ms, response_ms;    /* wall ms */
    bool request_authorized;            /* the request carried Authorization */
    bool request_no_store;
    const pt_http_field_t *req_fields;  /* for Vary */
    unsigned req_nfields;
} pt_cache_resp_t;

/* Why a response is not stored (NULL: it may be). On success hdr and
 * parts (all but KEY and BODY, in arena) describe the object. */
const char *pt_cache_storable(const pt_cache_policy_t *pol, const pt_cache_resp_t *in,
                              pt_arena_t *arena, pt_cache_obj_t *hdr,
                              pt_str_t parts[PT_CACHE_NPARTS]);

/* The stored fields blob: per field a pt_cache_field_hdr_t, the name, the
 * value. */
typedef struct {
    uint16_t name_len;
    uint8_t id;                 /* the name's enum pt_http_hdr */
    uint8_t pad;
    uint32_t value_len;
} pt_cache_field_hdr_t;

/* Fields of a blob into fields[] (at most max); how many. */
unsigned pt_cache_fields_unpack(pt_str_t blob, pt_http_field_t *fields, unsigned max);

/* Pack fields (visible ones, except hop-by-hop ones, those a Connection field
 * names, and per-message ones) into
 * arena; PT_STR_NULL when out of memory. *n gets the count. skip: an
 * extra comma-separated list of names to leave out (private="...").
 * forwarding: for passing an answer on rather than storing it (Age and
 * Set-Cookie kept). */
pt_str_t pt_cache_fields_pack(pt_arena_t *arena, const pt_http_field_t *fields, unsigned nf,
                              pt_str_t skip, bool forwarding, unsigned *n);

/* The Vary key of a request for names (lowercase, comma-separated):
 * values joined per name with whitespace normalised; into arena. */
pt_str_t pt_cache_vary_key(pt_arena_t *arena, pt_str_t names, const pt_http_field_t *req,
                           unsigned nreq);

/* The first field of fields named name, or NULL. */
const pt_http_field_t *pt_cache_field(const pt_http_field_t *fields, unsigned n, pt_str_t name);

/* Every Cache-Control line of fields into cc (initialised here). */
void pt_cache_cc_fields(pt_cache_cc_t *cc, const pt_http_field_t *fields, unsigned n);

#endif
