/*
 * tls_cert.h: certificates of the tls blocks (tls_cert.c), for tls_conf.c.
 * Everything here runs in the master at load time; the callbacks it
 * installs run in the workers during handshakes.
 */
#ifndef PT_TLS_CERT_H
#define PT_TLS_CERT_H

#include "common/pt.h"
#include "common/conf.h"
#include "worker/tls/tls.h"

/* Read the certificate chain of setting cs and the key of ks (and the DER
 * OCSP response of os, unless NULL) into c, and check that key and
 * certificate belong together. OpenSSL objects are freed with cf's arena.
 * PT_ERROR with the error in cf, at the setting to blame. */
int pt_tls_cert_load(pt_conf_ctx_t *cf, pt_tls_cert_t *c, const config_setting_t *cs,
                     const config_setting_t *ks, const config_setting_t *os);

/* Setter of a listener's "certificates" (field: pt_tls_conf_t.certs; it
 * sets ncerts too): a list of { cert; key; ocsp_staple; } groups. */
int pt_tls_cert_set(pt_conf_ctx_t *cf, const config_setting_t *s, void *field,
                    const pt_directive_t *d);

/* Put tls->certs on tls->ctx: the default set (the first certificate and
 * its twins of other key types for the same names), the SNI table and the
 * callbacks for the others and for OCSP stapling. s: the tls group. */
int pt_tls_cert_install(pt_conf_ctx_t *cf, const config_setting_t *s, pt_tls_conf_t *tls);

/* -T: "certificates = ( ... );" at indent (the one-certificate shorthand
 * is dumped as its cert and key settings instead). */
void pt_tls_cert_dump(FILE *out, const pt_tls_conf_t *tls, int indent);

#endif
