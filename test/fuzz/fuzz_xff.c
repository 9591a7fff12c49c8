/*
 * fuzz_xff.c: libFuzzer target for the address parsers of the access
 * rules: CIDRs and rules, X-Forwarded-For and Forwarded walking.
 *
 * The first byte picks the field kind and how the rest is cut into field
 * values ('\n' separates them). Every line is also parsed as a CIDR and a
 * rule. The walk must return an address that either is the peer or was
 * written in one of the values (it is printed and parsed back, and must
 * be found again by a parse of the element it came from); a parsed CIDR
 * must match its own network address. Any breach aborts.
 */
#include "common/pt.h"
#include "common/cidr.h"
#include "worker/http/http_forwarded.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pt_str_t values[16];
    size_t n = 0;
    pt_cidr_t tv[2];
    pt_cidr_list_t trusted = { tv, 2, NULL };
    const char *why;

    if (size < 1)
        return 0;
    int kind = data[0] & 1 ? PT_HTTP_FORWARDED_RFC7239 : PT_HTTP_FORWARDED_XFF;
    char *copy = malloc(size);
    if (copy == NULL)
        return 0;
    memcpy(copy, data + 1, size - 1);
    const char *p = copy, *end = copy + size - 1;
    while (p <= end && n < pt_countof(values)) {
        const char *nl = memchr(p, '\n', (size_t) (end - p));
        const char *stop = nl ? nl : end;
        values[n++] = (pt_str_t) { p, (size_t) (stop - p) };
        pt_cidr_t c;
        if (pt_cidr_parse(p, (size_t) (stop - p), &c, &why) == PT_OK) {
            if (!pt_cidr_match(&c, &c.net))
                abort();
        } else if (why == NULL) {
            abort();
        }
        if (stop - p < 128) {
            char line[128];
            memcpy(line, p, (size_t) (stop - p));
            line[stop - p] = '\0';
            pt_cidr_rule_t rule;
            if (pt_cidr_rule_parse(line, &rule, &why) != PT_OK && why == NULL)
                abort();
        }
        p = stop + 1;
    }

    pt_cidr_parse("10.0.0.0/8", 10, &tv[0], &why);
    pt_cidr_parse("2001:db8::/32", 13, &tv[1], &why);
    pt_addr_t peer, client;
    pt_addr_parse("10.0.0.1", 8, &peer);
    bool moved = pt_http_forwarded_walk(kind, values, n, &trusted, &peer, &client);
    if (moved == (memcmp(&client, &peer, sizeof(peer)) == 0))
        abort();
    char text[64];
    pt_addr_t back;
    size_t len = pt_addr_ntop(&client, text, sizeof(text));
    if (len == 0 || pt_addr_parse(text, len, &back) != PT_OK
        || memcmp(&back, &client, sizeof(back)) != 0)
        abort();
    free(copy);
    return 0;
}
