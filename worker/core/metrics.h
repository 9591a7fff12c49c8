/*
 * metrics.h: counters and histograms, counted per worker in shared memory.
 *
 * A module lists its metrics in pt_module_t.metrics (a PT_METRIC_END
 * terminated table); the core's own come first (PT_METRIC_REQUESTS, ...).
 * Each gets an id once, at the first conf load in the master, so ids are
 * the same in every generation and every worker. A counter takes one
 * 64-bit value, a histogram one per bucket (its bounds, then +Inf) and
 * one for the sum of what it observed.
 *
 * Memory: each conf asks for one zone holding PT_METRICS_SLOTS blocks, one
 * per worker slot, each a cache-line multiple so slots never share a line.
 * A worker counts into its slot's block with relaxed atomic adds: no lock,
 * and no lost update while a retiring worker of the previous generation
 * still counts into the same slot. A reader sums a metric across slots.
 * Before a worker adopts its slot (the master, -t, unit tests) counts go
 * to a block private to the process, so counting needs no test.
 *
 * Lifetime: the zone is named after the metric set (names, types,
 * bounds). A reload or a worker respawn with the same set adopts the zone
 * and every slot keeps its values. A binary with another set makes a new
 * zone: the new generation's values start at zero, while the old
 * generation keeps counting into the old zone until it exits and the
 * zone is collected.
 */
#ifndef PT_METRICS_H
#define PT_METRICS_H

#include "common/pt.h"
#include "common/conf.h"
#include "worker/core/core.h"

#include <stdatomic.h>

/* Blocks in a zone: the most workers a generation can have. */
#define PT_METRICS_SLOTS        512
/* Values all metrics together may take in a block. */
#define PT_METRICS_VALUES_MAX   1024

enum pt_metric_type { PT_METRIC_COUNTER = 0, PT_METRIC_HISTOGRAM };

/* The core's metrics, with fixed ids. */
enum {
    PT_METRIC_REQUESTS = 0,         /* requests finished (logged), aborted ones too */
    PT_METRIC_GATEWAY_ERRORS,       /* error responses portico made (pt_http_error) */
    PT_METRIC_DISCARDED,            /* what modules whose metrics could not register counted */
    PT_METRIC_CORE_MAX
};

typedef struct {
    const char *name;               /* "portico_requests_total" */
    const char *help;               /* one line */
    int type;                       /* PT_METRIC_COUNTER or PT_METRIC_HISTOGRAM */
    const uint64_t *bounds;         /* histogram: ascending bucket upper bounds */
    unsigned nbounds;
    unsigned *id;                   /* set at registration; NULL: not wanted */
} pt_metric_def_t;

#define PT_METRIC_END   { NULL, NULL, 0, NULL, 0, NULL }

/* The block this process counts into: its worker slot's, or its own. */
extern _Atomic uint64_t *pt_metrics_slot;

/* Add n to counter id. Safe from any process; costs one atomic add. */
static inline void pt_metric_inc(unsigned id, uint64_t n)
{
    atomic_fetch_add_explicit(&pt_metrics_slot[id], n, memory_order_relaxed);
}

/* Count value in histogram id: the first bucket whose bound is >= value
 * (else +Inf), and add it to the sum. */
void pt_metric_observe(unsigned id, uint64_t value);

/* Register the core's table and every module's (first call only). */
void pt_metrics_setup(void);

/* Register one more table (startup, after pt_metrics_setup and before
 * the first pt_metrics_conf; a unit test's own metrics). Sets each
 * def->id. PT_ERROR if the set is closed, a name is taken, bounds are not
 * ascending, or PT_METRICS_VALUES_MAX would be passed; then nothing of
 * defs is registered. */
int pt_metrics_register(const pt_metric_def_t *defs);

/* Load time, once per conf (master/conf_load.c): runs pt_metrics_setup,
 * closes the set, and asks for the conf's metrics zone. PT_ERROR with an
 * error in cf. */
int pt_metrics_conf(pt_conf_ctx_t *cf, pt_conf_t *conf);

/* In a worker, after fork: count into slot's block of conf's zone.
 * PT_ERROR (counts then stay private) if conf has no usable zone or slot
 * is out of range. */
int pt_metrics_worker_init(const pt_conf_t *conf, unsigned slot);

/* Count into slot's block of zone, a metrics zone the master attached and
 * initialised. PT_ERROR if it is not one or slot is out of range. */
int pt_metrics_attach(struct pt_zone_s *zone, unsigned slot);

/* Metric id summed over every slot of the attached zone (the private
 * block if none): a counter's value in out[0]; a histogram's bucket
 * counts (nbounds + 1, not cumulative, +Inf last) and then its sum.
 * Writes at most n values and returns how many the metric has (0: no such
 * id). */
size_t pt_metrics_read(unsigned id, uint64_t *out, size_t n);

/* The i-th registered metric (i < pt_metrics_count()) and its id, for
 * listing them all. */
size_t pt_metrics_count(void);
const pt_metric_def_t *pt_metrics_get(size_t i, unsigned *id);

#endif
