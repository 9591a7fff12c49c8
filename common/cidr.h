/*
 * cidr.h: IP addresses, CIDR networks and ordered allow/deny lists of
 * them, with the config setters that read them.
 *
 * Every address is held as 16 bytes: IPv6 as is, IPv4 as the IPv4-mapped
 * IPv6 address ::ffff:a.b.c.d, so "10.0.0.0/8" is ::ffff:10.0.0.0/104 and
 * a client that reaches an IPv6 socket from an IPv4 address (or writes
 * ::ffff:10.1.2.3 in X-Forwarded-For) matches the IPv4 rules.
 */
#ifndef PT_CIDR_H
#define PT_CIDR_H

#include "common/pt.h"
#include "common/conf.h"

#include <sys/socket.h>

/* Most entries one list (trusted_proxies, address_rules) may hold. */
#define PT_CIDR_LIST_MAX    1024

typedef struct {
    uint64_t w[2];              /* the 16 bytes, in memory order */
} pt_addr_t;

typedef struct {
    pt_addr_t net;              /* bits past the prefix are 0 */
    pt_addr_t mask;
    uint8_t bits;               /* prefix length over the 128 bits */
} pt_cidr_t;

/* A list of networks (trusted_proxies), with the text it was written as. */
typedef struct {
    pt_cidr_t *v;
    size_t n;
    const char **text;          /* NULL-terminated, for -T */
} pt_cidr_list_t;

/* An ordered allow/deny list (address_rules, accept_rules). */
typedef struct {
    pt_cidr_t cidr;
    bool allow;
} pt_cidr_rule_t;

typedef struct {
    pt_cidr_rule_t *v;
    size_t n;
    const char **text;
} pt_cidr_rules_t;

/* The n bytes at s as one address ("192.0.2.1", "2001:db8::1",
 * "::ffff:192.0.2.1"); PT_OK or PT_ERROR. No brackets, ports or zones. */
int pt_addr_parse(const char *s, size_t n, pt_addr_t *out);

/* The address of sa (AF_INET or AF_INET6; anything else: all zeroes). */
void pt_addr_from_sa(const struct sockaddr *sa, pt_addr_t *out);

/* Whether a is an IPv4 address (IPv4-mapped). */
bool pt_addr_is_v4(const pt_addr_t *a);

/* a as a socket address (AF_INET for IPv4, else AF_INET6; port 0) into
 * ss; returns its length. */
socklen_t pt_addr_to_sa(const pt_addr_t *a, struct sockaddr_storage *ss);

/* a as text ("192.0.2.1", "2001:db8::1") into buf (PT_SOCK_ADDRSTRLEN
 * bytes); returns the length. */
size_t pt_addr_ntop(const pt_addr_t *a, char *buf, size_t len);

/* "10.0.0.0/8", "2001:db8::/32", or an address alone (a host: /32 or
 * /128). why says what is wrong on PT_ERROR; bits set past the prefix
 * ("10.0.0.1/8") are refused, they mostly are a typo. */
int pt_cidr_parse(const char *s, size_t n, pt_cidr_t *out, const char **why);

static inline bool pt_cidr_match(const pt_cidr_t *c, const pt_addr_t *a)
{
    return (a->w[0] & c->mask.w[0]) == c->net.w[0] && (a->w[1] & c->mask.w[1]) == c->net.w[1];
}

/* Whether a is in any network of l (NULL: none). */
bool pt_cidr_list_match(const pt_cidr_list_t *l, const pt_addr_t *a);

/* The rule list's verdict for a: the first rule that matches decides;
 * none: -1. Otherwise 1 (allow) or 0 (deny), *rule set to its index. */
int pt_cidr_rules_eval(const pt_cidr_rules_t *l, const pt_addr_t *a, size_t *rule);

/* "allow CIDR", "deny CIDR", "allow all", "deny all" into rule. */
int pt_cidr_rule_parse(const char *s, pt_cidr_rule_t *rule, const char **why);

/* Config setters (PT_CONF_CUSTOM, the field a pt_cidr_list_t * or a
 * pt_cidr_rules_t *): a string or a list of strings; errors name the line
 * of the entry. The dumpers print the list as written. */
int pt_cidr_list_conf_set(pt_conf_ctx_t *cf, const config_setting_t *s, void *field,
                          const pt_directive_t *d);
void pt_cidr_list_conf_dump(FILE *out, const void *field, const pt_directive_t *d, int indent);
int pt_cidr_rules_conf_set(pt_conf_ctx_t *cf, const config_setting_t *s, void *field,
                           const pt_directive_t *d);
void pt_cidr_rules_conf_dump(FILE *out, const void *field, const pt_directive_t *d,
                             int indent);
/* The same parsers for a setting s outside a directive table. */
pt_cidr_rules_t *pt_cidr_rules_conf_parse(pt_conf_ctx_t *cf, const config_setting_t *s);

#endif
