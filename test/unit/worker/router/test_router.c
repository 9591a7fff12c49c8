/*
 * test_router.c: route choice on a table of cases (the priority rules of
 * worker/router.h), the forwarded path of each rewrite, the Allow of a
 * 405, and scale: 10,000 routes build fast and a lookup looks at the
 * candidates on its own path only.
 *
 * How many candidates a lookup examines is counted, not timed: every route
 * here carries a header predicate, so the matcher compares one field name
 * per candidate it considers, and the test is linked with
 * -Wl,--wrap=pt_str_caseeq to count those comparisons.
 */
#include "common/pt.h"
#include "common/arena.h"
#include "common/conf.h"
#include "common/str.h"

#include "worker/core/conf.h"
#include "worker/http/http_parse.h"
#include "worker/http/request.h"
#include "worker/router/router.h"
#include "test/unit/tap.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <time.h>

static unsigned long caseeq_calls;

bool __real_pt_str_caseeq(pt_str_t a, pt_str_t b);
bool __wrap_pt_str_caseeq(pt_str_t a, pt_str_t b);

bool __wrap_pt_str_caseeq(pt_str_t a, pt_str_t b)
{
    caseeq_calls++;
    return __real_pt_str_caseeq(a, b);
}

/* A route as a line of the table: host ("a,b" for two), kind + path,
 * methods ("GET POST", custom names allowed), one header predicate
 * ("X-A=v", "X-A" present, "!X-A" absent), listener mask, rewrites. */
typedef struct {
    const char *name;
    const char *host;
    int kind;
    const char *path;
    const char *methods;
    const char *header;
    uint64_t listeners;
    int strip;
    const char *replace;
    const char *rewrite;
} spec_t;

#define P   PT_PATH_PREFIX
#define E   PT_PATH_EXACT
#define R   PT_PATH_REGEX

static const spec_t routes[] = {
    { .name = "any-root", .kind = P, .path = "/", .header = "!X-No-Root" },
    { .name = "any-api", .kind = P, .path = "/api/" },
    { .name = "any-api-v2", .kind = P, .path = "/api/v2/" },
    { .name = "any-exact", .kind = E, .path = "/api/status" },
    { .name = "any-regex-1", .kind = R, .path = "^/api/[0-9]+$" },
    { .name = "any-regex-2", .kind = R, .path = "^/api/1" },
    { .name = "cond-plain", .kind = P, .path = "/c/" },
    { .name = "cond-get", .kind = P, .path = "/c/", .methods = "GET" },
    { .name = "cond-get-hdr", .kind = P, .path = "/c/", .methods = "GET", .header = "X-Beta" },
    { .name = "cond-later", .kind = P, .path = "/c/", .methods = "GET" },
    { .name = "hdr-val", .kind = E, .path = "/h", .header = "X-Env=canary" },
    { .name = "hdr-absent", .kind = E, .path = "/h", .header = "!X-Block" },
    { .name = "m-read", .kind = E, .path = "/m", .methods = "GET POST" },
    { .name = "m-purge", .kind = E, .path = "/m", .methods = "PURGE" },
    { .name = "m-del", .kind = E, .path = "/m", .methods = "DELETE PURGE BAN" },
    { .name = "only-l1", .kind = E, .path = "/l", .listeners = 1u << 1 },
    { .name = "host-exact", .host = "api.example.com,api2.example.com", .kind = P, .path = "/" },
    { .name = "host-exact-x", .host = "api.example.com", .kind = E, .path = "/x" },
    { .name = "host-wild", .host = "*.example.com", .kind = P, .path = "/" },
    { .name = "host-wild-deep", .host = "*.b.example.com", .kind = P, .path = "/" },
    { .name = "host-wild-img", .host = "*.example.com", .kind = P, .path = "/img/" },
    { .name = "strip", .kind = P, .path = "/s/", .strip = 1 },
    { .name = "strip-bare", .kind = P, .path = "/sb", .strip = 1 },
    { .name = "replace", .kind = P, .path = "/old/", .replace = "/new/" },
    { .name = "replace-noslash", .kind = P, .path = "/o2", .replace = "/n2" },
    { .name = "rewrite", .kind = R, .path = "^/u/([0-9]+)/p/([a-z]+)$", .rewrite = "/p/$2/u/$1" },
    { .name = "rewrite-0", .kind = R, .path = "^/w(/.*)?$", .rewrite = "/all$0$1$9" },
};

