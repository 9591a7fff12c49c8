/*
 * admin_body.h: an admin action's request body, from bytes to the JSON
 * object the actions read, apart from the request so it can be tested
 * and fuzzed on bytes alone (mod_admin.c sends the refusals).
 */
#ifndef PT_ADMIN_BODY_H
#define PT_ADMIN_BODY_H

#include "common/pt.h"

#include <jansson.h>

/* Largest JSON body an action takes. */
#define PT_ADMIN_BODY_MAX       (64 * 1024)

/* The len bytes at p (NULL: none) as a new JSON object; else NULL with
 * *status 413 (longer than PT_ADMIN_BODY_MAX) or 400 (not JSON, or not
 * an object) and the problem's detail written to detail (cap bytes, NUL
 * included). */
json_t *pt_admin_body_parse(const char *p, size_t len, unsigned *status, char *detail,
                            size_t cap);

/* POST api/servers/drain|enable: body's "upstream" and "server" strings
 * (borrowed from body); false when either is missing or not a string. */
bool pt_admin_drain_args(const json_t *body, const char **upstream, const char **server);

#endif
