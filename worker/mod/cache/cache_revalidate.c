/*
 * cache_revalidate.c: asking the upstream about a stored response that may
 * not be used as it is (RFC 9111 §4.3): a conditional GET (HEAD for a
 * HEAD) with its validators, as a subrequest over the route's upstream
 * pools. A 304 whose validators select the stored response, or a 200 to
 * HEAD that matches it, refreshes its header fields (§4.3.4, §4.3.5,
 * §3.2); a HEAD's 200 that does not match leaves it stale; another answer is
 * stored (when it may be) and served; a failure serves the stale response
 * where stale-if-error allows, else 504 under must-revalidate (§4.2.4).
 * stale-while-revalidate (RFC 5861) runs the same request in the
 * background, once across all workers, while the stale one is served.
 */
#include "common/pt.h"
#include "common/arena.h"
#include "common/clock.h"
#include "common/str.h"
#include "worker/http/request.h"
#include "worker/mod/cache/cache_module.h"
#include "worker/proxy/proxy.h"
#include "worker/upstream/subrequest.h"

extern pt_module_t pt_proxy_module;

/* Request fields a revalidation does not pass on: ours to set, hop-by-hop,
 * the client's own preconditions and ranges. */
static bool pt_cache_reval_skip(pt_str_t name)
{
    static const char *const names[] = {
        "host", "connection", "keep-alive", "proxy-connection", "te", "transfer-encoding",
        "upgrade", "content-length", "expect", "if-match", "if-none-match", "if-modified-since",
        "if-unmodified-since", "if-range", "range", "proxy-authorization", NULL
    };

    for (unsigned i = 0; names[i]; i++)
        if (pt_str_caseeq_lit(name, names[i]))
            return true;
    return false;
}

/* Whether a field of an answer (a 304, a 200 to HEAD) stays out of the
 * stored response's update (§3.2): what is never stored (§3.1: hop-by-hop
 * fields, those its Connection names), Content-Length, and what describes
 * the stored content as it is (its coding, a range of it). */
static bool pt_cache_update_skip(const pt_http_field_t *fields, unsigned n, pt_str_t name)
{
    static const char *const names[] = {
        "content-length", "connection", "keep-alive", "transfer-encoding", "te", "upgrade",
        "trailer", "proxy-connection", "proxy-authenticate", "proxy-authentication-info",
        "content-encoding", "content-range", "x-request-id",
        /* a shared cache hands no cookie of one client to others */
        "set-cookie", NULL
    };

    for (unsigned i = 0; names[i]; i++)
        if (pt_str_caseeq_lit(name, names[i]))
            return true;
    for (unsigned i = 0; i < n; i++)
        if (pt_str_caseeq_lit(fields[i].name, "connection")
            && pt_cache_list_has(fields[i].value, name))
            return true;
    return false;
}

static pt_upstream_t *pt_cache_upstream(const pt_route_t *route)
{
    if (route->handler != &pt_proxy_module)
        return NULL;
    const pt_proxy_conf_t *pc = pt_route_mod_conf(route, pt_proxy_module);
    return pc->upstream;
}

/* The subrequest that validates o for a request with fields req. */
static pt_subrequest_t *pt_cache_reval_start(pt_upstream_t *u, pt_arena_t *a, pt_str_t host,
                                             pt_str_t target, const pt_http_field_t *req,
                                             unsigned nreq, const pt_cache_obj_t *o,
                                             bool conditional, const char *method,
                                             size_t max_body, pt_subrequest_done_pt done,
                                             void *data)
{
    pt_str_t *f = pt_arena_alloc(a, (2 * (size_t) nreq + 4) * sizeof(*f));
    size_t n = 0;

    if (f == NULL)
        return NULL;
    for (unsigned i = 0; i < nreq; i++) {
        if ((req[i].flags & PT_FIELD_NOFORWARD) || pt_cache_reval_skip(req[i].name))
            continue;
        f[n++] = req[i].name;
        f[n++] = req[i].value;
    }
    pt_http_field_t stored[64];
    unsigned ns = pt_cache_fields_unpack(pt_cache_obj_part(o, PT_CACHE_FIELDS), stored, 64);
    const pt_http_field_t *etag = pt_cache_field(stored, ns, PT_STR("etag"));
    const pt_http_field_t *lm = pt_cache_field(stored, ns, PT_STR("last-modified"));
    if (etag && conditional) {
        f[n++] = PT_STR("If-None-Match");
        f[n++] = etag->value;
    }
    if (lm && conditional) {
        f[n++] = PT_STR("If-Modified-Since");
        f[n++] = lm->value;
    }
    pt_subrequest_spec_t spec = {
        .method = method, .path = target, .host = u->host ? PT_STR_NULL : host,
        .fields = f, .nfields = n / 2, .max_body = max_body,
    };
    return pt_subrequest_start(u, &spec, done, data);
}

