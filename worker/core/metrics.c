/*
 * metrics.c: the metric registry, the zone of per-slot blocks, counting
 * and summing (see metrics.h).
 *
 * An id is the metric's offset in a block, so a count is one add at a
 * constant offset from pt_metrics_slot.
 */
#include "common/pt.h"

#include <unistd.h>

#include "common/hash.h"
#include "common/log.h"
#include "common/shm.h"
#include "worker/core/conf.h"
#include "worker/core/metrics.h"
#include "worker/core/metrics_int.h"
#include "worker/core/module.h"

/* The labeled families (metrics_int.h) follow the same layout: their
 * ids come after the static metrics', their name tables after the blocks. */
static const pt_metric_def_t pt_metrics_core[] = {
    { "portico_requests_total", "requests finished (answered or aborted)",
      PT_METRIC_COUNTER, NULL, 0, NULL, NULL, NULL, 0, 0 },
    { "portico_gateway_errors_total", "error responses portico made itself",
      PT_METRIC_COUNTER, NULL, 0, NULL, NULL, NULL, 0, 0 },
    { "portico_metrics_discarded_total", "counts of metrics that could not be registered",
      PT_METRIC_COUNTER, NULL, 0, NULL, NULL, NULL, 0, 0 },
    PT_METRIC_END
};

static _Atomic uint64_t pt_metrics_own[PT_METRICS_VALUES_MAX];
_Atomic uint64_t *pt_metrics_slot = pt_metrics_own;

bool pt_metrics_live;

const pt_metric_def_t *pt_metrics_defs[PT_METRICS_MAX];
unsigned pt_metrics_ids[PT_METRICS_MAX];
static const pt_metric_def_t *pt_metrics_at[PT_METRICS_VALUES_MAX];     /* by id */
static pt_metric_family_t *pt_metrics_fam_at[PT_METRICS_VALUES_MAX];    /* static families */
size_t pt_metrics_ndefs;
size_t pt_metrics_nvalues;
pt_metric_family_t *pt_metrics_static_families;
static pt_metric_family_t **pt_metrics_static_tail = &pt_metrics_static_families;
size_t pt_metrics_static_tables;
static bool pt_metrics_ready, pt_metrics_closed;
pt_metrics_zone_t *pt_metrics_zone;
const pt_metrics_set_t *pt_metrics_set;

size_t pt_metric_width(const pt_metric_def_t *d)
{
    return d->type == PT_METRIC_HISTOGRAM ? (size_t) d->nbounds + 2 : 1;
}

/* A static def's values: one series, or a run-time family's cap + 1. */
static size_t pt_metrics_width(const pt_metric_def_t *d)
{
    if (d->labels == NULL)
        return pt_metric_width(d);
    pt_metric_family_t *f = pt_metric_family_new(d, NULL);
    size_t n = f ? pt_metric_family_values(f) : 0;
    free(f);
    return n;
}

/* Values per block: the static metrics and set's. */
static size_t pt_metrics_stride(const pt_metrics_set_t *set)
{
    size_t n = set && set->nvalues > pt_metrics_nvalues ? set->nvalues : pt_metrics_nvalues;
    return pt_align(n ? n : 1, PT_METRICS_LINE);
}

