/*
 * tls_conf.c: the `tls` blocks of listeners and upstreams, run by the
 * master at load time: the directive tables, and the SSL_CTX each block
 * becomes for the workers to inherit (protocols, ciphers, ALPN, client
 * verification, session contexts). Certificates, keys and OCSP responses
 * are read and checked in tls_cert.c (a key that does not match, an
 * unreadable file, a bad OCSP response are config errors with file:line).
 * Relative paths are taken from the directory of the main config file.
 *
 *   listen = ( { address = "*:443"; tls = {
 *       certificates = ( { cert = "rsa.pem"; key = "rsa.key"; },
 *                        { cert = "ecdsa.pem"; key = "ecdsa.key"; } );
 *       client_certificate = "optional"; client_ca = "clients-ca.pem"; }; } );
 *   upstreams = { api = { servers = [ "10.0.0.5:443" ]; tls = { ca = "ca.pem"; }; }; };
 */
#include "common/pt.h"
#include "common/str.h"
#include "common/conf.h"
#include "common/log.h"
#include "worker/tls/tls.h"
#include "worker/tls/tls_cert.h"

#include <openssl/err.h>

#define PT_TLS_FIELD(f)         offsetof(pt_tls_conf_t, f)

static int pt_tls_conf_check_protocol(pt_conf_ctx_t *cf, const config_setting_t *s, char *v);
static int pt_tls_conf_check_alpn(pt_conf_ctx_t *cf, const config_setting_t *s, char *v);

static const pt_conf_enum_t pt_tls_conf_verify_modes[] = {
    { "off", PT_TLS_VERIFY_OFF }, { "optional", PT_TLS_VERIFY_OPTIONAL },
    { "required", PT_TLS_VERIFY_REQUIRED }, { NULL, 0 }
};
static const pt_conf_bounds_t pt_tls_conf_depth_bounds = { 1, 16 };
static const pt_conf_bounds_t pt_tls_conf_rotation_bounds = { 1000, INT64_MAX };
static const pt_conf_strings_arg_t pt_tls_conf_protocols_arg = {
    "\"protocols\" needs at least one of \"TLSv1.2\", \"TLSv1.3\"", pt_tls_conf_check_protocol
};
static const pt_conf_strings_arg_t pt_tls_conf_alpn_arg = { NULL, pt_tls_conf_check_alpn };

/* The settings both sides share. */
#define PT_TLS_CONF_COMMON_ROWS                                                             \
    { "protocols", PT_CONF_STRINGS, PT_SCOPE_TLS, PT_TLS_FIELD(protocols),                  \
      "[\"TLSv1.2\", \"TLSv1.3\"]", &pt_tls_conf_protocols_arg, NULL, NULL,                  \
      "TLS versions allowed (TLSv1.2, TLSv1.3)" },                                          \
    { "ciphers", PT_CONF_STRING, PT_SCOPE_TLS, PT_TLS_FIELD(ciphers),                       \
      "\"ECDHE+AESGCM:ECDHE+CHACHA20\"", NULL, NULL, NULL,                                  \
      "TLS 1.2 cipher list (OpenSSL syntax)" },                                             \
    { "ciphersuites", PT_CONF_STRING, PT_SCOPE_TLS, PT_TLS_FIELD(ciphersuites),             \
      "\"TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256\"",     \
      NULL, NULL, NULL, "TLS 1.3 cipher suites" }

