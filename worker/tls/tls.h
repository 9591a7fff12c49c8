/*
 * tls.h: TLS for client and upstream connections (OpenSSL).
 *
 * TLS is a transport of pt_io_t (worker/net/io.h): pt_tls_attach() sets
 * io->ssl and io->transport, and pt_io_recv() and pt_io_flush() then go
 * through pt_tls_recv() and pt_tls_flush(), which keep the edge-triggered
 * readiness contract of io.h: READABLE is cleared only when
 * OpenSSL says it wants to read (SSL_ERROR_WANT_READ), WRITABLE only when it
 * wants to write, so bytes OpenSSL already decrypted are never left behind
 * waiting for an edge that will not come.
 *
 * Load time (the master, tls_conf.c): a listener's `tls = { ... }` block and
 * an upstream's `tls = true | { ... }` become a pt_tls_conf_t holding a
 * ready SSL_CTX; certificates and keys are read and checked then, so a bad
 * one is a config error with file:line and a reload picks up new files.
 * Session-ticket keys live in a shared-memory zone per listener
 * (tls_ticket.c), so a session resumes on any worker and after a reload.
 *
 * Run time (a worker, tls.c): the non-blocking handshake of an accepted
 * connection under handshake_timeout, then the listener's protocol; a
 * clean, non-blocking close_notify when a connection ends. The handshake
 * to a TLS upstream is the upstream layer's (worker/upstream/upstream_tls.c),
 * with pt_tls_handshake() and this SSL_CTX.
 */
#ifndef PT_TLS_H
#define PT_TLS_H

#include "common/pt.h"
#include "common/conf.h"
#include "worker/net/conn.h"
#include "worker/core/core.h"
#include "worker/tls/tls_sni.h"

#include <openssl/ssl.h>

/* Largest TLS record payload: what one coalesced write carries. */
#define PT_TLS_RECORD_MAX       16384

enum { PT_TLS_VERIFY_OFF = 0, PT_TLS_VERIFY_OPTIONAL, PT_TLS_VERIFY_REQUIRED };

/* One certificate of a listener (or an upstream's client certificate). */
typedef struct {
    const char *cert_path;
    const char *key_path;
    X509 *x509;
    STACK_OF(X509) *chain;      /* the rest of the PEM file, may be NULL */
    EVP_PKEY *pkey;
    int key_type;               /* EVP_PKEY_RSA, EVP_PKEY_EC, ... */
    const char **names;         /* DNS names it serves (SAN, else CN); NULL-terminated */
    const char *ocsp_path;      /* where it came from (for -T) */
    unsigned char *ocsp;        /* DER OCSP response to staple, or NULL */
    size_t ocsp_len;
} pt_tls_cert_t;

/* A listener's or an upstream's TLS settings and what was built from them. */
struct pt_tls_conf_s {
    /* directives; which side reads which is in tls_conf.c */
    pt_tls_cert_t *certs;       /* listener: certificates, the first is the default */
    const char *cert;           /* shorthand for one certificate / client certificate */
    const char *key;
    const char *ocsp_staple;
    const char **protocols;
    const char *ciphers;
    const char *ciphersuites;
    const char **alpn;
    int client_certificate;     /* PT_TLS_VERIFY_* */
    const char *client_ca;
    int64_t verify_depth;
    pt_msec_t handshake_timeout;
    int session_tickets;
    pt_msec_t ticket_rotation;
    int verify;                 /* upstream: check the server's certificate */
    const char *ca;             /* upstream: CA file; NULL: the system store */
    const char *sni;            /* upstream: name to send and verify; NULL: the host */

    /* built */
    size_t ncerts;
    SSL_CTX *ctx;
    pt_tls_sni_t *sni_table;
    uint64_t default_mask;      /* certificates the SSL_CTX carries (no or unknown SNI) */
    unsigned char *alpn_wire;   /* ALPN list in wire format */
    size_t alpn_wire_len;
    pt_zone_req_t *tickets;     /* the ticket-key zone */
    unsigned char sid_ctx[32];  /* the listener's session context (SHA-256) */
    bool upstream;
};