/* What the upstream said, as the rules see it. */
static pt_cache_resp_t pt_cache_sr_resp(pt_subrequest_t *sr, const pt_http_field_t *fields,
                                        unsigned nfields, int64_t request_ms, bool authorized,
                                        const pt_http_field_t *req, unsigned nreq)
{
    return (pt_cache_resp_t) {
        .status = sr->status, .fields = fields, .nfields = nfields,
        .request_ms = request_ms, .response_ms = (int64_t) pt_clock_wall_ms(),
        .request_authorized = authorized, .req_fields = req, .req_nfields = nreq,
    };
}

/* A 304 (or a matching 200 to HEAD) for stored copy o: the refreshed
 * object in arena, stored too when it may be (*kept); when the update may
 * not be stored, the stored one is dropped (its fields are no longer
 * current) and the copy serves this request only. NULL: out of memory. */
static pt_cache_obj_t *pt_cache_refresh_304(pt_arena_t *a, pt_zone_t *zone,
                                            const pt_cache_conf_t *cc, const pt_cache_key_t *k,
                                            const pt_cache_obj_t *o, pt_subrequest_t *sr,
                                            int64_t request_ms, bool authorized,
                                            const pt_http_field_t *req, unsigned nreq,
                                            bool *kept)
{
    unsigned max = o->nfields + sr->nfields;
    pt_http_field_t *m = pt_arena_alloc(a, (max + 1) * sizeof(*m));

    *kept = false;
    if (m == NULL)
        return NULL;
    unsigned n = pt_cache_fields_unpack(pt_cache_obj_part(o, PT_CACHE_FIELDS), m, o->nfields);
    for (unsigned i = 0; i < sr->nfields; i++) {
        const pt_http_field_t *f = &sr->fields[i];
        if (pt_cache_update_skip(sr->fields, sr->nfields, f->name))
            continue;
        /* a field the 304 sends replaces every stored line of that name */
        bool first = true;
        for (unsigned j = 0; j < i; j++)
            if (pt_str_caseeq(sr->fields[j].name, f->name))
                first = false;
        if (first)
            for (unsigned j = 0; j < n; j++)
                if (pt_str_caseeq(m[j].name, f->name))
                    m[j].flags |= 0x01;
        m[n++] = *f;
    }
    /* RFC 9110 §6.6.1: an answer without Date is dated when it arrives
     * (below, by the rules): the stored Date would make it old */
    if (pt_subrequest_field(sr, "Date").p == NULL)
        for (unsigned j = 0; j < n; j++)
            if (pt_str_caseeq_lit(m[j].name, "date"))
                m[j].flags |= 0x01;
    pt_cache_resp_t in = pt_cache_sr_resp(sr, m, n, request_ms, authorized, req, nreq);
    in.status = o->status;
    pt_cache_obj_t hdr;
    pt_str_t parts[PT_CACHE_NPARTS] = { { 0 } };
    if (pt_cache_storable(&cc->policy, &in, a, &hdr, parts) != NULL) {
        pt_cache_invalidate(zone, (pt_str_t) { (const char *) (o + 1), o->uri_len }, k->hash);
        /* this request still gets the updated fields (§4.3.4), once */
        unsigned nf = 0;
        hdr = *o;
        for (unsigned i = 0; i < PT_CACHE_NPARTS; i++)
            parts[i] = pt_cache_obj_part(o, i);
        parts[PT_CACHE_FIELDS] = pt_cache_fields_pack(a, m, n, PT_STR_NULL, false, &nf);
        if (parts[PT_CACHE_FIELDS].p == NULL)
            return NULL;
        hdr.nfields = nf;
        return pt_cache_obj_build(a, &hdr, parts);
    }
    /* the variant stays the one stored: the request that found it matched */
    parts[PT_CACHE_VARY_KEY] = pt_cache_obj_part(o, PT_CACHE_VARY_KEY);
    parts[PT_CACHE_KEY] = k->key;
    parts[PT_CACHE_BODY] = pt_cache_obj_part(o, PT_CACHE_BODY);
    pt_cache_obj_t *fresh = pt_cache_obj_build(a, &hdr, parts);
    if (fresh)
        *kept = pt_cache_store_response(zone, k, &hdr, parts, parts[PT_CACHE_BODY]);
    return fresh;
}

