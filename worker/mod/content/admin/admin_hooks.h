/*
 * admin_hooks.h: how another module shows its state in the admin API and
 * offers actions there, without the admin module knowing it.
 *
 * A module (rate limits, cache, ...) registers, from its init_main (the
 * master, before the workers fork, so every worker inherits the table) or
 * its init_worker:
 *
 *   - a zone reader: GET .../api/zones answers { NAME: reader(data), ... };
 *     the status page reads "hits" and "misses" (a hit ratio),
 *     "refused" (refusals) and "top_consumers" (a list of { "name",
 *     "requests" }) from any reader that gives them;
 *   - actions: POST .../api/actions/NAME runs fn with the request's JSON
 *     body (an object), e.g. "cache.purge" { "prefix": "..." } or
 *     "ratelimit.reset" { "limit": "name", "key": "..." }.
 *
 * Registering a name again replaces its entry (a reload runs init_main
 * again). The tables hold PT_ADMIN_HOOKS_MAX entries each.
 */
#ifndef PT_ADMIN_HOOKS_H
#define PT_ADMIN_HOOKS_H

#include "common/pt.h"

#include <jansson.h>

#define PT_ADMIN_HOOKS_MAX      32
#define PT_ADMIN_HOOK_NAME_MAX  48

/* A new JSON value (object) describing the zone(s) now; NULL: nothing
 * (the name is left out of the answer). */
typedef json_t *(*pt_admin_zone_reader_pt)(void *data);

/* Run the action on body (a JSON object). Returns an HTTP status: 2xx
 * with *answer (a new JSON value, or NULL for {"ok":true}), else 4xx/5xx
 * with *why (static or the caller's memory) for the problem+json detail. */
typedef unsigned (*pt_admin_action_pt)(const json_t *body, json_t **answer, const char **why,
                                       void *data);

/* PT_OK, or PT_ERROR: the name is empty or too long, or the table is full. */
int pt_admin_zone_reader_add(const char *name, pt_admin_zone_reader_pt fn, void *data);
int pt_admin_action_add(const char *name, pt_admin_action_pt fn, void *data);

/* For the admin module: every reader's answer as one object; the action
 * of that name (NULL: none) and the list of action names. */
json_t *pt_admin_zones_read(void);
bool pt_admin_action_find(const char *name, pt_admin_action_pt *fn, void **data);
json_t *pt_admin_actions_list(void);

#endif
