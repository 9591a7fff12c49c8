/*
 * fuzz_accept_encoding.c: libFuzzer target for the weighted-list reader
 * behind Accept-Encoding (worker/http/http_accept.c), which the compress
 * filter chooses a coding from.
 *
 * The input is one field value. Every member the reader yields must lie
 * inside the input, in order, with no OWS at either end and no ',' or ';'
 * in it; its weight is -1 or 0..1000; reading stops. The same value split
 * at any comma into two fields must yield the same members and weights
 * (a list is a list however it is cut into fields). A weight printed back
 * as "d.ddd" must read as itself. Any breach aborts.
 */
#include "common/pt.h"
#include "worker/http/http_accept.h"

#define MAX_MEMBERS 4096

typedef struct {
    pt_str_t tok;
    int q;
} member_t;

static size_t members(pt_str_t list, member_t *out, size_t cap)
{
    size_t n = 0;
    const char *end = list.p + list.len, *prev = list.p;
    pt_str_t tok;
    int q;

    while (pt_http_accept_next(&list, &tok, &q)) {
        if (n == cap)
            abort();            /* more members than bytes */
        if (tok.len && (tok.p < prev || tok.p + tok.len > end))
            abort();
        if (tok.len && (tok.p[0] == ' ' || tok.p[0] == '\t' || tok.p[tok.len - 1] == ' '
                        || tok.p[tok.len - 1] == '\t'))
            abort();
        if (memchr(tok.p, ',', tok.len) || memchr(tok.p, ';', tok.len))
            abort();
        if (q < -1 || q > 1000)
            abort();
        if (q >= 0) {
            char txt[8];
            snprintf(txt, sizeof(txt), "%d.%03d", q / 1000, q % 1000);
            if (pt_http_qvalue((pt_str_t) { txt, strlen(txt) }) != q)
                abort();
        }
        if (tok.len)
            prev = tok.p + tok.len;
        out[n++] = (member_t) { tok, q };
    }
    return n;
}

static bool same(const member_t *a, const member_t *b)
{
    return a->q == b->q && a->tok.len == b->tok.len && memcmp(a->tok.p, b->tok.p, a->tok.len) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static member_t whole[MAX_MEMBERS], split[MAX_MEMBERS];

    if (size >= MAX_MEMBERS)
        return 0;
    char *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    size_t n = members((pt_str_t) { copy, size }, whole, MAX_MEMBERS);
    pt_http_qvalue((pt_str_t) { copy, size });

    const char *comma = memchr(copy, ',', size);
    if (comma) {
        size_t at = (size_t) (comma - copy);
        size_t k = members((pt_str_t) { copy, at }, split, MAX_MEMBERS);
        k += members((pt_str_t) { copy + at + 1, size - at - 1 }, split + k, MAX_MEMBERS - k);
        if (k != n)
            abort();
        for (size_t i = 0; i < n; i++)
            if (!same(&whole[i], &split[i]))
                abort();
    }
    free(copy);
    return 0;
}
