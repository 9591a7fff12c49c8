/*
 * compress_zlib.c: gzip (deflate in the gzip wrapper, RFC 1952) and
 * gunzip codecs of a compress stream, over zlib.
 */
#include "common/pt.h"
#include <zlib.h>
#include "worker/mod/filter/compress/compress_stream.h"

void *pt_compress_gzip_new(const pt_compress_params_t *p)
{
    z_stream *z = calloc(1, sizeof(*z));
    int wbits = p->window_bits;

    if (z == NULL)
        return NULL;
    /* A body of known length needs no window larger than itself: less
     * memory to set up per response (deflate's own lookahead is 262). */
    while (p->length >= 0 && wbits > 9 && ((int64_t) 1 << (wbits - 1)) >= p->length + 262)
        wbits--;
    int mem_level = wbits - 7 < 1 ? 1 : (wbits - 7 > 8 ? 8 : wbits - 7);
    if (deflateInit2(z, p->level, Z_DEFLATED, 16 + wbits, mem_level, Z_DEFAULT_STRATEGY)
        != Z_OK) {
        free(z);
        return NULL;
    }
    return z;
}

static int pt_compress_gzip_run(pt_compress_stream_t *s, const char *in, size_t len, int op)
{
    z_stream *z = s->state;
    int flush = op == PT_COMPRESS_FINISH ? Z_FINISH
                : op == PT_COMPRESS_FLUSH ? Z_SYNC_FLUSH : Z_NO_FLUSH;

    z->next_in = (Bytef *) (uintptr_t) in;
    z->avail_in = (uInt) len;
    for (;;) {
        char *out;
        size_t room;
        if (pt_compress_out_room(s, &out, &room) != PT_OK)
            return PT_ERROR;
        z->next_out = (Bytef *) out;
        z->avail_out = (uInt) room;
        int rc = deflate(z, flush);
        pt_compress_out_commit(s, room - z->avail_out);
        if (rc == Z_STREAM_END) {
            s->finished = true;
            return PT_OK;
        }
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            s->error = "deflate failed";
            return PT_ERROR;
        }
        /* Room left over: deflate took all the input and, for a sync
         * flush, wrote all it had. Z_FINISH goes on to Z_STREAM_END. */
        if (flush != Z_FINISH && z->avail_out > 0 && z->avail_in == 0)
            return PT_OK;
    }
}

static void pt_compress_zlib_end_deflate(pt_compress_stream_t *s)
{
    deflateEnd(s->state);
    free(s->state);
}

const pt_compress_codec_t pt_compress_gzip_codec = {
    "gzip", pt_compress_gzip_run, pt_compress_zlib_end_deflate
};

void *pt_compress_gunzip_new(void)
{
    z_stream *z = calloc(1, sizeof(*z));

    if (z == NULL)
        return NULL;
    /* 16 + 15: the gzip wrapper only, the largest window. */
    if (inflateInit2(z, 16 + 15) != Z_OK) {
        free(z);
        return NULL;
    }
    return z;
}

static int pt_compress_gunzip_run(pt_compress_stream_t *s, const char *in, size_t len, int op)
{
    z_stream *z = s->state;

    z->next_in = (Bytef *) (uintptr_t) in;
    z->avail_in = (uInt) len;
    while (z->avail_in > 0) {
        char *out;
        size_t room;
        if (pt_compress_out_room(s, &out, &room) != PT_OK)
            return PT_ERROR;
        z->next_out = (Bytef *) out;
        z->avail_out = (uInt) room;
        int rc = inflate(z, Z_NO_FLUSH);
        pt_compress_out_commit(s, room - z->avail_out);
        if (s->max_ratio && s->out_total > 65536
            && s->out_total / s->max_ratio > s->in_total) {
            s->error = "the gzip body expands more than compress_gunzip_max_ratio allows";
            return PT_ERROR;
        }
        if (rc == Z_STREAM_END) {
            /* RFC 1952 2.2: a gzip file is one or more members. */
            if (z->avail_in == 0) {
                s->finished = true;
                break;
            }
            if (inflateReset(z) != Z_OK) {
                s->error = "inflate failed";
                return PT_ERROR;
            }
            continue;
        }
        if (rc == Z_BUF_ERROR && z->avail_out > 0) {
            s->error = "inflate made no progress";
            return PT_ERROR;
        }
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            s->error = z->msg ? z->msg : "the gzip body is corrupt";
            return PT_ERROR;
        }
    }
    /* inflate may hold output back for want of room: drain it. */
    while (!s->finished && z->avail_out == 0) {
        char *out;
        size_t room;
        if (pt_compress_out_room(s, &out, &room) != PT_OK)
            return PT_ERROR;
        z->next_out = (Bytef *) out;
        z->avail_out = (uInt) room;
        int rc = inflate(z, Z_NO_FLUSH);
        pt_compress_out_commit(s, room - z->avail_out);
        if (rc == Z_STREAM_END)
            s->finished = true;
        else if (rc != Z_OK && rc != Z_BUF_ERROR) {
            s->error = z->msg ? z->msg : "the gzip body is corrupt";
            return PT_ERROR;
        }
    }
    if (op == PT_COMPRESS_FINISH && !s->finished) {
        s->error = "the gzip body ends before its stream does";
        return PT_ERROR;
    }
    return PT_OK;
}

static void pt_compress_zlib_end_inflate(pt_compress_stream_t *s)
{
    inflateEnd(s->state);
    free(s->state);
}

const pt_compress_codec_t pt_compress_gunzip_codec = {
    "gunzip", pt_compress_gunzip_run, pt_compress_zlib_end_inflate
};
