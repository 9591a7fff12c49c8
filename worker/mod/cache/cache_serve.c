/*
 * cache_serve.c: stored responses to clients, with preconditions and
 * byte ranges (see cache_serve.h).
 */
#include "common/pt.h"
#include "common/str.h"
#include "worker/http/http_error.h"
#include "worker/http/request.h"
#include "worker/http/response.h"
#include "worker/http/cache_control.h"
#include "worker/mod/cache/cache_rules.h"
#include "worker/mod/cache/cache_serve.h"

enum pt_cache_cond pt_cache_preconditions(const pt_http_field_t *req, unsigned nreq,
                                          pt_str_t etag, int64_t last_modified, int64_t date)
{
    const pt_http_field_t *im = pt_cache_field(req, nreq, PT_STR("if-match"));
    const pt_http_field_t *ius = pt_cache_field(req, nreq, PT_STR("if-unmodified-since"));
    const pt_http_field_t *inm = pt_cache_field(req, nreq, PT_STR("if-none-match"));
    const pt_http_field_t *ims = pt_cache_field(req, nreq, PT_STR("if-modified-since"));

    if (im) {
        if (!pt_cache_etag_list_match(im->value, etag, true))
            return PT_CACHE_COND_412;
    } else if (ius) {
        int64_t d = pt_cache_parse_date(ius->value);
        if (d >= 0 && last_modified >= 0 && last_modified > d)
            return PT_CACHE_COND_412;
    }
    if (inm) {
        /* every list field line counts */
        for (unsigned i = 0; i < nreq; i++)
            if (pt_str_caseeq_lit(req[i].name, "if-none-match")
                && pt_cache_etag_list_match(req[i].value, etag, false))
                return PT_CACHE_COND_304;
        return PT_CACHE_COND_FULL;
    }
    if (ims) {
        /* RFC 9111 §4.3.2: without Last-Modified, the Date */
        int64_t d = pt_cache_parse_date(ims->value), t = last_modified >= 0 ? last_modified : date;
        if (d >= 0 && t >= 0 && t <= d)
            return PT_CACHE_COND_304;
    }
    return PT_CACHE_COND_FULL;
}

/* RFC 9110 §15.4.5: what a 304 carries of the stored response. */
static bool pt_cache_304_field(pt_str_t name)
{
    return pt_str_caseeq_lit(name, "content-location") || pt_str_caseeq_lit(name, "date")
           || pt_str_caseeq_lit(name, "etag") || pt_str_caseeq_lit(name, "vary")
           || pt_str_caseeq_lit(name, "cache-control") || pt_str_caseeq_lit(name, "expires")
           || pt_str_caseeq_lit(name, "cache-status");
}

/* The most ranges one request gets as parts of a multipart/byteranges
 * answer; more are answered with the whole body. */
#define PT_CACHE_MAX_PARTS  16

/* RFC 9110 §14.6: several ranges as a 206 multipart/byteranges, each part
 * with the stored Content-Type and its Content-Range. */
