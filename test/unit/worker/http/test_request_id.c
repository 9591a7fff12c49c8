/*
 * test_request_id.c: the ids the gateway makes are UUIDv7 text (RFC 9562):
 * version 7, variant 10, the time in the first 48 bits, and random bits
 * that neither repeat nor count up.
 */
#include "common/pt.h"

#include <inttypes.h>
#include <regex.h>

#include "common/clock.h"
#include "worker/http/request_id.h"
#include "test/unit/tap.h"

#define N 10000

static char ids[N][PT_REQUEST_ID_TEXT + 1];

static int test_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

int main(void)
{
    regex_t re;
    regcomp(&re, "^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$",
            REG_EXTENDED | REG_NOSUB);

    pt_clock_update();
    uint64_t t0 = pt_clock_wall_ms();
    bool all_match = true;
    for (int i = 0; i < N; i++) {
        pt_request_id_make(ids[i]);
        all_match &= strlen(ids[i]) == PT_REQUEST_ID_TEXT
                     && regexec(&re, ids[i], 0, NULL, 0) == 0;
    }
    ok(all_match, "%d ids are UUIDv7 text, e.g. %s", N, ids[0]);

    char ts[13];
    memcpy(ts, ids[0], 8);
    memcpy(ts + 8, ids[0] + 9, 4);
    ts[12] = '\0';
    uint64_t ms = strtoull(ts, NULL, 16);
    ok(ms >= t0 && ms <= t0 + 1000, "the first 48 bits are the time in ms (%" PRIu64 ")", ms);

    /* The random part (after the time and version) of consecutive ids is
     * not a count: no two differ by one. */
    int steps = 0;
    for (int i = 1; i < N; i++) {
        uint64_t a = strtoull(ids[i - 1] + 24, NULL, 16), b = strtoull(ids[i] + 24, NULL, 16);
        steps += b == a + 1;
    }
    ok(steps == 0, "consecutive ids do not count up (%d steps of one)", steps);

    qsort(ids, N, sizeof(ids[0]), test_cmp);
    int dups = 0;
    for (int i = 1; i < N; i++)
        dups += strcmp(ids[i - 1], ids[i]) == 0;
    ok(dups == 0, "no two of %d ids are equal", N);
    regfree(&re);
    return done_testing();
}
