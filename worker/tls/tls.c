/*
 * tls.c: TLS at run time: record I/O on pt_io_t, the handshakes of client
 * and upstream connections, closing, upstream session reuse and the
 * client certificate as seen by modules.
 */
#include "common/pt.h"
#include "common/log.h"
#include "worker/http/request.h"
#include "worker/tls/tls.h"
#include "worker/upstream/upstream.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

/* Per worker and per server of a TLS upstream: the name to send and check
 * and the last session the server gave us, offered on the next connect. */
typedef struct {
    SSL_SESSION *session;
    char name[PT_TLS_SNI_NAME_MAX + 1];
    bool ip;                    /* name is an address: verify it, send no SNI */
} pt_tls_upserver_t;

static pt_tls_upserver_t **pt_tls_up;   /* [upstream index][server index]; NULL: plain */
static const pt_conf_t *pt_tls_conf;
static int pt_tls_peer_idx = -1;        /* SSL ex_data slot of the pt_tls_peer_t cache */

/* Where scattered output is gathered into one record (see pt_tls_flush). */
static char pt_tls_wbuf[PT_TLS_RECORD_MAX];

const char *pt_tls_error_string(char *buf, size_t len)
{
    unsigned long e;
    size_t n = 0;

    buf[0] = '\0';
    while ((e = ERR_get_error()) != 0) {
        const char *reason = ERR_reason_error_string(e);
        char code[32];
        if (reason == NULL) {
            snprintf(code, sizeof(code), "error %#lx", e);
            reason = code;
        }
        if (n < len)
            n += (size_t) snprintf(buf + n, len - n, "%s%s", n ? "; " : "", reason);
    }
    return buf;
}

/* Why a handshake or record operation failed, for the log. */
static const char *pt_tls_why(SSL *ssl, int err, int sys_errno, char *buf, size_t len)
{
    long vr = SSL_get_verify_result(ssl);

    if (vr != X509_V_OK && SSL_get_peer_cert_chain(ssl) != NULL) {
        ERR_clear_error();
        snprintf(buf, len, "certificate verify failed: %s", X509_verify_cert_error_string(vr));
        return buf;
    }
    if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
        snprintf(buf, len, "%s", sys_errno ? strerror(sys_errno)
                                           : "the peer closed the connection");
        return buf;
    }
    pt_tls_error_string(buf, len);
    if (buf[0] == '\0')
        snprintf(buf, len, "SSL error %d", err);
    return buf;
}

/* ---- record I/O -------------------------------------------------------- */

ssize_t pt_tls_recv(pt_io_t *io, char *p, size_t n)
{
    SSL *ssl = io->ssl;
    size_t total = 0;

    io->flags &= ~PT_IO_READ_WANTS_W;
    ERR_clear_error();
    /* Read until OpenSSL wants the socket or p is full: only then is a
     * cleared READABLE true of the socket and of OpenSSL's own buffers. */
    while (total < n) {
        size_t got;
        if (SSL_read_ex(ssl, p + total, n - total, &got)) {
            total += got;
            continue;
        }
        int sys = errno;
        int err = SSL_get_error(ssl, 0);
        switch (err) {
        case SSL_ERROR_WANT_READ:
            io->flags &= ~PT_IO_READABLE;
            return total ? (ssize_t) total : PT_AGAIN;
        case SSL_ERROR_WANT_WRITE:
            /* A key update or an alert needs the socket to drain first;
             * the writable edge makes this readable again (conn.h). */
            io->flags &= ~(PT_IO_READABLE | PT_IO_WRITABLE);
            io->flags |= PT_IO_READ_WANTS_W;
            return total ? (ssize_t) total : PT_AGAIN;
        case SSL_ERROR_ZERO_RETURN:
            if (total)
                return (ssize_t) total;     /* the next call sees the end again */
            io->flags |= PT_IO_EOF;
            return 0;
        default:
            if (total) {
                ERR_clear_error();
                return (ssize_t) total;     /* the failure is sticky: reported next */
            }
            if (err == SSL_ERROR_SSL) {
                char why[256];
                pt_log(PT_LOG_INFO, "TLS read failed: %s", pt_tls_why(ssl, err, sys, why,
                                                                      sizeof(why)));
            }
            ERR_clear_error();
            io->flags |= PT_IO_ERROR;
            errno = sys ? sys : ECONNRESET;
            return PT_ERROR;
        }
    }
    return (ssize_t) total;
}

