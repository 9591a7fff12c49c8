/*
 * mod_compress.c: response compression (gzip, brotli) and, optionally,
 * gunzip for clients that do not take gzip: a header filter that decides
 * per response and rewrites its fields, and a streaming body filter.
 *
 * The decision (man/portico.conf.5, "Compression"): a response is a
 * candidate when its status has a body and is not 206, it has no
 * Content-Range, its media type is in compress_types, its length (when
 * known) is at least compress_min_length, it carries no content coding
 * but identity and no Cache-Control: no-transform (RFC 9110 7.7). Every
 * candidate gets Vary: Accept-Encoding; it is encoded when the client's
 * Accept-Encoding (RFC 9110 12.5.3) accepts a coding of
 * compress_encodings. An encoded response loses Content-Length (the body
 * goes chunked, or close-delimited to HTTP/1.0) and Accept-Ranges, and a
 * strong ETag turns weak (RFC 9110 8.8.3: the bytes are no longer the
 * origin's).
 *
 * A cache in front of this filter (worker/mod/cache/) stores what the
 * upstream sent and serves hits through the route's filters, so the
 * coding is applied on the way out to hits and misses alike: the cache
 * module comes before this one in worker/modules.c.
 */
#include "common/pt.h"
#include <ctype.h>
#include "common/conf.h"
#include "common/log.h"
#include "common/str.h"
#include "worker/core/filter.h"
#include "worker/core/module.h"
#include "worker/http/request.h"
#include "worker/http/response.h"
#include "worker/mod/filter/compress/compress_accept.h"
#include "worker/mod/filter/compress/compress_stream.h"

typedef struct {
    int enabled;                /* BOOL */
    const char **encodings;     /* STRINGS: "br", "gzip" in order of preference */
    const char **types;         /* STRINGS: media types, "type/..." wildcards allowed */
    int64_t min_length;         /* SIZE */
    int64_t gzip_level;         /* UINT 1-9 */
    int64_t brotli_quality;     /* UINT 0-11 */
    int64_t brotli_window;      /* SIZE, a power of two from 1k to 16M */
    int gunzip;                 /* BOOL */
    int64_t gunzip_max_ratio;   /* UINT */
    /* compiled by init_route */
    uint8_t prefer[PT_CODING__COUNT];
    unsigned nprefer;
    pt_str_t *type_list;
    unsigned ntypes;
    int brotli_lgwin;
} pt_compress_conf_t;

pt_module_t pt_compress_module;

static int pt_compress_init_route(pt_conf_ctx_t *cf, pt_conf_t *conf, pt_route_t *route,
                                  void *rconf, const void *dconf);
static int pt_compress_check_encoding(pt_conf_ctx_t *cf, const config_setting_t *s,
                                      char *item);
static int pt_compress_check_type(pt_conf_ctx_t *cf, const config_setting_t *s, char *item);

static const pt_conf_strings_arg_t pt_compress_encodings_arg = {
    "\"compress_encodings\" needs at least one coding", pt_compress_check_encoding
};
static const pt_conf_strings_arg_t pt_compress_types_arg = {
    "\"compress_types\" needs at least one media type", pt_compress_check_type
};
static const pt_conf_bounds_t pt_compress_gzip_bounds = { 1, 9 };
static const pt_conf_bounds_t pt_compress_brotli_bounds = { 0, 11 };
static const pt_conf_bounds_t pt_compress_window_bounds = { 1024, 16 * 1024 * 1024 };
static const pt_conf_bounds_t pt_compress_ratio_bounds = { 2, 100000 };

#define PT_COMPRESS_FIELD(f)    offsetof(pt_compress_conf_t, f)

