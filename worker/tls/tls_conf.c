/*
 * tls_conf.c: the `tls` blocks of listeners and upstreams, run by the
 * master at load time. Certificates and keys are read and checked here
 * (a key that does not match, an unreadable file, a bad OCSP response are
 * config errors with file:line), and each block becomes one SSL_CTX that
 * the workers inherit. Relative paths are taken from the directory of the
 * main config file.
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

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <strings.h>

#define PT_TLS_FIELD(f)         offsetof(pt_tls_conf_t, f)
#define PT_TLS_OCSP_MAX         (64 * 1024)
#define PT_TLS_KEY_TYPES        8       /* distinct key types one name can serve */

static int pt_tls_conf_set_certs(pt_conf_ctx_t *cf, const config_setting_t *s, void *field,
                                 const pt_directive_t *d);
static int pt_tls_conf_set_protocols(pt_conf_ctx_t *cf, const config_setting_t *s,
                                     void *field, const pt_directive_t *d);
static int pt_tls_conf_set_alpn(pt_conf_ctx_t *cf, const config_setting_t *s, void *field,
                                const pt_directive_t *d);
static void pt_tls_conf_dump_strings(FILE *out, const void *field, const pt_directive_t *d,
                                     int indent);

static const pt_conf_enum_t pt_tls_conf_verify_modes[] = {
    { "off", PT_TLS_VERIFY_OFF }, { "optional", PT_TLS_VERIFY_OPTIONAL },
    { "required", PT_TLS_VERIFY_REQUIRED }, { NULL, 0 }
};
static const pt_conf_bounds_t pt_tls_conf_depth_bounds = { 1, 16 };
static const pt_conf_bounds_t pt_tls_conf_rotation_bounds = { 1000, INT64_MAX };

/* The settings both sides share. */
#define PT_TLS_CONF_COMMON_ROWS                                                             \
    { "protocols", PT_CONF_CUSTOM, PT_SCOPE_TLS, PT_TLS_FIELD(protocols),                   \
      "[\"TLSv1.2\", \"TLSv1.3\"]", NULL, pt_tls_conf_set_protocols,                         \
      pt_tls_conf_dump_strings, "TLS versions allowed (TLSv1.2, TLSv1.3)" },                \
    { "ciphers", PT_CONF_STRING, PT_SCOPE_TLS, PT_TLS_FIELD(ciphers),                       \
      "\"ECDHE+AESGCM:ECDHE+CHACHA20\"", NULL, NULL, NULL,                                  \
      "TLS 1.2 cipher list (OpenSSL syntax)" },                                             \
    { "ciphersuites", PT_CONF_STRING, PT_SCOPE_TLS, PT_TLS_FIELD(ciphersuites),             \
      "\"TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256\"",     \
      NULL, NULL, NULL, "TLS 1.3 cipher suites" }

