/*
 * compress_brotli.c: the brotli codec of a compress stream (RFC 7932),
 * over libbrotlienc; built only with PT_HAVE_BROTLI.
 */
#include "common/pt.h"
#ifdef PT_HAVE_BROTLI
#include <brotli/encode.h>
#include "worker/mod/filter/compress/compress_stream.h"

void *pt_compress_brotli_new(const pt_compress_params_t *p)
{
    BrotliEncoderState *b = BrotliEncoderCreateInstance(NULL, NULL, NULL);
    int lgwin = p->window_bits;

    if (b == NULL)
        return NULL;
    /* As for gzip: no window larger than a body of known length. */
    while (p->length >= 0 && lgwin > BROTLI_MIN_WINDOW_BITS
           && ((int64_t) 1 << (lgwin - 1)) >= p->length + 16)
        lgwin--;
    BrotliEncoderSetParameter(b, BROTLI_PARAM_QUALITY, (uint32_t) p->level);
    BrotliEncoderSetParameter(b, BROTLI_PARAM_LGWIN, (uint32_t) lgwin);
    BrotliEncoderSetParameter(b, BROTLI_PARAM_MODE, BROTLI_MODE_TEXT);
    if (p->length >= 0 && p->length <= (1 << 30))
        BrotliEncoderSetParameter(b, BROTLI_PARAM_SIZE_HINT, (uint32_t) p->length);
    return b;
}

static int pt_compress_brotli_run(pt_compress_stream_t *s, const char *in, size_t len, int op)
{
    BrotliEncoderState *b = s->state;
    BrotliEncoderOperation bop = op == PT_COMPRESS_FINISH ? BROTLI_OPERATION_FINISH
                                 : op == PT_COMPRESS_FLUSH ? BROTLI_OPERATION_FLUSH
                                 : BROTLI_OPERATION_PROCESS;
    const uint8_t *next_in = (const uint8_t *) in;
    size_t avail_in = len;

    for (;;) {
        char *out;
        size_t room;
        if (pt_compress_out_room(s, &out, &room) != PT_OK)
            return PT_ERROR;
        uint8_t *next_out = (uint8_t *) out;
        size_t avail_out = room;
        if (!BrotliEncoderCompressStream(b, bop, &avail_in, &next_in, &avail_out, &next_out,
                                         NULL)) {
            s->error = "brotli encoder failed";
            return PT_ERROR;
        }
        pt_compress_out_commit(s, room - avail_out);
        if (op == PT_COMPRESS_FINISH) {
            if (BrotliEncoderIsFinished(b)) {
                s->finished = true;
                return PT_OK;
            }
            continue;
        }
        if (avail_in == 0 && !BrotliEncoderHasMoreOutput(b))
            return PT_OK;
    }
}

static void pt_compress_brotli_end(pt_compress_stream_t *s)
{
    BrotliEncoderDestroyInstance(s->state);
}

const pt_compress_codec_t pt_compress_brotli_codec = {
    "br", pt_compress_brotli_run, pt_compress_brotli_end
};
#endif
