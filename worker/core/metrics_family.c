/*
 * metrics_family.c: labeled families (metrics.h, "metrics-labels"): their
 * series declared at load time, the run-time name tables in the zone, and
 * the walk that readers use.
 */
#include "common/pt.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <unistd.h>

#include "common/hash.h"
#include "common/log.h"
#include "common/shm.h"
#include "worker/core/metrics.h"
#include "worker/core/metrics_int.h"

/* How long a claim being written by another worker is waited for (it is a
 * copy of at most PT_METRIC_VALUE_MAX bytes) before its writer is checked
 * for life; while it lives, the request counts as "other". */
#define PT_METRIC_CLAIM_SPINS   2000

static bool pt_metric_name_ok(const char *s, bool label)
{
    if (s == NULL || !(isalpha((unsigned char) s[0]) || s[0] == '_' || (!label && s[0] == ':')))
        return false;
    for (const char *p = s; *p; p++)
        if (!(isalnum((unsigned char) *p) || *p == '_' || (!label && *p == ':')))
            return false;
    return !(label && s[0] == '_' && s[1] == '_');
}

pt_metric_family_t *pt_metric_family_new(const pt_metric_def_t *def, pt_arena_t *a)
{
    pt_metric_family_t *f = a ? pt_arena_calloc(a, sizeof(*f)) : calloc(1, sizeof(*f));

    if (f == NULL || !pt_metric_name_ok(def->name, false))
        goto bad;
    if (pt_metric_width(def) > PT_METRIC_WIDTH_MAX)
        goto bad;
    f->def = def;
    f->ncombo = 1;
    f->width = (unsigned) pt_metric_width(def);
    f->cap = def->cap;
    f->tail = &f->series;
    for (const char *const *l = def->labels; l && *l; l++) {
        if (f->nlabels == PT_METRIC_LABELS_MAX || !pt_metric_name_ok(*l, true)
            || strcmp(*l, "le") == 0)
            goto bad;
        const char *const *e = def->enums ? def->enums[f->nlabels] : NULL;
        if (e == NULL) {
            if (f->nlabels != f->nfree)
                goto bad;           /* free labels come first */
            f->nfree++;
        } else {
            unsigned n = 0;
            while (e[n])
                n++;
            if (n == 0)
                goto bad;
            f->nenum[f->nlabels] = n;
            f->ncombo *= n;
        }
        f->nlabels++;
    }
    /* A static family is named at run time: it needs a free label and a cap. */
    if (a == NULL && (f->nfree == 0 || f->cap == 0))
        goto bad;
    return f;
bad:
    if (a == NULL)
        free(f);
    return NULL;
}

size_t pt_metric_family_values(const pt_metric_family_t *f)
{
    return (size_t) (f->cap + 1) * f->ncombo * f->width;
}

uint64_t pt_metric_family_hash(const pt_metric_family_t *f, uint64_t h)
{
    const pt_metric_def_t *d = f->def;

    h = pt_hash(d->name, strlen(d->name) + 1, h ^ (uint64_t) d->type);
    if (d->type == PT_METRIC_HISTOGRAM)
        h = pt_hash(d->bounds, d->nbounds * sizeof(*d->bounds), h);
    h = pt_hash(&f->ncombo, sizeof(f->ncombo), h ^ f->cap ^ ((uint64_t) f->nlabels << 32));
    for (const pt_metric_series_t *s = f->series; s; s = s->next) {
        for (unsigned i = 0; i < f->nfree; i++)
            h = pt_hash(s->values[i], strlen(s->values[i]) + 1, h);
        h ^= s->id;
    }
    return h;
}