static void pt_cache_serve_parts(pt_request_t *r, pt_http_field_t *fields, unsigned n,
                                 pt_str_t body, const uint64_t *first, const uint64_t *last,
                                 unsigned k)
{
    pt_str_t type = PT_STR_NULL;
    size_t size = 64;

    for (unsigned i = 0; i < n; i++) {
        if (fields[i].id == PT_HDR_CONTENT_TYPE && !(fields[i].flags & PT_FIELD_HIDDEN)) {
            type = fields[i].value;
            fields[i].flags |= PT_FIELD_HIDDEN;
        }
    }
    char boundary[48];
    size_t bl = (size_t) snprintf(boundary, sizeof(boundary), "portico-%.*s",
                                  (int) (r->id.len > 32 ? 32 : r->id.len), r->id.p);
    for (unsigned i = 0; i < k; i++)
        size += bl + type.len + 120 + (last[i] - first[i] + 1);
    char *out = pt_arena_alloc(r->arena, size);
    char *ct = pt_arena_alloc(r->arena, bl + 40);
    if (out == NULL || ct == NULL) {
        pt_http_error(r, 500, "out of memory serving from the cache");
        return;
    }
    size_t at = 0;
    for (unsigned i = 0; i < k; i++) {
        at += (size_t) snprintf(out + at, size - at, "\r\n--%s\r\n", boundary);
        if (type.len)
            at += (size_t) snprintf(out + at, size - at, "Content-Type: %.*s\r\n",
                                    (int) type.len, type.p);
        at += (size_t) snprintf(out + at, size - at,
                                "Content-Range: bytes %" PRIu64 "-%" PRIu64 "/%zu\r\n\r\n",
                                first[i], last[i], body.len);
        memcpy(out + at, body.p + first[i], (size_t) (last[i] - first[i] + 1));
        at += (size_t) (last[i] - first[i] + 1);
    }
    at += (size_t) snprintf(out + at, size - at, "\r\n--%s--\r\n", boundary);
    fields[n++] = (pt_http_field_t) {
        PT_STR("Content-Type"),
        { ct, (size_t) snprintf(ct, bl + 40, "multipart/byteranges; boundary=%s", boundary) },
        PT_HDR_CONTENT_TYPE, 0 };
    pt_response_send(r, 206, NULL, fields, n, out, at);
}

void pt_cache_req_scan(const pt_request_t *r, pt_cache_req_t *rq, pt_cache_cc_t *cc)
{
    *rq = (pt_cache_req_t) { 0 };
    pt_cache_cc_init(cc);
    for (unsigned i = 0; i < r->head.nfields; i++) {
        const pt_http_field_t *f = &r->head.fields[i];
        switch (f->name.len) {
        case 5:
            if (rq->range == NULL && pt_str_caseeq_lit(f->name, "range"))
                rq->range = f;
            break;
        case 6:
            if (pt_str_caseeq_lit(f->name, "pragma")
                && pt_cache_list_has(f->value, PT_STR("no-cache")))
                rq->flags |= PT_CACHE_RQ_NOCACHE;
            break;
        case 8:
            if (pt_str_caseeq_lit(f->name, "if-match"))
                rq->flags |= PT_CACHE_RQ_PRECOND;
            else if (rq->if_range == NULL && pt_str_caseeq_lit(f->name, "if-range"))
                rq->if_range = f;
            break;
        case 13:
            if (pt_str_caseeq_lit(f->name, "cache-control")) {
                rq->flags |= PT_CACHE_RQ_CC;
                pt_cache_cc_parse(cc, f->value);
            } else if (pt_str_caseeq_lit(f->name, "if-none-match")) {
                rq->flags |= PT_CACHE_RQ_PRECOND | PT_CACHE_RQ_VALIDATOR;
            } else if (f->id == PT_HDR_AUTHORIZATION) {
                rq->flags |= PT_CACHE_RQ_AUTH;
            }
            break;
        case 17:
            if (pt_str_caseeq_lit(f->name, "if-modified-since"))
                rq->flags |= PT_CACHE_RQ_PRECOND | PT_CACHE_RQ_VALIDATOR;
            break;
        case 19:
            if (pt_str_caseeq_lit(f->name, "if-unmodified-since"))
                rq->flags |= PT_CACHE_RQ_PRECOND;
            break;
        default:
            break;
        }
    }
}