/* A listener's tls = { }. */
static const pt_directive_t pt_tls_conf_server[] = {
    { "certificates", PT_CONF_CUSTOM, PT_SCOPE_TLS, PT_TLS_FIELD(certs), NULL, NULL,
      pt_tls_cert_set, NULL, "certificate chains and keys, chosen by SNI" },
    { "cert", PT_CONF_STRING, PT_SCOPE_TLS, PT_TLS_FIELD(cert), NULL, NULL, NULL, NULL,
      "certificate chain (PEM) when there is one certificate" },
    { "key", PT_CONF_STRING, PT_SCOPE_TLS, PT_TLS_FIELD(key), NULL, NULL, NULL, NULL,
      "its private key (PEM)" },
    { "ocsp_staple", PT_CONF_STRING, PT_SCOPE_TLS, PT_TLS_FIELD(ocsp_staple), NULL, NULL,
      NULL, NULL, "DER OCSP response stapled to that certificate" },
    PT_TLS_CONF_COMMON_ROWS,
    { "alpn", PT_CONF_STRINGS, PT_SCOPE_TLS, PT_TLS_FIELD(alpn), "[\"http/1.1\"]",
      &pt_tls_conf_alpn_arg, NULL, NULL, "application protocols offered" },
    { "client_certificate", PT_CONF_ENUM, PT_SCOPE_TLS, PT_TLS_FIELD(client_certificate),
      "\"off\"", pt_tls_conf_verify_modes, NULL, NULL,
      "ask clients for a certificate: off, optional, required" },
    { "client_ca", PT_CONF_STRING, PT_SCOPE_TLS, PT_TLS_FIELD(client_ca), NULL, NULL, NULL,
      NULL, "CA certificates (PEM) client certificates are verified against" },
    { "verify_depth", PT_CONF_UINT, PT_SCOPE_TLS, PT_TLS_FIELD(verify_depth), "2",
      &pt_tls_conf_depth_bounds, NULL, NULL, "longest client certificate chain" },
    { "handshake_timeout", PT_CONF_DURATION, PT_SCOPE_TLS, PT_TLS_FIELD(handshake_timeout),
      "\"10s\"", &pt_conf_positive, NULL, NULL, "time for a client to complete the handshake" },
    { "session_tickets", PT_CONF_BOOL, PT_SCOPE_TLS, PT_TLS_FIELD(session_tickets), "true",
      NULL, NULL, NULL, "resume sessions with tickets (keys shared by all workers)" },
    { "ticket_rotation", PT_CONF_DURATION, PT_SCOPE_TLS, PT_TLS_FIELD(ticket_rotation),
      "\"1h\"", &pt_tls_conf_rotation_bounds, NULL, NULL, "how often a new ticket key is made" },
    PT_DIRECTIVE_END
};

/* An upstream's tls = { }. */
static const pt_directive_t pt_tls_conf_client[] = {
    { "verify", PT_CONF_BOOL, PT_SCOPE_TLS, PT_TLS_FIELD(verify), "true", NULL, NULL, NULL,
      "verify the server's certificate and name" },
    { "ca", PT_CONF_STRING, PT_SCOPE_TLS, PT_TLS_FIELD(ca), NULL, NULL, NULL, NULL,
      "CA certificates (PEM); default: the system store" },
    { "sni", PT_CONF_STRING, PT_SCOPE_TLS, PT_TLS_FIELD(sni), NULL, NULL, NULL, NULL,
      "server name to send and verify; default: the server's host" },
    { "cert", PT_CONF_STRING, PT_SCOPE_TLS, PT_TLS_FIELD(cert), NULL, NULL, NULL, NULL,
      "client certificate chain (PEM)" },
    { "key", PT_CONF_STRING, PT_SCOPE_TLS, PT_TLS_FIELD(key), NULL, NULL, NULL, NULL,
      "its private key (PEM)" },
    PT_TLS_CONF_COMMON_ROWS,
    PT_DIRECTIVE_END
};

/* ---- helpers ------------------------------------------------------------ */

/* The setting named name in group s, or s itself for errors. */
static const config_setting_t *pt_tls_conf_at(const config_setting_t *s, const char *name)
{
    const config_setting_t *m = config_setting_get_member(s, name);

    return m ? m : s;
}

static void pt_tls_conf_free_ctx(void *data)
{
    SSL_CTX_free(data);
}

/* ---- directive setters ----------------------------------------------------- */

static int pt_tls_conf_check_protocol(pt_conf_ctx_t *cf, const config_setting_t *s, char *v)
{
    if (strcmp(v, "TLSv1.2") == 0 || strcmp(v, "TLSv1.3") == 0)
        return PT_OK;
    if (strcmp(v, "SSLv2") == 0 || strcmp(v, "SSLv3") == 0 || strcmp(v, "TLSv1") == 0
        || strcmp(v, "TLSv1.0") == 0 || strcmp(v, "TLSv1.1") == 0)
        pt_conf_error(cf, s, "protocol \"%s\" is refused: it is not secure (use TLSv1.2, "
                      "TLSv1.3)", v);
    else
        pt_conf_error(cf, s, "unknown protocol \"%s\" (use TLSv1.2, TLSv1.3)", v);
    return PT_ERROR;
}