/* Drop n written bytes from the front of io->out. */
static void pt_tls_consume(pt_io_t *io, size_t n)
{
    unsigned i = 0;

    while (i < io->nout && n >= io->out[i].iov_len)
        n -= io->out[i++].iov_len;
    if (i < io->nout) {
        io->out[i].iov_base = (char *) io->out[i].iov_base + n;
        io->out[i].iov_len -= n;
    }
    if (i)
        memmove(io->out, io->out + i, (io->nout - i) * sizeof(io->out[0]));
    io->nout -= i;
}

int pt_tls_flush(pt_io_t *io)
{
    SSL *ssl = io->ssl;

    io->flags &= ~PT_IO_WRITE_WANTS_R;
    while (io->nout) {
        const char *buf;
        size_t len, done;

        if (!(io->flags & PT_IO_WRITABLE))
            return PT_AGAIN;
        /* SSL_write takes one buffer: a response head and a small body as
         * two iovecs would become two records, so gather up to one full
         * record. After WANT_WRITE OpenSSL needs the same leading bytes
         * again (at least as many; the address may move, see
         * SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER), which gathering the
         * unchanged front of io->out again gives. */
        if (io->nout == 1 || io->out[0].iov_len >= PT_TLS_RECORD_MAX) {
            buf = io->out[0].iov_base;
            len = io->out[0].iov_len;
        } else {
            len = 0;
            for (unsigned i = 0; i < io->nout && len < sizeof(pt_tls_wbuf); i++) {
                size_t take = pt_min(io->out[i].iov_len, sizeof(pt_tls_wbuf) - len);
                memcpy(pt_tls_wbuf + len, io->out[i].iov_base, take);
                len += take;
            }
            buf = pt_tls_wbuf;
        }
        ERR_clear_error();
        if (SSL_write_ex(ssl, buf, len, &done)) {
            io->sent += done;
            pt_tls_consume(io, done);
            continue;
        }
        int sys = errno;
        int err = SSL_get_error(ssl, 0);
        switch (err) {
        case SSL_ERROR_WANT_WRITE:
            io->flags &= ~PT_IO_WRITABLE;
            return PT_AGAIN;
        case SSL_ERROR_WANT_READ:
            io->flags &= ~PT_IO_WRITABLE;
            io->flags |= PT_IO_WRITE_WANTS_R;
            return PT_AGAIN;
        default:
            if (err == SSL_ERROR_SSL) {
                char why[256];
                pt_log(PT_LOG_INFO, "TLS write failed: %s", pt_tls_why(ssl, err, sys, why,
                                                                       sizeof(why)));
            }
            ERR_clear_error();
            io->flags |= PT_IO_ERROR;
            errno = sys ? sys : EPIPE;
            return PT_ERROR;
        }
    }
    return PT_OK;
}

/* One step of a non-blocking handshake: PT_OK, PT_AGAIN or PT_ERROR
 * (PT_IO_ERROR set; *err and *sys say why for pt_tls_why). */
static int pt_tls_handshake(pt_io_t *io, int *err, int *sys)
{
    ERR_clear_error();
    int n = SSL_do_handshake(io->ssl);
    if (n == 1)
        return PT_OK;
    *sys = errno;
    *err = SSL_get_error(io->ssl, n);
    switch (*err) {
    case SSL_ERROR_WANT_READ:
        io->flags &= ~PT_IO_READABLE;
        return PT_AGAIN;
    case SSL_ERROR_WANT_WRITE:
        io->flags &= ~PT_IO_WRITABLE;
        return PT_AGAIN;
    default:
        io->flags |= PT_IO_ERROR;
        return PT_ERROR;
    }
}

void pt_tls_shutdown(pt_io_t *io)
{
    SSL *ssl = io->ssl;

    /* No close_notify after a failure (OpenSSL forbids it), during a
     * handshake, twice, or over output still queued: that connection is
     * being cut, and a close_notify would make a cut look like an end. */
    if (ssl == NULL || (io->flags & PT_IO_ERROR) || io->nout || !SSL_is_init_finished(ssl)
        || (SSL_get_shutdown(ssl) & SSL_SENT_SHUTDOWN))
        return;
    ERR_clear_error();
    /* 0 means the peer's close_notify has not come; we do not wait for it. */
    SSL_shutdown(ssl);
    ERR_clear_error();
}

void pt_tls_close(pt_io_t *io)
{
    if (io->ssl == NULL)
        return;
    pt_tls_shutdown(io);
    if (pt_tls_peer_idx >= 0)
        free(SSL_get_ex_data(io->ssl, pt_tls_peer_idx));
    SSL_free(io->ssl);
    io->ssl = NULL;
    io->transport = NULL;
}