/* A full answer: store it when it may be. */
static bool pt_cache_store_sr(pt_arena_t *a, pt_zone_t *zone, const pt_cache_conf_t *cc,
                              const pt_cache_key_t *k, pt_subrequest_t *sr, int64_t request_ms,
                              bool authorized, bool may_store, const pt_http_field_t *req,
                              unsigned nreq, const char **why, int64_t *ttl)
{
    pt_cache_resp_t in = pt_cache_sr_resp(sr, sr->fields, sr->nfields, request_ms, authorized,
                                          req, nreq);
    pt_cache_obj_t hdr;
    pt_str_t parts[PT_CACHE_NPARTS] = { { 0 } };

    in.request_no_store = !may_store;
    *why = pt_cache_storable(&cc->policy, &in, a, &hdr, parts);
    if (*why)
        return false;
    char *body = pt_arena_alloc(a, sr->body.len + 1);
    if (body == NULL)
        return false;
    memcpy(body, sr->body.p, sr->body.len);
    *ttl = hdr.fresh.lifetime - hdr.fresh.corrected_initial_age;
    return pt_cache_store_response(zone, k, &hdr, parts, (pt_str_t) { body, sr->body.len });
}

/* ---- in the foreground: the request waits ------------------------------ */

static void pt_cache_failed(pt_request_t *r, pt_cache_ctx_t *ctx, unsigned status,
                            const char *why)
{
    int64_t now = (int64_t) pt_clock_wall_ms() / 1000;
    pt_cache_fresh_t f = ctx->obj->fresh;

    /* the route's window for responses that name none (cache_stale_if_error) */
    if (f.sie < 0 && ctx->conf->stale_if_error > 0)
        f.sie = ctx->conf->stale_if_error / 1000;
    if (pt_cache_stale_if_error(&f, &ctx->req_cc, now)) {
        ctx->detail = "stale-if-error";
        ctx->age = pt_cache_current_age(&ctx->obj->fresh, now);
        ctx->hide = pt_cache_obj_part(ctx->obj, PT_CACHE_NOCACHE_FIELDS);
        ctx->next = PT_CACHE_NEXT_SERVE_OBJ;
        return;
    }
    ctx->next = PT_CACHE_NEXT_ERROR;
    ctx->err_status = ctx->obj->fresh.must_revalidate ? 504 : status;
    ctx->err_detail = ctx->obj->fresh.must_revalidate
                      ? "the stored response must be revalidated and the upstream failed" : why;
}

/* Whether an answer about stored response o (a 304, §4.3.4, or a 200 to
 * HEAD, §4.3.5) is about it: a strong ETag must match strongly and a weak
 * one weakly; without an ETag its Last-Modified must be the stored one;
 * one with neither is about the response the request asked about (the
 * only one stored for the variant). A HEAD's answer must also match in
 * every validator it has and in Content-Length, or o is out of date. */