static int pt_tls_conf_check_alpn(pt_conf_ctx_t *cf, const config_setting_t *s, char *v)
{
    /* Only what the HTTP/1.1 front end speaks; h2 joins with its front end. */
    if (strcmp(v, "http/1.1") == 0 || strcmp(v, "http/1.0") == 0)
        return PT_OK;
    pt_conf_error(cf, s, "ALPN protocol \"%s\" is not supported (use \"http/1.1\")", v);
    return PT_ERROR;
}

/* ---- callbacks (in workers, during handshakes) ----------------------------- */

static int pt_tls_conf_alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                               const unsigned char *in, unsigned inlen, void *arg)
{
    const pt_tls_conf_t *tls = arg;
    unsigned char *sel = NULL;
    unsigned char len = 0;

    /* Our preference order; without overlap go on without ALPN, the way a
     * server that never heard of ALPN would. */
    if (SSL_select_next_proto(&sel, &len, tls->alpn_wire, (unsigned) tls->alpn_wire_len, in,
                              inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = sel;
    *outlen = len;
    return SSL_TLSEXT_ERR_OK;
}

/* ---- building the SSL_CTX -------------------------------------------------- */

static SSL_CTX *pt_tls_conf_ctx(pt_conf_ctx_t *cf, const config_setting_t *s,
                                pt_tls_conf_t *tls, const SSL_METHOD *method)
{
    char why[256];
    int min = TLS1_3_VERSION, max = TLS1_2_VERSION;
    SSL_CTX *ctx = SSL_CTX_new(method);

    if (ctx == NULL || pt_arena_cleanup_add(cf->arena, pt_tls_conf_free_ctx, ctx) != PT_OK) {
        SSL_CTX_free(ctx);
        pt_conf_error(cf, s, "cannot create a TLS context: %s",
                      pt_tls_error_string(why, sizeof(why)));
        return NULL;
    }
    tls->ctx = ctx;
    for (size_t i = 0; tls->protocols[i]; i++) {
        int v = strcmp(tls->protocols[i], "TLSv1.3") == 0 ? TLS1_3_VERSION : TLS1_2_VERSION;
        min = pt_min(min, v);
        max = pt_max(max, v);
    }
    SSL_CTX_set_min_proto_version(ctx, min);
    SSL_CTX_set_max_proto_version(ctx, max);
    if (SSL_CTX_set_cipher_list(ctx, tls->ciphers) != 1) {
        pt_conf_error(cf, pt_tls_conf_at(s, "ciphers"), "no usable cipher in \"%s\": %s",
                      tls->ciphers, pt_tls_error_string(why, sizeof(why)));
        return NULL;
    }
    if (SSL_CTX_set_ciphersuites(ctx, tls->ciphersuites) != 1) {
        pt_conf_error(cf, pt_tls_conf_at(s, "ciphersuites"), "no usable cipher suite in "
                      "\"%s\": %s", tls->ciphersuites, pt_tls_error_string(why, sizeof(why)));
        return NULL;
    }
    /* Strict by default: no compression (CRIME), no renegotiation; a peer
     * that closes without close_notify is a plain close, as in nginx. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION
                             | SSL_OP_IGNORE_UNEXPECTED_EOF);
    /* pt_tls_flush() writes one record at a time from a buffer that may
     * move between retries; idle connections give their buffers back. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER
                          | SSL_MODE_RELEASE_BUFFERS);
    /* Read what the socket has in one call instead of a record header and
     * a body apart. Safe with edge triggering: pt_tls_recv() reads until
     * OpenSSL wants the socket, which it only does once its buffer cannot
     * make a record either. */
    SSL_CTX_set_read_ahead(ctx, 1);
    return ctx;
}

static int pt_tls_conf_client_verify(pt_conf_ctx_t *cf, const config_setting_t *s,
                                     pt_tls_conf_t *tls)
{
    char why[256];

    if (tls->client_certificate == PT_TLS_VERIFY_OFF) {
        if (tls->client_ca)
            pt_conf_error(cf, pt_tls_conf_at(s, "client_ca"), "\"client_ca\" needs "
                          "client_certificate = \"optional\" or \"required\"");
        return tls->client_ca ? PT_ERROR : PT_OK;
    }
    if (tls->client_ca == NULL) {
        pt_conf_error(cf, pt_tls_conf_at(s, "client_certificate"), "client_certificate = "
                      "\"%s\" needs \"client_ca\"",
                      tls->client_certificate == PT_TLS_VERIFY_REQUIRED ? "required"
                                                                       : "optional");
        return PT_ERROR;
    }
    const char *path = pt_conf_path(cf, tls->client_ca);
    STACK_OF(X509_NAME) *names = NULL;
    if (SSL_CTX_load_verify_locations(tls->ctx, path, NULL) != 1
        || (names = SSL_load_client_CA_file(path)) == NULL) {
        pt_conf_error(cf, pt_tls_conf_at(s, "client_ca"), "cannot load client CA \"%s\": %s",
                      path, pt_tls_error_string(why, sizeof(why)));
        return PT_ERROR;
    }
    SSL_CTX_set_client_CA_list(tls->ctx, names);
    /* optional: asked for, and a certificate that is sent must verify. */
    SSL_CTX_set_verify(tls->ctx, SSL_VERIFY_PEER
                       | (tls->client_certificate == PT_TLS_VERIFY_REQUIRED
                          ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), NULL);
    SSL_CTX_set_verify_depth(tls->ctx, (int) tls->verify_depth);
    return PT_OK;
}

/* A session resumes only where the settings that admitted it still hold:
 * the same listener with the same client-certificate policy. */
static int pt_tls_conf_sid_ctx(pt_tls_conf_t *tls, const char *name)
{
    char text[1024];
    unsigned len = 0;
    int n = snprintf(text, sizeof(text), "portico|%s|%d|%s|%" PRId64, name,
                     tls->client_certificate, tls->client_ca ? tls->client_ca : "",
                     tls->verify_depth);

    _Static_assert(sizeof(tls->sid_ctx) <= SSL_MAX_SID_CTX_LENGTH, "fits OpenSSL's");
    if (EVP_Digest(text, (size_t) pt_min(n, (int) sizeof(text) - 1), tls->sid_ctx, &len,
                   EVP_sha256(), NULL) != 1 || len != sizeof(tls->sid_ctx))
        return PT_ERROR;
    return SSL_CTX_set_session_id_context(tls->ctx, tls->sid_ctx, len) == 1 ? PT_OK : PT_ERROR;
}

/* The host_name of a ClientHello's server_name extension (RFC 6066 3),
 * lower-cased into out (room for 256); its length, 0 without one. */
static size_t pt_tls_conf_hello_sni(SSL *ssl, char *out)
{
    const unsigned char *p;
    size_t len, list;

    if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &p, &len) != 1 || len < 2)
        return 0;
    list = (size_t) p[0] << 8 | p[1];
    p += 2;
    len = pt_min(len - 2, list);
    while (len >= 3) {
        size_t n = (size_t) p[1] << 8 | p[2];
        if (n > len - 3)
            return 0;
        if (p[0] == TLSEXT_NAMETYPE_host_name && n <= 255) {
            for (size_t i = 0; i < n; i++)
                out[i] = (char) pt_str_lower(p[3 + i]);
            return n;
        }
        p += 3 + n;
        len -= 3 + n;
    }
    return 0;
}