/* A listener's tls = { }. */
static const pt_directive_t pt_tls_conf_server[] = {
    { "certificates", PT_CONF_CUSTOM, PT_SCOPE_TLS, PT_TLS_FIELD(certs), NULL, NULL,
      pt_tls_conf_set_certs, NULL, "certificate chains and keys, chosen by SNI" },
    { "cert", PT_CONF_STRING, PT_SCOPE_TLS, PT_TLS_FIELD(cert), NULL, NULL, NULL, NULL,
      "certificate chain (PEM) when there is one certificate" },
    { "key", PT_CONF_STRING, PT_SCOPE_TLS, PT_TLS_FIELD(key), NULL, NULL, NULL, NULL,
      "its private key (PEM)" },
    { "ocsp_staple", PT_CONF_STRING, PT_SCOPE_TLS, PT_TLS_FIELD(ocsp_staple), NULL, NULL,
      NULL, NULL, "DER OCSP response stapled to that certificate" },
    PT_TLS_CONF_COMMON_ROWS,
    { "alpn", PT_CONF_CUSTOM, PT_SCOPE_TLS, PT_TLS_FIELD(alpn), "[\"http/1.1\"]", NULL,
      pt_tls_conf_set_alpn, pt_tls_conf_dump_strings, "application protocols offered" },
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

static int pt_tls_conf_x509_idx = -1;  /* X509 ex_data: its pt_tls_cert_t (OCSP) */

/* ---- helpers ------------------------------------------------------------ */

static int pt_tls_conf_no_password(char *buf, int size, int rwflag, void *u)
{
    /* Never prompt on a terminal: an encrypted key is an error instead. */
    return 0;
}

/* The setting named name in group s, or s itself for errors. */
static const config_setting_t *pt_tls_conf_at(const config_setting_t *s, const char *name)
{
    const config_setting_t *m = config_setting_get_member(s, name);

    return m ? m : s;
}

static void pt_tls_conf_free_cert(void *data)
{
    pt_tls_cert_t *c = data;

    X509_free(c->x509);
    EVP_PKEY_free(c->pkey);
    sk_X509_pop_free(c->chain, X509_free);
}

static void pt_tls_conf_free_ctx(void *data)
{
    SSL_CTX_free(data);
}

static bool pt_tls_conf_pem_eof(void)
{
    unsigned long e = ERR_peek_last_error();

    return ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
}

/* The DNS names a certificate serves: its subjectAltName dNSName entries,
 * or its subject CN when it has none. */
static const char **pt_tls_conf_names(pt_conf_ctx_t *cf, X509 *x)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    int n = gens ? sk_GENERAL_NAME_num(gens) : 0, k = 0;
    const char **names = pt_arena_calloc(cf->arena, (size_t) (n + 2) * sizeof(*names));

    for (int i = 0; names && i < n; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        if (g->type != GEN_DNS)
            continue;
        const unsigned char *p = ASN1_STRING_get0_data(g->d.dNSName);
        int len = ASN1_STRING_length(g->d.dNSName);
        if (len > 0 && memchr(p, '\0', (size_t) len) == NULL)
            names[k++] = pt_arena_strndup(cf->arena, (const char *) p, (size_t) len);
    }
    GENERAL_NAMES_free(gens);
    if (names && k == 0) {
        X509_NAME *subj = X509_get_subject_name(x);
        int i = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
        unsigned char *utf8 = NULL;
        int len = i >= 0 ? ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(
                               X509_NAME_get_entry(subj, i))) : -1;
        if (len > 0 && memchr(utf8, '\0', (size_t) len) == NULL)
            names[k++] = pt_arena_strndup(cf->arena, (const char *) utf8, (size_t) len);
        OPENSSL_free(utf8);
    }
    ERR_clear_error();
    return names;
}

static int pt_tls_conf_load_ocsp(pt_conf_ctx_t *cf, pt_tls_cert_t *c,
                                 const config_setting_t *os)
{
    const char *path = pt_conf_path(cf, config_setting_get_string(os));
    unsigned char *buf = pt_arena_alloc(cf->arena, PT_TLS_OCSP_MAX);
    FILE *f = path ? fopen(path, "rb") : NULL;

    if (f == NULL || buf == NULL) {
        pt_conf_error(cf, os, "cannot open OCSP response \"%s\": %s", path ? path : "",
                      strerror(errno));
        return PT_ERROR;
    }
    size_t len = fread(buf, 1, PT_TLS_OCSP_MAX, f);
    bool big = len == PT_TLS_OCSP_MAX && fgetc(f) != EOF;
    fclose(f);
    const unsigned char *p = buf;
    OCSP_RESPONSE *resp = big ? NULL : d2i_OCSP_RESPONSE(NULL, &p, (long) len);
    int status = resp ? OCSP_response_status(resp) : -1;
    OCSP_RESPONSE_free(resp);
    ERR_clear_error();
    if (resp == NULL || status != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
        pt_conf_error(cf, os, "\"%s\" is not a successful DER OCSP response%s", path,
                      big ? " (larger than 64k)" : "");
        return PT_ERROR;
    }
    c->ocsp_path = path;
    c->ocsp = buf;
    c->ocsp_len = len;
    return PT_OK;
}

/* Read a certificate chain and its key (cs, ks: their settings) into c
 * and check that they belong together. */
