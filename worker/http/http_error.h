/*
 * http_error.h: the one place gateway-made errors are rendered.
 *
 * By default an error is an RFC 9457 problem document
 * (application/problem+json) carrying the status, its title, a detail and
 * the request id. A route (or defaults { }) can replace the body and type
 * per status with the "errors" directive.
 */
#ifndef PT_HTTP_ERROR_H
#define PT_HTTP_ERROR_H

#include "common/pt.h"
#include "common/conf.h"
#include "worker/core/core.h"
#include "worker/http/http_parse.h"

/* Finish r with status: render, send, log, finalize. detail may be NULL
 * (a default sentence is used). If a response already started, the
 * connection is closed instead: the client must not take a truncated
 * answer for a whole one. */
void pt_http_error(pt_request_t *r, unsigned status, const char *detail);

/* pt_http_error() with nfields more header fields for the response (a
 * 503's Retry-After); they must stay valid until the response is sent (the
 * request arena). A 405 sends its Allow instead. */
void pt_http_error_fields(pt_request_t *r, unsigned status, const char *detail,
                          const pt_http_field_t *fields, unsigned nfields);

/* The custom page for status on r's route, or NULL for the default. */
const pt_errpage_t *pt_http_error_page(const pt_request_t *r, unsigned status);

/* errors = ( { status = 404; body = "..."; content_type = "text/plain"; },
 *            { status = 502; file = "/etc/portico/502.html"; } ); */
int pt_http_error_conf_set(pt_conf_ctx_t *cf, const config_setting_t *s, void *field,
                           const pt_directive_t *d);
void pt_http_error_conf_dump(FILE *out, const void *field, const pt_directive_t *d,
                             int indent);

#endif
