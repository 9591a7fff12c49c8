/*
 * test_cidr.c: CIDR and rule parsing, matching across IPv4, IPv6 and
 * IPv4-mapped IPv6, and first-match rule lists.
 */
#include "common/pt.h"
#include "common/cidr.h"
#include "test/unit/tap.h"

#include <netinet/in.h>

static bool in(const char *cidr, const char *addr)
{
    pt_cidr_t c;
    pt_addr_t a;
    const char *why;

    if (pt_cidr_parse(cidr, strlen(cidr), &c, &why) != PT_OK
        || pt_addr_parse(addr, strlen(addr), &a) != PT_OK)
        return false;
    return pt_cidr_match(&c, &a);
}

static const char *bad(const char *cidr)
{
    pt_cidr_t c;
    const char *why = NULL;

    return pt_cidr_parse(cidr, strlen(cidr), &c, &why) == PT_OK ? NULL : why;
}

int main(void)
{
    ok(in("10.0.0.0/8", "10.255.1.2"), "inside an IPv4 /8");
    ok(!in("10.0.0.0/8", "11.0.0.0"), "outside it");
    ok(in("192.0.2.1", "192.0.2.1") && !in("192.0.2.1", "192.0.2.2"), "a host is /32");
    ok(in("0.0.0.0/0", "203.0.113.9") && !in("0.0.0.0/0", "2001:db8::1"),
       "0.0.0.0/0 is every IPv4 address, no IPv6 one");
    ok(in("::/0", "2001:db8::1") && in("::/0", "10.0.0.1"), "::/0 is everything");
    ok(in("10.0.0.0/8", "::ffff:10.1.2.3"), "IPv4-mapped IPv6 matches IPv4 rules");
    ok(in("::ffff:10.0.0.0/104", "10.9.9.9"), "and the mapped form of a rule matches IPv4");
    ok(in("2001:db8::/32", "2001:db8:ffff::1") && !in("2001:db8::/32", "2001:db9::1"),
       "IPv6 /32");
    ok(in("2001:db8::/127", "2001:db8::1") && !in("2001:db8::/127", "2001:db8::2"),
       "IPv6 /127: the last bit");
    ok(in("10.1.2.0/23", "10.1.3.255") && !in("10.1.2.0/23", "10.1.4.0"), "odd prefixes");
    ok(in("::1", "::1") && !in("::1", "::2"), "::1/128");

    ok(bad("10.0.0.1/8") && strstr(bad("10.0.0.1/8"), "past its prefix"),
       "host bits past the prefix are refused");
    ok(bad("10.0.0.0/33") != NULL && bad("::/129") != NULL, "prefix too long");
    ok(bad("10.0.0.0/") != NULL && bad("10.0.0.0/x") != NULL && bad("10.0.0.0/-1") != NULL
       && bad("10.0.0.0/0008") != NULL, "prefix not a short number");
    ok(bad("10.0.0") != NULL && bad("") != NULL && bad("300.0.0.0/8") != NULL
       && bad("[::1]") != NULL && bad("fe80::1%eth0") != NULL && bad("10.0.0.0 /8") != NULL,
       "not addresses");

    pt_addr_t a;
    ok(pt_addr_parse("10.0.0.1", 8, &a) == PT_OK && pt_addr_is_v4(&a), "IPv4 is mapped");
    char buf[64];
    pt_addr_ntop(&a, buf, sizeof(buf));
    is_str(buf, "10.0.0.1", "and printed as IPv4");
    ok(pt_addr_parse("::ffff:10.0.0.1", 15, &a) == PT_OK && pt_addr_is_v4(&a),
       "mapped IPv6 is IPv4");
    pt_addr_ntop(&a, buf, sizeof(buf));
    is_str(buf, "10.0.0.1", "printed as IPv4 too");
    ok(pt_addr_parse("2001:db8::1", 11, &a) == PT_OK && !pt_addr_is_v4(&a), "IPv6");
    struct sockaddr_storage ss;
    ok(pt_addr_to_sa(&a, &ss) == sizeof(struct sockaddr_in6) && ss.ss_family == AF_INET6,
       "IPv6 to a sockaddr_in6");
    pt_addr_t b;
    pt_addr_from_sa((struct sockaddr *) &ss, &b);
    ok(memcmp(&a, &b, sizeof(a)) == 0, "and back");

    /* Rules: first match wins. */
    const char *texts[] = { "deny 10.1.0.0/16", "allow 10.0.0.0/8", "deny  all  ", NULL };
    pt_cidr_rule_t v[3];
    const char *why;
    for (int i = 0; i < 3; i++)
        ok(pt_cidr_rule_parse(texts[i], &v[i], &why) == PT_OK, "rule \"%s\"", texts[i]);
    pt_cidr_rules_t rules = { v, 2, texts };
    size_t rule = 99;
    pt_addr_parse("10.1.2.3", 8, &a);
    ok(pt_cidr_rules_eval(&rules, &a, &rule) == 0 && rule == 0, "deny before allow");
    pt_addr_parse("10.2.2.3", 8, &a);
    ok(pt_cidr_rules_eval(&rules, &a, &rule) == 1 && rule == 1, "then allow");
    pt_addr_parse("11.2.2.3", 8, &a);
    ok(pt_cidr_rules_eval(&rules, &a, &rule) == -1, "no match: the default decides");
    rules.n = 3;
    ok(pt_cidr_rules_eval(&rules, &a, &rule) == 0 && rule == 2, "\"deny all\"");
    pt_addr_parse("2001:db8::1", 11, &a);
    ok(pt_cidr_rules_eval(&rules, &a, &rule) == 0, "\"all\" covers IPv6 too");
    ok(pt_cidr_rule_parse("permit 10.0.0.0/8", &v[0], &why) != PT_OK
       && pt_cidr_rule_parse("allow", &v[0], &why) != PT_OK
       && pt_cidr_rule_parse("allow 10.0.0.1/8", &v[0], &why) != PT_OK
       && pt_cidr_rule_parse("ALLOW 10.0.0.0/8", &v[0], &why) != PT_OK,
       "bad rules refused");
    return done_testing();
}
