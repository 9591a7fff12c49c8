/*
 * request_log.h: error log lines about a request, with the context an
 * operator needs to find it (as nginx appends client, server, request):
 *
 *     ... upstream b: read timed out, client: 192.0.2.7, host: "api.example",
 *     request: "GET /v1/users HTTP/1.1", id: 0193..., upstream: "10.0.0.5:8080"
 *
 * Client text in the context (host, request line) is cut and escaped by
 * the log like any message.
 */
#ifndef PT_REQUEST_LOG_H
#define PT_REQUEST_LOG_H

#include "common/pt.h"
#include "worker/http/request.h"

/* pt_log(level, fmt, ...) followed by r's context. */
void pt_request_log_line(pt_request_t *r, int level, const char *fmt, ...) PT_PRINTF(3, 4);

/* The same with strerror(err) after the message. */
void pt_request_log_errno(pt_request_t *r, int level, int err, const char *fmt, ...)
    PT_PRINTF(4, 5);

/* A debug line about r, written when r is traced (r->debug: log_level
 * "debug", or the client is in debug_clients), whatever log_level says. */
void pt_request_debug(pt_request_t *r, const char *fmt, ...) PT_PRINTF(2, 3);

#endif
