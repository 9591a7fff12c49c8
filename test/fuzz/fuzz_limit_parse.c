/*
 * fuzz_limit_parse.c: libFuzzer target for the rate-limit grammars: rates
 * ("100r/s") and address prefix lengths ("24_64"), each on a heap copy of
 * the input with no terminator. An accepted rate must print back to the
 * same text and set up a GCRA with a non-zero interval; an accepted
 * prefix pair must be in range. Any breach aborts.
 */
#include "common/pt.h"

#include "worker/mod/limit/ratelimit/limit_gcra.h"
#include "worker/mod/limit/ratelimit/limit_parse.h"

#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *p = malloc(size ? size : 1);
    uint64_t count, period;
    unsigned v4, v6;
    const char *why;

    if (p == NULL)
        return 0;
    if (size)
        memcpy(p, data, size);
    if (pt_limit_parse_rate(p, size, &count, &period, &why) == PT_OK) {
        char back[64];
        const char unit = period == UINT64_C(1000000000) ? 's'
                          : period == UINT64_C(60000000000) ? 'm'
                          : period == UINT64_C(3600000000000) ? 'h' : 'd';
        int n = snprintf(back, sizeof(back), "%llur/%c", (unsigned long long) count, unit);
        pt_gcra_t g;
        if (count == 0 || count > PT_LIMIT_RATE_MAX || n < 0 || (size_t) n > size
            || pt_gcra_setup(&g, count, period, 0, -1) != PT_OK || g.interval == 0)
            abort();
        /* Leading zeros are the one way to write the same rate longer. */
        if ((size_t) n == size && memcmp(back, p, size) != 0)
            abort();
    } else if (why == NULL || *why == '\0') {
        abort();
    }
    if (pt_limit_parse_prefixes(p, size, &v4, &v6) == PT_OK && (v4 > 32 || v6 > 128))
        abort();
    free(p);
    return 0;
}
