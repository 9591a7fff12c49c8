/*
 * uri.h: RFC 3986 pieces the HTTP layer and the router need: path normalisation for
 * routing and forwarding, and authority (host[:port]) validation.
 *
 * Pure functions: no I/O, no allocation.
 */
#ifndef PT_URI_H
#define PT_URI_H

#define PT_URI_MERGE_SLASHES    0x01    /* "//" is "/" */
#define PT_URI_DECODE_SLASHES   0x02    /* %2F and %5C are "/" (separators) */

/* Normalise an origin-form path (no query) for routing and forwarding, RFC 3986: decode %XX
 * that encode unreserved characters (ALPHA DIGIT "-" "." "_" "~"), uppercase the hex digits
 * of the remaining %XX, then remove dot-segments (RFC 3986 §5.2.4, so "/a/../b" -> "/b",
 * "/.." -> "/", "/api/%2e%2e/admin" -> "/admin"). flags: PT_URI_MERGE_SLASHES drops empty
 * segments ("//a" -> "/a"); PT_URI_DECODE_SLASHES makes %2F and %5C separators before the
 * dot-segments go ("/api/..%2Fadmin" -> "/admin"); without it they stay encoded.
 * Invalid percent-encoding ("%", "%G1", "%0") -> PT_ERROR; %00 -> PT_ERROR; the input
 * must start with "/". out has room for at least n bytes and may be in itself (the output
 * never runs ahead of the input); *outlen receives the length. Returns PT_OK or PT_ERROR
 * (then *outlen and out hold nothing useful). */
int pt_uri_normalize(const char *in, size_t n, unsigned flags, char *out, size_t *outlen);

/* Whether a segment of the path is "." or ".." followed by ";" parameters
 * ("/a/..;/admin"): RFC 3986 reads it as a name, but servers that drop
 * path parameters (Tomcat and its kin) read a dot-segment that climbs. */
bool pt_uri_dot_params(const char *in, size_t n);

/* Whether the path holds %2F or %5C (either case). */
bool pt_uri_has_escaped_slash(const char *in, size_t n);

/* Whether a normalised path, read with %2F and %5C as separators, has a "." or ".."
 * segment: one that would climb out of where the path was routed once an upstream
 * decodes the slash ("/api/..%2Fadmin"). */
bool pt_uri_hides_dot_segment(const char *in, size_t n);

/* Whether every byte of the path is one RFC 3986 allows there (pchar and
 * "/"): no backslash, quote, "<", ">", "^", "`", "{", "|", "}", "[" or "]". */
bool pt_uri_path_valid(const char *in, size_t n);

/* Cheap check whether pt_uri_normalize(flags) would change anything (no '%', no "/."
 * sequence and, when merging, no "//"): lets the hot path skip the copy. May say false
 * for a path that is already normal ("/.well-known"), never true for one that is not. */
bool pt_uri_is_normal(const char *in, size_t n, unsigned flags);

#define PT_URI_NEED_HOST    0x01    /* an empty host is invalid */
#define PT_URI_NEED_PORT    0x02    /* ":" port is required and must not be empty */

/* Validate an authority p[0..n) as uri-host [ ":" port ] (RFC 3986 §3.2.2-3.2.3) where
 * uri-host is an IP-literal in brackets (IPv6address or IPvFuture, no zone id), or a
 * reg-name (unreserved, sub-delims, valid pct-encoded), which covers IPv4address. userinfo
 * is refused. port is digits only, at most 65535, and may be empty unless PT_URI_NEED_PORT.
 * An empty host is valid unless PT_URI_NEED_HOST. Returns NULL when valid, else a short
 * static reason. */
const char *pt_uri_check_authority(const char *p, size_t n, unsigned flags);

#endif
