/*
 * compress_accept.h: the client's Accept-Encoding (RFC 9110 12.5.3) read
 * into weights, and the content coding chosen from them.
 */
#ifndef PT_COMPRESS_ACCEPT_H
#define PT_COMPRESS_ACCEPT_H

#include "common/pt.h"

/* The codings portico can produce, in no order (the route's preference
 * order is a list of these). */
enum pt_compress_coding {
    PT_CODING_IDENTITY = 0,
    PT_CODING_GZIP,
    PT_CODING_BR,
    PT_CODING__COUNT
};

/* Weights in thousandths (q=0.5 is 500); -1: the coding is not named. */
typedef struct {
    int q[PT_CODING__COUNT];
    int star;                   /* "*", -1 when absent */
} pt_compress_accept_t;

/* Start from "nothing named" (no field at all). */
void pt_compress_accept_init(pt_compress_accept_t *a);

/* Add one Accept-Encoding field value to a (several fields add up, as one
 * comma-separated list). Codings are case-insensitive and "x-gzip" counts
 * as "gzip" (RFC 9110 8.4.1.3); a member whose weight does not parse as a
 * qvalue is ignored, as are codings portico does not produce. Where a
 * coding is named twice, the first weight counts. */
void pt_compress_accept_parse(pt_compress_accept_t *a, pt_str_t value);

/* The weight a gives coding c: its own, else that of "*", else 0 (for
 * identity: its own, else that of "*", else 0, which is "acceptable but
 * not preferred": RFC 9110 12.5.3 keeps identity acceptable unless it is
 * refused). */
int pt_compress_accept_weight(const pt_compress_accept_t *a, unsigned c);

/* The coding to send: the one of prefer[0..n) (an order of codings, most
 * preferred first) with the highest weight above 0, ties going to the
 * earlier in prefer, provided its weight is at least identity's; else
 * PT_CODING_IDENTITY. */
unsigned pt_compress_accept_choose(const pt_compress_accept_t *a, const uint8_t *prefer,
                                   unsigned n);

#endif
