/*
 * fuzz_compress_gzip.c: libFuzzer target for the gzip stage of the compress
 * filter.
 *
 * The first byte picks the level and whether the length is known; the
 * next two seed the cut points. The rest is the body, fed through the stage
 * in random spans, some with FLUSH, and ended by a bare LAST (or a LAST on
 * the final span). After each flushed run, inflating what came out so far
 * must give the input so far; at the end, inflating everything must give
 * the body exactly and reach the end of the gzip stream, with nothing
 * after it. Any breach aborts.
 */
#include "common/pt.h"
#include "common/arena.h"
#include <zlib.h>
#include "worker/core/filter.h"
#include "worker/mod/filter/compress/compress_stream.h"

static pt_compress_stream_t *stream;
static uint8_t *wire;
static size_t wire_len, wire_cap;
static unsigned lasts;

static int stage(pt_body_chain_t *bc, pt_span_t *in)
{
    return pt_compress_stream_filter(stream, bc, in);
}

static const pt_body_filter_t stages[] = { { stage, NULL }, { NULL, NULL } };

static int sink(pt_body_chain_t *bc, pt_span_t *in)
{
    for (pt_span_t *s = in; s; s = s->next) {
        if (lasts)
            abort();            /* nothing after LAST */
        if (wire_len + s->data.len > wire_cap) {
            wire_cap = (wire_len + s->data.len) * 2 + 64;
            wire = realloc(wire, wire_cap);
        }
        memcpy(wire + wire_len, s->data.p, s->data.len);
        wire_len += s->data.len;
        if (s->flags & PT_SPAN_LAST)
            lasts++;
    }
    return PT_OK;
}

/* Inflate wire; the bytes it gives, *end set when the stream ended. */
static size_t inflate_wire(uint8_t *out, size_t cap, bool *end)
{
    z_stream z = { 0 };

    if (inflateInit2(&z, 16 + 15) != Z_OK)
        abort();
    z.next_in = wire;
    z.avail_in = (uInt) wire_len;
    z.next_out = out;
    z.avail_out = (uInt) cap;
    int rc = inflate(&z, Z_SYNC_FLUSH);
    *end = rc == Z_STREAM_END;
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
        abort();
    if (*end && z.avail_in != 0)
        abort();                /* bytes after the end */
    size_t got = cap - z.avail_out;
    inflateEnd(&z);
    return got;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    pt_compress_params_t p = { 1 + data[0] % 9, 15, (data[0] & 0x80) ? (int64_t) size - 3 : -1 };
    uint32_t seed = (uint32_t) data[1] << 8 | data[2];
    const uint8_t *body = data + 3;
    size_t n = size - 3, at = 0;
    pt_arena_t *a = pt_arena_create(16384, 64 << 20);
    uint8_t *back = malloc(n + 1);
    bool end;

    stream = pt_arena_alloc(a, sizeof(*stream));
    void *st = pt_compress_gzip_new(&p);
    if (st == NULL || pt_compress_stream_init(stream, a, &pt_compress_gzip_codec, st) != PT_OK)
        abort();
    wire_len = 0;
    lasts = 0;
    while (at < n) {
        seed = seed * 1103515245u + 12345u;
        size_t take = pt_min((size_t) (seed >> 16) % 700, n - at);
        unsigned flags = (seed >> 8) % 5 == 0 ? PT_SPAN_FLUSH : 0;
        if (at + take == n && (seed & 1))
            flags |= PT_SPAN_LAST;
        /* a heap copy per span: the stage must not read past it */
        char *piece = malloc(take ? take : 1);
        memcpy(piece, body + at, take);
        pt_body_chain_t bc = { .r = NULL, .stages = stages, .sink = sink };
        pt_span_t span = { { piece, take }, flags, NULL };
        if (pt_filter_body_run(&bc, &span) != PT_OK)
            abort();
        free(piece);
        at += take;
        if (flags & PT_SPAN_FLUSH) {
            size_t got = inflate_wire(back, n + 1, &end);
            if (got != at || memcmp(back, body, at) != 0)
                abort();
        }
    }
    if (!lasts) {
        pt_body_chain_t bc = { .r = NULL, .stages = stages, .sink = sink };
        pt_span_t span = { PT_STR_NULL, PT_SPAN_LAST, NULL };
        if (pt_filter_body_run(&bc, &span) != PT_OK)
            abort();
    }
    if (lasts != 1)
        abort();
    size_t got = inflate_wire(back, n + 1, &end);
    if (!end || got != n || memcmp(back, body, n) != 0)
        abort();
    pt_arena_destroy(a);
    free(back);
    return 0;
}
