/*
 * metrics_int.h: what metrics.c (registry, zone) and metrics_family.c
 * (labeled families) share. Not for other files: they use metrics.h.
 */
#ifndef PT_METRICS_INT_H
#define PT_METRICS_INT_H

#include "common/pt.h"
#include "worker/core/core.h"
#include "worker/core/metrics.h"

#define PT_METRICS_MAGIC    0x50544d46u     /* "PTMF": blocks, then the name tables */
#define PT_METRICS_LINE     8               /* values per cache line */
#define PT_METRICS_HDR      64              /* the zone header, one line */
#define PT_METRICS_MAX      256             /* metrics registered */

typedef struct pt_metric_series_s pt_metric_series_t;

struct pt_metric_series_s {
    const char *values[PT_METRIC_LABELS_MAX];   /* the free labels' */
    unsigned id;
    pt_metric_series_t *next;
};

/* A run-time series name in the zone: claimed FREE -> BUSY + pid by CAS,
 * written, published -> READY; never freed (the zone goes with its
 * layout). The claimer's pid lets others free a claim whose writer died. */
typedef struct {
    _Atomic uint32_t state;
    uint32_t len;                           /* free labels' values, '\0' between them */
    char value[PT_METRIC_VALUE_MAX];
} pt_metric_entry_t;

enum { PT_METRIC_ENTRY_FREE = 0, PT_METRIC_ENTRY_READY = 1, PT_METRIC_ENTRY_BUSY = 2 };

struct pt_metric_family_s {
    const pt_metric_def_t *def;
    unsigned nlabels, nfree;
    unsigned nenum[PT_METRIC_LABELS_MAX];   /* enumerated labels' value counts */
    unsigned ncombo;                        /* product of nenum */
    unsigned width;                         /* values of one combination */
    pt_metric_series_t *series, **tail;
    size_t nseries;
    unsigned cap;                           /* run-time series; 0: none */
    unsigned dyn_id;                        /* id of entry 0; entry cap is "other" */
    size_t table_off;                       /* its entries, from the zone's tables */
    pt_metric_family_t *next;
};

/* The labeled part of one conf: the data of its metrics zone request. */
typedef struct {
    pt_metric_family_t *families, **tail;
    size_t nvalues;                         /* the next id */
    size_t table_bytes;                     /* after the static families' tables */
    unsigned nslots;
    bool disabled;
    uint64_t layout;                        /* set by pt_metrics_conf */
} pt_metrics_set_t;

/* At the root of a metrics zone; the blocks follow, one line in, then the
 * name tables. */
typedef struct {
    uint32_t magic;
    uint32_t nslots;
    uint64_t layout;
    size_t stride;                          /* values per block */
    size_t tables;                          /* byte offset of the tables from the root */
} pt_metrics_zone_t;

extern size_t pt_metrics_nvalues;           /* static values registered */
extern pt_metric_family_t *pt_metrics_static_families;
extern size_t pt_metrics_static_tables;     /* bytes of their tables */
extern pt_metrics_zone_t *pt_metrics_zone;  /* attached zone's root, or NULL */
extern const pt_metrics_set_t *pt_metrics_set;  /* the attached conf's, or NULL */
extern const pt_metric_def_t *pt_metrics_defs[PT_METRICS_MAX];
extern unsigned pt_metrics_ids[PT_METRICS_MAX];
extern size_t pt_metrics_ndefs;

/* A family for def (labels and enums checked); calloc'd or in arena a. */
pt_metric_family_t *pt_metric_family_new(const pt_metric_def_t *def, pt_arena_t *a);
uint64_t pt_metric_family_hash(const pt_metric_family_t *f, uint64_t h);
size_t pt_metric_family_values(const pt_metric_family_t *f);    /* a static one's */
pt_metrics_set_t *pt_metrics_set_of(pt_conf_ctx_t *cf, pt_conf_t *conf);
/* Load time: PT_ERROR (in cf) when a family has two series of the same labels. */
int pt_metric_families_check(pt_conf_ctx_t *cf, const pt_metrics_set_t *set);
/* The static family registered at id, or NULL. */
pt_metric_family_t *pt_metric_static_family(unsigned id);

#endif
