/*
 * consumers.h: the consumers declared in the config, which the API-key
 * and basic-auth mechanisms map credentials to:
 *
 *   portico = { consumers = (
 *       { name = "alice"; groups = [ "staff" ]; plan = "gold";
 *         api_keys = [ "sha256:9f86d0...", ... ]; },
 *       { name = "bob"; } ); };
 *
 * Names are unique. Lookups by name happen at load time only (a
 * mechanism resolves each credential to its consumer then).
 */
#ifndef PT_CONSUMERS_H
#define PT_CONSUMERS_H

#include "common/pt.h"
#include "common/conf.h"
#include "worker/core/consumer.h"
#include "worker/core/core.h"

#define PT_CONSUMERS_MAX        100000
#define PT_CONSUMER_GROUPS_MAX  64

typedef struct {
    pt_consumer_t c;            /* what r->consumer points to */
    const char **api_keys;      /* as written, NULL-terminated; NULL: none */
    const char *file;           /* where it was declared, for warnings */
    unsigned line;
    unsigned *key_lines;        /* the line of each api_keys entry */
} pt_consumer_decl_t;

typedef struct {
    pt_consumer_decl_t *v;
    size_t n;
} pt_consumers_t;

/* conf's declared consumers (never NULL; n may be 0). */
const pt_consumers_t *pt_consumers_of(const pt_conf_t *conf);

/* The declared consumer named name, or NULL. */
const pt_consumer_decl_t *pt_consumers_find(const pt_consumers_t *cs, pt_str_t name);

/* A consumer of the given name in conf's arena: the declared one if any,
 * else a new one with no groups and no plan (a name from a key file or an
 * htpasswd file that the config does not declare). NULL out of memory. */
const pt_consumer_t *pt_consumers_get(pt_conf_ctx_t *cf, const pt_conf_t *conf, pt_str_t name);

#endif
