/*
 * upstream_tls.c: TLS to upstream servers (see upstream_tls.h).
 */
#include "common/pt.h"
#include "common/log.h"
#include "worker/tls/tls.h"
#include "worker/upstream/upstream_tls.h"

#include <arpa/inet.h>
#include <openssl/x509v3.h>

/* Per worker and per server of a TLS upstream: the name to send and check
 * and the last session the server gave us, offered on the next connect
 * (kept by pt_tls_session_keep through the SSL's app data, &session). */
typedef struct {
    SSL_SESSION *session;
    char name[PT_TLS_SNI_NAME_MAX + 1];
    bool ip;                    /* name is an address: verify it, send no SNI */
} pt_upstream_tls_server_t;

static pt_upstream_tls_server_t **pt_upstream_tls_servers; /* [upstream][server]; NULL: plain */
static const pt_conf_t *pt_upstream_tls_conf;

/* The host part of "host:port" ("[v6]:port" too) into st. */
static void pt_upstream_tls_name(pt_upstream_tls_server_t *st, const char *server, const char *sni)
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

int pt_upstream_tls_init_worker(const pt_conf_t *conf)
{
    pt_upstream_tls_conf = conf;
    pt_upstream_tls_servers = calloc(conf->nupstreams ? conf->nupstreams : 1, sizeof(*pt_upstream_tls_servers));
    if (pt_upstream_tls_servers == NULL)
        return PT_ERROR;
    for (size_t i = 0; i < conf->nupstreams; i++) {
        const pt_upstream_t *u = &conf->upstreams[i];
        if (u->tls == NULL)
            continue;
        if ((pt_upstream_tls_servers[i] = calloc(u->nservers, sizeof(*pt_upstream_tls_servers[i]))) == NULL)
            return PT_ERROR;
        for (size_t k = 0; k < u->nservers; k++)
            pt_upstream_tls_name(&pt_upstream_tls_servers[i][k], u->servers[k].name, u->tls->sni);
    }
    return PT_OK;
}

void pt_upstream_tls_exit_worker(void)
{
    if (pt_upstream_tls_servers == NULL)
        return;
    for (size_t i = 0; i < pt_upstream_tls_conf->nupstreams; i++) {
        if (pt_upstream_tls_servers[i] == NULL)
            continue;
        for (size_t k = 0; k < pt_upstream_tls_conf->upstreams[i].nservers; k++)
            SSL_SESSION_free(pt_upstream_tls_servers[i][k].session);
        free(pt_upstream_tls_servers[i]);
    }
    free(pt_upstream_tls_servers);
    pt_upstream_tls_servers = NULL;
}

int pt_upstream_tls_handshake(pt_upconn_t *u)
{
    const pt_upstream_t *up = u->server->upstream;
    pt_upstream_tls_server_t *st = &pt_upstream_tls_servers[up->index][u->server->index];
    pt_io_t *io = &u->io;
    int err = 0, sys = 0;
    char why[256];

    if (io->ssl == NULL) {
        SSL *ssl = SSL_new(up->tls->ctx);
        bool ok = ssl != NULL && SSL_set_fd(ssl, io->ev.fd) == 1;
        if (ok) {
            SSL_set_connect_state(ssl);
            SSL_set_app_data(ssl, &st->session);    /* pt_tls_session_keep */
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