void pt_cache_serve(pt_request_t *r, const pt_cache_obj_t *o, int64_t age, pt_str_t hide,
                    const pt_cache_req_t *rq)
{
    unsigned max = o->nfields + 4;
    pt_http_field_t *fields = pt_arena_alloc(r->arena, max * sizeof(*fields));
    char *agebuf = pt_arena_alloc(r->arena, 24);

    if (fields == NULL || agebuf == NULL) {
        pt_http_error(r, 500, "out of memory serving from the cache");
        return;
    }
    unsigned n = pt_cache_fields_unpack(pt_cache_obj_part(o, PT_CACHE_FIELDS), fields,
                                        o->nfields);
    if (hide.len)
        for (unsigned i = 0; i < n; i++)
            if (pt_cache_list_has(hide, fields[i].name))
                fields[i].flags |= PT_FIELD_HIDDEN;
    fields[n++] = (pt_http_field_t) { PT_STR("Age"),
                                      { agebuf, pt_str_from_u64(agebuf, (uint64_t) age) },
                                      PT_HDR_OTHER, 0 };
    pt_str_t body = pt_cache_obj_part(o, PT_CACHE_BODY);
    unsigned status = o->status;

    pt_str_t etag = PT_STR_NULL;
    int64_t lm = -1, date = -1;
    /* RFC 9110 §13.2.1: preconditions apply to a 2xx; ranges to a 200 */
    bool checks = status >= 200 && status < 300
                  && ((rq->flags & PT_CACHE_RQ_PRECOND) || (rq->range && status == 200));
    if (checks) {
        const pt_http_field_t *f = pt_cache_field(fields, n, PT_STR("etag"));
        etag = f ? f->value : PT_STR_NULL;
        lm = (f = pt_cache_field(fields, n, PT_STR("last-modified")))
             ? pt_cache_parse_date(f->value) : -1;
        /* If-Unmodified-Since and If-Range want a Last-Modified (RFC 9110
         * §13.1.4, §13.1.5): the Date only stands in for If-Modified-Since */
        if ((f = pt_cache_field(fields, n, PT_STR("date"))))
            date = pt_cache_parse_date(f->value);
    }

    if (checks) {
        enum pt_cache_cond cond = (rq->flags & PT_CACHE_RQ_PRECOND)
            ? pt_cache_preconditions(r->head.fields, r->head.nfields, etag, lm, date)
            : PT_CACHE_COND_FULL;
        switch (cond) {
        case PT_CACHE_COND_412:
            pt_http_error(r, 412, "a precondition of the request is false for the stored response");
            return;
        case PT_CACHE_COND_304: {
            unsigned k = 0;
            for (unsigned i = 0; i < n; i++)
                if (!(fields[i].flags & PT_FIELD_HIDDEN)
                    && (pt_cache_304_field(fields[i].name) || i == n - 1))
                    fields[k++] = fields[i];
            pt_response_send(r, 304, NULL, fields, k, NULL, 0);
            return;
        }
        default:
            break;
        }
        const pt_http_field_t *rg = rq->range;
        if (rg && status == 200 && r->head.method_id == PT_METHOD_GET) {
            const pt_http_field_t *ir = rq->if_range;
            bool use = true;
            if (ir) {
                pt_str_t v = pt_str_trim_ows(ir->value);
                if (v.len && (v.p[0] == '"' || v.p[0] == 'W'))
                    use = etag.len && pt_cache_etag_strong_eq(v, etag);
                else
                    use = lm >= 0 && pt_cache_parse_date(v) == lm;
            }
            uint64_t fa[PT_CACHE_MAX_PARTS], la[PT_CACHE_MAX_PARTS];
            int k = use ? pt_cache_ranges(rg->value, body.len, fa, la, PT_CACHE_MAX_PARTS) : 0;
            if (k > 1) {
                pt_cache_serve_parts(r, fields, n, body, fa, la, (unsigned) k);
                return;
            }
            uint64_t a = fa[0], b = la[0];
            char *cr = pt_arena_alloc(r->arena, 80);
            if (cr == NULL) {
                pt_http_error(r, 500, "out of memory serving from the cache");
                return;
            }
            if (k < 0) {
                pt_http_field_t crf = { PT_STR("Content-Range"),
                                        { cr, (size_t) snprintf(cr, 80, "bytes */%zu",
                                                                body.len) }, PT_HDR_OTHER, 0 };
                pt_http_error_fields(r, 416, "the range is outside the stored response", &crf, 1);
                return;
            }
            if (k > 0) {
                fields[n++] = (pt_http_field_t) {
                    PT_STR("Content-Range"),
                    { cr, (size_t) snprintf(cr, 80, "bytes %" PRIu64 "-%" PRIu64 "/%zu", a, b,
                                            body.len) }, PT_HDR_OTHER, 0 };
                pt_response_send(r, 206, NULL, fields, n, body.p + a, (size_t) (b - a + 1));
                return;
            }
        }
    }
    pt_response_send(r, status, NULL, fields, n, body.p, body.len);
}