static int pt_tls_conf_load_cert(pt_conf_ctx_t *cf, pt_tls_cert_t *c, const config_setting_t *cs,
                                 const config_setting_t *ks, const config_setting_t *os)
{
    char why[256];
    BIO *b;

    if (pt_arena_cleanup_add(cf->arena, pt_tls_conf_free_cert, c) != PT_OK)
        return PT_ERROR;
    if (config_setting_type(cs) != CONFIG_TYPE_STRING
        || config_setting_type(ks) != CONFIG_TYPE_STRING) {
        pt_conf_error(cf, cs, "\"cert\" and \"key\" must be file names");
        return PT_ERROR;
    }
    c->cert_path = pt_conf_path(cf, config_setting_get_string(cs));
    c->key_path = pt_conf_path(cf, config_setting_get_string(ks));

    if ((b = BIO_new_file(c->cert_path, "r")) == NULL) {
        pt_conf_error(cf, cs, "cannot open certificate \"%s\": %s", c->cert_path,
                      strerror(errno));
        ERR_clear_error();
        return PT_ERROR;
    }
    c->x509 = PEM_read_bio_X509_AUX(b, NULL, pt_tls_conf_no_password, NULL);
    if (c->x509 == NULL) {
        pt_conf_error(cf, cs, "no certificate in \"%s\": %s", c->cert_path,
                      pt_tls_error_string(why, sizeof(why)));
        BIO_free(b);
        return PT_ERROR;
    }
    for (X509 *x; (x = PEM_read_bio_X509(b, NULL, pt_tls_conf_no_password, NULL)) != NULL;) {
        if ((c->chain == NULL && (c->chain = sk_X509_new_null()) == NULL)
            || !sk_X509_push(c->chain, x)) {
            X509_free(x);
            BIO_free(b);
            return PT_ERROR;
        }
    }
    BIO_free(b);
    if (!pt_tls_conf_pem_eof()) {
        pt_conf_error(cf, cs, "bad certificate in the chain of \"%s\": %s", c->cert_path,
                      pt_tls_error_string(why, sizeof(why)));
        return PT_ERROR;
    }
    ERR_clear_error();

    if ((b = BIO_new_file(c->key_path, "r")) == NULL) {
        pt_conf_error(cf, ks, "cannot open private key \"%s\": %s", c->key_path,
                      strerror(errno));
        ERR_clear_error();
        return PT_ERROR;
    }
    c->pkey = PEM_read_bio_PrivateKey(b, NULL, pt_tls_conf_no_password, NULL);
    BIO_free(b);
    if (c->pkey == NULL) {
        pt_conf_error(cf, ks, "cannot read private key \"%s\": %s", c->key_path,
                      pt_tls_error_string(why, sizeof(why)));
        return PT_ERROR;
    }
    if (X509_check_private_key(c->x509, c->pkey) != 1) {
        ERR_clear_error();
        pt_conf_error(cf, ks, "private key \"%s\" does not match certificate \"%s\"",
                      c->key_path, c->cert_path);
        return PT_ERROR;
    }
    c->key_type = EVP_PKEY_get_base_id(c->pkey);
    if (X509_cmp_current_time(X509_get0_notAfter(c->x509)) < 0)
        pt_log(PT_LOG_WARN, "%s:%d: certificate \"%s\" has expired",
               config_setting_source_file(cs) ? config_setting_source_file(cs) : cf->file,
               config_setting_source_line(cs), c->cert_path);
    if ((c->names = pt_tls_conf_names(cf, c->x509)) == NULL)
        return PT_ERROR;
    if (os != NULL && pt_tls_conf_load_ocsp(cf, c, os) != PT_OK)
        return PT_ERROR;
    return PT_OK;
}

/* ---- directive setters ----------------------------------------------------- */