int pt_metrics_register(const pt_metric_def_t *defs)
{
    size_t n = 0, values = 0;

    if (pt_metrics_closed)
        return PT_ERROR;
    for (const pt_metric_def_t *d = defs; d->name; d++, n++) {
        if (d->type == PT_METRIC_HISTOGRAM) {
            if (pt_metric_width(d) > PT_METRIC_WIDTH_MAX)
                return PT_ERROR;
            for (unsigned b = 1; b < d->nbounds; b++)
                if (d->bounds[b] <= d->bounds[b - 1])
                    return PT_ERROR;
        } else if (d->type != PT_METRIC_COUNTER && d->type != PT_METRIC_GAUGE) {
            return PT_ERROR;
        }
        if (d->labels && pt_metrics_width(d) == 0)
            return PT_ERROR;        /* bad labels, or labeled without a cap */
        for (size_t i = 0; i < pt_metrics_ndefs; i++)
            if (strcmp(pt_metrics_defs[i]->name, d->name) == 0)
                return PT_ERROR;
        for (const pt_metric_def_t *e = defs; e < d; e++)
            if (strcmp(e->name, d->name) == 0)
                return PT_ERROR;
        values += pt_metrics_width(d);
    }
    if (pt_metrics_ndefs + n > PT_METRICS_MAX
        || pt_metrics_nvalues + values > PT_METRICS_VALUES_MAX)
        return PT_ERROR;
    for (const pt_metric_def_t *d = defs; d->name; d++) {
        unsigned id = (unsigned) pt_metrics_nvalues;
        pt_metrics_defs[pt_metrics_ndefs] = d;
        pt_metrics_ids[pt_metrics_ndefs++] = id;
        pt_metrics_at[id] = d;
        if (d->labels) {
            pt_metric_family_t *f = pt_metric_family_new(d, NULL);
            PT_ASSERT(f);
            f->dyn_id = id;
            f->table_off = pt_metrics_static_tables;
            pt_metrics_static_tables += (size_t) f->cap * sizeof(pt_metric_entry_t);
            *pt_metrics_static_tail = f;
            pt_metrics_static_tail = &f->next;
            pt_metrics_fam_at[id] = f;
        }
        pt_metrics_nvalues += pt_metrics_width(d);
        if (d->id)
            *d->id = id;
    }
    return PT_OK;
}

/* A module's table; one that cannot register counts into the discard
 * counter: its ids must still point at a real value of every block, or it
 * would count into another metric (id 0 is requests). */
static void pt_metrics_register_module(const pt_module_t *m)
{
    if (m->metrics == NULL || pt_metrics_register(m->metrics) == PT_OK)
        return;
    for (const pt_metric_def_t *d = m->metrics; d->name; d++)
        if (d->id)
            *d->id = PT_METRIC_DISCARDED;
    pt_log(PT_LOG_ALERT, "module %s: its metrics cannot be registered (a name taken, bounds "
           "not ascending, or too many): they count into portico_metrics_discarded_total",
           m->name);
}

void pt_metrics_setup(void)
{
    if (pt_metrics_ready)
        return;
    pt_metrics_ready = true;
    /* The core's ids are constants: its table goes first, whole. */
    int rc = pt_metrics_register(pt_metrics_core);
    PT_ASSERT(rc == PT_OK && pt_metrics_nvalues == PT_METRIC_CORE_MAX);
    for (size_t i = 0; pt_modules[i]; i++)
        pt_metrics_register_module(pt_modules[i]);
}

/* What a zone's blocks mean: two sets with the same layout read alike. */
static uint64_t pt_metrics_layout(const pt_metrics_set_t *set)
{
    uint64_t h = pt_hash(NULL, 0, PT_METRICS_MAGIC ^ set->nslots);

    for (size_t i = 0; i < pt_metrics_ndefs; i++) {
        const pt_metric_def_t *d = pt_metrics_defs[i];
        h = pt_hash(d->name, strlen(d->name) + 1, h ^ (uint64_t) d->type);
        if (d->type == PT_METRIC_HISTOGRAM)
            h = pt_hash(d->bounds, d->nbounds * sizeof(*d->bounds), h);
        h ^= pt_metrics_width(d);
    }
    for (const pt_metric_family_t *f = set->families; f; f = f->next)
        h = pt_metric_family_hash(f, h);
    return h;
}

static size_t pt_metrics_tables_at(const pt_metrics_set_t *set)
{
    return PT_METRICS_HDR + set->nslots * pt_metrics_stride(set) * sizeof(uint64_t);
}

static size_t pt_metrics_bytes(const pt_metrics_set_t *set)
{
    return pt_metrics_tables_at(set) + pt_metrics_static_tables + set->table_bytes;
}

