/*
 * limit_headers.h: the RateLimit-Policy and RateLimit fields of
 * draft-ietf-httpapi-ratelimit-headers (structured-field Lists, one Item a
 * limit, its name a String):
 *
 *   RateLimit-Policy: "per_ip";q=100;w=1, "daily";q=1000;w=86400,
 *                     "conns";q=10;qu="concurrent-requests"
 *   RateLimit: "per_ip";r=42;t=1, "daily";r=999;t=3600, "conns";r=9
 */
#ifndef PT_LIMIT_HEADERS_H
#define PT_LIMIT_HEADERS_H

#include "common/pt.h"

/* What one limit reports on a response. */
typedef struct {
    pt_str_t name;
    uint64_t q;                 /* quota of the policy */
    uint64_t w;                 /* window, seconds; 0: none (concurrency) */
    bool concurrent;            /* qu="concurrent-requests" */
    uint64_t r;                 /* available now */
    int64_t t;                  /* seconds of the effective window; < 0: none */
} pt_limit_report_t;

/* Render both field values for n reports into buf (cap bytes, split in
 * two halves): PT_ERROR if they do not fit. */
int pt_limit_headers_render(const pt_limit_report_t *v, size_t n, char *buf, size_t cap,
                            pt_str_t *policy, pt_str_t *state);

/* ns as whole seconds rounded up, at least 1 (Retry-After, t of a refusal). */
uint64_t pt_limit_seconds_up(uint64_t ns);

#endif
