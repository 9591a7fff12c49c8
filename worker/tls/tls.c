/*
 * tls.c: TLS at run time: the transport (record I/O on pt_io_t, closing),
 * the handshake of client connections, the handshake step the upstream
 * side (worker/upstream/upstream_tls.c) drives too, and the client
 * certificate as seen by modules.
 */
#include "common/pt.h"
#include "common/log.h"
#include "worker/net/conn_metrics.h"
#include "worker/net/proto.h"
#include "worker/tls/tls.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>

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

const char *pt_tls_why(SSL *ssl, int err, int sys_errno, char *buf, size_t len)
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

int pt_tls_handshake(pt_io_t *io, int *err, int *sys)
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
    pt_conn_metric_tls(c, SSL_session_reused(c->io.ssl) == 1);
    /* ALPN may have chosen a protocol other than the listener's. */
    const unsigned char *alpn = NULL;
    unsigned alpn_len = 0;
    SSL_get0_alpn_selected(c->io.ssl, &alpn, &alpn_len);
    if (alpn_len) {
        const pt_proto_t *p = pt_proto_find((const char *) alpn, alpn_len);
        if (p)
            c->proto = p;
    }
    c->proto->init(c);
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

int pt_tls_init_worker(const pt_conf_t *conf)
{
    if (pt_tls_peer_idx < 0)
        pt_tls_peer_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    return pt_tls_peer_idx < 0 ? PT_ERROR : PT_OK;
}

int pt_tls_session_keep(SSL *ssl, SSL_SESSION *sess)
{
    SSL_SESSION **slot = SSL_get_app_data(ssl);

    if (slot == NULL)
        return 0;
    SSL_SESSION_free(*slot);
    *slot = sess;
    return 1;                   /* we keep the reference */
}
