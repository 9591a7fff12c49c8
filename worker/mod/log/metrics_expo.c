/*
 * metrics_expo.c: the text exposition of the metrics (metrics_expo.h).
 * Histograms are kept per bucket; the format wants cumulative counts, so
 * they are added up here, and _count is the +Inf bucket by construction.
 */
#include "common/pt.h"
#include "worker/mod/log/metrics_expo.h"

static bool pt_metrics_text_room(pt_metrics_text_t *t, size_t n)
{
    if (t->failed)
        return false;
    if (t->len + n <= t->cap)
        return true;
    size_t cap = t->cap ? t->cap : 16384;
    while (cap < t->len + n)
        cap *= 2;
    char *p = t->len + n <= PT_METRICS_EXPO_MAX ? realloc(t->p, cap) : NULL;
    if (p == NULL) {
        t->failed = true;
        return false;
    }
    t->p = p;
    t->cap = cap;
    return true;
}

static void pt_metrics_put(pt_metrics_text_t *t, const char *s, size_t n)
{
    if (pt_metrics_text_room(t, n)) {
        memcpy(t->p + t->len, s, n);
        t->len += n;
    }
}

#define pt_metrics_puts(t, s)   pt_metrics_put(t, s, strlen(s))

static void pt_metrics_u64(pt_metrics_text_t *t, uint64_t v)
{
    char b[24];
    int n = snprintf(b, sizeof(b), "%" PRIu64, v);
    pt_metrics_put(t, b, (size_t) n);
}

void pt_metrics_expo_scaled(pt_metrics_text_t *t, uint64_t v, unsigned scale)
{
    if (scale <= 1) {
        pt_metrics_u64(t, v);
        return;
    }
    char b[48];
    unsigned digits = 0;
    for (unsigned s = scale; s > 1; s /= 10)
        digits++;
    uint64_t frac = v % scale;
    int n = snprintf(b, sizeof(b), "%" PRIu64, v / scale);
    if (frac) {
        n += snprintf(b + n, sizeof(b) - (size_t) n, ".%0*" PRIu64, (int) digits, frac);
        while (b[n - 1] == '0')
            n--;
    }
    pt_metrics_put(t, b, (size_t) n);
}

void pt_metrics_expo_label(pt_metrics_text_t *t, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\')
            pt_metrics_put(t, "\\\\", 2);
        else if (s[i] == '"')
            pt_metrics_put(t, "\\\"", 2);
        else if (s[i] == '\n')
            pt_metrics_put(t, "\\n", 2);
        else
            pt_metrics_put(t, s + i, 1);
    }
}

void pt_metrics_expo_help(pt_metrics_text_t *t, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            pt_metrics_put(t, "\\\\", 2);
        else if (*s == '\n')
            pt_metrics_put(t, "\\n", 2);
        else
            pt_metrics_put(t, s, 1);
    }
}

/* name + suffix, then the labels and, for a bucket, le. */
static void pt_metrics_series(pt_metrics_text_t *t, const pt_metric_sample_t *s,
                              const char *suffix, const uint64_t *le, bool inf)
{
    pt_metrics_puts(t, s->def->name);
    pt_metrics_puts(t, suffix);
    if (s->nlabels == 0 && le == NULL && !inf)
        return;
    pt_metrics_put(t, "{", 1);
    for (unsigned i = 0; i < s->nlabels; i++) {
        if (i)
            pt_metrics_put(t, ",", 1);
        pt_metrics_puts(t, s->names[i]);
        pt_metrics_put(t, "=\"", 2);
        pt_metrics_expo_label(t, s->values[i], s->value_len[i]);
        pt_metrics_put(t, "\"", 1);
    }
    if (le || inf) {
        pt_metrics_puts(t, s->nlabels ? ",le=\"" : "le=\"");
        if (inf)
            pt_metrics_puts(t, "+Inf");
        else
            pt_metrics_expo_scaled(t, *le, s->def->scale);
        pt_metrics_put(t, "\"", 1);
    }
    pt_metrics_put(t, "}", 1);
}

bool pt_metrics_expo_sample(void *arg, const pt_metric_sample_t *s, bool first)
{
    pt_metrics_text_t *t = arg;
    const pt_metric_def_t *d = s->def;

    if (first) {
        pt_metrics_puts(t, "# HELP ");
        pt_metrics_puts(t, d->name);
        pt_metrics_put(t, " ", 1);
        pt_metrics_expo_help(t, d->help ? d->help : "");
        pt_metrics_puts(t, "\n# TYPE ");
        pt_metrics_puts(t, d->name);
        pt_metrics_puts(t, d->type == PT_METRIC_HISTOGRAM ? " histogram\n"
                           : d->type == PT_METRIC_GAUGE ? " gauge\n" : " counter\n");
        return !t->failed;
    }
    if (d->type != PT_METRIC_HISTOGRAM) {
        pt_metrics_series(t, s, "", NULL, false);
        pt_metrics_put(t, " ", 1);
        if (d->type == PT_METRIC_GAUGE && (int64_t) s->v[0] < 0) {
            pt_metrics_put(t, "-", 1);      /* a gauge's transient dip below zero */
            pt_metrics_u64(t, (uint64_t) -(int64_t) s->v[0]);
        } else {
            pt_metrics_u64(t, s->v[0]);
        }
        pt_metrics_put(t, "\n", 1);
        return !t->failed;
    }
    uint64_t cum = 0;
    for (unsigned b = 0; b <= d->nbounds; b++) {
        cum += s->v[b];
        pt_metrics_series(t, s, "_bucket", b < d->nbounds ? &d->bounds[b] : NULL,
                          b == d->nbounds);
        pt_metrics_put(t, " ", 1);
        pt_metrics_u64(t, cum);
        pt_metrics_put(t, "\n", 1);
    }
    pt_metrics_series(t, s, "_sum", NULL, false);
    pt_metrics_put(t, " ", 1);
    pt_metrics_expo_scaled(t, s->v[d->nbounds + 1], d->scale);
    pt_metrics_put(t, "\n", 1);
    pt_metrics_series(t, s, "_count", NULL, false);
    pt_metrics_put(t, " ", 1);
    pt_metrics_u64(t, cum);
    pt_metrics_put(t, "\n", 1);
    return !t->failed;
}

void pt_metrics_expo_write(pt_metrics_text_t *t)
{
    pt_metrics_each(pt_metrics_expo_sample, t);
}