static int pt_tls_conf_set_certs(pt_conf_ctx_t *cf, const config_setting_t *s, void *field,
                                 const pt_directive_t *d)
{
    pt_tls_conf_t *tls = (pt_tls_conf_t *) (void *) ((char *) field - PT_TLS_FIELD(certs));
    int type = config_setting_type(s);
    int n = type == CONFIG_TYPE_GROUP ? 1 : config_setting_length(s);

    if ((type != CONFIG_TYPE_LIST && type != CONFIG_TYPE_GROUP) || n < 1
        || n > PT_TLS_SNI_CERTS_MAX) {
        pt_conf_error(cf, s, "\"certificates\" must be a list of 1 to %d groups "
                      "( { cert = \"...\"; key = \"...\"; }, ... )", PT_TLS_SNI_CERTS_MAX);
        return PT_ERROR;
    }
    pt_tls_cert_t *certs = pt_arena_calloc(cf->arena, (size_t) n * sizeof(*certs));
    if (certs == NULL)
        return PT_ERROR;
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = type == CONFIG_TYPE_GROUP
                                    ? s : config_setting_get_elem(s, (unsigned) i);
        const config_setting_t *cs = NULL, *ks = NULL, *os = NULL;
        if (config_setting_type(e) != CONFIG_TYPE_GROUP) {
            pt_conf_error(cf, e, "a certificate is { cert = \"...\"; key = \"...\"; }");
            return PT_ERROR;
        }
        for (int k = 0; k < config_setting_length(e); k++) {
            const config_setting_t *m = config_setting_get_elem(e, (unsigned) k);
            const char *name = config_setting_name(m);
            if (strcmp(name, "cert") == 0) {
                cs = m;
            } else if (strcmp(name, "key") == 0) {
                ks = m;
            } else if (strcmp(name, "ocsp_staple") == 0) {
                os = m;
            } else {
                pt_conf_error(cf, m, "unknown setting \"%s\" in a certificate (cert, key, "
                              "ocsp_staple)", name);
                return PT_ERROR;
            }
        }
        if (cs == NULL || ks == NULL) {
            pt_conf_error(cf, e, "a certificate needs \"cert\" and \"key\"");
            return PT_ERROR;
        }
        if (os != NULL && config_setting_type(os) != CONFIG_TYPE_STRING) {
            pt_conf_error(cf, os, "\"ocsp_staple\" must be a file name");
            return PT_ERROR;
        }
        if (pt_tls_conf_load_cert(cf, &certs[i], cs, ks, os) != PT_OK)
            return PT_ERROR;
    }
    tls->certs = certs;
    tls->ncerts = (size_t) n;
    return PT_OK;
}

static int pt_tls_conf_set_protocols(pt_conf_ctx_t *cf, const config_setting_t *s,
                                     void *field, const pt_directive_t *d)
{
    size_t n;
    const char **v = pt_conf_get_strings(cf, s, &n);

    if (v == NULL)
        return PT_ERROR;
    if (n == 0) {
        pt_conf_error(cf, s, "\"protocols\" needs at least one of \"TLSv1.2\", \"TLSv1.3\"");
        return PT_ERROR;
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(v[i], "TLSv1.2") == 0 || strcmp(v[i], "TLSv1.3") == 0)
            continue;
        if (strcmp(v[i], "SSLv2") == 0 || strcmp(v[i], "SSLv3") == 0
            || strcmp(v[i], "TLSv1") == 0 || strcmp(v[i], "TLSv1.0") == 0
            || strcmp(v[i], "TLSv1.1") == 0)
            pt_conf_error(cf, s, "protocol \"%s\" is refused: it is not secure (use TLSv1.2, "
                          "TLSv1.3)", v[i]);
        else
            pt_conf_error(cf, s, "unknown protocol \"%s\" (use TLSv1.2, TLSv1.3)", v[i]);
        return PT_ERROR;
    }
    *(const char ***) field = v;
    return PT_OK;
}

static int pt_tls_conf_set_alpn(pt_conf_ctx_t *cf, const config_setting_t *s, void *field,
                                const pt_directive_t *d)
{
    size_t n;
    const char **v = pt_conf_get_strings(cf, s, &n);

    if (v == NULL)
        return PT_ERROR;
    for (size_t i = 0; i < n; i++) {
        /* Only what the HTTP/1.1 front end speaks; h2 joins with its front end. */
        if (strcmp(v[i], "http/1.1") != 0 && strcmp(v[i], "http/1.0") != 0) {
            pt_conf_error(cf, s, "ALPN protocol \"%s\" is not supported (use \"http/1.1\")",
                          v[i]);
            return PT_ERROR;
        }
    }
    *(const char ***) field = v;
    return PT_OK;
}