/* ---- load time (tls_conf.c, in the master) ---- */

/* Parse a listener's tls group into a new l->tls. Errors (unreadable
 * files, a key that does not match its certificate, refused protocols)
 * are recorded in cf with file:line; PT_ERROR then. */
int pt_tls_conf_listen(pt_conf_ctx_t *cf, pt_conf_t *conf, const config_setting_t *s,
                       pt_listener_t *l);

/* Custom directive setter and dumper for an upstream's `tls`: true/false or
 * a group; field is a pt_tls_conf_t *. */
int pt_tls_conf_upstream(pt_conf_ctx_t *cf, const config_setting_t *s, void *field,
                         const pt_directive_t *d);
void pt_tls_conf_dump(FILE *out, const void *field, const pt_directive_t *d, int indent);

/* ---- session tickets (tls_ticket.c) ---- */

/* Ask for the listener's ticket-key zone and install the ticket callback
 * on tls->ctx. name identifies the listener across reloads. */
int pt_tls_ticket_setup(pt_conf_ctx_t *cf, pt_conf_t *conf, pt_tls_conf_t *tls,
                        const char *name);

/* ---- run time (tls.c, in a worker) ---- */

/* Per-worker setup: the slot where pt_tls_peer() caches its answer. */
int pt_tls_init_worker(const pt_conf_t *conf);

/* A connection was accepted on a TLS listener (its l->handshake): run the
 * handshake (bounded by handshake_timeout), then start the protocol ALPN
 * chose, or else the listener's, with c->proto->init(); or close it. */
void pt_tls_accept(pt_conn_t *c);

/* The TLS transport: pt_tls_recv, pt_tls_flush, pt_tls_shutdown and
 * pt_tls_close behind the ops of io.h. */
extern const pt_transport_t pt_tls_transport;

/* Make ssl (set up for io->ev.fd) io's session and TLS its transport;
 * io owns ssl from now on (freed by pt_io_close). */
void pt_tls_attach(pt_io_t *io, SSL *ssl);

/* The TLS side of pt_io_recv() and pt_io_flush(): same contract. */
ssize_t pt_tls_recv(pt_io_t *io, char *p, size_t n);
int pt_tls_flush(pt_io_t *io);

/* Send close_notify if the session is up and healthy; never waits. */
void pt_tls_shutdown(pt_io_t *io);

/* pt_tls_shutdown(), then free io->ssl and clear io->transport (the fd is
 * the caller's to close). */
void pt_tls_close(pt_io_t *io);

/* One step of a non-blocking handshake on io (client or upstream side):
 * PT_OK, PT_AGAIN (the flag it waits for cleared) or PT_ERROR (PT_IO_ERROR
 * set; *err and *sys say why for pt_tls_why). */
int pt_tls_handshake(pt_io_t *io, int *err, int *sys);

/* Why a handshake or record operation on ssl failed, for the log: the
 * certificate verification error, the system error or OpenSSL's queue. */
const char *pt_tls_why(SSL *ssl, int err, int sys_errno, char *buf, size_t len);

/* OpenSSL's new-session callback of upstream contexts (installed by
 * tls_conf.c): the SSL's app data, when set, is an SSL_SESSION * slot that
 * keeps the latest session, freeing the one before. */
int pt_tls_session_keep(SSL *ssl, SSL_SESSION *sess);

/* The client certificate of a TLS connection, verified. */
typedef struct {
    const char *subject;        /* RFC 2253, control and non-ASCII bytes escaped */
    char fingerprint[65];       /* SHA-256 of the DER, lowercase hex */
} pt_tls_peer_t;

/* The connection's verified client certificate, or NULL (plain connection,
 * no certificate, or not verified). Computed once per connection. */
const pt_tls_peer_t *pt_tls_peer(pt_io_t *io);

/* The OpenSSL error queue as one line ("reason; reason"), emptied. */
const char *pt_tls_error_string(char *buf, size_t len);

#endif