const pt_transport_t pt_tls_transport = {
    .recv = pt_tls_recv, .flush = pt_tls_flush, .shutdown = pt_tls_shutdown,
    .close = pt_tls_close,
};

void pt_tls_attach(pt_io_t *io, SSL *ssl)
{
    io->ssl = ssl;
    io->transport = &pt_tls_transport;
}

/* ---- client connections ------------------------------------------------ */

static void pt_tls_handshake_timeout(pt_timer_t *t)
{
    pt_conn_t *c = t->data;

    pt_log(PT_LOG_INFO, "TLS handshake with %s timed out", pt_conn_peer_ip(c));
    pt_conn_close(c);
}

static void pt_tls_handshake_handler(pt_conn_t *c)
{
    int err = 0, sys = 0;
    int rc = pt_tls_handshake(&c->io, &err, &sys);

    if (rc == PT_AGAIN)
        return;
    if (rc == PT_ERROR) {
        char why[256];
        pt_log(PT_LOG_INFO, "TLS handshake with %s failed: %s", pt_conn_peer_ip(c),
               pt_tls_why(c->io.ssl, err, sys, why, sizeof(why)));
        pt_conn_close(c);
        return;
    }
    pt_timer_del(&c->timer);
    pt_request_init_conn(c);
}

void pt_tls_accept(pt_conn_t *c)
{
    const pt_tls_conf_t *tls = c->listener->tls;
    SSL *ssl = SSL_new(tls->ctx);

    if (ssl == NULL || SSL_set_fd(ssl, c->io.ev.fd) != 1) {
        char why[256];
        pt_log(PT_LOG_ERR, "cannot start TLS for %s: %s", pt_conn_peer_ip(c),
               pt_tls_error_string(why, sizeof(why)));
        SSL_free(ssl);
        pt_conn_close(c);
        return;
    }
    SSL_set_accept_state(ssl);
    pt_tls_attach(&c->io, ssl);
    c->handler = pt_tls_handshake_handler;
    c->timer.handler = pt_tls_handshake_timeout;
    pt_timer_set(&c->timer, tls->handshake_timeout);
    pt_tls_handshake_handler(c);
}

const pt_tls_peer_t *pt_tls_peer(pt_io_t *io)
{
    SSL *ssl = io->ssl;

    if (ssl == NULL || pt_tls_peer_idx < 0)
        return NULL;
    pt_tls_peer_t *p = SSL_get_ex_data(ssl, pt_tls_peer_idx);
    if (p != NULL)
        return p->subject ? p : NULL;

    X509 *x = SSL_get0_peer_certificate(ssl);
    if (x == NULL || SSL_get_verify_result(ssl) != X509_V_OK) {
        /* Remember the answer too: a cached "none" is a zeroed struct. */
        p = calloc(1, sizeof(*p));
        if (p && !SSL_set_ex_data(ssl, pt_tls_peer_idx, p))
            free(p);
        return NULL;
    }
    BIO *b = BIO_new(BIO_s_mem());
    char *text = NULL;
    long len = 0;
    if (b == NULL || X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) < 0
        || (len = BIO_get_mem_data(b, &text)) < 0) {
        BIO_free(b);
        ERR_clear_error();
        return NULL;
    }
    p = malloc(sizeof(*p) + (size_t) len + 1);
    if (p == NULL) {
        BIO_free(b);
        return NULL;
    }
    char *subject = (char *) (p + 1);
    for (long i = 0; i < len; i++) {
        unsigned char ch = (unsigned char) text[i];
        /* It goes into a header line: nothing that could end or bend one. */
        subject[i] = (char) (ch < 0x20 || ch >= 0x7f ? '?' : ch);
    }
    subject[len] = '\0';
    p->subject = subject;
    BIO_free(b);

    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    p->fingerprint[0] = '\0';
    if (X509_digest(x, EVP_sha256(), md, &mdlen) == 1)
        for (unsigned i = 0; i < mdlen && i < 32; i++)
            snprintf(p->fingerprint + 2 * i, 3, "%02x", md[i]);
    if (!SSL_set_ex_data(ssl, pt_tls_peer_idx, p)) {
        free(p);
        return NULL;
    }
    return p;
}

/* ---- upstream connections ---------------------------------------------- */