static bool pt_cache_answer_matches(pt_subrequest_t *sr, const pt_cache_obj_t *o, bool head)
{
    pt_str_t tag = pt_subrequest_field(sr, "ETag");
    pt_str_t lm = pt_subrequest_field(sr, "Last-Modified");
    pt_http_field_t stored[64];
    unsigned ns = pt_cache_fields_unpack(pt_cache_obj_part(o, PT_CACHE_FIELDS), stored, 64);
    const pt_http_field_t *setag = pt_cache_field(stored, ns, PT_STR("etag"));
    const pt_http_field_t *slm = pt_cache_field(stored, ns, PT_STR("last-modified"));

    if (tag.len) {
        bool weak = tag.len >= 2 && tag.p[0] == 'W' && tag.p[1] == '/';
        if (setag == NULL || !(weak ? pt_cache_etag_weak_eq(tag, setag->value)
                                    : pt_cache_etag_strong_eq(tag, setag->value)))
            return false;
    }
    if (lm.len && (tag.len == 0 || head)) {
        int64_t t = pt_cache_parse_date(lm);
        if (slm == NULL || t < 0 || t != pt_cache_parse_date(slm->value))
            return false;
    }
    if (head) {
        pt_str_t cl = pt_subrequest_field(sr, "Content-Length");
        uint64_t v;
        if (cl.len && (pt_str_parse_uint(cl.p, cl.len, &v) != PT_OK || v != o->body_len))
            return false;
    }
    return true;
}

/* §4.3.5: a stored response that a HEAD's answer shows out of date stays,
 * but stale: it is validated before its next use. */
static void pt_cache_make_stale(pt_zone_t *zone, const pt_cache_key_t *k, const pt_cache_obj_t *o)
{
    pt_cache_obj_t hdr = *o;
    pt_str_t parts[PT_CACHE_NPARTS];

    for (unsigned i = 0; i < PT_CACHE_NPARTS; i++)
        parts[i] = pt_cache_obj_part(o, i);
    hdr.fresh.lifetime = 0;
    hdr.fresh.swr = -1;
    pt_cache_store_response(zone, k, &hdr, parts, parts[PT_CACHE_BODY]);
}

static int pt_cache_revalidate_as(pt_request_t *r, pt_cache_ctx_t *ctx, bool conditional);

static void pt_cache_revalidated(pt_subrequest_t *sr, int rc, void *data)
{
    pt_request_t *r = data;
    pt_cache_ctx_t *ctx = r->ctx[pt_cache_module.index];
    const pt_cache_conf_t *cc = ctx->conf;

    ctx->sr = NULL;
    if (rc != PT_OK) {
        pt_cache_failed(r, ctx, strstr(sr->error ? sr->error : "", "timed out") ? 504 : 502,
                        sr->error ? sr->error : "the upstream failed");
        pt_request_resume(r);
        return;
    }
    ctx->fwd_status = sr->status;
    bool head = r->head.method_id == PT_METHOD_HEAD;
    if (sr->status == 304 && !pt_cache_answer_matches(sr, ctx->obj, false)) {
        /* §4.3.4: a 304 naming other validators updates nothing: ask
         * again, unconditionally (once) */
        if (!ctx->refetched) {
            ctx->refetched = true;
            if (pt_cache_revalidate_as(r, ctx, false) == PT_AGAIN)
                return;
        }
        pt_cache_failed(r, ctx, 502, "the upstream's 304 does not match the stored response");
        pt_request_resume(r);
        return;
    }
    bool head_match = head && sr->status == 200 && pt_cache_answer_matches(sr, ctx->obj, true);
    if (sr->status == 304 || head_match) {
        /* §4.3.4, §4.3.5: the answer's fields update the stored response */
        pt_cache_obj_t *o = pt_cache_refresh_304(r->arena, ctx->zone, cc, &ctx->key, ctx->obj,
                                                 sr, ctx->request_ms, ctx->authorized,
                                                 r->head.fields, r->head.nfields,
                                                 &ctx->stored);
        if (o)
            ctx->obj = o;
        ctx->age = pt_cache_current_age(&ctx->obj->fresh, (int64_t) pt_clock_wall_ms() / 1000);
        ctx->next = PT_CACHE_NEXT_SERVE_OBJ;
        pt_request_resume(r);
        return;
    }
    if (head && sr->status == 200)
        pt_cache_make_stale(ctx->zone, &ctx->key, ctx->obj);
    if (sr->status >= 500) {
        pt_cache_failed(r, ctx, sr->status, "the upstream answered with an error");
        if (ctx->next == PT_CACHE_NEXT_SERVE_OBJ || ctx->obj->fresh.must_revalidate) {
            pt_request_resume(r);
            return;
        }
    }
    /* Another answer replaces the stored one: serve it (and store it). */
    int64_t ttl = 0;
    const char *why = NULL;
    /* the answer to a HEAD has no content to store */
    ctx->stored = !head && pt_cache_store_sr(r->arena, ctx->zone, cc, &ctx->key, sr,
                                             ctx->request_ms, ctx->authorized, ctx->may_store,
                                             r->head.fields, r->head.nfields, &why, &ttl);
    if (ctx->stored) {
        ctx->has_ttl = true;
        ctx->ttl = ttl;
    } else {
        ctx->detail = why;
    }
    unsigned n = 0;
    pt_str_t blob = pt_cache_fields_pack(r->arena, sr->fields, sr->nfields, PT_STR_NULL, true, &n);
    char *body = pt_arena_alloc(r->arena, sr->body.len + 1);
    ctx->sr_fields = pt_arena_alloc(r->arena, (n + 1) * sizeof(*ctx->sr_fields));
    if (blob.p == NULL || body == NULL || ctx->sr_fields == NULL) {
        ctx->next = PT_CACHE_NEXT_ERROR;
        ctx->err_status = 500;
        ctx->err_detail = "out of memory";
        pt_request_resume(r);
        return;
    }
    memcpy(body, sr->body.p, sr->body.len);
    ctx->sr_nfields = pt_cache_fields_unpack(blob, ctx->sr_fields, n);
    ctx->sr_status = sr->status;
    ctx->sr_body = (pt_str_t) { body, sr->body.len };
    ctx->own_lo = blob.p;
    ctx->own_hi = blob.p + blob.len;
    ctx->next = PT_CACHE_NEXT_SERVE_SR;
    pt_request_resume(r);
}