static const pt_directive_t pt_compress_directives[] = {
    { "compress", PT_CONF_BOOL, PT_SCOPE_ROUTE, PT_COMPRESS_FIELD(enabled), "false", NULL,
      NULL, NULL, "compress responses of the route" },
    { "compress_encodings", PT_CONF_STRINGS, PT_SCOPE_ROUTE, PT_COMPRESS_FIELD(encodings),
      "[\"br\", \"gzip\"]", &pt_compress_encodings_arg, NULL, NULL,
      "the codings to produce, preferred first" },
    { "compress_types", PT_CONF_STRINGS, PT_SCOPE_ROUTE, PT_COMPRESS_FIELD(types),
      "[\"text/html\", \"text/plain\", \"text/css\", \"text/javascript\", \"text/xml\", "
      "\"text/csv\", \"text/markdown\", \"application/json\", \"application/javascript\", "
      "\"application/xml\", \"application/problem+json\", \"application/ld+json\", "
      "\"application/manifest+json\", \"application/rss+xml\", \"application/atom+xml\", "
      "\"application/wasm\", \"image/svg+xml\"]",
      &pt_compress_types_arg, NULL, NULL, "the media types compressed" },
    { "compress_min_length", PT_CONF_SIZE, PT_SCOPE_ROUTE, PT_COMPRESS_FIELD(min_length),
      "256", NULL, NULL, NULL, "bodies shorter than this (by Content-Length) are sent as is" },
    { "compress_gzip_level", PT_CONF_UINT, PT_SCOPE_ROUTE, PT_COMPRESS_FIELD(gzip_level),
      "1", &pt_compress_gzip_bounds, NULL, NULL, "zlib compression level" },
    { "compress_brotli_quality", PT_CONF_UINT, PT_SCOPE_ROUTE,
      PT_COMPRESS_FIELD(brotli_quality), "2", &pt_compress_brotli_bounds, NULL, NULL,
      "brotli quality" },
    { "compress_brotli_window", PT_CONF_SIZE, PT_SCOPE_ROUTE, PT_COMPRESS_FIELD(brotli_window),
      "\"256k\"", &pt_compress_window_bounds, NULL, NULL, "brotli window size" },
    { "compress_gunzip", PT_CONF_BOOL, PT_SCOPE_ROUTE, PT_COMPRESS_FIELD(gunzip), "false",
      NULL, NULL, NULL, "decode gzip responses for clients that do not accept gzip" },
    { "compress_gunzip_max_ratio", PT_CONF_UINT, PT_SCOPE_ROUTE,
      PT_COMPRESS_FIELD(gunzip_max_ratio), "100", &pt_compress_ratio_bounds, NULL, NULL,
      "decoded bytes per encoded byte allowed before the response is cut" },
    PT_DIRECTIVE_END
};

pt_module_t pt_compress_module = {
    .name = "compress",
    .directives = pt_compress_directives,
    .route_conf_size = sizeof(pt_compress_conf_t),
    .init_route = pt_compress_init_route,
};

/* ---- load time ---------------------------------------------------------- */

static int pt_compress_check_encoding(pt_conf_ctx_t *cf, const config_setting_t *s, char *item)
{
    if (strcasecmp(item, "gzip") == 0 || strcasecmp(item, "br") == 0) {
        for (char *p = item; *p; p++)
            *p = (char) tolower((unsigned char) *p);
        return PT_OK;
    }
    pt_conf_error(cf, s, "unknown content coding \"%s\" (the codings are \"br\" and \"gzip\")",
                  item);
    return PT_ERROR;
}

/* "type/subtype" or a "type/" wildcard, tokens (RFC 9110 8.3.1), lowercased. */
static int pt_compress_check_type(pt_conf_ctx_t *cf, const config_setting_t *s, char *item)
{
    const char *slash = strchr(item, '/');
    bool ok = slash && slash != item && slash[1] != '\0';

    for (char *p = item; ok && *p; p++) {
        ok = p == slash || pt_str_tchar[(unsigned char) *p];
        *p = (char) tolower((unsigned char) *p);
    }
    /* Wildcards: a whole subtype ("text/" then '*'), or everything as "*" "/" "*". */
    if (ok && strchr(slash + 1, '*') && strcmp(slash + 1, "*") != 0)
        ok = false;
    if (ok && memchr(item, '*', (size_t) (slash - item)) && strcmp(item, "*/*") != 0)
        ok = false;
    if (!ok) {
        pt_conf_error(cf, s, "invalid media type \"%s\" (type/subtype or type/*)", item);
        return PT_ERROR;
    }
    return PT_OK;
}

