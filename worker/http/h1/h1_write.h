/*
 * h1_write.h: the HTTP/1.1 serializer of responses: the one place that
 * writes a response's status line, its fields and the chunk framing of a
 * body the gateway frames itself.
 */
#ifndef PT_H1_WRITE_H
#define PT_H1_WRITE_H

#include "common/pt.h"
#include "common/arena.h"
#include "worker/core/filter.h"
#include "worker/http/response.h"

/* The interim answer to Expect: 100-continue. */
extern const pt_str_t pt_h1_write_continue;

/* The last chunk of a chunked body (no trailer fields). */
extern const pt_str_t pt_h1_write_last_chunk;

/* Room a chunk's size line needs (hex digits and CRLF). */
#define PT_H1_CHUNK_HEAD_MAX    20

/* Serialize resp into arena a: "HTTP/1.1 status reason", every field not
 * hidden (Content-Length with resp->content_length, left out while it is
 * -1; PT_FIELD_JOIN fields with the earlier values of their id first),
 * Transfer-Encoding: chunked and the Connection field the flags ask for,
 * and the empty line. PT_STR_NULL when out of memory. */
pt_str_t pt_h1_write_head(pt_arena_t *a, const pt_response_t *resp);

/* Write the size line of a chunk of len bytes (len > 0) at out, which
 * has room for PT_H1_CHUNK_HEAD_MAX bytes; its length. The chunk's data
 * is followed by CRLF. */
size_t pt_h1_write_chunk_head(char *out, size_t len);

/* Where a body chain's output goes on an HTTP/1.1 connection when the
 * gateway frames the body itself: what the last stage passes on, copied
 * into one block of arena memory that is used again once it has been
 * flushed (the caller sets len to 0), as chunks when chunked (the last
 * chunk after a PT_SPAN_LAST). Unchunked, a lone LAST span arriving while
 * nothing is held is referenced instead of copied (p points at its bytes,
 * cap is 0): read p and len, never write through p. */
typedef struct {
    pt_arena_t *arena;
    char *p;
    size_t len, cap;
    bool chunked;
} pt_h1_out_t;

/* A pt_body_chain_t sink whose bc->data is a pt_h1_out_t. PT_OK, or
 * PT_ERROR when the arena is out of memory. */
int pt_h1_write_sink(pt_body_chain_t *bc, pt_span_t *in);

#endif