static int pt_metrics_zone_init(pt_zone_t *z, pt_zone_t *old, void *data)
{
    bool adopted = old != NULL;     /* adoption keeps the zone in place: old is z */
    const pt_metrics_set_t *set = data;
    pt_metrics_zone_t *mz = *pt_zone_root(z);
    uint64_t layout = set->layout;

    if (adopted && mz && mz->magic == PT_METRICS_MAGIC && mz->layout == layout)
        return PT_OK;
    /* The zone is named after the layout, so only a fresh zone gets here
     * (or a hash collision, which must not misread: start over). */
    if (mz == NULL && (mz = pt_zone_alloc(z, pt_metrics_bytes(set))) == NULL)
        return PT_ERROR;
    memset(mz, 0, pt_metrics_bytes(set));
    mz->nslots = set->nslots;
    mz->layout = layout;
    mz->stride = pt_metrics_stride(set);
    mz->tables = pt_metrics_tables_at(set);
    mz->magic = PT_METRICS_MAGIC;
    *pt_zone_root(z) = mz;
    return PT_OK;
}

/* The labeled part of conf, made with its zone request on first use. */
pt_metrics_set_t *pt_metrics_set_of(pt_conf_ctx_t *cf, pt_conf_t *conf)
{
    for (pt_zone_req_t *z = conf->zones; z; z = z->next)
        if (z->init == pt_metrics_zone_init)
            return z->data;
    pt_metrics_setup();
    pt_metrics_closed = true;
    pt_metrics_set_t *set = pt_arena_calloc(cf->arena, sizeof(*set));
    if (set == NULL)
        return NULL;
    set->tail = &set->families;
    set->nvalues = pt_metrics_nvalues;
    /* Named and sized for real by pt_metrics_conf, once the set is whole. */
    if (pt_conf_zone_add(cf, conf, "portico.metrics", 0, "metrics", PT_METRICS_MAGIC,
                         pt_metrics_zone_init, set) == NULL)
        return NULL;
    return set;
}

void pt_metrics_disable(pt_conf_ctx_t *cf, pt_conf_t *conf)
{
    pt_metrics_set_t *set = pt_metrics_set_of(cf, conf);

    if (set)
        set->disabled = true;
}

int pt_metrics_conf(pt_conf_ctx_t *cf, pt_conf_t *conf)
{
    char name[PT_ZONE_NAME_MAX + 1];
    pt_metrics_set_t *set = pt_metrics_set_of(cf, conf);
    pt_zone_req_t *z = conf->zones;

    if (set == NULL)
        return PT_ERROR;
    while (z->data != set)
        z = z->next;
    /* One block per worker slot; a slot past them (a -w larger than the
     * config's workers) shares one: the adds are atomic. */
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    set->nslots = conf->main.workers > 0 ? (unsigned) conf->main.workers
                  : cpus > 0 ? (unsigned) cpus : 1;
    set->nslots = pt_min(set->nslots, PT_METRICS_SLOTS);
    if (pt_metric_families_check(cf, set) != PT_OK)
        return PT_ERROR;
    /* Every worker has a block of every series: say so rather than fail
     * later for want of shared memory. */
    if (conf->main.shm_size > 0 && pt_metrics_bytes(set) > (size_t) conf->main.shm_size / 2) {
        pt_conf_error(cf, NULL, "the metrics of %zu values for %u workers need %zu MiB of "
                      "shared memory, more than half of shm_size: raise shm_size or set "
                      "metrics = false", set->nvalues, set->nslots,
                      pt_metrics_bytes(set) >> 20);
        return PT_ERROR;
    }
    set->layout = pt_metrics_layout(set);
    snprintf(name, sizeof(name), "portico.metrics.%016" PRIx64, set->layout);
    z->name = pt_arena_strndup(cf->arena, name, strlen(name));
    /* The slab keeps page descriptors in the zone too: room for them. */
    z->size = pt_metrics_bytes(set) + pt_metrics_bytes(set) / 8 + 4 * PT_SLAB_PAGE;
    if (z->name == NULL)
        return PT_ERROR;
    return PT_OK;
}

