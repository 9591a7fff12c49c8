/*
 * tls_cert.c: a listener's certificates (and an upstream's client
 * certificate), at load time in the master: reading chains, keys and OCSP
 * responses and checking they belong together, choosing the default set
 * and the SNI table; and the two handshake callbacks that serve them in
 * the workers (certificate by SNI, OCSP staple).
 */
#include "common/pt.h"
#include "common/conf.h"
#include "common/log.h"
#include "worker/tls/tls.h"
#include "worker/tls/tls_cert.h"

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <strings.h>

#define PT_TLS_OCSP_MAX         (64 * 1024)
#define PT_TLS_KEY_TYPES        8       /* distinct key types one name can serve */

static int pt_tls_cert_x509_idx = -1;  /* X509 ex_data: its pt_tls_cert_t (OCSP) */

/* ---- loading (the master, at load time) ---------------------------------- */

static int pt_tls_cert_no_password(char *buf, int size, int rwflag, void *u)
{
    /* Never prompt on a terminal: an encrypted key is an error instead. */
    return 0;
}

static void pt_tls_cert_free(void *data)
{
    pt_tls_cert_t *c = data;

    X509_free(c->x509);
    EVP_PKEY_free(c->pkey);
    sk_X509_pop_free(c->chain, X509_free);
}

static bool pt_tls_cert_pem_eof(void)
{
    unsigned long e = ERR_peek_last_error();

    return ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
}

/* The DNS names a certificate serves: its subjectAltName dNSName entries,
 * or its subject CN when it has none. */
static const char **pt_tls_cert_names(pt_conf_ctx_t *cf, X509 *x)
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

static int pt_tls_cert_load_ocsp(pt_conf_ctx_t *cf, pt_tls_cert_t *c,
                                 const config_setting_t *os)
{
    const char *path = pt_conf_path(cf, config_setting_get_string(os));
    unsigned char *buf = path ? pt_arena_alloc(cf->arena, PT_TLS_OCSP_MAX) : NULL;

    /* Memory first: a failed allocation must neither leave the file open
     * nor be reported with whatever errno an earlier call left. */
    if (buf == NULL) {
        pt_conf_error(cf, os, "out of memory reading an OCSP response");
        return PT_ERROR;
    }
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        pt_conf_error(cf, os, "cannot open OCSP response \"%s\": %s", path, strerror(errno));
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

int pt_tls_cert_load(pt_conf_ctx_t *cf, pt_tls_cert_t *c, const config_setting_t *cs,
                     const config_setting_t *ks, const config_setting_t *os)
{
    char why[256];
    BIO *b;

    if (pt_arena_cleanup_add(cf->arena, pt_tls_cert_free, c) != PT_OK)
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
    c->x509 = PEM_read_bio_X509_AUX(b, NULL, pt_tls_cert_no_password, NULL);
    if (c->x509 == NULL) {
        pt_conf_error(cf, cs, "no certificate in \"%s\": %s", c->cert_path,
                      pt_tls_error_string(why, sizeof(why)));
        BIO_free(b);
        return PT_ERROR;
    }
    for (X509 *x; (x = PEM_read_bio_X509(b, NULL, pt_tls_cert_no_password, NULL)) != NULL;) {
        if ((c->chain == NULL && (c->chain = sk_X509_new_null()) == NULL)
            || !sk_X509_push(c->chain, x)) {
            X509_free(x);
            BIO_free(b);
            return PT_ERROR;
        }
    }
    BIO_free(b);
    if (!pt_tls_cert_pem_eof()) {
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
    c->pkey = PEM_read_bio_PrivateKey(b, NULL, pt_tls_cert_no_password, NULL);
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
    if ((c->names = pt_tls_cert_names(cf, c->x509)) == NULL)
        return PT_ERROR;
    if (os != NULL && pt_tls_cert_load_ocsp(cf, c, os) != PT_OK)
        return PT_ERROR;
    return PT_OK;
}

int pt_tls_cert_set(pt_conf_ctx_t *cf, const config_setting_t *s, void *field,
                    const pt_directive_t *d)
{
    pt_tls_conf_t *tls = (pt_tls_conf_t *) (void *) ((char *) field
                                                     - offsetof(pt_tls_conf_t, certs));
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
        if (pt_tls_cert_load(cf, &certs[i], cs, ks, os) != PT_OK)
            return PT_ERROR;
    }
    tls->certs = certs;
    tls->ncerts = (size_t) n;
    return PT_OK;
}

/* ---- callbacks (in workers, during handshakes) ----------------------------- */

/* Install the certificates of the SNI name, unless they are the SSL_CTX's
 * own (the default certificates, also used for no or an unknown name). */
static int pt_tls_cert_cb(SSL *ssl, void *arg)
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

static int pt_tls_cert_ocsp_cb(SSL *ssl, void *arg)
{
    X509 *x = SSL_get_certificate(ssl);
    const pt_tls_cert_t *c = x ? X509_get_ex_data(x, pt_tls_cert_x509_idx) : NULL;

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

/* Whether certificates a and b serve the same set of names. */
static bool pt_tls_cert_same_names(const pt_tls_cert_t *a, const pt_tls_cert_t *b)
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

/* RFC 6066 3: a server that used the client's server_name to choose its
 * certificate SHALL say so with an empty server_name extension. It does
 * when the name is one of the listener's certificate names (OpenSSL leaves
 * it out of resumed handshakes, as the RFC asks); an unknown name got the
 * default certificate without being used, so it is not acknowledged. */
static int pt_tls_cert_sni_cb(SSL *ssl, int *alert, void *arg)
{
    const pt_tls_conf_t *tls = arg;
    const char *host = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);

    if (host == NULL || pt_tls_sni_find(tls->sni_table, host, strlen(host)) == 0)
        return SSL_TLSEXT_ERR_NOACK;
    return SSL_TLSEXT_ERR_OK;
}

int pt_tls_cert_install(pt_conf_ctx_t *cf, const config_setting_t *s, pt_tls_conf_t *tls)
{
    char why[256];
    int types[PT_TLS_KEY_TYPES];
    size_t ntypes = 0, nnames = 0, k = 0;

    if (pt_tls_cert_x509_idx < 0
        && (pt_tls_cert_x509_idx = X509_get_ex_new_index(0, NULL, NULL, NULL, NULL)) < 0)
        return PT_ERROR;
    /* The default set: the first certificate and those for the very same
     * names (an ECDSA twin of an RSA certificate), one per key type. */
    for (size_t i = 0; i < tls->ncerts; i++) {
        pt_tls_cert_t *c = &tls->certs[i];
        bool seen = false;
        X509_set_ex_data(c->x509, pt_tls_cert_x509_idx, c);
        for (size_t n = 0; c->names[n]; n++)
            nnames++;
        if (!pt_tls_cert_same_names(c, &tls->certs[0]))
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
        SSL_CTX_set_cert_cb(tls->ctx, pt_tls_cert_cb, tls);
    SSL_CTX_set_tlsext_servername_callback(tls->ctx, pt_tls_cert_sni_cb);
    SSL_CTX_set_tlsext_servername_arg(tls->ctx, tls);
    for (size_t i = 0; i < tls->ncerts; i++) {
        if (tls->certs[i].ocsp) {
            SSL_CTX_set_tlsext_status_cb(tls->ctx, pt_tls_cert_ocsp_cb);
            break;
        }
    }
    return PT_OK;
}

void pt_tls_cert_dump(FILE *out, const pt_tls_conf_t *tls, int indent)
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
