/*
 * metrics.c: the metric registry, the zone of per-slot blocks, counting
 * and summing (see metrics.h).
 *
 * An id is the metric's offset in a block, so a count is one add at a
 * constant offset from pt_metrics_slot.
 */
#include "common/pt.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/shm.h"
#include "worker/core/conf.h"
#include "worker/core/metrics.h"
#include "worker/core/module.h"

#define PT_METRICS_MAGIC    0x50544d45u     /* "PTME" */
#define PT_METRICS_LINE     8               /* values per cache line */
#define PT_METRICS_HDR      64              /* the block header, one line */
#define PT_METRICS_MAX      256             /* metrics registered */

/* At the root of a metrics zone; the blocks follow, one line in. */
typedef struct {
    uint32_t magic;
    uint32_t nslots;
    uint64_t layout;                        /* pt_metrics_layout() of the set */
    size_t stride;                          /* values per block */
} pt_metrics_zone_t;

static const pt_metric_def_t pt_metrics_core[] = {
    { "portico_requests_total", "requests finished (answered or aborted)",
      PT_METRIC_COUNTER, NULL, 0, NULL },
    { "portico_gateway_errors_total", "error responses portico made itself",
      PT_METRIC_COUNTER, NULL, 0, NULL },
    { "portico_metrics_discarded_total", "counts of metrics that could not be registered",
      PT_METRIC_COUNTER, NULL, 0, NULL },
    PT_METRIC_END
};

static _Atomic uint64_t pt_metrics_own[PT_METRICS_VALUES_MAX];
_Atomic uint64_t *pt_metrics_slot = pt_metrics_own;

static const pt_metric_def_t *pt_metrics_defs[PT_METRICS_MAX];
static unsigned pt_metrics_ids[PT_METRICS_MAX];
static const pt_metric_def_t *pt_metrics_at[PT_METRICS_VALUES_MAX];     /* by id */
static size_t pt_metrics_ndefs;
static size_t pt_metrics_nvalues;
static bool pt_metrics_ready, pt_metrics_closed;
static pt_metrics_zone_t *pt_metrics_zone;  /* the attached zone's root, or NULL */

static size_t pt_metrics_width(const pt_metric_def_t *d)
{
    return d->type == PT_METRIC_HISTOGRAM ? (size_t) d->nbounds + 2 : 1;
}

static size_t pt_metrics_stride(void)
{
    return pt_align(pt_metrics_nvalues ? pt_metrics_nvalues : 1, PT_METRICS_LINE);
}