typedef struct {
    const char *host;
    const char *method;
    const char *path;
    const char *header;         /* "Name: value" or NULL */
    unsigned listener;
    const char *want;           /* route name, or "404" / "405" */
    const char *upstream;       /* forwarded path, NULL: the path itself */
    const char *allow;          /* for a 405 */
} case_t;

#define C(host, method, path, header, listener, want) \
    { host, method, path, header, listener, want, NULL, NULL }
#define CU(host, method, path, header, listener, want, upstream) \
    { host, method, path, header, listener, want, upstream, NULL }
#define CA(host, method, path, header, listener, want, allow) \
    { host, method, path, header, listener, want, NULL, allow }

static const case_t cases[] = {
    /* paths: exact, then regexes in order, then prefixes from the longest */
    C("h", "GET", "/", NULL, 0, "any-root"),
    C("h", "GET", "/api/status", NULL, 0, "any-exact"),
    C("h", "GET", "/api/status/", NULL, 0, "any-api"),
    C("h", "GET", "/api/123", NULL, 0, "any-regex-1"),
    C("h", "GET", "/api/1x", NULL, 0, "any-regex-2"),
    C("h", "GET", "/api/x", NULL, 0, "any-api"),
    C("h", "GET", "/api/v2/x", NULL, 0, "any-api-v2"),
    C("h", "GET", "/api/v2", NULL, 0, "any-api"),
    C("h", "GET", "/api", NULL, 0, "any-root"),
    C("h", "GET", "/other", NULL, 0, "any-root"),
    /* same path: more conditions first, then config order */
    C("h", "GET", "/c/1", NULL, 0, "cond-get"),
    C("h", "GET", "/c/1", "X-Beta: 1", 0, "cond-get-hdr"),
    C("h", "HEAD", "/c/1", "x-beta: ", 0, "cond-get-hdr"),
    C("h", "POST", "/c/1", "X-Beta: 1", 0, "cond-plain"),
    /* header predicates */
    C("h", "GET", "/h", "X-Env: canary", 0, "hdr-val"),
    C("h", "GET", "/h", "x-env: canary", 0, "hdr-val"),
    C("h", "GET", "/h", "X-Env: Canary", 0, "hdr-absent"),
    C("h", "GET", "/h", NULL, 0, "hdr-absent"),
    C("h", "GET", "/h", "X-Block: 1", 0, "any-root"),
    C("h", "GET", "/nothing", "X-No-Root: 1", 0, "404"),
    /* methods and 405 */
    C("h", "GET", "/m", NULL, 0, "m-read"),
    C("h", "HEAD", "/m", NULL, 0, "m-read"),
    C("h", "PURGE", "/m", NULL, 0, "m-purge"),
    C("h", "BAN", "/m", NULL, 0, "m-del"),
    C("h", "PUT", "/m", NULL, 0, "any-root"),     /* a wider route still fits */
    CA("h", "PUT", "/m", "X-No-Root: 1", 0, "405", "GET, HEAD, POST, DELETE, PURGE, BAN"),
    CA("h", "purge", "/m", "X-No-Root: 1", 0, "405", "GET, HEAD, POST, DELETE, PURGE, BAN"),
    /* listeners */
    C("h", "GET", "/l", NULL, 1, "only-l1"),
    C("h", "GET", "/l", NULL, 0, "any-root"),
    /* hosts: exact, then wildcards from the longest suffix, then any */
    C("api.example.com", "GET", "/", NULL, 0, "host-exact"),
    C("API.Example.COM:8443", "GET", "/y", NULL, 0, "host-exact"),
    C("api.example.com.", "GET", "/x", NULL, 0, "host-exact-x"),
    C("api2.example.com", "GET", "/x", NULL, 0, "host-exact"),
    C("api.example.com", "GET", "/img/1", NULL, 0, "host-exact"),
    C("w.example.com", "GET", "/img/1", NULL, 0, "host-wild-img"),
    C("w.example.com", "GET", "/", NULL, 0, "host-wild"),
    C("a.b.example.com", "GET", "/", NULL, 0, "host-wild-deep"),
    C("b.example.com", "GET", "/", NULL, 0, "host-wild"),
    C("example.com", "GET", "/", NULL, 0, "any-root"),
    C("xexample.com", "GET", "/", NULL, 0, "any-root"),
    C("[::1]:80", "GET", "/api/x", NULL, 0, "any-api"),
    C("", "GET", "/api/x", NULL, 0, "any-api"),
    /* rewrites of the forwarded path */
    CU("h", "GET", "/s/a/b", NULL, 0, "strip", "/a/b"),
    CU("h", "GET", "/s/", NULL, 0, "strip", "/"),
    CU("h", "GET", "/sb", NULL, 0, "strip-bare", "/"),
    CU("h", "GET", "/sb/x", NULL, 0, "strip-bare", "/x"),
    CU("h", "GET", "/old/a", NULL, 0, "replace", "/new/a"),
    CU("h", "GET", "/o2/a", NULL, 0, "replace-noslash", "/n2/a"),
    CU("h", "GET", "/o2", NULL, 0, "replace-noslash", "/n2"),
    CU("h", "GET", "/u/42/p/abc", NULL, 0, "rewrite", "/p/abc/u/42"),
    CU("h", "GET", "/u/42/p/ABC", NULL, 0, "any-root", "/u/42/p/ABC"),
    CU("h", "GET", "/w/x", NULL, 0, "rewrite-0", "/all/w/x/x"),
    CU("h", "GET", "/w", NULL, 0, "rewrite-0", "/all/w"),
};