/* ---- per response ------------------------------------------------------- */

static bool pt_compress_field_named(const pt_http_field_t *f, const char *name)
{
    return !(f->flags & PT_FIELD_HIDDEN) && pt_str_caseeq_lit(f->name, name);
}

/* Whether some field name of resp lists token among its values. */
static bool pt_compress_has_token(const pt_response_t *resp, const char *name,
                                  const char *token)
{
    for (unsigned i = 0; i < resp->nfields; i++) {
        const pt_http_field_t *f = &resp->fields[i];
        if (!pt_compress_field_named(f, name))
            continue;
        pt_str_t list = f->value, tok;
        while (pt_str_next_token(&list, &tok))
            if (pt_str_caseeq_lit(tok, token))
                return true;
    }
    return false;
}

/* Whether the media type of Content-Type (parameters off) is in the list. */
static bool pt_compress_type_listed(const pt_compress_conf_t *cc, const pt_response_t *resp)
{
    const pt_http_field_t *f = pt_response_find(resp, PT_STR("Content-Type"));

    if (f == NULL)
        return false;
    const char *semi = memchr(f->value.p, ';', f->value.len);
    pt_str_t mt = pt_str_trim_ows((pt_str_t) { f->value.p, semi ? (size_t) (semi - f->value.p)
                                                                : f->value.len });
    for (unsigned i = 0; i < cc->ntypes; i++) {
        pt_str_t t = cc->type_list[i];
        if (t.len == 3 && t.p[0] == '*') {
            return true;        /* every type */
        } else if (t.p[t.len - 1] == '*') {
            /* a wildcard: the type and its slash */
            if (mt.len > t.len - 1 && strncasecmp(mt.p, t.p, t.len - 1) == 0)
                return true;
        } else if (pt_str_caseeq(mt, t)) {
            return true;
        }
    }
    return false;
}

/* What Content-Encoding says: identity (absent or only "identity"), gzip
 * (one "gzip" or "x-gzip"), or something else. */
enum { PT_COMPRESS_CE_NONE, PT_COMPRESS_CE_GZIP, PT_COMPRESS_CE_OTHER };

static int pt_compress_content_coding(pt_response_t *resp)
{
    unsigned gzip = 0, other = 0;

    for (unsigned i = 0; i < resp->nfields; i++) {
        const pt_http_field_t *f = &resp->fields[i];
        if (!pt_compress_field_named(f, "Content-Encoding"))
            continue;
        pt_str_t list = f->value, tok;
        while (pt_str_next_token(&list, &tok)) {
            if (pt_str_caseeq_lit(tok, "gzip") || pt_str_caseeq_lit(tok, "x-gzip"))
                gzip++;
            else if (!pt_str_caseeq_lit(tok, "identity"))
                other++;
        }
    }
    if (other || gzip > 1)
        return PT_COMPRESS_CE_OTHER;
    return gzip ? PT_COMPRESS_CE_GZIP : PT_COMPRESS_CE_NONE;
}

/* Vary: Accept-Encoding, merged into the Vary fields already there
 * (none repeated; Vary: * already says everything). */
static int pt_compress_vary(pt_request_t *r, pt_response_t *resp)
{
    static const pt_str_t ae = PT_STR("Accept-Encoding");
    size_t len = 0;
    unsigned n = 0;

    if (pt_compress_has_token(resp, "Vary", "accept-encoding")
        || pt_compress_has_token(resp, "Vary", "*"))
        return PT_OK;
    for (unsigned i = 0; i < resp->nfields; i++)
        if (pt_compress_field_named(&resp->fields[i], "Vary")
            && resp->fields[i].value.len) {
            len += resp->fields[i].value.len + 2;
            n++;
        }
    if (n == 0)
        return pt_response_set(r, resp, PT_STR("Vary"), ae);
    char *v = pt_arena_alloc(r->arena, len + ae.len), *p = v;
    if (v == NULL)
        return PT_ERROR;
    for (unsigned i = 0; i < resp->nfields; i++) {
        const pt_http_field_t *f = &resp->fields[i];
        if (pt_compress_field_named(f, "Vary") && f->value.len) {
            memcpy(p, f->value.p, f->value.len);
            p += f->value.len;
            memcpy(p, ", ", 2);
            p += 2;
        }
    }
    memcpy(p, ae.p, ae.len);
    p += ae.len;
    return pt_response_set(r, resp, PT_STR("Vary"), (pt_str_t) { v, (size_t) (p - v) });
}

