/*
 * introspect_parse.h: an introspection endpoint's JSON answer (RFC 7662
 * §2.2) into a result, apart from the request so the parser can be
 * tested and fuzzed on bytes alone.
 */
#ifndef PT_INTROSPECT_PARSE_H
#define PT_INTROSPECT_PARSE_H

#include "common/pt.h"
#include "common/arena.h"
#include "worker/mod/auth/introspect/introspect_cache.h"

/* Largest exp kept (seconds; about year 31 million): a later one is
 * taken as this, so exp * 1000 fits a uint64_t and a huge or fractional
 * JSON number never meets an out-of-range conversion. */
#define PT_INTROSPECT_EXP_MAX       INT64_C(1000000000000000)

/* Parse the len bytes at body: a JSON object whose "active" is a
 * boolean; "sub", "client_id" and "scope" are taken when strings (copied
 * into a), "exp" when a number (0 when absent, not a number or below 1;
 * at most PT_INTROSPECT_EXP_MAX). An active answer whose "nbf" is later
 * than now_ms (wall clock) comes out inactive. NULL with *res filled,
 * or why the answer is refused (*res untouched). */
const char *pt_introspect_answer_parse(const char *body, size_t len, uint64_t now_ms,
                                       pt_arena_t *a, pt_introspect_result_t *res);

#endif
