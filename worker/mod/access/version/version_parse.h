/*
 * version_parse.h: where a request names its API version: a path segment
 * "/v2/...", a header field's value, a media-type parameter of Accept
 * ("application/vnd.api+json; version=2") or a query argument.
 */
#ifndef PT_VERSION_PARSE_H
#define PT_VERSION_PARSE_H

#include "common/pt.h"

#define PT_VERSION_MAX  32      /* bytes of a version: letters, digits, ".", "_", "-" */

/* Whether v is a version as the config may write it (1..PT_VERSION_MAX
 * bytes of [A-Za-z0-9._-]). */
bool pt_version_valid(pt_str_t v);

/* The value of parameter name (case-insensitive) of the first media range
 * of an Accept value that has it and is not refused with q=0 (RFC 9110
 * 12.5.1: media-range parameters, token or quoted-string values). A quoted
 * value with escapes is unescaped into buf (PT_VERSION_MAX bytes); a
 * value that is not a valid version is skipped. PT_STR_NULL: none. Reads
 * only the bytes of accept; never fails on malformed input. */
pt_str_t pt_version_from_accept(pt_str_t accept, pt_str_t name, char *buf);

/* "/v2/..." or "/v2": the version after "v" (or "V") of the first path
 * segment, which must start with a digit ("/videos" names none);
 * PT_STR_NULL when that segment is not one. */
pt_str_t pt_version_from_path(pt_str_t path);

/* The value of argument name in a raw query ("a=1&version=2"), when it is
 * a valid version; PT_STR_NULL otherwise. */
pt_str_t pt_version_from_query(pt_str_t query, pt_str_t name);

#endif
