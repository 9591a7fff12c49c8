/*
 * test_metrics_expo.c: the Prometheus text writer: HELP and TYPE lines,
 * label values escaped (\\, \", \n), histograms made cumulative with
 * +Inf equal to _count, scaled decimals, gauges below zero.
 */
#include "common/pt.h"
#include "worker/mod/log/metrics_expo.c"     /* its statics: the buffer */
#include "test/unit/tap.h"

static const char *text_of(pt_metrics_text_t *t)
{
    pt_metrics_text_room(t, 1);
    t->p[t->len] = '\0';
    return t->p;
}

static const char *scaled(uint64_t v, unsigned scale)
{
    static pt_metrics_text_t t;
    t.len = 0;
    pt_metrics_expo_scaled(&t, v, scale);
    return text_of(&t);
}

int main(void)
{
    static const char *const names[] = { "route", "method", NULL };
    static const uint64_t bounds[] = { 5000, 250000, 1000000 };
    const pt_metric_def_t counter = { "x_requests_total", "a \\ help\nline", PT_METRIC_COUNTER,
                                      NULL, 0, NULL, names, NULL, 0, 0 };
    const pt_metric_def_t hist = { "x_duration_seconds", "latency", PT_METRIC_HISTOGRAM,
                                   bounds, 3, NULL, names, NULL, 0, 1000000 };
    const pt_metric_def_t gauge = { "x_open", "open", PT_METRIC_GAUGE, NULL, 0, NULL, NULL,
                                    NULL, 0, 0 };
    pt_metrics_text_t t = { 0 };

    is_str(scaled(5000, 1000000), "0.005", "5000 us is 0.005 s");
    is_str(scaled(1000000, 1000000), "1", "a whole second has no decimals");
    is_str(scaled(2500000, 1000000), "2.5", "trailing zeros trimmed");
    is_str(scaled(123, 0), "123", "scale 0 is 1");
    is_str(scaled(1, 1000000), "0.000001", "the smallest step");

    pt_metric_sample_t s = { .def = &counter, .nlabels = 2, .names = names };
    ok(pt_metrics_expo_sample(&t, &s, true), "a family head");
    uint64_t v1 = 42;
    s.values[0] = "a\"b\\c\nd";
    s.value_len[0] = strlen(s.values[0]);
    s.values[1] = "GET";
    s.value_len[1] = 3;
    s.v = &v1;
    s.nv = 1;
    ok(pt_metrics_expo_sample(&t, &s, false), "a counter sample");
    is_str(text_of(&t),
           "# HELP x_requests_total a \\\\ help\\nline\n"
           "# TYPE x_requests_total counter\n"
           "x_requests_total{route=\"a\\\"b\\\\c\\nd\",method=\"GET\"} 42\n",
           "HELP escaped, label values escaped, one line each");

    t.len = 0;
    pt_metric_sample_t h = { .def = &hist, .nlabels = 1, .names = names };
    uint64_t hv[] = { 2, 0, 3, 1, 1500000 };     /* per bucket, +Inf, then the sum */
    h.values[0] = "api";
    h.value_len[0] = 3;
    h.v = hv;
    h.nv = 5;
    pt_metrics_expo_sample(&t, &h, true);
    pt_metrics_expo_sample(&t, &h, false);
    is_str(text_of(&t),
           "# HELP x_duration_seconds latency\n"
           "# TYPE x_duration_seconds histogram\n"
           "x_duration_seconds_bucket{route=\"api\",le=\"0.005\"} 2\n"
           "x_duration_seconds_bucket{route=\"api\",le=\"0.25\"} 2\n"
           "x_duration_seconds_bucket{route=\"api\",le=\"1\"} 5\n"
           "x_duration_seconds_bucket{route=\"api\",le=\"+Inf\"} 6\n"
           "x_duration_seconds_sum{route=\"api\"} 1.5\n"
           "x_duration_seconds_count{route=\"api\"} 6\n",
           "histogram: cumulative buckets, +Inf equals _count, sum in seconds");

    t.len = 0;
    pt_metric_sample_t g = { .def = &gauge };
    uint64_t gv = (uint64_t) -3;
    g.v = &gv;
    g.nv = 1;
    pt_metrics_expo_sample(&t, &g, true);
    pt_metrics_expo_sample(&t, &g, false);
    is_str(text_of(&t), "# HELP x_open open\n# TYPE x_open gauge\nx_open -3\n",
           "an unlabeled gauge, below zero for a moment");

    free(t.p);
    return done_testing();
}