static pt_str_t pt_cache_target(pt_request_t *r)
{
    if (r->head.query.p == NULL)
        return r->upstream_path;
    char *t = pt_arena_alloc(r->arena, r->upstream_path.len + r->head.query.len + 2);
    if (t == NULL)
        return PT_STR_NULL;
    memcpy(t, r->upstream_path.p, r->upstream_path.len);
    t[r->upstream_path.len] = '?';
    memcpy(t + r->upstream_path.len + 1, r->head.query.p, r->head.query.len);
    return (pt_str_t) { t, r->upstream_path.len + r->head.query.len + 1 };
}

static int pt_cache_revalidate_as(pt_request_t *r, pt_cache_ctx_t *ctx, bool conditional)
{
    pt_upstream_t *u = pt_cache_upstream(r->route);

    if (u == NULL)
        return PT_DECLINED;
    pt_str_t target = pt_cache_target(r);
    if (target.p == NULL)
        return 500;
    pt_subrequest_t *sr = pt_cache_reval_start(u, r->arena, r->head.host, target,
                                               r->head.fields, r->head.nfields, ctx->obj,
                                               conditional,
                                               r->head.method_id == PT_METHOD_HEAD
                                               ? "HEAD" : "GET",
                                               (size_t) ctx->conf->policy.max_object,
                                               pt_cache_revalidated, r);
    if (sr == NULL)
        return 500;
    if (pt_subrequest_bind(sr, r) != PT_OK) {
        pt_subrequest_cancel(sr);
        return 500;
    }
    ctx->sr = sr;
    return PT_AGAIN;
}

int pt_cache_revalidate(pt_request_t *r, pt_cache_ctx_t *ctx)
{
    return pt_cache_revalidate_as(r, ctx, true);
}

/* ---- in the background: stale-while-revalidate ---------------------- */

typedef struct pt_cache_bg_s pt_cache_bg_t;
struct pt_cache_bg_s {
    pt_cache_bg_t *prev, *next;
    pt_arena_t *arena;
    pt_subrequest_t *sr;
    pt_zone_t *zone;
    const pt_cache_conf_t *conf;
    pt_cache_key_t key;
    pt_cache_obj_t *obj;
    pt_http_field_t *req;
    unsigned nreq;
    int64_t request_ms;
    bool authorized;
};

static pt_cache_bg_t *pt_cache_bg_list;

static void pt_cache_bg_free(pt_cache_bg_t *bg)
{
    if (bg->prev)
        bg->prev->next = bg->next;
    else
        pt_cache_bg_list = bg->next;
    if (bg->next)
        bg->next->prev = bg->prev;
    pt_arena_destroy(bg->arena);
}

