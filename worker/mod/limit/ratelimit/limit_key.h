/*
 * limit_key.h: what a limit counts by. A key is a template of request
 * variables ($remote_addr, $http_x_api_key, $consumer, $route, ...) plus
 * the two this module adds: $client_net_V4[_V6] (the client address cut
 * to a prefix, "10.1.2.0/24") and $limit_arg_NAME (a query argument, as
 * sent). The stored key is an 8-byte hash of the limit's name followed by
 * the rendered template, so limits of one name in one zone share counts.
 */
#ifndef PT_LIMIT_KEY_H
#define PT_LIMIT_KEY_H

#include "common/pt.h"
#include "worker/core/var.h"

/* The module's variables (pt_module_t.vars). */
extern const pt_var_def_t pt_limit_key_vars[];

/* The longest rendered key kept whole; a longer one is cut (and, being
 * longer than an entry holds, stored as a digest anyway). */
#define PT_LIMIT_KEY_RENDER_MAX  1024

/* The client address of sa cut to v4 / v6 bits, as text with the length
 * ("192.0.2.0/24", "2001:db8::/64") into buf (PT_VAR_BUF); empty for a
 * socket that is not IP. */
pt_str_t pt_limit_client_net(const struct sockaddr *sa, unsigned v4, unsigned v6, char *buf);

/* The raw value of query argument name in query (without '?'), or empty. */
pt_str_t pt_limit_query_arg(pt_str_t query, pt_str_t name);

#endif