/* RFC 9110 8.8.3: a strong ETag names these very bytes; re-coded, they
 * are not the origin's, so it turns weak ("v1" becomes W/"v1"). */
static int pt_compress_weaken_etag(pt_request_t *r, pt_response_t *resp)
{
    const pt_http_field_t *etag = pt_response_find(resp, PT_STR("ETag"));

    if (etag == NULL || etag->value.len == 0 || etag->value.p[0] != '"')
        return PT_OK;
    char *w = pt_arena_alloc(r->arena, etag->value.len + 2);
    if (w == NULL)
        return PT_ERROR;
    memcpy(w, "W/", 2);
    memcpy(w + 2, etag->value.p, etag->value.len);
    return pt_response_set(r, resp, PT_STR("ETag"), (pt_str_t) { w, etag->value.len + 2 });
}

/* The fields of a response whose body is re-coded. */
static int pt_compress_recoded(pt_request_t *r, pt_response_t *resp, const char *coding)
{
    pt_response_remove(resp, PT_STR("Content-Encoding"));
    if (coding && pt_response_add(r, resp, PT_STR("Content-Encoding"),
                                  (pt_str_t) { coding, strlen(coding) }) != PT_OK)
        return PT_ERROR;
    pt_response_unknown_length(resp);
    pt_response_remove(resp, PT_STR("Content-Length"));
    pt_response_remove(resp, PT_STR("Accept-Ranges"));
    /* Digests of the bytes the origin sent (RFC 9530 Content-Digest and
     * Repr-Digest, whose representation includes the coding; the older
     * Digest and Content-MD5) no longer hold. */
    pt_response_remove(resp, PT_STR("Content-Digest"));
    pt_response_remove(resp, PT_STR("Repr-Digest"));
    pt_response_remove(resp, PT_STR("Digest"));
    pt_response_remove(resp, PT_STR("Content-MD5"));
    return pt_compress_weaken_etag(r, resp);
}

/* Whether the request asks intermediaries not to transform (RFC 9111
 * 5.2.1.6, Cache-Control: no-transform). */
static bool pt_compress_request_no_transform(const pt_request_t *r)
{
    for (unsigned i = 0; i < r->head.nfields; i++) {
        const pt_http_field_t *f = &r->head.fields[i];
        if (!pt_str_caseeq_lit(f->name, "Cache-Control"))
            continue;
        pt_str_t list = f->value, tok;
        while (pt_str_next_token(&list, &tok))
            if (pt_str_caseeq_lit(tok, "no-transform"))
                return true;
    }
    return false;
}

/* The client's Accept-Encoding fields; false when it sent none. */
static bool pt_compress_client_accepts(const pt_request_t *r, pt_compress_accept_t *a)
{
    bool any = false;

    pt_compress_accept_init(a);
    for (unsigned i = 0; i < r->head.nfields; i++) {
        const pt_http_field_t *f = &r->head.fields[i];
        if (f->id == PT_HDR_ACCEPT_ENCODING) {
            pt_compress_accept_parse(a, f->value);
            any = true;
        }
    }
    return any;
}

/* The stream of the body filter, with the codec state made: before any
 * byte goes out, so a failure is still a 500. */