int pt_metrics_attach(pt_zone_t *zone, unsigned slot)
{
    pt_metrics_zone_t *mz = *pt_zone_root(zone);

    if (mz == NULL || mz->magic != PT_METRICS_MAGIC || slot >= PT_METRICS_SLOTS
        || mz->stride < pt_metrics_nvalues)
        return PT_ERROR;
    pt_metrics_zone = mz;
    pt_metrics_slot = (_Atomic uint64_t *) ((char *) mz + PT_METRICS_HDR)
                      + (slot % mz->nslots) * mz->stride;
    return PT_OK;
}

int pt_metrics_worker_init(const pt_conf_t *conf, unsigned slot)
{
    for (const pt_zone_req_t *z = conf->zones; z; z = z->next) {
        const pt_metrics_set_t *set = z->data;
        if (z->init != pt_metrics_zone_init || z->zone == NULL)
            continue;
        pt_metrics_zone_t *mz = *pt_zone_root(z->zone);
        if (mz == NULL || mz->layout != set->layout || pt_metrics_attach(z->zone, slot) != PT_OK)
            return PT_ERROR;
        pt_metrics_set = set;
        pt_metrics_live = !set->disabled;
        return PT_OK;
    }
    return PT_ERROR;
}

void pt_metric_observe(unsigned id, uint64_t value)
{
    const pt_metric_def_t *d = pt_metrics_at[id];

    PT_ASSERT(d);
    if (d->type != PT_METRIC_HISTOGRAM) {
        atomic_fetch_add_explicit(&pt_metrics_slot[id], 1, memory_order_relaxed);
        return;                     /* a discarded histogram */
    }
    pt_metric_observe_def(d, id, value);
}

void pt_metric_observe_def(const pt_metric_def_t *d, unsigned id, uint64_t value)
{
    unsigned lo = 0;

    /* The first bound >= value; nbounds is the +Inf bucket. From the
     * bottom: most latencies fall in the first buckets, and there are
     * at most 62 of them. */
    while (lo < d->nbounds && d->bounds[lo] < value)
        lo++;
    atomic_fetch_add_explicit(&pt_metrics_slot[id + lo], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&pt_metrics_slot[id + d->nbounds + 1], value,
                              memory_order_relaxed);
}

void pt_metrics_sum(unsigned id, size_t width, uint64_t *out)
{
    const pt_metrics_zone_t *mz = pt_metrics_zone;

    for (size_t k = 0; k < width; k++) {
        uint64_t sum = 0;
        if (mz == NULL) {
            sum = id + k < PT_METRICS_VALUES_MAX
                  ? atomic_load_explicit(&pt_metrics_own[id + k], memory_order_relaxed) : 0;
        } else if (id + k < mz->stride) {
            _Atomic uint64_t *v = (_Atomic uint64_t *) ((char *) mz + PT_METRICS_HDR);
            for (size_t s = 0; s < mz->nslots; s++)
                sum += atomic_load_explicit(&v[s * mz->stride + id + k], memory_order_relaxed);
        }
        out[k] = sum;
    }
}

size_t pt_metrics_read(unsigned id, uint64_t *out, size_t n)
{
    const pt_metric_def_t *d = id < PT_METRICS_VALUES_MAX ? pt_metrics_at[id] : NULL;

    if (d == NULL)
        return 0;
    size_t width = pt_metrics_width(d);
    for (size_t k = 0; k < width && k < n; k++)
        pt_metrics_sum(id + (unsigned) k, 1, &out[k]);
    return width;
}

pt_metric_family_t *pt_metric_static_family(unsigned id)
{
    return id < PT_METRICS_VALUES_MAX ? pt_metrics_fam_at[id] : NULL;
}

size_t pt_metrics_count(void)
{
    return pt_metrics_ndefs;
}

const pt_metric_def_t *pt_metrics_get(size_t i, unsigned *id)
{
    if (i >= pt_metrics_ndefs)
        return NULL;
    if (id)
        *id = pt_metrics_ids[i];
    return pt_metrics_defs[i];
}