static pt_metric_family_t *pt_metric_family_make(pt_conf_ctx_t *cf, pt_conf_t *conf,
                                                 const pt_metric_def_t *def, unsigned cap)
{
    pt_metrics_set_t *set = pt_metrics_set_of(cf, conf);

    if (set == NULL)
        return NULL;
    for (pt_metric_family_t *f = set->families; f; f = f->next)
        if (f->def == def)
            return f;
    for (pt_metric_family_t *f = set->families; f; f = f->next)
        if (strcmp(f->def->name, def->name) == 0)
            goto taken;
    for (size_t i = 0; i < pt_metrics_ndefs; i++)
        if (strcmp(pt_metrics_defs[i]->name, def->name) == 0)
            goto taken;
    pt_metric_family_t *f = pt_metric_family_new(def, cf->arena);
    if (f == NULL) {
        pt_conf_error(cf, NULL, "metric %s: bad name or labels (internal)", def->name);
        return NULL;
    }
    if (cap) {
        size_t values = (size_t) (cap + 1) * f->ncombo * f->width;
        if (f->nfree == 0 || set->nvalues + values > UINT32_MAX / 2) {
            pt_conf_error(cf, NULL, "metric %s: too many series", def->name);
            return NULL;
        }
        f->cap = cap;
        f->dyn_id = (unsigned) set->nvalues;
        f->table_off = pt_metrics_static_tables + set->table_bytes;
        set->nvalues += values;
        set->table_bytes += (size_t) cap * sizeof(pt_metric_entry_t);
    } else {
        f->cap = 0;
    }
    *set->tail = f;
    set->tail = &f->next;
    return f;
taken:
    pt_conf_error(cf, NULL, "metric %s is declared twice", def->name);
    return NULL;
}

pt_metric_family_t *pt_metric_family_add(pt_conf_ctx_t *cf, pt_conf_t *conf,
                                         const pt_metric_def_t *def)
{
    return pt_metric_family_make(cf, conf, def, 0);
}

pt_metric_family_t *pt_metric_family_dynamic(pt_conf_ctx_t *cf, pt_conf_t *conf,
                                             const pt_metric_def_t *def, unsigned cap)
{
    return pt_metric_family_make(cf, conf, def, cap ? cap : 1);
}

unsigned pt_metric_series_add(pt_conf_ctx_t *cf, pt_metric_family_t *f,
                              const char *const *values)
{
    pt_metrics_set_t *set = NULL;

    /* The set is the one whose family list holds f: the conf being loaded. */
    for (pt_zone_req_t *z = ((pt_conf_t *) cf->data)->zones; z && set == NULL; z = z->next)
        for (pt_metric_family_t *g = z->data && strncmp(z->owner, "metrics", 8) == 0
                                     ? ((pt_metrics_set_t *) z->data)->families : NULL;
             g; g = g->next)
            if (g == f)
                set = z->data;
    PT_ASSERT(set);
    size_t values_n = (size_t) f->ncombo * f->width;
    pt_metric_series_t *s = pt_arena_calloc(cf->arena, sizeof(*s));
    if (s == NULL || set->nvalues + values_n > UINT32_MAX / 2)
        return 0;
    for (unsigned i = 0; i < f->nfree; i++)
        if ((s->values[i] = pt_arena_strndup(cf->arena, values[i], strlen(values[i]))) == NULL)
            return 0;
    s->id = (unsigned) set->nvalues;
    set->nvalues += values_n;
    *f->tail = s;
    f->tail = &s->next;
    f->nseries++;
    return s->id;
}

static uint64_t pt_metric_series_hash(const pt_metric_family_t *f, const pt_metric_series_t *s)
{
    uint64_t h = 0x5e51e5;

    for (unsigned i = 0; i < f->nfree; i++)
        h = pt_hash(s->values[i], strlen(s->values[i]) + 1, h);
    return h;
}

static bool pt_metric_series_same(const pt_metric_family_t *f, const pt_metric_series_t *a,
                                  const pt_metric_series_t *b)
{
    for (unsigned i = 0; i < f->nfree; i++)
        if (strcmp(a->values[i], b->values[i]) != 0)
            return false;
    return true;
}

