/*
 * auth.h: what every authentication mechanism (API keys, JWT, OAuth2
 * introspection, basic) shares: how a route combines them, how one says
 * yes or no, and the identity the upstream receives.
 *
 * A mechanism's access-phase handler, on a route where it is configured:
 *
 *     if (pt_auth_satisfied(r))            another mechanism said yes and
 *         return PT_DECLINED;              the route wants any one of them
 *     ... no credential of this kind, or a bad one:
 *         return pt_auth_refuse(r, 401, "Bearer realm=\"api\"", "jwt", "no token");
 *     ... verified:
 *         return pt_auth_accept(r, consumer, "jwt");
 *
 * With auth_satisfy = "all" (the default) a refusal answers at once and
 * every configured mechanism must accept. With "any" refusals are kept
 * and the first acceptance wins; when none accepted, the post-access
 * handler of mod_auth answers with the strongest refusal (503 over 403
 * over 401), carrying every mechanism's challenge. Either way each
 * refusal is logged at info with its reason, never the credential.
 *
 * After the access phase, mod_auth hides the client's copies of the
 * identity fields (consumer_header, consumer_groups_header,
 * consumer_plan_header) from the upstream on every route, and sends
 * the verified consumer's values in them.
 */
#ifndef PT_AUTH_H
#define PT_AUTH_H

#include "common/pt.h"
#include "worker/core/consumer.h"
#include "worker/http/request.h"

/* Challenges one request can carry back (one per mechanism). */
#define PT_AUTH_CHALLENGES  8

/* Whether a mechanism already accepted r and the route needs only one:
 * the caller declines without looking at its credential. */
bool pt_auth_satisfied(const pt_request_t *r);

/* mechanism verified r's credential as consumer c (its memory lives as
 * long as the request: config or r->arena). The first acceptance sets
 * r->consumer. Returns what the handler returns (PT_DECLINED). */
int pt_auth_accept(pt_request_t *r, const pt_consumer_t *c, const char *mechanism);

/* mechanism refuses r with status (401, 403, or 503 when it cannot check
 * now), challenge for WWW-Authenticate (NULL: none; it must outlive the
 * request: config, static or r->arena) and reason for the log and the
 * problem detail (no secret in it). Returns what the handler returns:
 * PT_DONE when it answered, PT_DECLINED when the decision waits for the
 * other mechanisms. */
int pt_auth_refuse(pt_request_t *r, unsigned status, const char *challenge,
                   const char *mechanism, const char *reason);

/* Hide the client's field name from the upstream, in any case and with
 * '_' for '-' (a credential that must not travel on: Authorization, an
 * API-key header; the identity fields). */
void pt_auth_strip_field(pt_request_t *r, pt_str_t name);

/* The bearer token of r's Authorization field (RFC 6750 §2.1:
 * "Bearer" in any case, 1*SP, one b64token). */
typedef enum {
    PT_AUTH_BEARER_NONE = 0,    /* no Authorization field, or another scheme */
    PT_AUTH_BEARER_FOUND,       /* *tok points into the field */
    PT_AUTH_BEARER_MALFORMED    /* "Bearer" with no token, a bad one, or two fields */
} pt_auth_bearer_t;

pt_auth_bearer_t pt_auth_bearer(const pt_request_t *r, pt_str_t *tok);

#endif