/* RFC 6066 3: a session is not resumed under another server name. The
 * session context, which every session carries and OpenSSL compares before
 * resuming one, becomes the listener's bound to the name the client asks
 * for, before OpenSSL looks at any ticket. */
static EVP_MD *pt_tls_conf_sha256;     /* fetched once, not per handshake */

static int pt_tls_conf_hello_cb(SSL *ssl, int *alert, void *arg)
{
    const pt_tls_conf_t *tls = arg;
    char sni[256];
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    size_t n = pt_tls_conf_hello_sni(ssl, sni);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    bool ok = c != NULL && EVP_DigestInit_ex(c, pt_tls_conf_sha256, NULL) == 1
              && EVP_DigestUpdate(c, tls->sid_ctx, sizeof(tls->sid_ctx)) == 1
              && EVP_DigestUpdate(c, sni, n) == 1 && EVP_DigestFinal_ex(c, md, &len) == 1
              && SSL_set_session_id_context(ssl, md, pt_min(len, SSL_MAX_SID_CTX_LENGTH)) == 1;

    EVP_MD_CTX_free(c);
    if (!ok) {
        *alert = SSL_AD_INTERNAL_ERROR;
        return SSL_CLIENT_HELLO_ERROR;
    }
    return SSL_CLIENT_HELLO_SUCCESS;
}