int pt_metric_families_check(pt_conf_ctx_t *cf, const pt_metrics_set_t *set)
{
    for (const pt_metric_family_t *f = set->families; f; f = f->next) {
        if (f->nseries < 2)
            continue;
        /* Two series of the same labels would be one line twice: a hash
         * set, so that 10,000 routes cost no quadratic scan. */
        size_t cap = 16;
        while (cap < 2 * f->nseries)
            cap *= 2;
        const pt_metric_series_t **t = pt_arena_calloc(cf->arena, cap * sizeof(*t));
        if (t == NULL)
            return PT_ERROR;
        for (const pt_metric_series_t *s = f->series; s; s = s->next) {
            size_t i = (size_t) pt_metric_series_hash(f, s) & (cap - 1);
            for (; t[i]; i = (i + 1) & (cap - 1)) {
                if (pt_metric_series_same(f, t[i], s)) {
                    pt_conf_error(cf, NULL, "metric %s: two series with the same labels "
                                  "(\"%s\")", f->def->name, f->nfree ? s->values[0] : "");
                    return PT_ERROR;
                }
            }
            t[i] = s;
        }
    }
    return PT_OK;
}

/* ---- run time: the name tables ----------------------------------------- */

static pt_metric_entry_t *pt_metric_table(const pt_metric_family_t *f)
{
    return (pt_metric_entry_t *) (void *) ((char *) pt_metrics_zone + pt_metrics_zone->tables
                                           + f->table_off);
}

unsigned pt_metric_find(const pt_metric_family_t *f, const pt_str_t *values)
{
    char key[PT_METRIC_VALUE_MAX];
    size_t len = 0;

    if (f == NULL || f->cap == 0 || pt_metrics_zone == NULL)
        return 0;
    unsigned per = f->ncombo * f->width;
    unsigned other = f->dyn_id + f->cap * per;
    for (unsigned i = 0; i < f->nfree; i++) {
        if (len + values[i].len + 1 > sizeof(key) || memchr(values[i].p, 0, values[i].len))
            return other;
        memcpy(key + len, values[i].p, values[i].len);
        len += values[i].len;
        key[len++] = '\0';
    }
    if (f->nfree == 1 && len == sizeof("other") && memcmp(key, "other", len) == 0)
        return other;
    pt_metric_entry_t *t = pt_metric_table(f);
    uint64_t h = pt_hash(key, len, 0x6d6574726963ULL);
    for (unsigned k = 0; k < f->cap; k++) {
        unsigned i = (unsigned) ((h + k) % f->cap);
        uint32_t st = atomic_load_explicit(&t[i].state, memory_order_acquire);
        if (st == PT_METRIC_ENTRY_FREE) {
            uint32_t free_st = PT_METRIC_ENTRY_FREE;
            if (atomic_compare_exchange_strong(&t[i].state, &free_st,
                                               PT_METRIC_ENTRY_BUSY + (uint32_t) getpid())) {
                memcpy(t[i].value, key, len);
                t[i].len = (uint32_t) len;
                atomic_store_explicit(&t[i].state, PT_METRIC_ENTRY_READY, memory_order_release);
                return f->dyn_id + i * per;
            }
            st = free_st;
        }
        /* Another worker is naming it: wait for the name (it may be ours). */
        for (unsigned spin = 0; st >= PT_METRIC_ENTRY_BUSY && spin < PT_METRIC_CLAIM_SPINS;
             spin++)
            st = atomic_load_explicit(&t[i].state, memory_order_acquire);
        if (st >= PT_METRIC_ENTRY_BUSY) {
            /* A writer that died mid-claim would hold the slot for good:
             * free it, and the next lookup claims it again. */
            pid_t writer = (pid_t) (st - PT_METRIC_ENTRY_BUSY);
            if (kill(writer, 0) == -1 && errno == ESRCH)
                atomic_compare_exchange_strong(&t[i].state, &st, PT_METRIC_ENTRY_FREE);
            return other;
        }
        if (st != PT_METRIC_ENTRY_READY)
            return other;
        if (t[i].len == len && memcmp(t[i].value, key, len) == 0)
            return f->dyn_id + i * per;
    }
    return other;
}

