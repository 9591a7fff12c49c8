/*
 * h1_conn.h: HTTP/1.1 on a client connection: the protocol (net/proto.h)
 * that reads and parses request heads, one request at a time, pipelined
 * input kept for the next, and starts each through pt_request_start.
 */
#ifndef PT_H1_CONN_H
#define PT_H1_CONN_H

#include "common/pt.h"
#include "worker/core/core.h"

/* "http/1.1": init waits for a head (header_timeout) and reads it; drain
 * marks the connection closing, so the next response says Connection:
 * close; close frees the request. */
extern const pt_proto_t pt_h1_conn_proto;

/* c's request finished (and was freed) and c stays open: the next
 * request starts at next in c->rbuf. Wait for it (keepalive_timeout), or
 * parse it at once (after this batch of events) when it is buffered. */
void pt_h1_conn_keep(pt_conn_t *c, char *next);

#endif
