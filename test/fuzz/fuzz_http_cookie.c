/*
 * fuzz_http_cookie.c: libFuzzer target for reading a cookie out of a Cookie
 * field (worker/http/http_cookie.h).
 *
 * The first byte is the name's length; the name follows, then the field.
 * Both go on heap copies of their exact size, so a read past either is
 * caught. A value found must lie inside the field, carry no blank at its
 * ends and no ';'; looking the found name up again in a field made of
 * "name=value" alone must give the same value. Any breach aborts.
 */
#include "common/pt.h"

#include "worker/http/http_cookie.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t nlen = data[0];
    if (nlen > size - 1)
        nlen = size - 1;
    char *name = malloc(nlen ? nlen : 1);
    char *field = malloc(size - 1 - nlen ? size - 1 - nlen : 1);
    memcpy(name, data + 1, nlen);
    memcpy(field, data + 1 + nlen, size - 1 - nlen);
    pt_str_t f = { field, size - 1 - nlen }, n = { name, nlen };

    pt_str_t v = pt_http_cookie(f, n);
    if (v.p) {
        if (v.p < f.p || v.p + v.len > f.p + f.len)
            abort();
        if (memchr(v.p, ';', v.len))
            abort();
        if (v.len && (v.p[0] == ' ' || v.p[0] == '\t' || v.p[v.len - 1] == ' '
                      || v.p[v.len - 1] == '\t'))
            abort();
        /* Alone in a field of its own, the pair gives the same value back
         * (when the name itself is one a field can hold). */
        if (!memchr(name, ';', nlen) && !memchr(name, '=', nlen)
            && (nlen == 0 || (name[0] != ' ' && name[0] != '\t'))) {
            size_t alen = nlen + 1 + v.len;
            char *again = malloc(alen);
            memcpy(again, name, nlen);
            again[nlen] = '=';
            memcpy(again + nlen + 1, v.p, v.len);
            pt_str_t w = pt_http_cookie((pt_str_t) { again, alen }, n);
            if (w.p == NULL || w.len != v.len || memcmp(w.p, v.p, v.len) != 0)
                abort();
            free(again);
        }
    }
    free(name);
    free(field);
    return 0;
}