static int pt_compress_start(pt_request_t *r, const pt_compress_conf_t *cc, unsigned coding,
                             bool gunzip, int64_t length)
{
    const pt_compress_codec_t *codec;
    void *state;

    if (gunzip) {
        codec = &pt_compress_gunzip_codec;
        state = pt_compress_gunzip_new();
    } else if (coding == PT_CODING_GZIP) {
        pt_compress_params_t p = { (int) cc->gzip_level, 15, length };
        codec = &pt_compress_gzip_codec;
        state = pt_compress_gzip_new(&p);
#ifdef PT_HAVE_BROTLI
    } else if (coding == PT_CODING_BR) {
        pt_compress_params_t p = { (int) cc->brotli_quality, cc->brotli_lgwin, length };
        codec = &pt_compress_brotli_codec;
        state = pt_compress_brotli_new(&p);
#endif
    } else {
        return PT_ERROR;
    }
    if (state == NULL)
        return PT_ERROR;
    pt_compress_stream_t *s = pt_arena_alloc(r->arena, sizeof(*s));
    if (s == NULL) {
        pt_compress_stream_t tmp = { .codec = codec, .state = state };
        codec->end(&tmp);
        return PT_ERROR;
    }
    if (pt_compress_stream_init(s, r->arena, codec, state) != PT_OK)
        return PT_ERROR;
    if (gunzip)
        s->max_ratio = (uint64_t) cc->gunzip_max_ratio;
    r->ctx[pt_compress_module.index] = s;
    return PT_OK;
}

/* A 304 stands for the 200 the client holds (RFC 9110 15.4.5): when that
 * would have been compressed, its ETag is the weak one the client got, or
 * a cache that refreshes its copy with this one would keep a strong
 * validator for compressed bytes (and could splice a range of the
 * origin's bytes onto them). Without a Content-Type the type rule cannot
 * be applied, and the ETag is weakened whenever a coding would be chosen:
 * a weak validator still revalidates. The 304 MUST carry the Vary that
 * 200 had, and every candidate has Vary: Accept-Encoding, so an untyped
 * 304 (the cache's own are) gets it too: a Vary too many only costs a
 * downstream cache a hit. */
static int pt_compress_not_modified(pt_request_t *r, const pt_compress_conf_t *cc,
                                    pt_response_t *resp)
{
    pt_compress_accept_t accept;

    if (cc->nprefer == 0 || pt_compress_content_coding(resp) != PT_COMPRESS_CE_NONE)
        return PT_OK;
    bool typed = pt_response_find(resp, PT_STR("Content-Type")) != NULL;
    if (typed && !pt_compress_type_listed(cc, resp))
        return PT_OK;
    if (pt_compress_vary(r, resp) != PT_OK)
        return 500;          /* out of memory */
    if (!pt_compress_client_accepts(r, &accept)
        || pt_compress_accept_choose(&accept, cc->prefer, cc->nprefer) == PT_CODING_IDENTITY)
        return PT_OK;
    return pt_compress_weaken_etag(r, resp);
}

static int pt_compress_header_filter(pt_request_t *r, pt_response_t *resp)
{
    const pt_compress_conf_t *cc = pt_route_mod_conf(r->route, pt_compress_module);
    unsigned st = resp->status;

    r->ctx[pt_compress_module.index] = NULL;
    /* No body (1xx, 204), or a part of one (206, Content-Range). */
    if (st < 200 || st == 204 || st == 206 || pt_response_find(resp, PT_STR("Content-Range")))
        return PT_OK;
    /* RFC 9110 7.7: a proxy MUST NOT transform a no-transform payload;
     * a request may ask the same. */
    if (pt_compress_has_token(resp, "Cache-Control", "no-transform")
        || pt_compress_request_no_transform(r))
        return PT_OK;
    if (st == 304)
        return pt_compress_not_modified(r, cc, resp);

    int ce = pt_compress_content_coding(resp);
    pt_compress_accept_t accept;
    bool asked = pt_compress_client_accepts(r, &accept);

    if (ce == PT_COMPRESS_CE_OTHER)
        return PT_OK;       /* never encode twice */
    if (ce == PT_COMPRESS_CE_GZIP) {
        if (cc->gunzip != 1)
            return PT_OK;
        /* Decoded for some clients, so it varies. */
        if (pt_compress_vary(r, resp) != PT_OK)
            return 500;          /* out of memory */
        if (asked && pt_compress_accept_weight(&accept, PT_CODING_GZIP) > 0)
            return PT_OK;
        if (pt_compress_recoded(r, resp, NULL) != PT_OK)
            return 500;          /* out of memory */
        if (r->head_only)
            return PT_OK;
        return pt_compress_start(r, cc, PT_CODING_IDENTITY, true, -1) == PT_OK ? PT_OK : 500;
    }
    if (!pt_compress_type_listed(cc, resp)
        || (resp->content_length >= 0 && resp->content_length < cc->min_length))
        return PT_OK;
    /* A candidate: whether it is encoded depends on Accept-Encoding. */
    if (pt_compress_vary(r, resp) != PT_OK)
        return 500;          /* out of memory */
    unsigned coding = asked ? pt_compress_accept_choose(&accept, cc->prefer, cc->nprefer)
                            : PT_CODING_IDENTITY;
    if (coding == PT_CODING_IDENTITY)
        return PT_OK;
    pt_response_remove(resp, PT_STR("Content-Encoding"));       /* an "identity" */
    int64_t length = resp->content_length;
    if (pt_compress_recoded(r, resp, coding == PT_CODING_GZIP ? "gzip" : "br") != PT_OK)
        return 500;          /* out of memory */
    if (r->head_only)
        return PT_OK;
    return pt_compress_start(r, cc, coding, false, length) == PT_OK ? PT_OK : 500;
}

