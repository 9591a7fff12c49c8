/*
 * tls_sni.h: which certificates of a TLS listener answer a server name.
 *
 * Built once at load time from the names found in the certificates
 * (subjectAltName dNSName entries, or the subject CN when there are none):
 * two sorted arrays, exact names and wildcard suffixes ("*.example.com"
 * kept as ".example.com"), each name mapping to a bit mask of certificate
 * indexes, so that an RSA and an ECDSA certificate for the same names come
 * back together and OpenSSL picks by the client's capabilities. A lookup
 * is a binary search per array; an exact name wins over a wildcard, and a
 * wildcard covers exactly one label ("*.example.com" matches
 * "a.example.com", neither "example.com" nor "a.b.example.com").
 */
#ifndef PT_TLS_SNI_H
#define PT_TLS_SNI_H

#include "common/pt.h"
#include "common/arena.h"

/* Certificates per listener: a lookup answers a 64-bit mask. */
#define PT_TLS_SNI_CERTS_MAX    64
/* Longest DNS name (RFC 1035), without a trailing dot. */
#define PT_TLS_SNI_NAME_MAX     253

typedef struct {
    const char *name;           /* lowercase; wildcards without the '*' */
    size_t len;
    uint64_t mask;              /* bit i: certificate i has this name */
} pt_tls_sni_name_t;

typedef struct {
    pt_tls_sni_name_t *exact;
    size_t nexact;
    pt_tls_sni_name_t *wild;
    size_t nwild;
} pt_tls_sni_t;

/* One name as written in a certificate, for pt_tls_sni_build(). */
typedef struct {
    const char *name;
    unsigned cert;              /* certificate index, < PT_TLS_SNI_CERTS_MAX */
} pt_tls_sni_input_t;

/* Builds the table from n (name, certificate) pairs into arena a. Names are
 * lowercased; duplicates merge their masks; names that cannot match a host
 * name (empty, too long, "*" not a whole first label) are skipped. NULL on
 * allocation failure. */
pt_tls_sni_t *pt_tls_sni_build(pt_arena_t *a, const pt_tls_sni_input_t *in, size_t n);

/* Certificates for host (len bytes, any case, an optional trailing dot):
 * the mask of the exact name, else of the wildcard that covers it, else 0. */
uint64_t pt_tls_sni_find(const pt_tls_sni_t *t, const char *host, size_t len);

#endif
