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
 *
 * Labels (metrics-labels block, below): a labeled family is a set of
 * series, each one tuple of label values with values of its own in every
 * block. Three ways to name the series, all bounded:
 *   - at load time, in the conf (pt_metric_family_add, pt_metric_series_add):
 *     one series per route, per server, per listener; ids per conf;
 *   - enumerated labels (a def's enums): every value of a fixed list, e.g.
 *     code 1xx..5xx, method GET..other; a series holds every combination;
 *   - at run time (a def's cap, or pt_metric_family_dynamic): the first
 *     cap distinct values seen by any worker get a series each, in a table
 *     of the zone claimed by compare-and-swap; the rest count into one
 *     series whose free labels are all "other" (a value "other" counts there
 *     too). Modules declare such a family statically in pt_module_t.metrics
 *     with labels and cap: its id is fixed like an unlabeled metric's.
 * Series declared one after another get consecutive ids, so a caller can
 * keep one base id for several families (an upstream server's).
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
#define PT_METRICS_VALUES_MAX   4096

/* A gauge is a counter that also goes down (pt_metric_dec); every slot
 * holds its own share, the sum is the gauge. */
enum pt_metric_type { PT_METRIC_COUNTER = 0, PT_METRIC_HISTOGRAM, PT_METRIC_GAUGE };

#define PT_METRIC_LABELS_MAX    4       /* labels of a family */
#define PT_METRIC_WIDTH_MAX     64      /* values of one series: a histogram's bounds + 2 */
#define PT_METRIC_VALUE_MAX     128     /* bytes of the run-time values of one series */

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
    /* labels (all optional): names, NULL-terminated; those with an enums
     * entry take that list's values (NULL-terminated) and come after the
     * free ones */
    const char *const *labels;
    const char *const *const *enums;
    unsigned cap;                   /* static family: run-time series (free labels) */
    unsigned scale;                 /* histogram: units of a bound per exposed 1 (1000000 for
                                     * microseconds shown as seconds); 0: 1 */
} pt_metric_def_t;

#define PT_METRIC_END   { NULL, NULL, 0, NULL, 0, NULL, NULL, NULL, 0, 0 }

/* The block this process counts into: its worker slot's, or its own. */
extern _Atomic uint64_t *pt_metrics_slot;

/* Add n to counter id. Safe from any process; costs one atomic add. */
static inline void pt_metric_inc(unsigned id, uint64_t n)
{
    atomic_fetch_add_explicit(&pt_metrics_slot[id], n, memory_order_relaxed);
}

/* Whether this process counts labeled series (metrics = false: not). */
extern bool pt_metrics_live;

/* Take n from gauge id (the slot's share may go below zero: the sum is
 * what counts). */
static inline void pt_metric_dec(unsigned id, uint64_t n)
{
    atomic_fetch_sub_explicit(&pt_metrics_slot[id], n, memory_order_relaxed);
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

/* ---- metrics-labels: labeled families ---------------------------------- */

typedef struct pt_metric_family_s pt_metric_family_t;

/* Load time (init_route, init_main), in conf: the family of def (static
 * memory; def->id is not used). Adding the same def again returns the
 * same family. NULL with an error in cf. */
pt_metric_family_t *pt_metric_family_add(pt_conf_ctx_t *cf, pt_conf_t *conf,
                                         const pt_metric_def_t *def);
/* Load time: the family of def with up to cap series named at run time
 * (pt_metric_find), the rest "other". */
pt_metric_family_t *pt_metric_family_dynamic(pt_conf_ctx_t *cf, pt_conf_t *conf,
                                             const pt_metric_def_t *def, unsigned cap);
/* Load time: a series of f for values (one per free label, copied);
 * returns its first value's id, or 0 with an error in cf (a second series
 * of the same values, too many values). When the family has enumerated
 * labels, combination k (row-major over the enums, last label fastest)
 * is at id + k * width (width: 1, or a histogram's nbounds + 2). */
unsigned pt_metric_series_add(pt_conf_ctx_t *cf, pt_metric_family_t *f,
                              const char *const *values);
/* Load time: metrics = false for conf: pt_metric_live() says no in its
 * workers (labeled counting stops; the zone stays, reading works). */
void pt_metrics_disable(pt_conf_ctx_t *cf, pt_conf_t *conf);

/* Run time: the series of f (or of static family id, pt_metric_find_id)
 * for values (one per free label), claiming one in the zone's table if
 * needed: its first value's id; "other"'s when the table is full or a
 * value does not fit; 0 when this process has no zone (do not count). */
unsigned pt_metric_find(const pt_metric_family_t *f, const pt_str_t *values);
unsigned pt_metric_find_id(unsigned id, const pt_str_t *values);

/* Counting into a labeled series: nothing when metrics are off or id is 0. */
static inline void pt_metric_add(unsigned id, uint64_t n)
{
    if (pt_metrics_live && id)
        atomic_fetch_add_explicit(&pt_metrics_slot[id], n, memory_order_relaxed);
}
static inline void pt_metric_sub(unsigned id, uint64_t n)
{
    if (pt_metrics_live && id)
        atomic_fetch_sub_explicit(&pt_metrics_slot[id], n, memory_order_relaxed);
}
/* Observe value in the histogram series id of family def. */
void pt_metric_observe_def(const pt_metric_def_t *def, unsigned id, uint64_t value);
static inline void pt_metric_observe_in(const pt_metric_def_t *def, unsigned id,
                                        uint64_t value)
{
    if (pt_metrics_live && id)
        pt_metric_observe_def(def, id, value);
}

/* ---- metrics-read: what a reader (/metrics, the admin API) walks ------- */

/* One series as the walk gives it: the family's def, its label names and
 * values (nlabels of each, enumerated ones included), and its values
 * summed over every slot: a counter's or gauge's in v[0]; a histogram's
 * bucket counts (not cumulative, +Inf last: nbounds + 1) then its sum. */
typedef struct {
    const pt_metric_def_t *def;
    unsigned nlabels;
    const char *const *names;
    const char *values[PT_METRIC_LABELS_MAX];
    size_t value_len[PT_METRIC_LABELS_MAX];
    const uint64_t *v;
    size_t nv;
} pt_metric_sample_t;

/* Called once per family before its samples (first == true, s->v NULL)
 * and once per series; return false to stop the walk. */
typedef bool (*pt_metrics_each_pt)(void *arg, const pt_metric_sample_t *s, bool first);

/* Walk every metric of this process's conf: the unlabeled ones, static
 * families, then conf's families, in declaration order. Series of a
 * counter or histogram that never counted are left out (a gauge's are
 * not). Bounded work: no lock, one pass over the zone. */
void pt_metrics_each(pt_metrics_each_pt cb, void *arg);

/* A series' values summed (as pt_metric_sample_t.v) by its id and its
 * family's width; into out[0..n). */
void pt_metrics_sum(unsigned id, size_t width, uint64_t *out);

/* The number of values a histogram or counter def takes. */
size_t pt_metric_width(const pt_metric_def_t *def);

#endif
