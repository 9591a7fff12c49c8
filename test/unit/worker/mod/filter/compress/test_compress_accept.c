/*
 * test_compress_accept.c: Accept-Encoding read per RFC 9110 12.5.3 (q-values,
 * "*", identity, case, x-gzip, bad members ignored) and the coding chosen
 * from it in a route's order of preference.
 */
#include "common/pt.h"
#include "worker/mod/filter/compress/compress_accept.h"
#include "test/unit/tap.h"

static const uint8_t br_first[] = { PT_CODING_BR, PT_CODING_GZIP };
static const uint8_t gzip_first[] = { PT_CODING_GZIP, PT_CODING_BR };
static const uint8_t gzip_only[] = { PT_CODING_GZIP };

static unsigned choose(const char *value, const uint8_t *prefer, unsigned n)
{
    pt_compress_accept_t a;

    pt_compress_accept_init(&a);
    pt_compress_accept_parse(&a, (pt_str_t) { value, strlen(value) });
    return pt_compress_accept_choose(&a, prefer, n);
}

static const struct {
    const char *value;
    int gzip, br, identity;     /* weights after parsing */
} weights[] = {
    { "gzip", 1000, 0, 0 },
    { "gzip;q=0.5", 500, 0, 0 },
    { "gzip ; q=0.25 , br;q=1.000", 250, 1000, 0 },
    { "GZip;Q=0.3", 300, 0, 0 },
    { "x-gzip", 1000, 0, 0 },
    { "*", 1000, 1000, 1000 },
    { "*;q=0.2, gzip;q=0", 0, 200, 200 },
    { "identity;q=0, *;q=0", 0, 0, 0 },
    { "gzip;q=1.5", 0, 0, 0 },          /* not a qvalue: ignored */
    { "gzip;q=0.1234", 0, 0, 0 },       /* four decimals */
    { "gzip;q=", 0, 0, 0 },
    { "gzip;q=1.", 1000, 0, 0 },
    { "gzip;q=1.001", 0, 0, 0 },
    { "gzip;q=0.999", 999, 0, 0 },
    { "gzip;level=9", 1000, 0, 0 },     /* another parameter: no weight */
    { "gzip;q=0.5, gzip;q=1", 500, 0, 0 },  /* the first mention counts */
    { ",, ,gzip,,", 1000, 0, 0 },
    { "deflate, compress, zstd", 0, 0, 0 },
    { "", 0, 0, 0 },
    { "br;q=0.001", 0, 1, 0 },
    { "identity;q=0.7", 0, 0, 700 },
    { "gzip\t;\tq=0.6", 600, 0, 0 },
};

static const struct {
    const char *value;
    const uint8_t *prefer;
    unsigned n;
    unsigned want;
} choices[] = {
    { "gzip, deflate, br", br_first, 2, PT_CODING_BR },
    { "gzip, deflate, br", gzip_first, 2, PT_CODING_GZIP },
    { "gzip;q=1, br;q=0.9", br_first, 2, PT_CODING_GZIP },
    { "gzip;q=0.9, br;q=0.9", br_first, 2, PT_CODING_BR },
    { "br", gzip_only, 1, PT_CODING_IDENTITY },
    { "*", gzip_only, 1, PT_CODING_GZIP },
    { "*;q=0", br_first, 2, PT_CODING_IDENTITY },
    { "gzip;q=0", br_first, 2, PT_CODING_IDENTITY },
    { "gzip;q=0.5, identity", br_first, 2, PT_CODING_IDENTITY },
    { "gzip, identity;q=0.5", br_first, 2, PT_CODING_GZIP },
    { "gzip;q=0.5, identity;q=0.5", br_first, 2, PT_CODING_GZIP },
    { "gzip;q=0.3, *;q=0.8", br_first, 2, PT_CODING_BR },
    { "", br_first, 2, PT_CODING_IDENTITY },
    { "identity", br_first, 2, PT_CODING_IDENTITY },
    { "br;q=0.5, gzip;q=0.5, *;q=0", gzip_first, 2, PT_CODING_GZIP },
};

int main(void)
{
    for (size_t i = 0; i < sizeof(weights) / sizeof(weights[0]); i++) {
        pt_compress_accept_t a;
        pt_compress_accept_init(&a);
        pt_compress_accept_parse(&a, (pt_str_t) { weights[i].value, strlen(weights[i].value) });
        is(pt_compress_accept_weight(&a, PT_CODING_GZIP), weights[i].gzip,
           "\"%s\": gzip weight", weights[i].value);
        is(pt_compress_accept_weight(&a, PT_CODING_BR), weights[i].br,
           "\"%s\": br weight", weights[i].value);
        is(pt_compress_accept_weight(&a, PT_CODING_IDENTITY), weights[i].identity,
           "\"%s\": identity weight", weights[i].value);
    }
    for (size_t i = 0; i < sizeof(choices) / sizeof(choices[0]); i++)
        is(choose(choices[i].value, choices[i].prefer, choices[i].n), choices[i].want,
           "\"%s\" chooses coding %u", choices[i].value, choices[i].want);

    /* Two fields add up as one list. */
    pt_compress_accept_t a;
    pt_compress_accept_init(&a);
    pt_compress_accept_parse(&a, PT_STR("br;q=0.2"));
    pt_compress_accept_parse(&a, PT_STR("gzip;q=0.4"));
    is(pt_compress_accept_choose(&a, br_first, 2), PT_CODING_GZIP, "fields add up");
    is(pt_compress_accept_weight(&a, 99), 0, "an unknown coding weighs nothing");
    return done_testing();
}
