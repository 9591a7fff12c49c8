/*
 * test_request_id.c: the ids the gateway makes: 32 lowercase hex digits,
 * the first 16 fixed for the worker, the last 16 a counter from a random
 * start, one step per id.
 */
#include "common/pt.h"

#include <inttypes.h>

#include "worker/http/request_id.h"
#include "test/unit/tap.h"

static bool test_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

int main(void)
{
    char a[PT_REQUEST_ID_HEX + 1], b[PT_REQUEST_ID_HEX + 1];

    pt_request_id_make(a);
    pt_request_id_make(b);
    is(strlen(a), PT_REQUEST_ID_HEX, "an id is 32 characters");
    ok(test_hex(a, PT_REQUEST_ID_HEX) && test_hex(b, PT_REQUEST_ID_HEX),
       "lowercase hex digits");
    ok(memcmp(a, b, 16) == 0, "the first half is the worker's, the same in each id");
    uint64_t la = strtoull(a + 16, NULL, 16), lb = strtoull(b + 16, NULL, 16);
    ok(lb == la + 1, "the second half counts up by one (%016" PRIx64 ", %016" PRIx64 ")",
       la, lb);
    for (int i = 0; i < 1000; i++)
        pt_request_id_make(b);
    ok(memcmp(a, b, 16) == 0 && strtoull(b + 16, NULL, 16) == la + 1001,
       "and goes on so over a thousand ids");
    return done_testing();
}