unsigned pt_metric_find_id(unsigned id, const pt_str_t *values)
{
    const pt_metric_family_t *f = pt_metric_static_family(id);

    return f ? pt_metric_find(f, values) : 0;
}

/* ---- the walk ----------------------------------------------------------- */

typedef struct {
    pt_metrics_each_pt cb;
    void *arg;
    uint64_t *v;
} pt_metrics_walk_t;

static bool pt_metric_zero(const uint64_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (v[i])
            return false;
    return true;
}

/* Every enumerated combination of the series at id with free values s. */
static bool pt_metric_emit(pt_metrics_walk_t *w, const pt_metric_family_t *f,
                           pt_metric_sample_t *s, unsigned id)
{
    for (unsigned k = 0; k < f->ncombo; k++) {
        unsigned rest = k;
        for (unsigned l = f->nlabels; l-- > f->nfree;) {
            const char *e = f->def->enums[l][rest % f->nenum[l]];
            rest /= f->nenum[l];
            s->values[l] = e;
            s->value_len[l] = strlen(e);
        }
        pt_metrics_sum(id + k * f->width, f->width, w->v);
        if (f->def->type != PT_METRIC_GAUGE && pt_metric_zero(w->v, f->width))
            continue;
        s->v = w->v;
        s->nv = f->width;
        if (!w->cb(w->arg, s, false))
            return false;
    }
    return true;
}

static bool pt_metric_walk_family(pt_metrics_walk_t *w, const pt_metric_family_t *f)
{
    pt_metric_sample_t s = { .def = f->def, .nlabels = f->nlabels, .names = f->def->labels };

    if (!w->cb(w->arg, &s, true))
        return false;
    for (const pt_metric_series_t *se = f->series; se; se = se->next) {
        for (unsigned i = 0; i < f->nfree; i++) {
            s.values[i] = se->values[i];
            s.value_len[i] = strlen(se->values[i]);
        }
        if (!pt_metric_emit(w, f, &s, se->id))
            return false;
    }
    if (f->cap == 0 || pt_metrics_zone == NULL)
        return true;
    const pt_metric_entry_t *t = pt_metric_table(f);
    unsigned per = f->ncombo * f->width;
    for (unsigned i = 0; i < f->cap; i++) {
        if (atomic_load_explicit(&t[i].state, memory_order_acquire) != PT_METRIC_ENTRY_READY)
            continue;
        const char *p = t[i].value;
        for (unsigned l = 0; l < f->nfree; l++) {
            s.values[l] = p;
            s.value_len[l] = strlen(p);
            p += s.value_len[l] + 1;
        }
        if (!pt_metric_emit(w, f, &s, f->dyn_id + i * per))
            return false;
    }
    for (unsigned l = 0; l < f->nfree; l++) {
        s.values[l] = "other";
        s.value_len[l] = 5;
    }
    return pt_metric_emit(w, f, &s, f->dyn_id + f->cap * per);
}

void pt_metrics_each(pt_metrics_each_pt cb, void *arg)
{
    uint64_t v[PT_METRIC_WIDTH_MAX];
    pt_metrics_walk_t w = { cb, arg, v };

    for (size_t i = 0; i < pt_metrics_ndefs; i++) {
        const pt_metric_def_t *d = pt_metrics_defs[i];
        if (d->labels) {
            const pt_metric_family_t *f = pt_metric_static_family(pt_metrics_ids[i]);
            if (f && !pt_metric_walk_family(&w, f))
                return;
            continue;
        }
        pt_metric_sample_t s = { .def = d, .names = NULL };
        if (!cb(arg, &s, true))
            return;
        pt_metrics_sum(pt_metrics_ids[i], pt_metric_width(d), v);
        s.v = v;
        s.nv = pt_metric_width(d);
        if (!cb(arg, &s, false))
            return;
    }
    for (const pt_metric_family_t *f = pt_metrics_set ? pt_metrics_set->families : NULL; f;
         f = f->next)
        if (!pt_metric_walk_family(&w, f))
            return;
}
