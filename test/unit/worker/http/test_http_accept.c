/*
 * test_http_accept.c: qvalues (RFC 9110 12.4.2) and the members of an
 * Accept-style list with their weights.
 */
#include "common/pt.h"
#include "common/str.h"
#include "worker/http/http_accept.h"
#include "test/unit/tap.h"

static const struct {
    const char *s;
    int q;
} qvalues[] = {
    { "0", 0 }, { "1", 1000 }, { "0.5", 500 }, { "0.05", 50 }, { "0.005", 5 }, { "0.", 0 },
    { "1.", 1000 }, { "1.000", 1000 }, { "0.999", 999 }, { "1.001", -1 }, { "2", -1 },
    { "0.1234", -1 }, { "", -1 }, { ".5", -1 }, { "0,5", -1 }, { "0.5 ", -1 }, { "-0", -1 },
};

int main(void)
{
    for (size_t i = 0; i < sizeof(qvalues) / sizeof(qvalues[0]); i++)
        is(pt_http_qvalue((pt_str_t) { qvalues[i].s, strlen(qvalues[i].s) }), qvalues[i].q,
           "qvalue \"%s\"", qvalues[i].s);

    pt_str_t list = PT_STR(" gzip;q=0.8 ,, br ; Q = 0.5 ;x=y, identity;q=7, *;level=1 ,;q=0 ");
    static const struct {
        const char *tok;
        int q;
    } want[] = { { "gzip", 800 }, { "br", 500 }, { "identity", -1 }, { "*", 1000 }, { "", 0 } };
    pt_str_t tok;
    int q;
    size_t n = 0;
    while (pt_http_accept_next(&list, &tok, &q) && n < 8) {
        if (n < sizeof(want) / sizeof(want[0])) {
            ok(pt_str_caseeq_lit(tok, want[n].tok), "member %zu is \"%s\"", n, want[n].tok);
            is(q, want[n].q, "member %zu weighs %d", n, want[n].q);
        }
        n++;
    }
    is(n, 5, "five members, empty ones skipped");
    return done_testing();
}
