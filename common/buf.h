/*
 * buf.h: fixed-size I/O buffers from a per-process free list. A buffer is
 * held only while bytes are in flight: an idle keep-alive connection owns
 * none, which is what keeps 10,000 idle connections cheap.
 */
#ifndef PT_BUF_H
#define PT_BUF_H

#include "common/pt.h"

#define PT_BUF_SIZE     16384
/* Responses from upstreams: a 16 KiB body and its head in one read. */
#define PT_BUF_LARGE    (2 * PT_BUF_SIZE)
#define PT_BUF_POOLS    2

typedef struct pt_buf_s pt_buf_t;
struct pt_buf_s {
    char *start;
    char *end;          /* start + capacity */
    char *pos;          /* first byte not yet consumed */
    char *last;         /* one past the last byte read in */
    pt_buf_t *next;     /* free list */
    int8_t pool;        /* free list it returns to, -1: freed */
};

/* Cap, in bytes, on what the free lists together keep; beyond it buffers
 * go back to malloc. */
void pt_buf_pool_init(size_t max_free_bytes);

/* Give back to malloc half of the buffers no caller took since the last
 * call (each list's low-water mark), so a burst's buffers drain away over
 * a few calls while a steady load keeps its working set. Returns the bytes
 * freed. */
size_t pt_buf_trim(void);

/* A PT_BUF_SIZE buffer, empty. NULL on OOM. */
pt_buf_t *pt_buf_get(void);

/* A buffer of exactly size bytes: PT_BUF_SIZE and PT_BUF_LARGE come from
 * their pools, other sizes (heads bigger than those) from malloc. */
pt_buf_t *pt_buf_get_size(size_t size);

void pt_buf_put(pt_buf_t *b);

/* Move the unconsumed bytes to the start of the buffer. */
void pt_buf_compact(pt_buf_t *b);

static inline size_t pt_buf_len(const pt_buf_t *b)  { return (size_t) (b->last - b->pos); }
static inline size_t pt_buf_room(const pt_buf_t *b) { return (size_t) (b->end - b->last); }
static inline size_t pt_buf_cap(const pt_buf_t *b)  { return (size_t) (b->end - b->start); }
static inline void pt_buf_reset(pt_buf_t *b)        { b->pos = b->last = b->start; }

#endif
