/*
 * router.c: host buckets and per-bucket radix trees (see router.h).
 */
#include "common/pt.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/str.h"
#include "worker/http/http_parse.h"
#include "worker/router/router.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <ctype.h>
#include <pcre2.h>

#define PT_ROUTER_HOST_MAX      256
#define PT_ROUTER_DEPTH_MAX     512     /* radix nodes remembered on one walk */
#define PT_ROUTER_CAPTURES      10
#define PT_ROUTER_ALLOW_NAMED   16      /* routes whose own method names a 405 lists */

/* A header predicate compiled at load: a well-known field by its id, any
 * other by its name (lowercase) against the fields without an id. */
typedef struct {
    unsigned id;                /* enum pt_http_hdr */
    pt_str_t name;
    pt_str_t value;             /* .p NULL: being present is enough */
    bool negate;
} pt_router_pred_t;

/* A route as a candidate, with its compiled predicates at hand. */
typedef struct {
    pt_route_t *route;
    const pt_router_pred_t *preds;
    size_t npreds;
} pt_router_entry_t;

/* A list of routes sharing a key, in priority order. */
typedef struct {
    pt_router_entry_t *v;
    size_t n, cap;
} pt_router_list_t;

typedef struct pt_router_node_s pt_router_node_t;
struct pt_router_node_s {
    const char *label;          /* edge from the parent */
    size_t label_len;
    pt_router_node_t **child;   /* sorted by first byte of label */
    size_t nchild;
    pt_router_list_t exact;     /* routes whose exact path ends here */
    pt_router_list_t prefix;    /* routes whose prefix ends here */
};

typedef struct {
    pt_router_node_t root;
    pt_router_list_t regex;
    bool used;
} pt_router_tree_t;

typedef struct {
    const char *key;            /* exact host, or the suffix of "*.suffix" */
    size_t len;
    pt_router_tree_t *tree;
} pt_router_host_t;

typedef struct {
    pt_router_host_t *slots;
    size_t mask;                /* capacity - 1 (power of two) */
    size_t n;
} pt_router_hosts_t;

struct pt_router_s {
    pt_arena_t *arena;
    pt_router_hosts_t exact;
    pt_router_hosts_t wild;
    pt_router_tree_t any;
    bool has_wild;
};

/* ---- building ------------------------------------------------------------ */

static int pt_router_list_add(pt_arena_t *a, pt_router_list_t *l, const pt_router_entry_t *e)
{
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 2;
        pt_router_entry_t *nv = pt_arena_alloc(a, ncap * sizeof(*nv));
        if (nv == NULL)
            return PT_ERROR;
        if (l->n)
            memcpy(nv, l->v, l->n * sizeof(*nv));
        l->v = nv;
        l->cap = ncap;
    }
    l->v[l->n++] = *e;
    return PT_OK;
}

static unsigned pt_router_conditions(const pt_route_t *r)
{
    return (r->methods ? 1u : 0u) + (unsigned) r->nheaders + (r->listeners ? 1u : 0u);
}

