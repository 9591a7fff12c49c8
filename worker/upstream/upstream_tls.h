/*
 * upstream_tls.h: TLS to upstream servers: the handshake of a new
 * connection, the name sent (SNI) and verified, and per server the last
 * session it gave us, offered again on the next connect. The SSL_CTX and
 * the record I/O come from worker/tls/.
 */
#ifndef PT_UPSTREAM_TLS_H
#define PT_UPSTREAM_TLS_H

#include "common/pt.h"
#include "worker/core/core.h"
#include "worker/upstream/upstream.h"

/* Set up and tear down the per-worker names and sessions of the TLS
 * upstreams of conf (by pt_upstream_init_worker and _exit_worker).
 * PT_OK, or PT_ERROR out of memory. */
int pt_upstream_tls_init_worker(const pt_conf_t *conf);
void pt_upstream_tls_exit_worker(void);

/* The handshake, called by pt_upstream_connected() once TCP is up (and
 * again on each event until done): PT_OK sets u->connected, PT_AGAIN
 * waits, PT_ERROR (errno EPROTO) after logging why, e.g. the certificate
 * verification error. */
int pt_upstream_tls_handshake(pt_upconn_t *u);

#endif