static pt_arena_t *arena;
static pt_listener_t listeners[2];

static unsigned method_id(const char *m, size_t len)
{
    for (unsigned id = 1; id < PT_METHOD__COUNT; id++) {
        pt_str_t n = pt_http_method_name(id);
        if (n.len == len && memcmp(n.p, m, len) == 0)
            return id;
    }
    return PT_METHOD_OTHER;
}

static const char *dup_range(const char *p, size_t n)
{
    return pt_arena_strndup(arena, p, n);
}

static void make_route(pt_route_t *rt, const spec_t *s, unsigned index)
{
    memset(rt, 0, sizeof(*rt));
    rt->name = s->name;
    rt->index = index;
    if (s->host) {
        const char **hosts = pt_arena_calloc(arena, 3 * sizeof(*hosts));
        const char *comma = strchr(s->host, ',');
        hosts[rt->nhosts++] = comma ? dup_range(s->host, (size_t) (comma - s->host))
                                    : s->host;
        if (comma)
            hosts[rt->nhosts++] = comma + 1;
        rt->hosts = hosts;
    }
    rt->path_kind = s->kind;
    rt->path = s->path;
    rt->path_len = strlen(s->path);
    if (s->kind == PT_PATH_REGEX) {
        int err;
        PCRE2_SIZE off;
        rt->regex = pcre2_compile((PCRE2_SPTR) s->path, PCRE2_ZERO_TERMINATED, 0, &err, &off,
                                  NULL);
    }
    if (s->methods) {
        const char **names = pt_arena_calloc(arena, 8 * sizeof(*names));
        size_t nn = 0;
        for (const char *m = s->methods; *m;) {
            size_t len = strcspn(m, " ");
            unsigned id = method_id(m, len);
            if (id == PT_METHOD_OTHER)
                names[nn++] = dup_range(m, len);
            rt->methods |= 1u << id;
            m += len + (m[len] == ' ');
        }
        rt->method_names = names;
    }
    if (s->header) {
        pt_route_header_t *h = pt_arena_calloc(arena, sizeof(*h));
        const char *name = s->header, *eq = strchr(name, '=');
        if (name[0] == '!') {
            h->negate = true;
            name++;
        }
        char *lname = (char *) dup_range(name, eq ? (size_t) (eq - name) : strlen(name));
        for (char *p = lname; *p; p++)
            *p = (char) pt_str_lower((unsigned char) *p);
        h->name = lname;
        h->value = eq ? eq + 1 : NULL;
        rt->headers = h;
        rt->nheaders = 1;
    }
    rt->listeners = s->listeners;
    rt->strip_prefix = s->strip;
    rt->replace_prefix = s->replace;
    rt->rewrite = s->rewrite;
}

static pt_router_t *build(pt_conf_t *conf, pt_route_t *rts, size_t n)
{
    static pt_conf_ctx_t cf;

    memset(conf, 0, sizeof(*conf));
    cf.arena = arena;
    cf.data = conf;
    conf->arena = arena;
    conf->routes = rts;
    conf->nroutes = n;
    return pt_router_build(&cf, conf);
}