static int pt_compress_body_filter(pt_body_chain_t *bc, pt_span_t *in)
{
    pt_compress_stream_t *s = bc->r->ctx[pt_compress_module.index];

    if (s == NULL)
        return pt_filter_body_next(bc, in);
    if (pt_compress_stream_filter(s, bc, in) != PT_OK) {
        if (s->error)
            pt_log(PT_LOG_ERR, "%s of a response body failed: %s", s->codec->name, s->error);
        s->error = NULL;
        return PT_ERROR;
    }
    return PT_OK;
}

/* ---- load time, per route ----------------------------------------------- */

static int pt_compress_init_route(pt_conf_ctx_t *cf, pt_conf_t *conf, pt_route_t *route,
                                  void *rconf, const void *dconf)
{
    pt_compress_conf_t *cc = rconf;

    pt_module_phase_skip(route, &pt_compress_module);
    if (cc->enabled != 1 && cc->gunzip != 1)
        return PT_OK;
    cc->nprefer = 0;
    for (const char **e = cc->encodings; e && *e; e++) {
        uint8_t c = strcmp(*e, "gzip") == 0 ? PT_CODING_GZIP : PT_CODING_BR;
#ifndef PT_HAVE_BROTLI
        if (c == PT_CODING_BR)
            continue;       /* built without brotli: gzip only */
#endif
        bool dup = false;
        for (unsigned i = 0; i < cc->nprefer; i++)
            dup |= cc->prefer[i] == c;
        if (!dup && cc->nprefer < PT_CODING__COUNT)
            cc->prefer[cc->nprefer++] = c;
    }
    if (cc->enabled == 1 && cc->nprefer == 0) {
        pt_conf_error(cf, NULL, "route \"%s\" (line %u): compress_encodings names no coding "
                      "this build can produce (brotli was left out)", route->name, route->line);
        return PT_ERROR;
    }
    if (cc->enabled != 1)
        cc->nprefer = 0;        /* gunzip only */
    cc->ntypes = (unsigned) pt_conf_strings_count(cc->types);
    cc->type_list = pt_arena_alloc(cf->arena, (cc->ntypes + 1) * sizeof(*cc->type_list));
    if (cc->type_list == NULL)
        return PT_ERROR;
    for (unsigned i = 0; i < cc->ntypes; i++)
        cc->type_list[i] = (pt_str_t) { cc->types[i], strlen(cc->types[i]) };
    if (cc->enabled != 1)
        cc->ntypes = 0;
    /* The window: the power of two at or above the size, in bits. */
    cc->brotli_lgwin = 10;
    while (cc->brotli_lgwin < 24 && ((int64_t) 1 << cc->brotli_lgwin) < cc->brotli_window)
        cc->brotli_lgwin++;
    if (pt_filter_add_header(cf, route, &pt_compress_module, pt_compress_header_filter)
        != PT_OK
        || pt_filter_add_body(cf, route, &pt_compress_module, pt_compress_body_filter) != PT_OK)
        return PT_ERROR;
    return PT_OK;
}
