/*
 * trace_context.h: the W3C Trace Context fields (https://www.w3.org/TR/
 * trace-context/): parsing and checking traceparent and tracestate, and
 * writing traceparent.
 */
#ifndef PT_TRACE_CONTEXT_H
#define PT_TRACE_CONTEXT_H

#include "common/pt.h"

#define PT_TRACE_ID_LEN         16      /* bytes; 32 hex digits */
#define PT_TRACE_SPAN_LEN       8       /* bytes; 16 hex digits */
#define PT_TRACEPARENT_LEN      55      /* "00-" 32 "-" 16 "-" 2 */
#define PT_TRACESTATE_MEMBERS   32      /* list-members at most (3.3.1.1) */
#define PT_TRACESTATE_MAX       512     /* bytes propagated at most (3.3.1.5) */
#define PT_TRACE_FLAG_SAMPLED   0x01

typedef struct {
    uint8_t version;
    uint8_t trace_id[PT_TRACE_ID_LEN];
    uint8_t parent_id[PT_TRACE_SPAN_LEN];
    uint8_t flags;
} pt_traceparent_t;

/* Parse one traceparent value (3.2): lowercase hex throughout, version
 * "ff" refused, version 00 exactly 55 characters, a later version at least
 * that and then "-" (its extra fields are ignored); trace-id and parent-id
 * not all zeros. PT_OK or PT_ERROR (out is then undefined). */
int pt_traceparent_parse(pt_str_t v, pt_traceparent_t *out);

/* Write traceparent version 00 for trace, span and flags into out
 * (PT_TRACEPARENT_LEN bytes, no NUL). */
void pt_traceparent_write(char *out, const uint8_t trace_id[PT_TRACE_ID_LEN],
                          const uint8_t span_id[PT_TRACE_SPAN_LEN], uint8_t flags);

/* A new trace's sampling decision at percent (0..100) from a uniform
 * 16-bit draw: 1 sampled, 0 not, -1 when the draw is one of the 36 values
 * past PT_TRACE_SAMPLE_DRAWS and must be drawn again (so that each percent
 * is exactly 655 of the 65500 draws kept). */
#define PT_TRACE_SAMPLE_DRAWS   65500
int pt_trace_sample_pick(uint16_t draw, unsigned percent);

/* Lowercase hex of n bytes into out (2n bytes, no NUL). */
void pt_trace_hex(char *out, const uint8_t *p, size_t n);

/* Check a tracestate value (3.3: list-members key "=" value, separated by
 * "," with optional blanks, empty members allowed; at most 32 members,
 * keys unique) and write it into out (cap bytes, at least
 * PT_TRACESTATE_MAX) without the empty members, cut to PT_TRACESTATE_MAX
 * bytes as 3.3.1.5 says (members over 128 bytes go first, then members
 * from the end). Returns the length written (0: nothing is left), or -1
 * when the value is invalid (it must then be dropped). */
ssize_t pt_tracestate_parse(pt_str_t v, char *out, size_t cap);

#endif
