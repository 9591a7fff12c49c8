/*
 * limit_conf.h: the compiled form of a route's limits (the `limits` list
 * of groups, each a rate limit, a concurrency limit or a quota) and the
 * zones they live in.
 */
#ifndef PT_LIMIT_CONF_H
#define PT_LIMIT_CONF_H

#include "common/pt.h"
#include "common/conf.h"
#include "worker/core/core.h"
#include "worker/mod/limit/ratelimit/limit_gcra.h"
#include "worker/mod/limit/ratelimit/limit_table.h"

/* Where a limit entry's rows may appear (documented under a heading that
 * names "limit"). */
#define PT_SCOPE_LIMIT          0x40

#define PT_LIMIT_PER_ROUTE_MAX  8
#define PT_LIMIT_NAME_MAX       48
#define PT_LIMIT_PLANS_MAX      32

enum pt_limit_kind { PT_LIMIT_RATE = 1, PT_LIMIT_CONCURRENCY, PT_LIMIT_QUOTA };

/* A zone as the module sees it: one per name, shared by every limit that
 * names it; table is set in the master (init_zone) before the fork. */
typedef struct pt_limit_zone_s {
    const char *name;
    size_t size;
    pt_limit_table_t *table;
    int cell;                   /* this worker's concurrency record; -1: none */
    const char *state_file;     /* quotas across a restart (NULL: none) */
    struct pt_limit_zone_s *next;
} pt_limit_zone_t;

/* A rate of its own for consumers of one plan. */
typedef struct {
    pt_str_t plan;
    const char *text;
    pt_gcra_t gcra;
    uint64_t count, window;     /* for RateLimit-Policy: q and w */
} pt_limit_plan_t;

typedef struct {
    pt_limit_plan_t *v;
    size_t n;
} pt_limit_plans_t;

typedef struct {
    /* rows (PT_SCOPE_LIMIT) */
    const char *name;
    pt_conf_zone_t *zone_conf;
    pt_conf_compiled_t key;
    const char *rate;
    int64_t burst;
    int64_t delay;
    const pt_limit_plans_t *plans;
    int64_t concurrency;
    int64_t quota;
    int period;
    int64_t status;
    int dry_run;
    /* compiled */
    int kind;
    pt_str_t name_str;
    uint64_t name_hash;         /* the first 8 bytes of every stored key */
    pt_limit_zone_t *zone;
    pt_gcra_t gcra;
    uint64_t count, window;     /* a rate: q and w of RateLimit-Policy */
    const char *file;
    unsigned line;
} pt_limit_t;

typedef struct {
    pt_limit_t *v;
    size_t n;
} pt_limit_list_t;

/* The module's settings: per route (and defaults { }) and process-wide. */
typedef struct {
    const pt_limit_list_t *limits;      /* CUSTOM: UNSET NULL */
    int headers;                        /* BOOL */
} pt_limit_route_t;

typedef struct {
    const char *state_file;             /* STRING: UNSET NULL */
    pt_limit_zone_t *zones;             /* every zone a limit named (no row) */
} pt_limit_main_t;

extern const pt_directive_t pt_limit_entry_directives[];

/* The PT_CONF_CUSTOM setter and dumper of `limits`. */
int pt_limit_conf_set(pt_conf_ctx_t *cf, const config_setting_t *s, void *field,
                      const pt_directive_t *d);
void pt_limit_conf_dump(FILE *out, const void *field, const pt_directive_t *d, int indent);

/* The zone named by l in mc's list, created at first use; NULL with an
 * error in cf when the name was given another size. */
pt_limit_zone_t *pt_limit_conf_zone(pt_conf_ctx_t *cf, pt_limit_main_t *mc, const pt_limit_t *l);

#endif
