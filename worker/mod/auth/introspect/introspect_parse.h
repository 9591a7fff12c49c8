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

/* Parse the len bytes at body: a JSON object whose "active" is a
 * boolean; "sub", "client_id" and "scope" are taken when strings (copied
 * into a), "exp" when a number (else 0). An active answer whose "nbf"
 * is later than now_ms (wall clock) comes out inactive. NULL with *res filled, or why the answer is refused
 * (*res untouched). */
const char *pt_introspect_answer_parse(const char *body, size_t len, uint64_t now_ms,
                                       pt_arena_t *a, pt_introspect_result_t *res);

#endif