static int pt_tls_conf_alpn(pt_conf_ctx_t *cf, pt_tls_conf_t *tls)
{
    size_t len = 0;

    for (size_t i = 0; tls->alpn[i]; i++)
        len += 1 + strlen(tls->alpn[i]);
    if (len == 0)
        return PT_OK;
    if ((tls->alpn_wire = pt_arena_alloc(cf->arena, len)) == NULL)
        return PT_ERROR;
    for (size_t i = 0, off = 0; tls->alpn[i]; i++) {
        size_t n = strlen(tls->alpn[i]);
        tls->alpn_wire[off++] = (unsigned char) n;
        memcpy(tls->alpn_wire + off, tls->alpn[i], n);
        off += n;
    }
    tls->alpn_wire_len = len;
    SSL_CTX_set_alpn_select_cb(tls->ctx, pt_tls_conf_alpn_cb, tls);
    return PT_OK;
}

int pt_tls_conf_listen(pt_conf_ctx_t *cf, pt_conf_t *conf, const config_setting_t *s,
                       pt_listener_t *l)
{
    const char *name = l->name ? l->name : l->address;
    pt_tls_conf_t *tls = pt_arena_calloc(cf->arena, sizeof(*tls));
    pt_conf_target_t t = { pt_tls_conf_server, tls };

    if (tls == NULL)
        return PT_ERROR;
    if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
        pt_conf_error(cf, s, "\"tls\" of a listener must be a group { certificates = ...; }");
        return PT_ERROR;
    }
    pt_conf_unset(pt_tls_conf_server, PT_SCOPE_TLS, tls);
    if (pt_conf_walk(cf, s, PT_SCOPE_TLS, &t, 1, NULL) != PT_OK
        || pt_conf_defaults(cf, pt_tls_conf_server, PT_SCOPE_TLS, tls) != PT_OK)
        return PT_ERROR;

    if (tls->cert || tls->key || tls->ocsp_staple) {
        /* The one-certificate shorthand. */
        if (tls->certs) {
            pt_conf_error(cf, pt_tls_conf_at(s, "cert"), "give either \"certificates\" or "
                          "\"cert\" and \"key\"");
            return PT_ERROR;
        }
        if (tls->cert == NULL || tls->key == NULL) {
            pt_conf_error(cf, s, "a TLS listener needs both \"cert\" and \"key\"");
            return PT_ERROR;
        }
        if ((tls->certs = pt_arena_calloc(cf->arena, sizeof(*tls->certs))) == NULL
            || pt_tls_cert_load(cf, tls->certs, config_setting_get_member(s, "cert"),
                                     config_setting_get_member(s, "key"),
                                     config_setting_get_member(s, "ocsp_staple")) != PT_OK)
            return PT_ERROR;
        tls->ncerts = 1;
    }
    if (tls->ncerts == 0) {
        pt_conf_error(cf, s, "a TLS listener needs \"certificates\" (or \"cert\" and \"key\")");
        return PT_ERROR;
    }
    if (pt_tls_conf_ctx(cf, s, tls, TLS_server_method()) == NULL
        || pt_tls_cert_install(cf, s, tls) != PT_OK
        || pt_tls_conf_alpn(cf, tls) != PT_OK
        || pt_tls_conf_client_verify(cf, s, tls) != PT_OK
        || pt_tls_conf_sid_ctx(tls, name) != PT_OK)
        return PT_ERROR;
    if (pt_tls_conf_sha256 == NULL
        && (pt_tls_conf_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL)
        return PT_ERROR;
    SSL_CTX_set_client_hello_cb(tls->ctx, pt_tls_conf_hello_cb, tls);
    SSL_CTX_set_app_data(tls->ctx, tls);
    SSL_CTX_set_dh_auto(tls->ctx, 1);
    /* Tickets are the resumption mechanism (shared keys); no server cache
     * that each worker would keep to itself. */
    SSL_CTX_set_session_cache_mode(tls->ctx, SSL_SESS_CACHE_OFF);
    if (tls->session_tickets) {
        if (pt_tls_ticket_setup(cf, conf, tls, name) != PT_OK)
            return PT_ERROR;
    } else {
        SSL_CTX_set_options(tls->ctx, SSL_OP_NO_TICKET);
    }
    l->tls = tls;
    l->handshake = pt_tls_accept;
    return PT_OK;
}

