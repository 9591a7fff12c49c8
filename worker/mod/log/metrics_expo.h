/*
 * metrics_expo.h: the Prometheus text exposition format, version 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/), written
 * from the metrics walk (worker/core/metrics.h, pt_metrics_each).
 */
#ifndef PT_METRICS_EXPO_H
#define PT_METRICS_EXPO_H

#include "common/pt.h"
#include "worker/core/metrics.h"

#define PT_METRICS_EXPO_TYPE    "text/plain; version=0.0.4; charset=utf-8"
/* The most a scrape writes; past it the text ends after a whole line with
 * a comment saying so (a bound for every table). */
#define PT_METRICS_EXPO_MAX     ((size_t) 64 << 20)

/* A growing text buffer (malloc'd: the caller frees p). */
typedef struct {
    char *p;
    size_t len, cap;
    bool failed;            /* out of memory or past PT_METRICS_EXPO_MAX */
} pt_metrics_text_t;

/* Append s (a family head when first) as exposition lines; the walk's
 * callback (arg: a pt_metrics_text_t). */
bool pt_metrics_expo_sample(void *arg, const pt_metric_sample_t *s, bool first);

/* Every metric of this process's zone into t. */
void pt_metrics_expo_write(pt_metrics_text_t *t);

/* Escapes for the format, into t: a label value (\\, \", \n) and a HELP
 * text (\\, \n). */
void pt_metrics_expo_label(pt_metrics_text_t *t, const char *s, size_t n);
void pt_metrics_expo_help(pt_metrics_text_t *t, const char *s);
/* v / scale as a decimal without loss ("0.005", "12", "1.5"). */
void pt_metrics_expo_scaled(pt_metrics_text_t *t, uint64_t v, unsigned scale);

#endif
