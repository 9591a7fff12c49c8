/*
 * test_http_forwarded.c: walking X-Forwarded-For and Forwarded from the right:
 * trusted hops skipped, the first untrusted address is the client,
 * malformed entries end the walk, several fields read in order.
 */
#include "common/pt.h"
#include "common/cidr.h"
#include "worker/http/http_forwarded.h"
#include "test/unit/tap.h"

static pt_cidr_t trusted_v[2];
static pt_cidr_list_t trusted = { trusted_v, 2, NULL };

/* The client the walk finds for fields (separated by '|'), as text. */
static const char *walk(int kind, const char *fields)
{
    static char out[64];
    pt_str_t v[8];
    size_t n = 0;
    pt_addr_t peer, client;

    for (const char *p = fields; n < 8; n++) {
        const char *bar = strchr(p, '|');
        v[n] = (pt_str_t) { p, bar ? (size_t) (bar - p) : strlen(p) };
        if (bar == NULL) {
            n++;
            break;
        }
        p = bar + 1;
    }
    pt_addr_parse("10.0.0.1", 8, &peer);
    pt_http_forwarded_walk(kind, v, n, &trusted, &peer, &client);
    pt_addr_ntop(&client, out, sizeof(out));
    return out;
}

int main(void)
{
    const char *why;
    pt_cidr_parse("10.0.0.0/8", 10, &trusted_v[0], &why);
    pt_cidr_parse("2001:db8:1::/48", 15, &trusted_v[1], &why);

    static const struct {
        const char *fields, *want, *what;
    } xff[] = {
        { "203.0.113.7", "203.0.113.7", "one hop" },
        { "198.51.100.1, 203.0.113.7", "203.0.113.7", "the rightmost untrusted" },
        { "198.51.100.1, 203.0.113.7, 10.2.2.2", "203.0.113.7", "trusted hops skipped" },
        { "10.3.3.3, 10.2.2.2", "10.3.3.3", "all trusted: the leftmost" },
        { "", "10.0.0.1", "empty: the peer" },
        { " , ,", "10.0.0.1", "only empty elements: the peer" },
        { "garbage", "10.0.0.1", "malformed: the peer" },
        { "203.0.113.7, garbage", "10.0.0.1", "malformed on the right stops the walk" },
        { "203.0.113.7, garbage, 10.2.2.2", "10.2.2.2", "at the last verified hop" },
        { "203.0.113.7,10.2.2.2", "203.0.113.7", "no space after the comma" },
        { "198.51.100.1|203.0.113.7", "203.0.113.7", "two fields: the last is nearest" },
        { "198.51.100.1|10.2.2.2", "198.51.100.1", "walk across fields" },
        { "2001:db8::5", "2001:db8::5", "IPv6" },
        { "[2001:db8::5]:443", "2001:db8::5", "bracketed with a port" },
        { "[2001:db8::5]", "2001:db8::5", "bracketed" },
        { "203.0.113.7:8080", "203.0.113.7", "IPv4 with a port" },
        { "::ffff:203.0.113.7", "203.0.113.7", "IPv4-mapped" },
        { "2001:db8::5, 2001:db8:1::9", "2001:db8::5", "trusted IPv6 hop" },
        { "203.0.113.7:80:80", "10.0.0.1", "two ports" },
        { "[2001:db8::5", "10.0.0.1", "open bracket" },
        { "[203.0.113.7]", "10.0.0.1", "bracketed IPv4" },
        { "unknown", "10.0.0.1", "unknown" },
        { "203.0.113.7:99999x", "10.0.0.1", "bad port" },
        { "1.2.3.4, 1.2.3.4 5.6.7.8", "10.0.0.1", "a space inside an element" },
    };
    for (size_t i = 0; i < pt_countof(xff); i++)
        is_str(walk(PT_HTTP_FORWARDED_XFF, xff[i].fields), xff[i].want, "xff: %s", xff[i].what);

    static const struct {
        const char *fields, *want, *what;
    } fwd[] = {
        { "for=203.0.113.7", "203.0.113.7", "one element" },
        { "For=\"203.0.113.7:80\";proto=https", "203.0.113.7", "quoted, port, params" },
        { "for=198.51.100.1, for=\"[2001:db8::5]:4711\", for=10.2.2.2;by=10.0.0.1",
          "2001:db8::5", "RFC 7239 example, trusted skipped" },
        { "proto=http;for=203.0.113.7;host=x", "203.0.113.7", "for= in the middle" },
        { "for=_hidden", "10.0.0.1", "obfuscated node" },
        { "for=unknown", "10.0.0.1", "unknown node" },
        { "for=2001:db8::5", "10.0.0.1", "unbracketed IPv6" },
        { "proto=http", "10.0.0.1", "no for=" },
        { "for=203.0.113.7;for=198.51.100.1", "10.0.0.1", "for= twice in an element" },
        { "for=\"203.0.113.7", "10.0.0.1", "unterminated quote" },
        { "for=\"[2001:db8::5],x\", for=10.2.2.2", "10.2.2.2", "a quoted comma is not a split" },
        { "for=198.51.100.1|for=10.2.2.2", "198.51.100.1", "two fields" },
    };
    for (size_t i = 0; i < pt_countof(fwd); i++)
        is_str(walk(PT_HTTP_FORWARDED_RFC7239, fwd[i].fields), fwd[i].want, "forwarded: %s",
               fwd[i].what);

    /* A chain longer than the walk's bound: the walk stops inside it. */
    char longchain[64 * 12] = "203.0.113.7";
    for (int i = 0; i < 40; i++)
        strcat(longchain, ", 10.1.1.1");
    is_str(walk(PT_HTTP_FORWARDED_XFF, longchain), "10.1.1.1", "a chain past the bound stays trusted");
    return done_testing();
}
