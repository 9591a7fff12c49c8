/*
 * http_accept.h: the weighted lists of the Accept* fields (RFC 9110
 * 12.4.2 and 12.5): "token [ ; q=qvalue ]" members, comma-separated.
 */
#ifndef PT_HTTP_ACCEPT_H
#define PT_HTTP_ACCEPT_H

#include "common/pt.h"

/* RFC 9110 12.4.2: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ),
 * in thousandths (q=0.5 is 500); -1 when s is not one. */
int pt_http_qvalue(pt_str_t s);

/* Iterates the members of an Accept-style list: stores the next member's
 * value (before any ';', OWS trimmed; may be empty) in *tok and its weight
 * in *q: the q parameter's, in thousandths, 1000 without one, -1 when a q
 * parameter is not a qvalue. Parameters other than q are skipped (whitespace around the "=" of q is read over). Empty
 * members are skipped. Returns false when no member is left. */
bool pt_http_accept_next(pt_str_t *list, pt_str_t *tok, int *q);

#endif