int pt_tls_conf_upstream(pt_conf_ctx_t *cf, const config_setting_t *s, void *field,
                         const pt_directive_t *d)
{
    pt_tls_conf_t *tls;
    pt_conf_target_t t;
    char why[256];

    if (config_setting_type(s) == CONFIG_TYPE_BOOL && !config_setting_get_bool(s))
        return PT_OK;           /* tls = false: plain */
    if (config_setting_type(s) != CONFIG_TYPE_BOOL && config_setting_type(s) != CONFIG_TYPE_GROUP) {
        pt_conf_error(cf, s, "\"tls\" of an upstream is true, false or a group { ... }");
        return PT_ERROR;
    }
    if ((tls = pt_arena_calloc(cf->arena, sizeof(*tls))) == NULL)
        return PT_ERROR;
    t = (pt_conf_target_t) { pt_tls_conf_client, tls };
    pt_conf_unset(pt_tls_conf_client, PT_SCOPE_TLS, tls);
    if ((config_setting_type(s) == CONFIG_TYPE_GROUP
         && pt_conf_walk(cf, s, PT_SCOPE_TLS, &t, 1, NULL) != PT_OK)
        || pt_conf_defaults(cf, pt_tls_conf_client, PT_SCOPE_TLS, tls) != PT_OK)
        return PT_ERROR;
    tls->upstream = true;
    if (pt_tls_conf_ctx(cf, s, tls, TLS_client_method()) == NULL)
        return PT_ERROR;

    SSL_CTX_set_verify(tls->ctx, tls->verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
    if (tls->ca) {
        const char *path = pt_conf_path(cf, tls->ca);
        if (SSL_CTX_load_verify_locations(tls->ctx, path, NULL) != 1) {
            pt_conf_error(cf, pt_tls_conf_at(s, "ca"), "cannot load CA \"%s\": %s", path,
                          pt_tls_error_string(why, sizeof(why)));
            return PT_ERROR;
        }
    } else if (tls->verify && SSL_CTX_set_default_verify_paths(tls->ctx) != 1) {
        pt_conf_error(cf, s, "cannot load the system CA store: %s",
                      pt_tls_error_string(why, sizeof(why)));
        return PT_ERROR;
    }
    if (tls->cert || tls->key) {
        if (tls->cert == NULL || tls->key == NULL) {
            pt_conf_error(cf, s, "a client certificate needs both \"cert\" and \"key\"");
            return PT_ERROR;
        }
        if ((tls->certs = pt_arena_calloc(cf->arena, sizeof(*tls->certs))) == NULL
            || pt_tls_cert_load(cf, tls->certs, config_setting_get_member(s, "cert"),
                                     config_setting_get_member(s, "key"), NULL) != PT_OK)
            return PT_ERROR;
        tls->ncerts = 1;
        if (SSL_CTX_use_cert_and_key(tls->ctx, tls->certs->x509, tls->certs->pkey,
                                     tls->certs->chain, 1) != 1) {
            pt_conf_error(cf, pt_tls_conf_at(s, "cert"), "cannot use client certificate: %s",
                          pt_tls_error_string(why, sizeof(why)));
            return PT_ERROR;
        }
    }
    /* The upstream side speaks HTTP/1.1; say so for servers that insist. */
    static const unsigned char alpn[] = "\x08http/1.1";
    SSL_CTX_set_alpn_protos(tls->ctx, alpn, sizeof(alpn) - 1);
    /* Remember each server's last session (per worker, upstream_tls.c) to
     * resume. */
    SSL_CTX_set_session_cache_mode(tls->ctx, SSL_SESS_CACHE_CLIENT
                                             | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(tls->ctx, pt_tls_session_keep);
    *(pt_tls_conf_t **) field = tls;
    return PT_OK;
}

void pt_tls_conf_dump(FILE *out, const void *field, const pt_directive_t *d, int indent)
{
    const pt_tls_conf_t *tls = *(pt_tls_conf_t *const *) field;

    fputs("{\n", out);
    if (!tls->upstream && tls->cert == NULL)
        pt_tls_cert_dump(out, tls, indent + 1);
    pt_conf_dump(out, tls->upstream ? pt_tls_conf_client : pt_tls_conf_server, PT_SCOPE_TLS,
                 tls, indent + 1);
    pt_conf_indent(out, indent);
    fputc('}', out);
}