/* Match one request; returns the route (NULL with *status). */
static pt_route_t *match(const pt_router_t *rt, pt_request_t *r, const char *host,
                         const char *method, const char *path, const char *header,
                         unsigned listener, unsigned *status)
{
    static pt_http_field_t fields[2];

    memset(r, 0, sizeof(*r));
    r->arena = arena;
    r->listener = &listeners[listener];
    r->head.method = (pt_str_t) { method, strlen(method) };
    r->head.method_id = (uint8_t) method_id(method, strlen(method));
    r->head.host = (pt_str_t) { host, strlen(host) };
    r->head.fields = fields;
    if (header) {
        const char *colon = strchr(header, ':');
        const char *v = colon + 1;
        while (*v == ' ')
            v++;
        /* The id the parser would give the name. */
        fields[0] = (pt_http_field_t) { { header, (size_t) (colon - header) },
                                        { v, strlen(v) },
                                        (uint8_t) pt_http_hdr_id(header,
                                                                 (size_t) (colon - header)),
                                        0 };
        r->head.nfields = 1;
    }
    r->path = (pt_str_t) { path, strlen(path) };
    pt_router_key_t key = { r->head.host, r->path, r->head.method, r->head.method_id,
                            r->head.fields, r->head.nfields, r->listener->index, r->head.query };
    pt_router_result_t res;
    pt_route_t *got = pt_router_match(rt, &key, arena, &res);
    r->upstream_path = res.upstream_path;
    r->route_allow = res.allow;
    *status = res.status;
    return got;
}

static void test_table(void)
{
    size_t n = sizeof(routes) / sizeof(routes[0]);
    pt_route_t *rts = pt_arena_calloc(arena, n * sizeof(*rts));
    pt_conf_t conf;

    for (size_t i = 0; i < n; i++)
        make_route(&rts[i], &routes[i], (unsigned) i);
    pt_router_t *rt = build(&conf, rts, n);
    ok(rt != NULL, "router built over %zu routes", n);

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const case_t *c = &cases[i];
        pt_request_t r;
        unsigned status;
        pt_route_t *got = match(rt, &r, c->host, c->method, c->path, c->header, c->listener,
                                &status);
        char buf[16];
        const char *name = got ? got->name : (snprintf(buf, sizeof(buf), "%u", status), buf);
        is_str(name, c->want, "%s %s host \"%s\"%s%s on listener %u", c->method, c->path,
               c->host, c->header ? " with " : "", c->header ? c->header : "", c->listener);
        if (got) {
            char *up = pt_arena_strndup(arena, r.upstream_path.p, r.upstream_path.len);
            is_str(up, c->upstream ? c->upstream : c->path, "  forwards %s as %s", c->path,
                   c->upstream ? c->upstream : c->path);
        }
        if (c->allow)
            is_str(r.route_allow ? r.route_allow : "", c->allow, "  Allow: %s", c->allow);
    }
    for (size_t i = 0; i < n; i++)
        pt_route_conf_free(&rts[i]);
}

/* Predicates on well-known fields compare the parser's ids: no name
 * comparison at all, and the name's case does not matter. */