static void pt_tls_conf_dump_strings(FILE *out, const void *field, const pt_directive_t *d,
                                     int indent)
{
    const char *const *v = *(const char *const *const *) field;

    fputc('[', out);
    for (size_t i = 0; v[i]; i++) {
        fputs(i ? ", " : " ", out);
        pt_conf_print_string(out, v[i]);
    }
    fputs(" ]", out);
}

/* ---- callbacks (in workers, during handshakes) ----------------------------- */

/* Install the certificates of the SNI name, unless they are the SSL_CTX's
 * own (the default certificates, also used for no or an unknown name). */
static int pt_tls_conf_cert_cb(SSL *ssl, void *arg)
{
    const pt_tls_conf_t *tls = arg;
    const char *host = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    int types[PT_TLS_KEY_TYPES];
    size_t ntypes = 0;

    if (host == NULL)
        return 1;
    uint64_t mask = pt_tls_sni_find(tls->sni_table, host, strlen(host));
    if (mask == 0 || mask == tls->default_mask)
        return 1;
    SSL_certs_clear(ssl);
    for (size_t i = 0; i < tls->ncerts; i++) {
        const pt_tls_cert_t *c = &tls->certs[i];
        bool seen = false;
        if (!(mask & (UINT64_C(1) << i)))
            continue;
        /* One certificate per key type: the first listed wins. */
        for (size_t k = 0; k < ntypes; k++)
            seen |= types[k] == c->key_type;
        if (seen || ntypes == PT_TLS_KEY_TYPES)
            continue;
        types[ntypes++] = c->key_type;
        if (SSL_use_cert_and_key(ssl, c->x509, c->pkey, c->chain, 1) != 1)
            return 0;
    }
    return 1;
}

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

static int pt_tls_conf_ocsp_cb(SSL *ssl, void *arg)
{
    X509 *x = SSL_get_certificate(ssl);
    const pt_tls_cert_t *c = x ? X509_get_ex_data(x, pt_tls_conf_x509_idx) : NULL;

    if (c == NULL || c->ocsp == NULL)
        return SSL_TLSEXT_ERR_NOACK;
    unsigned char *copy = OPENSSL_malloc(c->ocsp_len);      /* OpenSSL frees it */
    if (copy == NULL)
        return SSL_TLSEXT_ERR_NOACK;
    memcpy(copy, c->ocsp, c->ocsp_len);
    if (SSL_set_tlsext_status_ocsp_resp(ssl, copy, (long) c->ocsp_len) != 1) {
        OPENSSL_free(copy);
        return SSL_TLSEXT_ERR_NOACK;
    }
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

/* Whether certificates a and b serve the same set of names. */
static bool pt_tls_conf_same_names(const pt_tls_cert_t *a, const pt_tls_cert_t *b)
{
    size_t na = 0, nb = 0;

    while (a->names[na])
        na++;
    while (b->names[nb])
        nb++;
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++) {
        bool found = false;
        for (size_t k = 0; k < nb && !found; k++)
            found = strcasecmp(a->names[i], b->names[k]) == 0;
        if (!found)
            return false;
    }
    return true;
}