static void pt_cache_bg_done(pt_subrequest_t *sr, int rc, void *data)
{
    pt_cache_bg_t *bg = data;

    if (rc == PT_OK && sr->status == 304) {
        bool kept;
        pt_cache_refresh_304(bg->arena, bg->zone, bg->conf, &bg->key, bg->obj, sr,
                             bg->request_ms, bg->authorized, bg->req, bg->nreq, &kept);
    } else if (rc == PT_OK && sr->status < 500) {
        const char *why;
        int64_t ttl;
        pt_cache_store_sr(bg->arena, bg->zone, bg->conf, &bg->key, sr, bg->request_ms,
                          bg->authorized, true, bg->req, bg->nreq, &why, &ttl);
    }
    pt_cache_bg_free(bg);
}

void pt_cache_refresh_background(pt_request_t *r, pt_cache_ctx_t *ctx)
{
    pt_upstream_t *u = pt_cache_upstream(r->route);
    int64_t now = (int64_t) pt_clock_wall_ms();

    if (u == NULL || !pt_cache_refresh_claim(ctx->zone, &ctx->key,
                                             pt_cache_obj_part(ctx->obj, PT_CACHE_VARY_KEY), now,
                                             now + ctx->conf->lock_timeout))
        return;
    pt_arena_t *a = pt_arena_create(16384, 0);
    pt_cache_bg_t *bg = a ? pt_arena_calloc(a, sizeof(*bg)) : NULL;
    pt_str_t target = pt_cache_target(r);
    if (bg == NULL || target.p == NULL) {
        pt_arena_destroy(a);
        return;
    }
    bg->arena = a;
    bg->zone = ctx->zone;
    bg->conf = ctx->conf;
    bg->request_ms = now;
    bg->authorized = ctx->authorized;
    char *key = pt_arena_alloc(a, ctx->key.key.len + 1);
    bg->obj = pt_arena_alloc(a, ctx->obj->size);
    bg->req = pt_arena_alloc(a, (r->head.nfields + 1) * sizeof(*bg->req));
    if (key == NULL || bg->obj == NULL || bg->req == NULL) {
        pt_arena_destroy(a);
        return;
    }
    memcpy(key, ctx->key.key.p, ctx->key.key.len);
    bg->key = (pt_cache_key_t) { { key, ctx->key.key.len }, ctx->key.uri_len, ctx->key.hash };
    memcpy(bg->obj, ctx->obj, ctx->obj->size);
    for (unsigned i = 0; i < r->head.nfields; i++) {
        const pt_http_field_t *f = &r->head.fields[i];
        char *nv = pt_arena_alloc(a, f->name.len + f->value.len + 1);
        if (nv == NULL) {
            pt_arena_destroy(a);
            return;
        }
        memcpy(nv, f->name.p, f->name.len);
        memcpy(nv + f->name.len, f->value.p, f->value.len);
        bg->req[bg->nreq++] = (pt_http_field_t) { { nv, f->name.len },
                                                  { nv + f->name.len, f->value.len }, f->id,
                                                  f->flags };
    }
    pt_str_t host = PT_STR_NULL;
    if (r->head.host.len) {
        char *h = pt_arena_strndup(a, r->head.host.p, r->head.host.len);
        host = (pt_str_t) { h, h ? r->head.host.len : 0 };
    }
    bg->sr = pt_cache_reval_start(u, a, host, target, bg->req, bg->nreq, bg->obj,
                                  true, "GET", (size_t) ctx->conf->policy.max_object, pt_cache_bg_done,
                                  bg);
    if (bg->sr == NULL) {
        pt_arena_destroy(a);
        return;
    }
    bg->next = pt_cache_bg_list;
    if (pt_cache_bg_list)
        pt_cache_bg_list->prev = bg;
    pt_cache_bg_list = bg;
}

void pt_cache_refresh_stop(void)
{
    while (pt_cache_bg_list) {
        pt_cache_bg_t *bg = pt_cache_bg_list;
        pt_subrequest_cancel(bg->sr);
        pt_cache_bg_free(bg);
    }
}