int pt_metrics_register(const pt_metric_def_t *defs)
{
    size_t n = 0, values = 0;

    if (pt_metrics_closed)
        return PT_ERROR;
    for (const pt_metric_def_t *d = defs; d->name; d++, n++) {
        if (d->type == PT_METRIC_HISTOGRAM) {
            for (unsigned b = 1; b < d->nbounds; b++)
                if (d->bounds[b] <= d->bounds[b - 1])
                    return PT_ERROR;
        } else if (d->type != PT_METRIC_COUNTER) {
            return PT_ERROR;
        }
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
static uint64_t pt_metrics_layout(void)
{
    uint64_t h = pt_hash(NULL, 0, PT_METRICS_SLOTS);

    for (size_t i = 0; i < pt_metrics_ndefs; i++) {
        const pt_metric_def_t *d = pt_metrics_defs[i];
        h = pt_hash(d->name, strlen(d->name) + 1, h ^ (uint64_t) d->type);
        if (d->type == PT_METRIC_HISTOGRAM)
            h = pt_hash(d->bounds, d->nbounds * sizeof(*d->bounds), h);
    }
    return h;
}

static size_t pt_metrics_bytes(void)
{
    return PT_METRICS_HDR + PT_METRICS_SLOTS * pt_metrics_stride() * sizeof(uint64_t);
}

static int pt_metrics_zone_init(pt_zone_t *z, pt_zone_t *old, void *data)
{
    bool adopted = old != NULL;     /* adoption keeps the zone in place: old is z */
    pt_metrics_zone_t *mz = *pt_zone_root(z);
    uint64_t layout = pt_metrics_layout();

    if (adopted && mz && mz->magic == PT_METRICS_MAGIC && mz->layout == layout)
        return PT_OK;
    /* The zone is named after the layout, so only a fresh zone gets here
     * (or a hash collision, which must not misread: start over). */
    if (mz == NULL && (mz = pt_zone_alloc(z, pt_metrics_bytes())) == NULL)
        return PT_ERROR;
    memset(mz, 0, pt_metrics_bytes());
    mz->nslots = PT_METRICS_SLOTS;
    mz->layout = layout;
    mz->stride = pt_metrics_stride();
    mz->magic = PT_METRICS_MAGIC;
    *pt_zone_root(z) = mz;
    return PT_OK;
}

int pt_metrics_conf(pt_conf_ctx_t *cf, pt_conf_t *conf)
{
    char name[PT_ZONE_NAME_MAX + 1];

    pt_metrics_setup();
    pt_metrics_closed = true;
    snprintf(name, sizeof(name), "portico.metrics.%016" PRIx64, pt_metrics_layout());
    char *kept = pt_arena_strndup(cf->arena, name, strlen(name));
    /* The slab keeps page descriptors in the zone too: room for them. */
    size_t size = pt_metrics_bytes() + pt_metrics_bytes() / 8 + 4 * PT_SLAB_PAGE;
    if (kept == NULL || pt_conf_zone_add(cf, conf, kept, size, "metrics", PT_METRICS_MAGIC,
                                         pt_metrics_zone_init, NULL) == NULL)
        return PT_ERROR;
    return PT_OK;
}

int pt_metrics_attach(pt_zone_t *zone, unsigned slot)
{
    pt_metrics_zone_t *mz = *pt_zone_root(zone);

    if (mz == NULL || mz->magic != PT_METRICS_MAGIC || mz->layout != pt_metrics_layout()
        || slot >= mz->nslots)
        return PT_ERROR;
    pt_metrics_zone = mz;
    pt_metrics_slot = (_Atomic uint64_t *) ((char *) mz + PT_METRICS_HDR) + slot * mz->stride;
    return PT_OK;
}

int pt_metrics_worker_init(const pt_conf_t *conf, unsigned slot)
{
    for (const pt_zone_req_t *z = conf->zones; z; z = z->next)
        if (z->init == pt_metrics_zone_init && z->zone)
            return pt_metrics_attach(z->zone, slot);
    return PT_ERROR;
}

void pt_metric_observe(unsigned id, uint64_t value)
{
    const pt_metric_def_t *d = pt_metrics_at[id];

    PT_ASSERT(d);
    unsigned lo = 0, hi = d->nbounds;
    if (d->type != PT_METRIC_HISTOGRAM) {
        atomic_fetch_add_explicit(&pt_metrics_slot[id], 1, memory_order_relaxed);
        return;                     /* a discarded histogram */
    }
    /* The first bound >= value; nbounds is the +Inf bucket. */
    while (lo < hi) {
        unsigned mid = lo + (hi - lo) / 2;
        if (d->bounds[mid] >= value)
            hi = mid;
        else
            lo = mid + 1;
    }
    atomic_fetch_add_explicit(&pt_metrics_slot[id + lo], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&pt_metrics_slot[id + d->nbounds + 1], value,
                              memory_order_relaxed);
}

size_t pt_metrics_read(unsigned id, uint64_t *out, size_t n)
{
    const pt_metric_def_t *d = id < PT_METRICS_VALUES_MAX ? pt_metrics_at[id] : NULL;
    const pt_metrics_zone_t *mz = pt_metrics_zone;

    if (d == NULL)
        return 0;
    size_t width = pt_metrics_width(d);
    for (size_t k = 0; k < width && k < n; k++) {
        uint64_t sum = 0;
        if (mz == NULL) {
            sum = atomic_load_explicit(&pt_metrics_own[id + k], memory_order_relaxed);
        } else {
            _Atomic uint64_t *v = (_Atomic uint64_t *) ((char *) mz + PT_METRICS_HDR);
            for (size_t s = 0; s < mz->nslots; s++)
                sum += atomic_load_explicit(&v[s * mz->stride + id + k], memory_order_relaxed);
        }
        out[k] = sum;
    }
    return width;
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
