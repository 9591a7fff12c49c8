/*
 * test_compress_stream.c: the codecs of the compress filter run as a body
 * stage in a chain with a sink that keeps what reaches it: bodies split at
 * random into spans decode (zlib, libbrotlidec) to the same bytes; a
 * FLUSH makes everything so far decodable at once; LAST ends the stream;
 * output blocks are reused between runs; gunzip takes multi-member gzip,
 * refuses a truncated or corrupt one and a body past its ratio bound.
 */
#include "common/pt.h"
#include "common/arena.h"
#include <zlib.h>
#ifdef PT_HAVE_BROTLI
#include <brotli/decode.h>
#endif
#include "worker/core/filter.h"
#include "worker/mod/filter/compress/compress_stream.h"
#include "test/unit/tap.h"

static pt_compress_stream_t *stream;
static unsigned char *wire;
static size_t wire_len, wire_cap;
static unsigned sink_calls, last_seen;

static int stage(pt_body_chain_t *bc, pt_span_t *in)
{
    return pt_compress_stream_filter(stream, bc, in);
}

static const pt_body_filter_t stages[] = { { stage, NULL }, { NULL, NULL } };

static int sink(pt_body_chain_t *bc, pt_span_t *in)
{
    sink_calls++;
    for (pt_span_t *s = in; s; s = s->next) {
        if (wire_len + s->data.len > wire_cap) {
            wire_cap = (wire_len + s->data.len) * 2;
            wire = realloc(wire, wire_cap);
        }
        if (s->data.len)
            memcpy(wire + wire_len, s->data.p, s->data.len);
        wire_len += s->data.len;
        if (s->flags & PT_SPAN_LAST)
            last_seen++;
    }
    return PT_OK;
}

static int feed(pt_request_t *r, const char *p, size_t n, unsigned flags)
{
    pt_body_chain_t bc = { .r = r, .stages = stages, .sink = sink };
    pt_span_t span = { { p, n }, flags, NULL };

    return pt_filter_body_run(&bc, &span);
}

/* Text with repeats and some noise. */
static char *make_body(size_t n)
{
    char *b = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        b[i] = (tap_rand() % 7 == 0) ? (char) ('a' + tap_rand() % 26) : "{\"k\":\"value\"},"[i % 14];
    return b;
}

static size_t inflate_all(const unsigned char *in, size_t n, char *out, size_t cap, bool *ended)
{
    z_stream z = { 0 };
    inflateInit2(&z, 16 + 15);
    z.next_in = (Bytef *) in;
    z.avail_in = (uInt) n;
    z.next_out = (Bytef *) out;
    z.avail_out = (uInt) cap;
    int rc = inflate(&z, Z_SYNC_FLUSH);
    *ended = rc == Z_STREAM_END;
    size_t got = cap - z.avail_out;
    inflateEnd(&z);
    return got;
}

#ifdef PT_HAVE_BROTLI
static size_t unbrotli_all(const unsigned char *in, size_t n, char *out, size_t cap, bool *ended)
{
    BrotliDecoderState *d = BrotliDecoderCreateInstance(NULL, NULL, NULL);
    size_t avail_in = n, avail_out = cap;
    const uint8_t *next_in = in;
    uint8_t *next_out = (uint8_t *) out;
    BrotliDecoderResult rc = BrotliDecoderDecompressStream(d, &avail_in, &next_in, &avail_out,
                                                           &next_out, NULL);
    *ended = rc == BROTLI_DECODER_RESULT_SUCCESS;
    BrotliDecoderDestroyInstance(d);
    return rc == BROTLI_DECODER_RESULT_ERROR ? (size_t) -1 : cap - avail_out;
}
#endif

typedef size_t (*decode_pt)(const unsigned char *, size_t, char *, size_t, bool *);

static bool new_stream(pt_arena_t *a, const char *name, int64_t length)
{
    pt_compress_params_t gp = { 6, 15, length };
    void *st;
    const pt_compress_codec_t *codec;

    if (strcmp(name, "gzip") == 0) {
        st = pt_compress_gzip_new(&gp);
        codec = &pt_compress_gzip_codec;
#ifdef PT_HAVE_BROTLI
    } else if (strcmp(name, "br") == 0) {
        pt_compress_params_t bp = { 5, 18, length };
        st = pt_compress_brotli_new(&bp);
        codec = &pt_compress_brotli_codec;
#endif
    } else {
        st = pt_compress_gunzip_new();
        codec = &pt_compress_gunzip_codec;
    }
    stream = pt_arena_alloc(a, sizeof(*stream));
    wire_len = 0;
    sink_calls = last_seen = 0;
    return st && pt_compress_stream_init(stream, a, codec, st) == PT_OK;
}

