/*
 * fuzz_chunked.c: libFuzzer target for the chunked decoder.
 *
 * The first input byte picks the limits, the next two seed the cut points. The rest is
 * decoded in one piece and again in random pieces, each on a fresh heap copy of the piece.
 * Both must agree on the outcome, the reason, where the message ended and every decoded
 * byte; the decoded data can never be more than the input, every span must lie in the
 * piece it came from and end where the consumed count says. A complete body re-encoded with
 * pt_chunked_size_line() must decode to the same bytes. Any breach aborts.
 */
#include "common/pt.h"

#include "worker/http/http_chunked.h"

typedef struct {
    int rc;
    const char *error;
    size_t end;         /* PT_DONE: offset just past the message */
    uint8_t *data;
    size_t dlen;
} outcome_t;

static void
decode(const uint8_t *in, size_t n, const size_t *cuts, size_t ncuts, size_t max_ext,
       size_t max_trailer, outcome_t *o)
{
    pt_chunked_t ck;
    size_t from = 0;

    pt_chunked_init(&ck);
    ck.max_ext = max_ext;
    ck.max_trailer = max_trailer;
    o->rc = PT_AGAIN;
    o->end = 0;
    o->dlen = 0;
    for (size_t k = 0; k < ncuts; k++) {
        size_t plen = cuts[k] - from, off = 0;
        char *piece = malloc(plen ? plen : 1);

        memcpy(piece, in + from, plen);
        for (;;) {
            size_t used = 0;
            pt_str_t d;

            o->rc = pt_chunked_parse(&ck, piece + off, plen - off, &used, &d);
            if (used > plen - off)
                abort();
            if (o->rc == PT_OK) {
                if (d.len == 0 || d.p != piece + off + used - d.len || o->dlen + d.len > n)
                    abort();
                memcpy(o->data + o->dlen, d.p, d.len);
                o->dlen += d.len;
                off += used;
                continue;
            }
            if (d.len != 0 || d.p != NULL)
                abort();
            if (o->rc == PT_AGAIN && used != plen - off)
                abort();
            off += used;
            break;
        }
        free(piece);
        if (o->rc == PT_DONE) {
            o->end = from + off;
            if (!pt_chunked_done(&ck))
                abort();
        }
        if (o->rc != PT_AGAIN)
            break;
        from = cuts[k];
    }
    o->error = ck.error;
    if ((o->rc == PT_ERROR) != (o->error != NULL))
        abort();
    if (o->dlen > n)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t limits[4][2] = { { 0, 0 }, { 8, 16 }, { 1, 1 }, { 100, 3 } };
    static outcome_t one, split;
    size_t cuts[64], ncuts = 0, at = 0, max_ext, max_trailer;
    uint32_t seed;

    if (size < 3)
        return 0;
    max_ext = limits[data[0] & 3][0];
    max_trailer = limits[data[0] & 3][1];
    seed = (uint32_t) data[1] << 8 | data[2];
    data += 3;
    size -= 3;

    while (at < size && ncuts < pt_countof(cuts) - 1) {
        seed = seed * 1103515245u + 12345u;
        at = pt_min(size, at + 1 + (seed >> 16) % 17);
        cuts[ncuts++] = at;
    }
    cuts[ncuts++] = size;

    one.data = malloc(size + 1);
    split.data = malloc(size + 1);
    decode(data, size, &cuts[ncuts - 1], 1, max_ext, max_trailer, &one);
    decode(data, size, cuts, ncuts, max_ext, max_trailer, &split);
    if (one.rc != split.rc || one.error != split.error || one.end != split.end
        || one.dlen != split.dlen || memcmp(one.data, split.data, one.dlen) != 0)
        abort();
    if (one.rc == PT_DONE && (one.end > size || one.dlen + 5 > one.end))
        abort();
    if (one.rc == PT_DONE) {
        /* Re-encoded as one chunk with the encoder's size line, it decodes to the same. */
        uint8_t *wire = malloc(one.dlen + 32);
        size_t w = 0;

        if (one.dlen > 0) {
            w = pt_chunked_size_line((char *) wire, one.dlen);
            memcpy(wire + w, one.data, one.dlen);
            memcpy(wire + w + one.dlen, "\r\n", 2);
            w += one.dlen + 2;
        }
        memcpy(wire + w, "0\r\n\r\n", 5);
        w += 5;
        decode(wire, w, &w, 1, 0, 0, &split);
        if (split.rc != PT_DONE || split.end != w || split.dlen != one.dlen
            || memcmp(split.data, one.data, one.dlen) != 0)
            abort();
        free(wire);
    }
    free(one.data);
    free(split.data);
    return 0;
}
