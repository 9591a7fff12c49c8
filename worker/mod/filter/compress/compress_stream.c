/*
 * compress_stream.c: output blocks and the body filter run of a coding
 * stream (see compress_stream.h).
 */
#include "common/pt.h"
#include "worker/mod/filter/compress/compress_stream.h"

int pt_compress_out_room(pt_compress_stream_t *s, char **p, size_t *room)
{
    pt_compress_block_t *b = s->cur;

    if (b && b->len == PT_COMPRESS_BLOCK) {
        b = b->next;
        if (b)
            b->len = 0;
    } else if (b == NULL) {
        b = s->blocks;
        if (b)
            b->len = 0;
    }
    if (b == NULL) {
        if ((b = pt_arena_alloc(s->arena, sizeof(*b))) == NULL) {
            s->error = "out of memory for compressed output";
            return PT_ERROR;
        }
        b->next = NULL;
        b->len = 0;
        if (s->cur)
            s->cur->next = b;
        else
            s->blocks = b;
    }
    s->cur = b;
    *p = b->data + b->len;
    *room = PT_COMPRESS_BLOCK - b->len;
    return PT_OK;
}

void pt_compress_out_commit(pt_compress_stream_t *s, size_t n)
{
    s->cur->len += n;
    s->out_total += n;
}

int pt_compress_stream_filter(pt_compress_stream_t *s, pt_body_chain_t *bc, pt_span_t *in)
{
    unsigned flags = 0;

    s->cur = NULL;
    for (pt_span_t *sp = in; sp; sp = sp->next) {
        int op = (sp->flags & PT_SPAN_LAST) ? PT_COMPRESS_FINISH
                 : (sp->flags & PT_SPAN_FLUSH) ? PT_COMPRESS_FLUSH : PT_COMPRESS_RUN;
        flags |= sp->flags;
        if (s->finished) {
            /* Bytes after the end of a gzip stream that was complete. */
            if (sp->data.len && s->codec == &pt_compress_gunzip_codec) {
                s->error = "data after the end of the gzip stream";
                return PT_ERROR;
            }
            continue;
        }
        s->in_total += sp->data.len;
        if (s->codec->run(s, sp->data.p, sp->data.len, op) != PT_OK)
            return PT_ERROR;
    }
    /* The blocks filled in this run, as one span list. */
    pt_span_t *head = NULL, **tail = &head;
    if (s->cur) {
        for (pt_compress_block_t *b = s->blocks;; b = b->next) {
            if (b->len) {
                b->span = (pt_span_t) { { b->data, b->len }, 0, NULL };
                *tail = &b->span;
                tail = &b->span.next;
            }
            if (b == s->cur)
                break;
        }
    }
    pt_span_t bare = { PT_STR_NULL, 0, NULL };
    if (head == NULL) {
        if (!(flags & (PT_SPAN_FLUSH | PT_SPAN_LAST)))
            return PT_OK;       /* the codec holds it all for now */
        head = &bare;
    }
    /* The flags go on the last span passed on. */
    pt_span_t *last = head;
    while (last->next)
        last = last->next;
    last->flags = flags & (PT_SPAN_FLUSH | PT_SPAN_LAST);
    return pt_filter_body_next(bc, head);
}

static void pt_compress_stream_cleanup(void *data)
{
    pt_compress_stream_t *s = data;

    if (s->state) {
        s->codec->end(s);
        s->state = NULL;
    }
}

int pt_compress_stream_init(pt_compress_stream_t *s, pt_arena_t *a,
                            const pt_compress_codec_t *codec, void *state)
{
    memset(s, 0, sizeof(*s));
    s->codec = codec;
    s->state = state;
    s->arena = a;
    if (pt_arena_cleanup_add(a, pt_compress_stream_cleanup, s) != PT_OK) {
        codec->end(s);
        s->state = NULL;
        return PT_ERROR;
    }
    return PT_OK;
}
