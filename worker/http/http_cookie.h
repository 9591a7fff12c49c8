/*
 * http_cookie.h: reading one cookie out of a Cookie header field
 * (RFC 6265 5.4: "name=value" pairs separated by ";").
 */
#ifndef PT_HTTP_COOKIE_H
#define PT_HTTP_COOKIE_H

#include "common/pt.h"
#include "common/str.h"

/* The value of the first cookie called name (case-sensitive, RFC 6265
 * 4.1.1) in field, the value of one Cookie field, as sent (a quoted value
 * keeps its quotes); PT_STR_NULL when there is none. Pairs are split at
 * ";" with the blanks around them trimmed; a pair without "=" is skipped.
 * Reads only the bytes of field. */
pt_str_t pt_http_cookie(pt_str_t field, pt_str_t name);

#endif