static int pt_router_priority_cmp(const void *a, const void *b)
{
    const pt_route_t *x = ((const pt_router_entry_t *) a)->route;
    const pt_route_t *y = ((const pt_router_entry_t *) b)->route;
    unsigned cx = pt_router_conditions(x), cy = pt_router_conditions(y);

    if (cx != cy)
        return cx > cy ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

static pt_router_node_t *pt_router_node_new(pt_arena_t *a, const char *label, size_t len)
{
    pt_router_node_t *n = pt_arena_calloc(a, sizeof(*n));

    if (n) {
        n->label = label;
        n->label_len = len;
    }
    return n;
}

static int pt_router_node_attach(pt_arena_t *a, pt_router_node_t *parent,
                                 pt_router_node_t *child)
{
    pt_router_node_t **nc = pt_arena_alloc(a, (parent->nchild + 1) * sizeof(*nc));
    size_t i = 0;

    if (nc == NULL)
        return PT_ERROR;
    unsigned char first = (unsigned char) child->label[0];
    for (; i < parent->nchild && (unsigned char) parent->child[i]->label[0] < first; i++)
        nc[i] = parent->child[i];
    nc[i] = child;
    for (; i < parent->nchild; i++)
        nc[i + 1] = parent->child[i];
    parent->child = nc;
    parent->nchild++;
    return PT_OK;
}

static pt_router_node_t *pt_router_node_find(const pt_router_node_t *n, unsigned char c)
{
    size_t lo = 0, hi = n->nchild;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        unsigned char m = (unsigned char) n->child[mid]->label[0];
        if (m == c)
            return n->child[mid];
        if (m < c)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* The node for key, creating and splitting edges as needed. */
static pt_router_node_t *pt_router_insert(pt_arena_t *a, pt_router_node_t *root,
                                          const char *key, size_t len)
{
    pt_router_node_t *n = root;

    while (len) {
        pt_router_node_t *c = pt_router_node_find(n, (unsigned char) key[0]);
        if (c == NULL) {
            pt_router_node_t *leaf = pt_router_node_new(a, key, len);
            if (leaf == NULL || pt_router_node_attach(a, n, leaf) != PT_OK)
                return NULL;
            return leaf;
        }
        size_t k = 0;
        while (k < c->label_len && k < len && c->label[k] == key[k])
            k++;
        if (k < c->label_len) {
            /* Split c's edge at k: a new middle node takes c's place. */
            pt_router_node_t *mid = pt_router_node_new(a, c->label, k);
            if (mid == NULL)
                return NULL;
            for (size_t i = 0; i < n->nchild; i++)
                if (n->child[i] == c)
                    n->child[i] = mid;
            c->label += k;
            c->label_len -= k;
            if (pt_router_node_attach(a, mid, c) != PT_OK)
                return NULL;
            c = mid;
        }
        n = c;
        key += k;
        len -= k;
    }
    return n;
}

static void pt_router_sort_node(pt_router_node_t *n)
{
    /* An empty list has no array, and qsort's base must not be NULL. */
    if (n->exact.n > 1)
        qsort(n->exact.v, n->exact.n, sizeof(*n->exact.v), pt_router_priority_cmp);
    if (n->prefix.n > 1)
        qsort(n->prefix.v, n->prefix.n, sizeof(*n->prefix.v), pt_router_priority_cmp);
    for (size_t i = 0; i < n->nchild; i++)
        pt_router_sort_node(n->child[i]);
}

static int pt_router_tree_add(pt_arena_t *a, pt_router_tree_t *t, const pt_router_entry_t *e)
{
    const pt_route_t *r = e->route;

    t->used = true;
    if (r->path_kind == PT_PATH_REGEX)
        return pt_router_list_add(a, &t->regex, e);
    pt_router_node_t *n = pt_router_insert(a, &t->root, r->path, r->path_len);
    if (n == NULL)
        return PT_ERROR;
    return pt_router_list_add(a, r->path_kind == PT_PATH_EXACT ? &n->exact : &n->prefix, e);
}

/* The route's header predicates with their field ids and lengths, so
 * that a request compares ids or lengths first, not C strings. */
static int pt_router_entry_init(pt_arena_t *a, pt_route_t *r, pt_router_entry_t *e)
{
    pt_router_pred_t *p = NULL;

    if (r->nheaders && (p = pt_arena_calloc(a, r->nheaders * sizeof(*p))) == NULL)
        return PT_ERROR;
    for (size_t i = 0; i < r->nheaders; i++) {
        const pt_route_header_t *h = &r->headers[i];
        p[i].name = (pt_str_t) { h->name, strlen(h->name) };
        p[i].id = pt_http_hdr_id(p[i].name.p, p[i].name.len);
        p[i].value = h->value ? (pt_str_t) { h->value, strlen(h->value) } : PT_STR_NULL;
        p[i].negate = h->negate;
    }
    *e = (pt_router_entry_t) { r, p, r->nheaders };
    return PT_OK;
}

static pt_router_host_t *pt_router_hosts_slot(const pt_router_hosts_t *h, const char *key,
                                              size_t len)
{
    size_t i = (size_t) pt_hash(key, len, 0) & h->mask;

    for (;; i = (i + 1) & h->mask) {
        pt_router_host_t *s = &h->slots[i];
        if (s->key == NULL || (s->len == len && memcmp(s->key, key, len) == 0))
            return s;
    }
}

static int pt_router_hosts_init(pt_arena_t *a, pt_router_hosts_t *h, size_t expect)
{
    size_t cap = 8;

    while (cap < expect * 2)
        cap *= 2;
    h->slots = pt_arena_calloc(a, cap * sizeof(*h->slots));
    h->mask = cap - 1;
    return h->slots ? PT_OK : PT_ERROR;
}

static pt_router_tree_t *pt_router_hosts_tree(pt_arena_t *a, pt_router_hosts_t *h,
                                              const char *key, size_t len)
{
    pt_router_host_t *s = pt_router_hosts_slot(h, key, len);

    if (s->key == NULL) {
        s->key = key;
        s->len = len;
        s->tree = pt_arena_calloc(a, sizeof(*s->tree));
        h->n++;
    }
    return s->tree;
}

pt_router_t *pt_router_build(pt_conf_ctx_t *cf, pt_conf_t *conf)
{
    pt_router_t *rt = pt_arena_calloc(cf->arena, sizeof(*rt));
    size_t nhosts = 0;

    if (rt == NULL)
        return NULL;
    rt->arena = cf->arena;
    for (size_t i = 0; i < conf->nroutes; i++)
        nhosts += conf->routes[i].nhosts;
    if (pt_router_hosts_init(cf->arena, &rt->exact, nhosts) != PT_OK
        || pt_router_hosts_init(cf->arena, &rt->wild, nhosts) != PT_OK)
        return NULL;

    for (size_t i = 0; i < conf->nroutes; i++) {
        pt_route_t *r = &conf->routes[i];
        pt_router_entry_t e;
        if (pt_router_entry_init(cf->arena, r, &e) != PT_OK)
            return NULL;
        if (r->nhosts == 0) {
            if (pt_router_tree_add(cf->arena, &rt->any, &e) != PT_OK)
                return NULL;
            continue;
        }
        for (size_t k = 0; k < r->nhosts; k++) {
            const char *h = r->hosts[k];
            bool wild = h[0] == '*';
            pt_router_tree_t *t;
            if (wild) {
                rt->has_wild = true;
                t = pt_router_hosts_tree(cf->arena, &rt->wild, h + 2, strlen(h + 2));
            } else {
                t = pt_router_hosts_tree(cf->arena, &rt->exact, h, strlen(h));
            }
            if (t == NULL || pt_router_tree_add(cf->arena, t, &e) != PT_OK)
                return NULL;
        }
    }

    pt_router_sort_node(&rt->any.root);
    for (size_t i = 0; i <= rt->exact.mask; i++)
        if (rt->exact.slots[i].tree)
            pt_router_sort_node(&rt->exact.slots[i].tree->root);
    for (size_t i = 0; i <= rt->wild.mask; i++)
        if (rt->wild.slots[i].tree)
            pt_router_sort_node(&rt->wild.slots[i].tree->root);
    return rt;
}

void pt_router_free(pt_router_t *rt)
{
    (void) rt;      /* arena memory; regexes belong to the routes */
}

/* ---- matching ------------------------------------------------------------ */

typedef struct {
    const pt_router_key_t *k;
    pt_arena_t *arena;
    uint32_t allow;             /* methods of routes that failed only on method */
    const pt_route_t *named[PT_ROUTER_ALLOW_NAMED];    /* ...and those naming others */
    size_t nnamed;
    bool method_mismatch;
    PCRE2_SIZE caps[2 * PT_ROUTER_CAPTURES];
    int ncaps;
} pt_router_walk_t;

static pcre2_match_data *pt_router_md;

size_t pt_router_host_key(pt_str_t host, char *out, size_t cap)
{
    size_t len = host.len;

    if (len == 0)
        return 0;
    if (host.p[0] == '[') {
        const char *end = memchr(host.p, ']', host.len);
        if (end == NULL)
            return 0;
        len = (size_t) (end - host.p) + 1;
    } else {
        const char *colon = memchr(host.p, ':', host.len);
        if (colon)
            len = (size_t) (colon - host.p);
    }
    if (len && host.p[len - 1] == '.')
        len--;
    if (len == 0 || len >= cap)
        return 0;
    for (size_t i = 0; i < len; i++)
        out[i] = (char) pt_str_lower((unsigned char) host.p[i]);
    out[len] = '\0';
    return len;
}

static bool pt_router_method_ok(pt_router_walk_t *w, const pt_route_t *rt)
{
    const pt_router_key_t *k = w->k;

    if (rt->methods == 0)
        return true;
    if (k->method_id != PT_METHOD_OTHER) {
        /* A route for GET also answers HEAD (RFC 9110 9.3.2). */
        if (rt->methods & (1u << k->method_id))
            return true;
        if (k->method_id == PT_METHOD_HEAD && (rt->methods & (1u << PT_METHOD_GET)))
            return true;
        return false;
    }
    for (const char **m = rt->method_names; m && *m; m++)
        if (strlen(*m) == k->method.len && memcmp(*m, k->method.p, k->method.len) == 0)
            return true;
    return false;
}

static bool pt_router_headers_ok(const pt_router_key_t *k, const pt_router_entry_t *e)
{
    for (size_t i = 0; i < e->npreds; i++) {
        const pt_router_pred_t *want = &e->preds[i];
        bool found = false;
        for (unsigned j = 0; j < k->nfields && !found; j++) {
            const pt_http_field_t *f = &k->fields[j];
            /* A field the parser gave an id can only match that id. */
            if (f->id != want->id
                || (want->id == PT_HDR_OTHER && !pt_str_caseeq(f->name, want->name)))
                continue;
            found = want->value.p == NULL
                    || (f->value.len == want->value.len
                        && memcmp(f->value.p, want->value.p, f->value.len) == 0);
        }
        if (found == want->negate)
            return false;
    }
    return true;
}

/* The first route of l that fits, or NULL (noting method mismatches). */
static pt_route_t *pt_router_pick(pt_router_walk_t *w, const pt_router_list_t *l)
{
    const pt_router_key_t *k = w->k;

    for (size_t i = 0; i < l->n; i++) {
        pt_route_t *rt = l->v[i].route;
        if (rt->listeners && !(rt->listeners & (UINT64_C(1) << k->listener)))
            continue;
        if (!pt_router_headers_ok(k, &l->v[i]))
            continue;
        if (rt->match && !rt->match(rt, k))     /* [traffic steering] */
            continue;
        if (!pt_router_method_ok(w, rt)) {
            w->method_mismatch = true;
            w->allow |= rt->methods;
            if ((rt->methods & (1u << PT_METHOD_OTHER)) && w->nnamed < PT_ROUTER_ALLOW_NAMED)
                w->named[w->nnamed++] = rt;
            continue;
        }
        return rt;
    }
    return NULL;
}

static pt_route_t *pt_router_tree_match(pt_router_walk_t *w, const pt_router_tree_t *t)
{
    const pt_router_node_t *stack[PT_ROUTER_DEPTH_MAX];
    size_t depth = 0;
    const pt_router_node_t *n = &t->root;
    const char *p = w->k->path.p;
    size_t left = w->k->path.len;
    pt_route_t *rt;

    /* Walk down while the path follows whole edges. */
    for (;;) {
        if (depth < PT_ROUTER_DEPTH_MAX)
            stack[depth++] = n;
        if (left == 0)
            break;
        const pt_router_node_t *c = pt_router_node_find(n, (unsigned char) *p);
        if (c == NULL || c->label_len > left || memcmp(c->label, p, c->label_len) != 0)
            break;
        p += c->label_len;
        left -= c->label_len;
        n = c;
    }
    if (left == 0 && (rt = pt_router_pick(w, &n->exact)) != NULL)
        return rt;

    for (size_t i = 0; i < t->regex.n; i++) {
        pt_route_t *cand = t->regex.v[i].route;
        int rc = pcre2_match(cand->regex, (PCRE2_SPTR) w->k->path.p, w->k->path.len, 0, 0,
                             pt_router_md, NULL);
        if (rc < 0)
            continue;
        pt_router_list_t one = { &t->regex.v[i], 1, 1 };
        if (pt_router_pick(w, &one) == NULL)
            continue;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(pt_router_md);
        w->ncaps = pt_min(rc, PT_ROUTER_CAPTURES);
        memcpy(w->caps, ov, (size_t) w->ncaps * 2 * sizeof(*ov));
        return cand;
    }

    while (depth--)
        if ((rt = pt_router_pick(w, &stack[depth]->prefix)) != NULL)
            return rt;
    return NULL;
}

static pt_router_tree_t *pt_router_host_tree(const pt_router_hosts_t *h, const char *key,
                                             size_t len)
{
    pt_router_host_t *s = pt_router_hosts_slot(h, key, len);

    return s->key ? s->tree : NULL;
}

/* Percent-encode all but unreserved bytes (RFC 3986 §2.3) of p into out
 * (3 * n bytes of room); returns the bytes written. A triplet the path
 * already has ("%20") is copied: it is encoded once, not as "%2520". */
static size_t pt_router_query_escape(char *out, const char *p, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char) p[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
            || c == '-' || c == '.' || c == '_' || c == '~') {
            out[o++] = (char) c;
        } else if (c == '%' && i + 2 < n && isxdigit((unsigned char) p[i + 1])
                   && isxdigit((unsigned char) p[i + 2])) {
            memcpy(out + o, p + i, 3);
            o += 3;
            i += 2;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    return o;
}

/* Apply the route's rewrite to the path, into *result. */
static int pt_router_rewrite(pt_router_walk_t *w, const pt_route_t *rt, pt_str_t *result)
{
    pt_str_t path = w->k->path;

    if (rt->strip_prefix || rt->replace_prefix) {
        const char *rest = path.p + rt->path_len;
        size_t rest_len = path.len - rt->path_len;
        const char *pre = rt->replace_prefix ? rt->replace_prefix : "";
        size_t pre_len = strlen(pre);
        /* Keep the result a path ("/api" stripped from "/api" is "/") and
         * add no slash the request did not have ("/v1" for "/api" is
         * "/v1", not "/v1/"). */
        bool slash = rest_len ? (pre_len == 0 || pre[pre_len - 1] != '/') && rest[0] != '/'
                              : pre_len == 0;
        if (rest_len && rest[0] == '/' && pre_len && pre[pre_len - 1] == '/') {
            rest++;             /* "/v2/" + "/users" is "/v2/users" */
            rest_len--;
        }
        char *out = pt_arena_alloc(w->arena, pre_len + rest_len + 2);
        if (out == NULL)
            return PT_ERROR;
        memcpy(out, pre, pre_len);
        size_t n = pre_len;
        if (slash)
            out[n++] = '/';
        memcpy(out + n, rest, rest_len);
        n += rest_len;
        *result = (pt_str_t) { out, n };
        return PT_OK;
    }
    if (rt->rewrite == NULL)
        return PT_OK;
    size_t cap = strlen(rt->rewrite) + 1;
    for (const char *t = rt->rewrite; *t; t++)
        if (*t == '$')
            cap += 3 * path.len;
    char *out = pt_arena_alloc(w->arena, cap);
    size_t n = 0;
    bool query = false;         /* past the template's "?" */
    if (out == NULL)
        return PT_ERROR;
    for (const char *t = rt->rewrite; *t; t++) {
        if (t[0] == '$' && t[1] >= '0' && t[1] <= '9') {
            int k = t[1] - '0';
            if (k < w->ncaps && w->caps[2 * k] != PCRE2_UNSET) {
                const char *from = path.p + w->caps[2 * k];
                size_t len = w->caps[2 * k + 1] - w->caps[2 * k];
                /* In the query a capture is one value: "&" or "=" from the
                 * path must not start another argument. */
                n += query ? pt_router_query_escape(out + n, from, len)
                           : (memcpy(out + n, from, len), len);
            }
            t++;
            continue;
        }
        query |= *t == '?';
        out[n++] = *t;
    }
    *result = (pt_str_t) { out, n };
    return PT_OK;
}

/* "GET, HEAD, PURGE": every method the routes that failed only on method
 * take (RFC 9110 15.5.6: a 405 lists them all, names outside the
 * well-known set too), each once. */
static const char *pt_router_allow_build(const pt_router_walk_t *w)
{
    uint32_t allow = w->allow;
    char buf[1024];
    size_t n = 0;

    if (allow & (1u << PT_METHOD_GET))
        allow |= 1u << PT_METHOD_HEAD;
    for (unsigned id = 1; id <= PT_METHOD_PATCH; id++) {
        if (!(allow & (1u << id)))
            continue;
        pt_str_t name = pt_http_method_name(id);
        n += (size_t) snprintf(buf + n, sizeof(buf) - n, "%s%.*s", n ? ", " : "",
                               (int) name.len, name.p);
    }
    for (size_t i = 0; i < w->nnamed; i++) {
        for (const char **m = w->named[i]->method_names; m && *m; m++) {
            bool seen = false;
            for (size_t k = 0; k < i && !seen; k++)
                for (const char **o = w->named[k]->method_names; o && *o && !seen; o++)
                    seen = strcmp(*o, *m) == 0;
            if (!seen && n + strlen(*m) + 3 < sizeof(buf))
                n += (size_t) snprintf(buf + n, sizeof(buf) - n, "%s%s", n ? ", " : "", *m);
        }
    }
    return pt_arena_strndup(w->arena, buf, n);
}

pt_route_t *pt_router_match(const pt_router_t *rt, const pt_router_key_t *key, pt_arena_t *a,
                            pt_router_result_t *res)
{
    pt_router_walk_t w = { .k = key, .arena = a };
    char host[PT_ROUTER_HOST_MAX];
    /* Most tables name no host: then the Host is not even looked at. */
    size_t hlen = rt->exact.n || rt->has_wild ? pt_router_host_key(key->host, host, sizeof(host))
                                              : 0;
    pt_route_t *found = NULL;
    pt_router_tree_t *t;

    *res = (pt_router_result_t) { 0, key->path, NULL };
    if (pt_router_md == NULL && (pt_router_md = pcre2_match_data_create(
                                     PT_ROUTER_CAPTURES, NULL)) == NULL) {
        res->status = 500;
        return NULL;
    }
    if (hlen && rt->exact.n && (t = pt_router_host_tree(&rt->exact, host, hlen)) != NULL)
        found = pt_router_tree_match(&w, t);
    /* "*.example.com" matches any name ending in ".example.com". */
    for (size_t i = 0; !found && rt->has_wild && i < hlen; i++) {
        if (host[i] != '.')
            continue;
        if ((t = pt_router_host_tree(&rt->wild, host + i + 1, hlen - i - 1)) != NULL)
            found = pt_router_tree_match(&w, t);
    }
    if (!found && rt->any.used)
        found = pt_router_tree_match(&w, &rt->any);

    if (found == NULL) {
        res->status = w.method_mismatch ? 405 : 404;
        if (w.method_mismatch)
            res->allow = pt_router_allow_build(&w);
        return NULL;
    }
    if (pt_router_rewrite(&w, found, &res->upstream_path) != PT_OK) {
        res->status = 500;
        return NULL;
    }
    return found;
}
