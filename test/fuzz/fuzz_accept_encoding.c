/*
 * fuzz_accept_encoding.c: libFuzzer target for the Accept-Encoding reader
 * of the compress filter.
 *
 * The input is one field value, read whole and again split at a comma into
 * two fields (the same list). Both must give the same weights; every weight
 * is -1..1000 as read and 0..1000 as used; the coding chosen, for each
 * order of preference, is identity or one of the order, weighs more than 0,
 * at least as much as identity and as much as any other of the order. Any
 * breach aborts.
 */
#include "common/pt.h"
#include "worker/mod/filter/compress/compress_accept.h"

static const uint8_t orders[][2] = {
    { PT_CODING_BR, PT_CODING_GZIP }, { PT_CODING_GZIP, PT_CODING_BR },
    { PT_CODING_GZIP, PT_CODING_GZIP },
};

static void check(const pt_compress_accept_t *a)
{
    for (unsigned c = 0; c < PT_CODING__COUNT; c++) {
        if (a->q[c] < -1 || a->q[c] > 1000)
            abort();
        int w = pt_compress_accept_weight(a, c);
        if (w < 0 || w > 1000)
            abort();
    }
    if (a->star < -1 || a->star > 1000)
        abort();
    for (unsigned o = 0; o < sizeof(orders) / sizeof(orders[0]); o++) {
        for (unsigned n = 1; n <= 2; n++) {
            unsigned c = pt_compress_accept_choose(a, orders[o], n);
            if (c == PT_CODING_IDENTITY)
                continue;
            bool listed = false;
            int w = pt_compress_accept_weight(a, c);
            for (unsigned i = 0; i < n; i++) {
                listed |= orders[o][i] == c;
                if (pt_compress_accept_weight(a, orders[o][i]) > w)
                    abort();
            }
            if (!listed || w <= 0 || w < pt_compress_accept_weight(a, PT_CODING_IDENTITY))
                abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size ? size : 1);
    pt_compress_accept_t whole, split;

    memcpy(copy, data, size);
    pt_compress_accept_init(&whole);
    pt_compress_accept_parse(&whole, (pt_str_t) { copy, size });
    check(&whole);

    const char *comma = memchr(copy, ',', size);
    if (comma) {
        size_t at = (size_t) (comma - copy);
        pt_compress_accept_init(&split);
        pt_compress_accept_parse(&split, (pt_str_t) { copy, at });
        pt_compress_accept_parse(&split, (pt_str_t) { copy + at + 1, size - at - 1 });
        if (memcmp(&whole, &split, sizeof(whole)) != 0)
            abort();
    }
    free(copy);
    return 0;
}