/* A body split at random, a flush somewhere in the middle. */
static void roundtrip(const char *name, decode_pt decode, size_t n, bool known)
{
    pt_arena_t *a = pt_arena_create(16384, 8 << 20);
    pt_request_t *r = NULL;
    char *body = make_body(n), *back = malloc(n + 64);
    size_t at = 0, flush_at = n / 2;
    bool ok_all = true, ended;

    ok(new_stream(a, name, known ? (int64_t) n : -1), "%s: stream made", name);
    while (at < n) {
        size_t take = pt_min((size_t) (tap_rand() % 40000), n - at);
        bool flush = at < flush_at && at + take >= flush_at;
        ok_all &= feed(r, body + at, take, flush ? PT_SPAN_FLUSH : 0) == PT_OK;
        at += take;
        if (flush) {
            size_t got = decode(wire, wire_len, back, n + 64, &ended);
            ok(got == at && memcmp(back, body, at) == 0 && !ended,
               "%s %zu: after a flush, the %zu bytes so far decode", name, n, at);
        }
    }
    ok_all &= feed(r, NULL, 0, PT_SPAN_LAST) == PT_OK;
    ok(ok_all, "%s %zu: every run passes", name, n);
    is(last_seen, 1, "%s %zu: LAST reaches the sink once", name, n);
    size_t got = decode(wire, wire_len, back, n + 64, &ended);
    ok(ended && got == n && memcmp(back, body, n) == 0,
       "%s %zu: %zu bytes decode to the body (%s)", name, n, wire_len, known ? "length known"
                                                                           : "unknown length");
    if (n > 100000)
        ok(wire_len < n / 2, "%s: it compresses (%zu of %zu)", name, wire_len, n);
    pt_arena_destroy(a);        /* the cleanup ends the codec */
    free(body);
    free(back);
}

static void gunzip_cases(void)
{
    pt_arena_t *a = pt_arena_create(16384, 8 << 20);
    size_t n = 300000;
    char *body = make_body(n);
    unsigned char *gz = malloc(n * 2 + 64);
    size_t gz_len = 0;

    /* two members, as gzip -c a b writes them */
    for (int m = 0; m < 2; m++) {
        z_stream z = { 0 };
        deflateInit2(&z, 6, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY);
        z.next_in = (Bytef *) body + m * (n / 2);
        z.avail_in = (uInt) (n / 2);
        z.next_out = gz + gz_len;
        z.avail_out = (uInt) (n * 2 + 64 - gz_len);
        deflate(&z, Z_FINISH);
        gz_len += z.total_out;
        deflateEnd(&z);
    }
    ok(new_stream(a, "gunzip", -1), "gunzip: stream made");
    stream->max_ratio = 1000;
    bool all = true;
    for (size_t at = 0; at < gz_len;) {
        size_t take = pt_min((size_t) (1 + tap_rand() % 3000), gz_len - at);
        all &= feed(NULL, (const char *) gz + at, take, 0) == PT_OK;
        at += take;
    }
    all &= feed(NULL, NULL, 0, PT_SPAN_LAST) == PT_OK;
    ok(all && wire_len == n && memcmp(wire, body, n) == 0, "gunzip: two members decode whole");

    ok(new_stream(a, "gunzip", -1), "gunzip: again");
    ok(feed(NULL, (const char *) gz, gz_len / 3, 0) == PT_OK, "gunzip: a first part");
    ok(feed(NULL, NULL, 0, PT_SPAN_LAST) == PT_ERROR, "gunzip: a truncated body fails");

    ok(new_stream(a, "gunzip", -1), "gunzip: again");
    unsigned char junk[64];
    memcpy(junk, gz, 10);       /* a valid header, then garbage */
    memset(junk + 10, 0xff, sizeof(junk) - 10);
    ok(feed(NULL, (const char *) junk, sizeof(junk), 0) == PT_ERROR,
       "gunzip: a corrupt body fails");

    /* 8 MiB of zeros, about 8 KiB gzipped */
    size_t zn = 8 << 20;
    char *zeros = calloc(1, zn);
    uLongf bomb_cap = compressBound(zn) + 64;
    unsigned char *bomb = malloc(bomb_cap);
    z_stream z = { 0 };
    deflateInit2(&z, 9, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY);
    z.next_in = (Bytef *) zeros;
    z.avail_in = (uInt) zn;
    z.next_out = bomb;
    z.avail_out = (uInt) bomb_cap;
    deflate(&z, Z_FINISH);
    size_t bomb_len = z.total_out;
    deflateEnd(&z);
    ok(new_stream(a, "gunzip", -1), "gunzip: again");
    stream->max_ratio = 100;
    int rc = PT_OK;
    for (size_t at = 0; at < bomb_len && rc == PT_OK; at += 512)
        rc = feed(NULL, (const char *) bomb + at, pt_min((size_t) 512, bomb_len - at), 0);
    ok(rc == PT_ERROR && wire_len < zn, "gunzip: a bomb is cut at the ratio (%zu of %zu out)",
       wire_len, zn);
    pt_arena_destroy(a);
    free(body);
    free(gz);
    free(zeros);
    free(bomb);
}

int main(void)
{
    tap_srand(14);
    roundtrip("gzip", inflate_all, 1, true);
    roundtrip("gzip", inflate_all, 5000, true);
    roundtrip("gzip", inflate_all, 3 << 20, false);
    roundtrip("gzip", inflate_all, 200000, true);
#ifdef PT_HAVE_BROTLI
    roundtrip("br", unbrotli_all, 1, true);
    roundtrip("br", unbrotli_all, 5000, true);
    roundtrip("br", unbrotli_all, 3 << 20, false);
    roundtrip("br", unbrotli_all, 200000, true);
#endif

    /* Output blocks are reused: a long run of small pieces holds no more
     * than the largest run needs. */
    pt_arena_t *a = pt_arena_create(16384, 8 << 20);
    char *body = make_body(1 << 20);
    new_stream(a, "gzip", -1);
    size_t before = 0;
    for (size_t at = 0; at < (1 << 20); at += 4096) {
        feed(NULL, body + at, 4096, PT_SPAN_FLUSH);
        if (at == 65536)
            before = pt_arena_footprint(a);
    }
    ok(pt_arena_footprint(a) == before, "blocks are reused between runs (%zu bytes held)",
       pt_arena_footprint(a));
    pt_arena_destroy(a);
    free(body);

    gunzip_cases();
    free(wire);
    return done_testing();
}
