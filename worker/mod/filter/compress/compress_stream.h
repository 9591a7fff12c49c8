/*
 * compress_stream.h: one response body being encoded (gzip, brotli) or
 * decoded (gunzip) as it passes, into bounded output blocks in the
 * request arena.
 *
 * A body filter run hands the stream its input spans; what the codec
 * makes goes into blocks of PT_COMPRESS_BLOCK bytes, chained as spans and
 * passed on once per run. A run only takes blocks as it needs them, and
 * blocks are used again by the next run: the chain's caller sends the
 * output of a run before it starts the next (filter.h), so the memory
 * held is what the largest run made, never the whole body. The codecs'
 * own state (zlib, brotli) is malloc'd, sized by the level and window,
 * and released by a cleanup of the request arena, however the request
 * ends.
 */
#ifndef PT_COMPRESS_STREAM_H
#define PT_COMPRESS_STREAM_H

#include "common/pt.h"
#include "common/arena.h"
#include "worker/core/filter.h"

#define PT_COMPRESS_BLOCK   16384

/* What a codec is told along with its input. */
enum { PT_COMPRESS_RUN = 0, PT_COMPRESS_FLUSH, PT_COMPRESS_FINISH };

typedef struct pt_compress_block_s pt_compress_block_t;
struct pt_compress_block_s {
    pt_span_t span;
    pt_compress_block_t *next;
    size_t len;
    char data[PT_COMPRESS_BLOCK];
};

typedef struct pt_compress_stream_s pt_compress_stream_t;

typedef struct {
    const char *name;
    /* Consume len bytes at in with op (PT_COMPRESS_*), writing through
     * pt_compress_out_room/_commit. PT_OK, or PT_ERROR with s->error set. */
    int (*run)(pt_compress_stream_t *s, const char *in, size_t len, int op);
    void (*end)(pt_compress_stream_t *s);
} pt_compress_codec_t;

struct pt_compress_stream_s {
    const pt_compress_codec_t *codec;
    void *state;                /* the codec's (z_stream, BrotliEncoderState) */
    pt_arena_t *arena;
    pt_compress_block_t *blocks;    /* all taken so far, in order */
    pt_compress_block_t *cur;       /* the one being filled; NULL: none yet this run */
    uint64_t in_total, out_total;
    uint64_t max_ratio;         /* decoding: output over input allowed (0: no bound) */
    bool finished;              /* the codec's stream has ended */
    const char *error;          /* why a run failed, for the log */
};

/* Room for output: *p and *room (> 0), a fresh block when the current is
 * full. PT_ERROR when the arena has no more. */
int pt_compress_out_room(pt_compress_stream_t *s, char **p, size_t *room);
/* n bytes were written at the room handed out last. */
void pt_compress_out_commit(pt_compress_stream_t *s, size_t n);

/* Run the spans in through s and pass what is made on to the next stage
 * of bc, with in's FLUSH and LAST flags. The filter's result. */
int pt_compress_stream_filter(pt_compress_stream_t *s, pt_body_chain_t *bc, pt_span_t *in);

/* Set up s for codec in arena a, with codec state already made; the
 * arena cleanup that ends the codec. PT_OK or PT_ERROR (s->codec->end
 * has then run). */
int pt_compress_stream_init(pt_compress_stream_t *s, pt_arena_t *a,
                            const pt_compress_codec_t *codec, void *state);

/* The codecs (compress_zlib.c, compress_brotli.c). */
typedef struct {
    int level;                  /* gzip 1-9, brotli quality 0-11 */
    int window_bits;            /* log2 of the window: gzip 9-15, brotli 10-24 */
    int64_t length;             /* the body's, -1: unknown (sizes the window) */
} pt_compress_params_t;

/* Make the codec state for a body; NULL when out of memory. */
void *pt_compress_gzip_new(const pt_compress_params_t *p);
void *pt_compress_gunzip_new(void);
extern const pt_compress_codec_t pt_compress_gzip_codec;
extern const pt_compress_codec_t pt_compress_gunzip_codec;
#ifdef PT_HAVE_BROTLI
void *pt_compress_brotli_new(const pt_compress_params_t *p);
extern const pt_compress_codec_t pt_compress_brotli_codec;
#endif

#endif
