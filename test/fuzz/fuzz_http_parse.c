/*
 * fuzz_http_parse.c: libFuzzer target for the request and response head parsers.
 *
 * The first input byte picks request or response and small or roomy limits; the next two
 * pick two cut points. The rest is parsed in one piece and again in three pieces, each call
 * on a fresh heap copy of exactly the bytes so far (ASan then sees a read past len or a
 * pointer kept from an earlier call). Both must agree on everything; a parsed head must
 * also satisfy what the parser promises: CRLF-only lines, no NUL, sizes within limits,
 * every view inside the head. The path of a parsed request also goes through
 * pt_uri_normalize, which must never grow it, must be idempotent, and must leave alone a
 * path pt_uri_is_normal calls normal. Any breach aborts.
 */
#include "common/pt.h"

#include "worker/http/http_parse.h"
#include "worker/http/uri.h"

#define MAX_FIELDS 64

typedef struct {
    int rc;
    const char *error;
    pt_http_head_t h;
    pt_http_field_t fields[MAX_FIELDS];
    const char *base;   /* the copy the views of h point into (freed: compare offsets only) */
} outcome_t;

typedef int (*parse_fn)(pt_http_head_t *, const char *, size_t, const pt_http_limits_t *,
                        size_t *);

static void
check_normalize_flags(pt_str_t path, unsigned flags)
{
    char *a = malloc(path.len), *b = malloc(path.len);
    size_t alen, blen;

    if (pt_uri_normalize(path.p, path.len, flags, a, &alen) == PT_OK) {
        if (alen > path.len || alen == 0 || a[0] != '/')
            abort();
        if (pt_uri_is_normal(path.p, path.len, flags)
            && (alen != path.len || memcmp(a, path.p, alen)))
            abort();
        if (pt_uri_normalize(a, alen, flags, b, &blen) != PT_OK || blen != alen
            || memcmp(a, b, alen))
            abort();
        for (size_t i = 0, j; i < alen; i = j) {     /* no "." or ".." segment is left */
            for (j = i + 1; j < alen && a[j] != '/'; j++)
                ;
            if ((j - i == 2 && a[i + 1] == '.')
                || (j - i == 3 && a[i + 1] == '.' && a[i + 2] == '.'))
                abort();
            if ((flags & PT_URI_MERGE_SLASHES) && j - i == 1 && j < alen)
                abort();                            /* nor "//" when merging */
        }
        if ((flags & PT_URI_DECODE_SLASHES) && pt_uri_has_escaped_slash(a, alen))
            abort();                                /* nor an encoded slash when decoding */
        if ((flags & PT_URI_DECODE_SLASHES) && pt_uri_hides_dot_segment(a, alen))
            abort();
    } else if (pt_uri_is_normal(path.p, path.len, flags)) {
        abort();
    }
    free(a);
    free(b);
}

static void
check_normalize(pt_str_t path)
{
    for (unsigned flags = 0; flags < 4; flags++)
        check_normalize_flags(path, flags);
    /* A dot-segment with parameters starts a segment: ".;" or "..;". */
    if (pt_uri_dot_params(path.p, path.len) && !memmem(path.p, path.len, ".;", 2))
        abort();
}