static void test_well_known(void)
{
    static const spec_t wk[] = {
        { .name = "ua-bot", .kind = E, .path = "/k", .header = "User-Agent=bot" },
        { .name = "auth", .kind = E, .path = "/k", .header = "authorization" },
        { .name = "no-cookie", .kind = E, .path = "/k", .header = "!Cookie" },
        { .name = "k-any", .kind = E, .path = "/k" },
    };
    static const struct { const char *header, *want; } wc[] = {
        { "user-agent: bot", "ua-bot" },
        { "USER-AGENT: bot", "ua-bot" },
        { "User-Agent: Bot", "no-cookie" },
        { "Authorization: Bearer x", "auth" },
        { "Cookie: a=1", "k-any" },
        { "X-User-Agent: bot", "no-cookie" },
    };
    size_t n = sizeof(wk) / sizeof(wk[0]);
    pt_route_t *rts = pt_arena_calloc(arena, n * sizeof(*rts));
    pt_conf_t conf;

    for (size_t i = 0; i < n; i++)
        make_route(&rts[i], &wk[i], (unsigned) i);
    pt_router_t *rt = build(&conf, rts, n);
    for (size_t i = 0; i < sizeof(wc) / sizeof(wc[0]); i++) {
        pt_request_t r;
        unsigned status;
        caseeq_calls = 0;
        pt_route_t *got = match(rt, &r, "h", "GET", "/k", wc[i].header, 0, &status);
        is_str(got ? got->name : "none", wc[i].want, "well-known: %s picks %s", wc[i].header,
               wc[i].want);
        is(caseeq_calls, 0, "  with no field-name comparison");
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

#define NSCALE  10000

enum { SCALE_PREFIX, SCALE_EXACT, SCALE_HOST, SCALE_WILD };

/* Route i of a shape, and a request that must find it. */
static void scale_route(int shape, unsigned i, spec_t *s)
{
    s->kind = P;
    s->path = "/";
    switch (shape) {
    case SCALE_PREFIX:
        s->path = pt_arena_sprintf(arena, "/svc/%05u/", i);
        break;
    case SCALE_EXACT:
        s->kind = E;
        s->path = pt_arena_sprintf(arena, "/e/%05u", i);
        break;
    case SCALE_HOST:
        s->host = pt_arena_sprintf(arena, "h%05u.example.com", i);
        break;
    case SCALE_WILD:
        s->host = pt_arena_sprintf(arena, "*.w%05u.example", i);
        break;
    }
}

static void scale_request(int shape, unsigned i, char *host, char *path, size_t cap)
{
    snprintf(host, cap, "nowhere.test");
    snprintf(path, cap, "/x");
    switch (shape) {
    case SCALE_PREFIX:
        snprintf(path, cap, "/svc/%05u/items/7", i);
        break;
    case SCALE_EXACT:
        snprintf(path, cap, "/e/%05u", i);
        break;
    case SCALE_HOST:
        snprintf(host, cap, "H%05u.example.com:80", i);
        break;
    case SCALE_WILD:
        snprintf(host, cap, "a.b.w%05u.example", i);
        break;
    }
}

/* 10,000 routes of one shape and a fallback for "/"; every route requires
 * X-K so each candidate the matcher considers costs exactly one name
 * comparison. */
static void test_scale(const char *what, int shape)
{
    pt_route_t *rts = pt_arena_calloc(arena, (NSCALE + 1) * sizeof(*rts));
    pt_conf_t conf;

    for (unsigned i = 0; i < NSCALE; i++) {
        spec_t s = { .name = pt_arena_sprintf(arena, "r%05u", i), .header = "X-K" };
        scale_route(shape, i, &s);
        make_route(&rts[i], &s, i);
    }
    spec_t fallback = { .name = "fallback", .kind = P, .path = "/", .header = "X-K" };
    make_route(&rts[NSCALE], &fallback, NSCALE);

    double t0 = now_s();
    pt_router_t *rt = build(&conf, rts, NSCALE + 1);
    double took = now_s() - t0;
    ok(rt != NULL, "%s: %d routes built", what, NSCALE);
    ok(took < 1.0, "%s: built in %.3f s (well under a second)", what, took);

    unsigned wrong = 0;
    unsigned long most = 0;
    for (unsigned k = 0; k < 1000; k++) {
        unsigned i = (k * 7919u) % NSCALE;
        char host[64], path[64];
        pt_request_t r;
        unsigned status;
        scale_request(shape, i, host, path, sizeof(host));
        caseeq_calls = 0;
        pt_route_t *got = match(rt, &r, host, "GET", path, "X-K: 1", 0, &status);
        if (got == NULL || got->index != i)
            wrong++;
        most = pt_max(most, caseeq_calls);
    }
    is(wrong, 0, "%s: 1000 lookups find their route", what);
    ok(most == 1, "%s: a lookup examines %lu candidate(s), not the %d routes", what, most,
       NSCALE);

    /* A miss walks the tree and falls back to the one route for "/". */
    pt_request_t r;
    unsigned status;
    caseeq_calls = 0;
    pt_route_t *got = match(rt, &r, "nowhere.test", "GET", "/zzz/none", "X-K: 1", 0, &status);
    ok(got && strcmp(got->name, "fallback") == 0 && caseeq_calls == 1,
       "%s: a miss examines only the fallback (%lu)", what, caseeq_calls);
}

int main(void)
{
    arena = pt_arena_create(1 << 20, 0);
    listeners[0].index = 0;
    listeners[1].index = 1;
    test_table();
    test_well_known();
    test_scale("prefixes", SCALE_PREFIX);
    test_scale("exact paths", SCALE_EXACT);
    test_scale("exact hosts", SCALE_HOST);
    test_scale("wildcard hosts", SCALE_WILD);
    pt_arena_destroy(arena);
    return done_testing();
}
