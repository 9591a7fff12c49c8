/*
 * tls_sni.c: server name to certificates (see tls_sni.h).
 */
#include "common/pt.h"
#include "worker/tls/tls_sni.h"

static int pt_tls_sni_cmp(const void *a, const void *b)
{
    const pt_tls_sni_name_t *x = a, *y = b;
    size_t n = pt_min(x->len, y->len);
    int c = memcmp(x->name, y->name, n);

    if (c != 0)
        return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

/* Sort and merge equal names (OR of their masks); returns the new count. */
static size_t pt_tls_sni_sort(pt_tls_sni_name_t *v, size_t n)
{
    size_t out = 0;

    if (n == 0)
        return 0;
    qsort(v, n, sizeof(*v), pt_tls_sni_cmp);
    for (size_t i = 1; i < n; i++) {
        if (pt_tls_sni_cmp(&v[out], &v[i]) == 0)
            v[out].mask |= v[i].mask;
        else
            v[++out] = v[i];
    }
    return out + 1;
}

pt_tls_sni_t *pt_tls_sni_build(pt_arena_t *a, const pt_tls_sni_input_t *in, size_t n)
{
    pt_tls_sni_t *t = pt_arena_calloc(a, sizeof(*t));

    if (t == NULL)
        return NULL;
    t->exact = pt_arena_alloc(a, (n ? n : 1) * sizeof(*t->exact));
    t->wild = pt_arena_alloc(a, (n ? n : 1) * sizeof(*t->wild));
    if (t->exact == NULL || t->wild == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const char *name = in[i].name;
        size_t len = strlen(name);
        bool wild = len > 2 && name[0] == '*' && name[1] == '.';

        if (wild) {
            name++;
            len--;
        }
        if (len == 0 || len > PT_TLS_SNI_NAME_MAX || memchr(name, '*', len) != NULL
            || in[i].cert >= PT_TLS_SNI_CERTS_MAX)
            continue;
        char *low = pt_arena_alloc(a, len + 1);
        if (low == NULL)
            return NULL;
        for (size_t k = 0; k < len; k++)
            low[k] = (char) (name[k] >= 'A' && name[k] <= 'Z' ? name[k] | 0x20 : name[k]);
        low[len] = '\0';
        pt_tls_sni_name_t e = { low, len, UINT64_C(1) << in[i].cert };
        if (wild)
            t->wild[t->nwild++] = e;
        else
            t->exact[t->nexact++] = e;
    }
    t->nexact = pt_tls_sni_sort(t->exact, t->nexact);
    t->nwild = pt_tls_sni_sort(t->wild, t->nwild);
    return t;
}

static uint64_t pt_tls_sni_search(const pt_tls_sni_name_t *v, size_t n, const char *name,
                                  size_t len)
{
    pt_tls_sni_name_t key = { name, len, 0 };
    const pt_tls_sni_name_t *hit = bsearch(&key, v, n, sizeof(*v), pt_tls_sni_cmp);

    return hit ? hit->mask : 0;
}

uint64_t pt_tls_sni_find(const pt_tls_sni_t *t, const char *host, size_t len)
{
    char low[PT_TLS_SNI_NAME_MAX + 1];
    uint64_t mask;

    if (t == NULL)
        return 0;
    if (len && host[len - 1] == '.')
        len--;
    if (len == 0 || len > PT_TLS_SNI_NAME_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = host[i];
        low[i] = (char) (c >= 'A' && c <= 'Z' ? c | 0x20 : c);
    }
    if ((mask = pt_tls_sni_search(t->exact, t->nexact, low, len)) != 0)
        return mask;
    /* A wildcard stands for the whole first label, which must not be empty. */
    const char *dot = memchr(low, '.', len);
    if (dot == NULL || dot == low)
        return 0;
    return pt_tls_sni_search(t->wild, t->nwild, dot, len - (size_t) (dot - low));
}
