/*
 * http_forwarded.h: who the client is when trusted proxies stand in front.
 *
 * Each proxy appends the address it received the request from to
 * X-Forwarded-For (or a for= element to Forwarded, RFC 7239 §5.2), so
 * the list read from the right is a chain of hops, of which only those
 * appended by proxies we trust are true. The walk starts at the peer
 * (trusted, or the walk is not made) and moves left while the hop it
 * reaches is trusted: the first untrusted address from the right is the
 * client. An entry that is not an address (garbage, "unknown", an
 * obfuscated node) ends the walk where it is: what lies left of it cannot
 * be attributed to any trusted hop, so the client is the last address
 * the walk verified.
 */
#ifndef PT_HTTP_FORWARDED_H
#define PT_HTTP_FORWARDED_H

#include "common/pt.h"
#include "common/cidr.h"

/* Hops looked at, from the right; a longer chain stops there. */
#define PT_HTTP_FORWARDED_HOPS_MAX  32

enum { PT_HTTP_FORWARDED_XFF = 0, PT_HTTP_FORWARDED_RFC7239 };

/* Walk the field values (in the order the fields came, n of them) of kind
 * PT_HTTP_FORWARDED_XFF or PT_HTTP_FORWARDED_RFC7239, starting from peer, which the
 * caller found trusted. *client is set to the client; returns true when
 * it differs from the peer. */
bool pt_http_forwarded_walk(int kind, const pt_str_t *values, size_t n, const pt_cidr_list_t *trusted,
                    const pt_addr_t *peer, pt_addr_t *client);

/* One X-Forwarded-For element: an address, a bracketed IPv6 address with
 * an optional port, or an IPv4 address with a port. PT_OK or PT_ERROR. */
int pt_http_forwarded_xff_elem(pt_str_t e, pt_addr_t *out);

/* The for= node of one Forwarded element ("for=192.0.2.1;proto=http",
 * for="[2001:db8::1]:80"). PT_OK or PT_ERROR (none, unknown, obfuscated). */
int pt_http_forwarded_elem(pt_str_t e, pt_addr_t *out);

#endif
