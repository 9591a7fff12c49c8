/*
 * http_chunked.h: strict, incremental decoder of the chunked transfer coding (RFC 9112 §7.1)
 * and the chunk-size line of the encoder.
 *
 * The decoder is resumable at any byte boundary and copies nothing: chunk data comes back as
 * spans of the caller's input. What it accepts:
 *  - chunk-size = 1*HEXDIG, at most PT_CHUNKED_MAX_DIGITS digits (leading zeros included) and
 *    a value that fits in 64 bits. No whitespace before CRLF; whitespace after the size is
 *    accepted only as the BWS before a ';' (RFC 9110 §5.6.3 has recipients parse BWS).
 *  - chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] ), checked
 *    byte by byte and then ignored; at most max_ext bytes per chunk line.
 *  - CRLF right after the chunk data; anything else is an error.
 *  - trailer fields checked like header fields: tchar name, ':' right after it, value bytes
 *    VCHAR / SP / HTAB / obs-text; no obs-fold; at most max_trailer bytes in all.
 *  - Lines end in CRLF only: a bare LF or bare CR is an error.
 * The trailer section is part of what is consumed, so a proxy forwarding trailers takes them
 * from the input between the last-chunk line and the end of the message.
 */
#ifndef PT_HTTP_CHUNKED_H
#define PT_HTTP_CHUNKED_H

#define PT_CHUNKED_MAX_DIGITS       32
#define PT_CHUNKED_DEFAULT_MAX_EXT  4096
#define PT_CHUNKED_DEFAULT_MAX_TRAILER 16384

typedef struct {
    int state;              /* private */
    uint64_t remaining;     /* bytes left in the current chunk */
    size_t ext_len, trailer_len, line_len;  /* private counters for limits */
    size_t max_ext;         /* cap on one chunk's extensions (default 4096 if 0) */
    size_t max_trailer;     /* cap on the trailer section (default 16384 if 0) */
    const char *error;      /* reason on PT_ERROR */
    size_t trailer_off;     /* set by each parse call: where in its input the trailer
                             * section began, when the call read the end of the last-chunk
                             * line; SIZE_MAX otherwise */
} pt_chunked_t;

/* Start decoding a new message. Clears the limits too: set max_ext and max_trailer after. */
void pt_chunked_init(pt_chunked_t *c);

/* Incremental, resumable at any byte boundary. Consumes from in[0..len) and sets *consumed.
 * When chunk data is found, *data points at it (inside in) and it returns PT_OK with
 * *consumed ending right after that data span (the caller handles the span and calls again
 * with the rest). With no data span in what it consumed, *data is { NULL, 0 } and it returns
 * PT_AGAIN (all input consumed, need more), PT_DONE (last-chunk and trailer section complete;
 * *consumed ends exactly after the final CRLF, the rest of in belongs to the next message;
 * later calls consume nothing and return PT_DONE again), or PT_ERROR (c->error set; later
 * calls return PT_ERROR again). */
int pt_chunked_parse(pt_chunked_t *c, const char *in, size_t len, size_t *consumed,
                     pt_str_t *data);

/* Whether the message parsed so far ended (PT_DONE seen). */
bool pt_chunked_done(const pt_chunked_t *c);

/* Whether the last-chunk line has been read: what is consumed from now on is the trailer
 * section (a relay that scrubs trailers takes those bytes aside; see trailer_off for where
 * they began in the call that crossed the line). True once done, too. */
bool pt_chunked_in_trailer(const pt_chunked_t *c);

/* Write a chunk-size line ("1a2b\r\n", lowercase hex) for n bytes into buf (at least 20
 * bytes); returns its length. n == 0 writes the last-chunk line "0\r\n". */
size_t pt_chunked_size_line(char *buf, uint64_t n);

#endif