static int pt_tls_conf_certs(pt_conf_ctx_t *cf, const config_setting_t *s, pt_tls_conf_t *tls)
{
    char why[256];
    int types[PT_TLS_KEY_TYPES];
    size_t ntypes = 0, nnames = 0, k = 0;

    if (pt_tls_conf_x509_idx < 0
        && (pt_tls_conf_x509_idx = X509_get_ex_new_index(0, NULL, NULL, NULL, NULL)) < 0)
        return PT_ERROR;
    /* The default set: the first certificate and those for the very same
     * names (an ECDSA twin of an RSA certificate), one per key type. */
    for (size_t i = 0; i < tls->ncerts; i++) {
        pt_tls_cert_t *c = &tls->certs[i];
        bool seen = false;
        X509_set_ex_data(c->x509, pt_tls_conf_x509_idx, c);
        for (size_t n = 0; c->names[n]; n++)
            nnames++;
        if (!pt_tls_conf_same_names(c, &tls->certs[0]))
            continue;
        for (size_t t = 0; t < ntypes; t++)
            seen |= types[t] == c->key_type;
        if (seen || ntypes == PT_TLS_KEY_TYPES)
            continue;
        types[ntypes++] = c->key_type;
        tls->default_mask |= UINT64_C(1) << i;
        if (SSL_CTX_use_cert_and_key(tls->ctx, c->x509, c->pkey, c->chain, 1) != 1) {
            pt_conf_error(cf, s, "cannot use certificate \"%s\": %s", c->cert_path,
                          pt_tls_error_string(why, sizeof(why)));
            return PT_ERROR;
        }
    }
    pt_tls_sni_input_t *in = pt_arena_alloc(cf->arena, (nnames ? nnames : 1) * sizeof(*in));
    if (in == NULL)
        return PT_ERROR;
    for (size_t i = 0; i < tls->ncerts; i++)
        for (size_t n = 0; tls->certs[i].names[n]; n++)
            in[k++] = (pt_tls_sni_input_t) { tls->certs[i].names[n], (unsigned) i };
    if ((tls->sni_table = pt_tls_sni_build(cf->arena, in, k)) == NULL)
        return PT_ERROR;
    if (tls->ncerts > 1 || tls->default_mask != 1)
        SSL_CTX_set_cert_cb(tls->ctx, pt_tls_conf_cert_cb, tls);
    for (size_t i = 0; i < tls->ncerts; i++) {
        if (tls->certs[i].ocsp) {
            SSL_CTX_set_tlsext_status_cb(tls->ctx, pt_tls_conf_ocsp_cb);
            break;
        }
    }
    return PT_OK;
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
            || pt_tls_conf_load_cert(cf, tls->certs, config_setting_get_member(s, "cert"),
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
        || pt_tls_conf_certs(cf, s, tls) != PT_OK
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
            || pt_tls_conf_load_cert(cf, tls->certs, config_setting_get_member(s, "cert"),
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
    /* Remember each server's last session (per worker, tls.c) to resume. */
    SSL_CTX_set_session_cache_mode(tls->ctx, SSL_SESS_CACHE_CLIENT
                                             | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(tls->ctx, pt_tls_upstream_new_session);
    *(pt_tls_conf_t **) field = tls;
    return PT_OK;
}

/* -T: a listener's certificates list (the one-certificate shorthand is
 * dumped as its cert and key settings). */
static void pt_tls_conf_dump_certs(FILE *out, const pt_tls_conf_t *tls, int indent)
{
    pt_conf_indent(out, indent);
    fputs("certificates = (", out);
    for (size_t i = 0; i < tls->ncerts; i++) {
        const pt_tls_cert_t *c = &tls->certs[i];
        fputs(i ? ",\n" : "\n", out);
        pt_conf_indent(out, indent + 1);
        fputs("{ cert = ", out);
        pt_conf_print_string(out, c->cert_path);
        fputs("; key = ", out);
        pt_conf_print_string(out, c->key_path);
        if (c->ocsp_path) {
            fputs("; ocsp_staple = ", out);
            pt_conf_print_string(out, c->ocsp_path);
        }
        fputs("; }", out);
    }
    fputs("\n", out);
    pt_conf_indent(out, indent);
    fputs(");\n", out);
}

void pt_tls_conf_dump(FILE *out, const void *field, const pt_directive_t *d, int indent)
{
    const pt_tls_conf_t *tls = *(pt_tls_conf_t *const *) field;

    fputs("{\n", out);
    if (!tls->upstream && tls->cert == NULL)
        pt_tls_conf_dump_certs(out, tls, indent + 1);
    pt_conf_dump(out, tls->upstream ? pt_tls_conf_client : pt_tls_conf_server, PT_SCOPE_TLS,
                 tls, indent + 1);
    pt_conf_indent(out, indent);
    fputc('}', out);
}
