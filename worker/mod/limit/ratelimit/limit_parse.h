/*
 * limit_parse.h: the small grammars of the limit directives, apart so the
 * fuzzer (test/fuzz/fuzz_limit_parse.c) reaches them alone.
 */
#ifndef PT_LIMIT_PARSE_H
#define PT_LIMIT_PARSE_H

#include "common/pt.h"

#define PT_LIMIT_RATE_MAX   UINT64_C(1000000000)

/* "100r/s", "6000r/m", "20r/h", "500r/d": requests (1 to PT_LIMIT_RATE_MAX)
 * per second, minute, hour or day, nothing else around it. PT_ERROR with
 * *why set to a sentence on bad input. */
int pt_limit_parse_rate(const char *p, size_t n, uint64_t *count, uint64_t *period_ns,
                        const char **why);

/* The prefix lengths of $client_net_NAME: "24" (IPv4 /24, IPv6 /64) or
 * "24_48" (IPv4 /24, IPv6 /48); IPv4 0 to 32, IPv6 0 to 128. */
int pt_limit_parse_prefixes(const char *p, size_t n, unsigned *v4, unsigned *v6);

#endif