static void
run(parse_fn parse, const pt_http_limits_t *lim, const uint8_t *data, const size_t *cuts,
    size_t ncuts, outcome_t *o)
{
    size_t scanned = 0;

    o->rc = PT_AGAIN;
    for (size_t k = 0; k < ncuts; k++) {
        char *copy = malloc(cuts[k] ? cuts[k] : 1);

        memcpy(copy, data, cuts[k]);
        memset(&o->h, 0x5a, sizeof(o->h));
        o->h.fields = o->fields;
        o->rc = parse(&o->h, copy, cuts[k], lim, &scanned);
        o->error = o->h.error;
        o->base = copy;
        if (o->rc == PT_OK) {
            /* The views must lie in the head, which must be CRLF-clean and NUL-free. */
            const char *b = copy;
            size_t n = o->h.head_len;

            if (n < 4 || n > cuts[k] || n > lim->max_head || memcmp(b + n - 4, "\r\n\r\n", 4))
                abort();
            if (memchr(b, '\0', n) != NULL)
                abort();
            for (size_t i = 0; i < n; i++) {
                if (b[i] == '\n' && (i == 0 || b[i - 1] != '\r'))
                    abort();
                if (b[i] == '\r' && (i + 1 == n || b[i + 1] != '\n'))
                    abort();
            }
            if (o->h.nfields > lim->max_fields)
                abort();
            for (unsigned i = 0; i < o->h.nfields; i++) {
                const pt_http_field_t *f = &o->h.fields[i];

                if (f->name.len == 0 || f->name.p < b || f->name.p + f->name.len > b + n
                    || f->value.p < b || f->value.p + f->value.len > b + n
                    || f->id >= PT_HDR__COUNT || f->flags != 0
                    || memchr(f->name.p, ':', f->name.len) != NULL)
                    abort();
                if (f->value.len && (f->value.p[0] == ' ' || f->value.p[0] == '\t'
                                     || f->value.p[f->value.len - 1] == '\t'
                                     || f->value.p[f->value.len - 1] == ' '))
                    abort();
                if (f->id != PT_HDR_OTHER && f->id != pt_http_hdr_id(f->name.p, f->name.len))
                    abort();
            }
            if (o->h.chunked && !o->h.has_te)
                abort();
            if (o->h.content_length > PT_HTTP_MAX_CONTENT_LENGTH)
                abort();
            if (o->h.target_form == PT_HTTP_FORM_ORIGIN && o->h.path.p != NULL)
                check_normalize(o->h.path);
            (void) pt_http_response_body(&o->h, PT_METHOD_GET);
            (void) pt_http_request_body(&o->h);
        } else if (o->rc != PT_AGAIN && o->error == NULL) {
            abort();
        }
        free(copy);
        if (o->rc != PT_AGAIN)
            break;
    }
}

/* A view as (offset, length), so views into two different copies compare. */
static bool
same_view(pt_str_t a, const char *abase, pt_str_t b, const char *bbase)
{
    if (a.p == NULL || b.p == NULL)
        return a.p == b.p && a.len == b.len;
    if (a.len != b.len)
        return false;
    /* Static strings ("/" for an absolute-form target without a path) are not in the copy. */
    if ((uintptr_t) (a.p - abase) > (uintptr_t) 1 << 20)
        return a.p == b.p;
    return a.p - abase == b.p - bbase;
}

static void
compare(const outcome_t *a, const outcome_t *b)
{
    const pt_http_head_t *x = &a->h, *y = &b->h;

    if (a->rc != b->rc || a->error != b->error)
        abort();
    if (a->rc != PT_OK)
        return;
    if (x->head_len != y->head_len || x->nfields != y->nfields || x->status != y->status
        || x->method_id != y->method_id || x->target_form != y->target_form
        || x->version_minor != y->version_minor || x->content_length != y->content_length
        || x->chunked != y->chunked || x->has_te != y->has_te || x->conn != y->conn
        || x->expect_continue != y->expect_continue || x->expect_other != y->expect_other
        || x->framing_conflict != y->framing_conflict || x->host_field != y->host_field)
        abort();
    if (!same_view(x->method, a->base, y->method, b->base)
        || !same_view(x->target, a->base, y->target, b->base)
        || !same_view(x->path, a->base, y->path, b->base)
        || !same_view(x->query, a->base, y->query, b->base)
        || !same_view(x->authority, a->base, y->authority, b->base)
        || !same_view(x->reason, a->base, y->reason, b->base)
        || !same_view(x->host, a->base, y->host, b->base)
        || !same_view(x->upgrade, a->base, y->upgrade, b->base))
        abort();
    for (unsigned i = 0; i < x->nfields; i++) {
        if (!same_view(x->fields[i].name, a->base, y->fields[i].name, b->base)
            || !same_view(x->fields[i].value, a->base, y->fields[i].value, b->base)
            || x->fields[i].id != y->fields[i].id)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const pt_http_limits_t lims[4] = {
        { 8192, 16384, MAX_FIELDS }, { 32, 96, 4 }, { 64, 512, 16 }, { 4, 4096, 2 },
    };
    static outcome_t one, split;
    size_t cuts[3];
    parse_fn parse;
    const pt_http_limits_t *lim;

    if (size < 3)
        return 0;
    parse = (data[0] & 1) ? pt_http_parse_response : pt_http_parse_request;
    lim = &lims[(data[0] >> 1) & 3];
    cuts[0] = data[1];
    cuts[1] = cuts[0] + data[2];
    data += 3;
    size -= 3;
    cuts[0] = pt_min(cuts[0], size);
    cuts[1] = pt_min(cuts[1], size);
    cuts[2] = size;

    run(parse, lim, data, &cuts[2], 1, &one);
    run(parse, lim, data, cuts, 3, &split);
    compare(&one, &split);
    return 0;
}