/* The host part of "host:port" ("[v6]:port" too) into st. */
static void pt_tls_upserver_name(pt_tls_upserver_t *st, const char *server, const char *sni)
{
    unsigned char addr[sizeof(struct in6_addr)];
    const char *p = sni ? sni : server;
    size_t len = strlen(p);

    if (sni == NULL) {
        const char *colon = strrchr(p, ':');
        if (p[0] == '[') {
            const char *end = strchr(p, ']');
            p++;
            len = end ? (size_t) (end - p) : strlen(p);
        } else if (colon != NULL) {
            len = (size_t) (colon - p);
        }
    }
    len = pt_min(len, sizeof(st->name) - 1);
    memcpy(st->name, p, len);
    st->name[len] = '\0';
    st->ip = inet_pton(AF_INET, st->name, addr) == 1 || inet_pton(AF_INET6, st->name, addr) == 1;
}

int pt_tls_init_worker(const pt_conf_t *conf)
{
    if (pt_tls_peer_idx < 0)
        pt_tls_peer_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    pt_tls_conf = conf;
    pt_tls_up = calloc(conf->nupstreams ? conf->nupstreams : 1, sizeof(*pt_tls_up));
    if (pt_tls_peer_idx < 0 || pt_tls_up == NULL)
        return PT_ERROR;
    for (size_t i = 0; i < conf->nupstreams; i++) {
        const pt_upstream_t *u = &conf->upstreams[i];
        if (u->tls == NULL)
            continue;
        if ((pt_tls_up[i] = calloc(u->nservers, sizeof(*pt_tls_up[i]))) == NULL)
            return PT_ERROR;
        for (size_t k = 0; k < u->nservers; k++)
            pt_tls_upserver_name(&pt_tls_up[i][k], u->servers[k].name, u->tls->sni);
    }
    return PT_OK;
}

void pt_tls_exit_worker(void)
{
    if (pt_tls_up == NULL)
        return;
    for (size_t i = 0; i < pt_tls_conf->nupstreams; i++) {
        if (pt_tls_up[i] == NULL)
            continue;
        for (size_t k = 0; k < pt_tls_conf->upstreams[i].nservers; k++)
            SSL_SESSION_free(pt_tls_up[i][k].session);
        free(pt_tls_up[i]);
    }
    free(pt_tls_up);
    pt_tls_up = NULL;
}

int pt_tls_upstream_new_session(SSL *ssl, SSL_SESSION *sess)
{
    pt_tls_upserver_t *st = SSL_get_app_data(ssl);

    if (st == NULL)
        return 0;
    SSL_SESSION_free(st->session);
    st->session = sess;
    return 1;                   /* we keep the reference */
}

int pt_tls_upstream_handshake(pt_upconn_t *u)
{
    const pt_upstream_t *up = u->server->upstream;
    pt_tls_upserver_t *st = &pt_tls_up[up->index][u->server->index];
    pt_io_t *io = &u->io;
    int err = 0, sys = 0;
    char why[256];

    if (io->ssl == NULL) {
        SSL *ssl = SSL_new(up->tls->ctx);
        bool ok = ssl != NULL && SSL_set_fd(ssl, io->ev.fd) == 1;
        if (ok) {
            SSL_set_connect_state(ssl);
            SSL_set_app_data(ssl, st);
            /* RFC 6066: no address in SNI; verification checks it instead. */
            if (!st->ip)
                ok = SSL_set_tlsext_host_name(ssl, st->name) == 1;
            if (ok && up->tls->verify)
                ok = st->ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), st->name) == 1
                            : SSL_set1_host(ssl, st->name) == 1;
            if (ok && st->session)
                SSL_set_session(ssl, st->session);
        }
        if (!ok) {
            pt_log(PT_LOG_ERR, "upstream %s: cannot start TLS to %s: %s", up->name,
                   u->server->name, pt_tls_error_string(why, sizeof(why)));
            SSL_free(ssl);
            errno = EPROTO;
            return PT_ERROR;
        }
        pt_tls_attach(io, ssl);
    }
    int rc = pt_tls_handshake(io, &err, &sys);
    if (rc == PT_AGAIN)
        return PT_AGAIN;
    if (rc == PT_ERROR) {
        pt_log(PT_LOG_ERR, "upstream %s: TLS handshake with %s failed: %s", up->name,
               u->server->name, pt_tls_why(io->ssl, err, sys, why, sizeof(why)));
        /* A session the server refused or that led here is not offered again. */
        SSL_SESSION_free(st->session);
        st->session = NULL;
        errno = EPROTO;
        return PT_ERROR;
    }
    pt_log_debug("upstream %s: TLS to %s up (%s, %s)", up->name, u->server->name,
                 SSL_get_version(io->ssl), SSL_session_reused(io->ssl) ? "resumed" : "new");
    u->connected = true;
    return PT_OK;
}
