/*
 * compress_zlib.c: gzip (deflate in the gzip wrapper, RFC 1952) and
 * gunzip codecs of a compress stream, over zlib.
 */
#include "common/pt.h"
#include <zlib.h>
#include "worker/mod/filter/compress/compress_stream.h"

/* Deflate states kept for the next response of the same parameters: a
 * state is some 256 KiB in several blocks, and taking it from malloc
 * per response (and giving it back) costs more than deflateReset. Per
 * worker process; a few, so an idle worker holds little. */
#define PT_COMPRESS_GZIP_SPARE  4

typedef struct {
    z_stream z;
    int level, wbits, mem_level;
} pt_compress_gzip_t;

static pt_compress_gzip_t *pt_compress_gzip_spare[PT_COMPRESS_GZIP_SPARE];
static unsigned pt_compress_gzip_nspare;

void *pt_compress_gzip_new(const pt_compress_params_t *p)
{
    int wbits = p->window_bits;

    /* A body of known length needs no window larger than itself: less
     * memory to set up per response (deflate's own lookahead is 262). */
    while (p->length >= 0 && wbits > 9 && ((int64_t) 1 << (wbits - 1)) >= p->length + 262)
        wbits--;
    int mem_level = wbits - 7 < 1 ? 1 : (wbits - 7 > 8 ? 8 : wbits - 7);
    for (unsigned i = 0; i < pt_compress_gzip_nspare; i++) {
        pt_compress_gzip_t *g = pt_compress_gzip_spare[i];
        if (g->level == p->level && g->wbits == wbits && g->mem_level == mem_level) {
            pt_compress_gzip_spare[i] = pt_compress_gzip_spare[--pt_compress_gzip_nspare];
            return g;
        }
    }
    pt_compress_gzip_t *g = calloc(1, sizeof(*g));
    if (g == NULL)
        return NULL;
    if (deflateInit2(&g->z, p->level, Z_DEFLATED, 16 + wbits, mem_level, Z_DEFAULT_STRATEGY)
        != Z_OK) {
        free(g);
        return NULL;
    }
    g->level = p->level;
    g->wbits = wbits;
    g->mem_level = mem_level;
    return g;
}

static int pt_compress_gzip_run(pt_compress_stream_t *s, const char *in, size_t len, int op)
{
    z_stream *z = &((pt_compress_gzip_t *) s->state)->z;
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
    pt_compress_gzip_t *g = s->state;

    /* Kept only when it resets cleanly, for a stream that ended or not. */
    if (pt_compress_gzip_nspare < PT_COMPRESS_GZIP_SPARE && deflateReset(&g->z) == Z_OK) {
        pt_compress_gzip_spare[pt_compress_gzip_nspare++] = g;
        return;
    }
    deflateEnd(&g->z);
    free(g);
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
