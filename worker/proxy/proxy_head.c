/*
 * proxy_head.c: the heads the proxy builds, as pure functions of the
 * parsed request and response: the request head for the upstream, the
 * response object for the client (which the header filters then see and
 * the HTTP/1.1 serializer writes), and the TRACE reflection. The one place
 * the proxy writes an HTTP version: the upstream request line and TRACE's
 * echo of the client's (PT_PROXY_HEAD_VERSION).
 */
#include "common/pt.h"
#include "common/clock.h"
#include "common/str.h"
#include "worker/core/filter.h"
#include "worker/proxy/proxy.h"

#define PT_PROXY_HEAD_VERSION   "HTTP/1.1"

/* Whether a request body goes through the route's request body filters
 * (and so is sent in chunks, its length unknown). */
static bool pt_proxy_head_reframe(const pt_request_t *r)
{
    const pt_filters_t *f = pt_filter_of(r->route);

    return f && f->request_body;
}

/* ---- the request head for the upstream ----------------------------------- */

/* HTTP2-Settings belongs to the h2c upgrade (RFC 9113 3.1 removed it): it
 * is hop-by-hop whether or not Connection names it, and never forwarded. */
static bool pt_proxy_head_h2_settings(pt_str_t name)
{
    return name.len == 14 && pt_str_caseeq_lit(name, "http2-settings");
}

/* X_Forwarded_For and kin: CGI, WSGI, Rack and PHP read them as the
 * X-Forwarded-* fields portico replaces, so a client's copy spelled with
 * "_" would stand in for ours there. Only names holding "_" are looked at. */
static bool pt_proxy_head_xff_alias(pt_str_t name)
{
    if (name.len < 15 || memchr(name.p, '_', name.len) == NULL)
        return false;
    return pt_str_field_alike(name, PT_STR("x-forwarded-for"))
           || pt_str_field_alike(name, PT_STR("x-forwarded-host"))
           || pt_str_field_alike(name, PT_STR("x-forwarded-proto"));
}

static int pt_proxy_head_token_cmp(const void *a, const void *b)
{
    const pt_str_t *x = a, *y = b;

    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return strncasecmp(x->p, y->p, x->len);
}

/* The names listed in h's Connection fields, sorted for bsearch with
 * pt_proxy_head_token_cmp, in arena a; *n of them. PT_OK or PT_ERROR. */
static int pt_proxy_head_connection_names(pt_arena_t *a, const pt_http_head_t *h,
                                          pt_str_t **out, size_t *n)
{
    size_t room = 0;

    *n = 0;
    *out = NULL;
    if (!(h->conn & PT_HTTP_CONN_OTHER))
        return PT_OK;
    for (unsigned i = 0; i < h->nfields; i++)
        if (h->fields[i].id == PT_HDR_CONNECTION)
            room += h->fields[i].value.len / 2 + 1;     /* "a," per token at least */
    pt_str_t *names = pt_arena_alloc(a, room * sizeof(*names)), tok;
    if (names == NULL)
        return PT_ERROR;
    for (unsigned i = 0; i < h->nfields; i++) {
        pt_str_t list = h->fields[i].value;
        if (h->fields[i].id == PT_HDR_CONNECTION)
            while (*n < room && pt_str_next_token(&list, &tok))
                names[(*n)++] = tok;
    }
    qsort(names, *n, sizeof(*names), pt_proxy_head_token_cmp);
    *out = names;
    return PT_OK;
}

/* Drop the fields named in Connection (RFC 9110 7.6.1). The names are
 * sorted and each field looked up, so a head of many fields and a long
 * Connection list costs n log n, not n times m. */
static int pt_proxy_head_drop_connection(pt_arena_t *a, pt_http_head_t *h)
{
    pt_str_t *names;
    size_t n;

    if (pt_proxy_head_connection_names(a, h, &names, &n) != PT_OK)
        return PT_ERROR;
    for (unsigned k = 0; n && k < h->nfields; k++)
        if (bsearch(&h->fields[k].name, names, n, sizeof(*names), pt_proxy_head_token_cmp))
            h->fields[k].flags |= PT_PROXY_DROP;
    return PT_OK;
}

/* Room for a head built from h's fields plus base bytes of our own, in the
 * request arena (fields named in Connection flagged first); *cap is set. */
static char *pt_proxy_head_alloc(pt_request_t *r, pt_http_head_t *h, size_t base,
                                 size_t *cap)
{
    if ((h->conn & PT_HTTP_CONN_OTHER) && pt_proxy_head_drop_connection(r->arena, h) != PT_OK)
        return NULL;
    *cap = base;
    for (unsigned i = 0; i < h->nfields; i++)
        *cap += h->fields[i].name.len + 2 * h->fields[i].value.len + 4;
    return pt_arena_alloc(r->arena, *cap);
}

/* RFC 7239 4: 1#forwarded-element, an element being pairs token=value
 * (value: token or quoted-string) separated by ";". A value that is not
 * this would make ours part of a client's quoted string. */
static bool pt_proxy_head_forwarded_valid(pt_str_t v)
{
    const unsigned char *p = (const unsigned char *) v.p, *end = p + v.len;

    for (;;) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ',' || *p == ';'))
            p++;                        /* empty elements and pairs, OWS */
        if (p == end)
            return true;
        const unsigned char *t = p;
        while (p < end && pt_str_tchar[*p])
            p++;
        if (p == t || p == end || *p++ != '=')
            return false;
        if (p < end && *p == '"') {
            for (p++; p < end && *p != '"'; p++) {
                if (*p == '\\' && ++p == end)
                    return false;
                if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
                    return false;
            }
            if (p++ == end)
                return false;
        } else {
            t = p;
            while (p < end && pt_str_tchar[*p])
                p++;
            if (p == t)
                return false;
        }
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if (p < end && *p != ';' && *p != ',')
            return false;
    }
}

/* Join every value of field id with ", " (for headers we extend). */
static size_t pt_proxy_head_join(char *out, const pt_http_head_t *h, unsigned id)
{
    size_t n = 0;

    for (unsigned i = 0; i < h->nfields; i++) {
        if (h->fields[i].id != id || h->fields[i].value.len == 0)
            continue;
        if (n)
            PT_PUT(", ");
        PT_PUTS(h->fields[i].value);
    }
    return n;
}

/* RFC 9112 3.2.4: OPTIONS for an absolute URI with an empty path and no
 * query asks about the origin server itself: it goes on as "OPTIONS *". */
static bool pt_proxy_head_options_server(const pt_http_head_t *h)
{
    return h->method_id == PT_METHOD_OPTIONS && h->target_form == PT_HTTP_FORM_ABSOLUTE
           && h->authority.p + h->authority.len == h->target.p + h->target.len;
}

pt_str_t pt_proxy_head_request(pt_proxy_t *p)
{
    pt_request_t *r = p->r;
    pt_http_head_t *h = &r->head;
    const pt_proxy_conf_t *rc = p->conf;
    const pt_upstream_t *u = rc->upstream;
    pt_str_t host = u->host ? (pt_str_t) { u->host, strlen(u->host) }
                    : h->authority.len ? h->authority : h->host;
    const char *ip = pt_conn_peer_ip(r->conn);
    size_t iplen = strlen(ip);
    size_t cap;
    /* Each piece of our own that is written below, besides the client's
     * fields (which pt_proxy_head_alloc counts): the request line, Host (or
     * the server's name), X-Forwarded-Host (the target's authority or the
     * Host field), Forwarded's host (the Host field, which for an
     * absolute-form target is its authority), the client address twice,
     * the request id and the upgrade; 512 covers the fixed text. */
    size_t own = h->method.len + r->upstream_path.len + h->query.len
                 + (host.len ? host.len : strlen(p->server->name))  /* one of them is Host */
                 + (h->authority.len ? h->authority.len : h->host.len) + h->host.len
                 + 2 * iplen + r->id.len + p->upgrade_offer.len;
    char *out = pt_proxy_head_alloc(r, h, 512 + own, &cap);
    size_t n = 0;
    if (out == NULL)
        return PT_STR_NULL;

    PT_PUTS(h->method);
    PT_PUTC(' ');
    if (pt_proxy_head_options_server(h)) {
        PT_PUTC('*');
    } else {
        PT_PUTS(r->upstream_path);
        /* A rewrite may bring its own query: the client's joins it after
         * "&" (never a second "?"), or is dropped (rewrite_query). */
        bool has_query = r->route->rewrite
                         && memchr(r->upstream_path.p, '?', r->upstream_path.len);
        if (h->query.p && !(has_query && r->route->rewrite_query == PT_REWRITE_QUERY_REPLACE)
            && !(has_query && h->query.len == 0)) {
            PT_PUTC(has_query ? '&' : '?');
            PT_PUTS(h->query);
        }
    }
    PT_PUT(" " PT_PROXY_HEAD_VERSION "\r\nHost: ");
    if (host.len)
        PT_PUTS(host);
    else
        n += pt_str_put(out + n, p->server->name, strlen(p->server->name));
    PT_PUT("\r\n");

    _Static_assert(PT_HDR__COUNT <= 32, "field ids fit a 32-bit mask");
    uint32_t seen = 0;              /* well-known ids present: join only those */
    for (unsigned i = 0; i < h->nfields; i++) {
        const pt_http_field_t *f = &h->fields[i];
        seen |= UINT32_C(1) << f->id;
        if (f->flags & PT_PROXY_DROP)
            continue;
        switch (f->id) {
        case PT_HDR_HOST: case PT_HDR_CONNECTION: case PT_HDR_KEEP_ALIVE:
        case PT_HDR_PROXY_CONNECTION: case PT_HDR_TE: case PT_HDR_TRANSFER_ENCODING:
        case PT_HDR_UPGRADE: case PT_HDR_PROXY_AUTHORIZATION: case PT_HDR_CONTENT_LENGTH:
        case PT_HDR_X_REQUEST_ID:
            continue;
        case PT_HDR_VIA:
            /* End to end: rewritten below with ours appended, else kept. */
            if (rc->via)
                continue;
            break;
        case PT_HDR_X_FORWARDED_FOR: case PT_HDR_X_FORWARDED_PROTO:
        case PT_HDR_X_FORWARDED_HOST:
            if (rc->xff)
                continue;
            break;
        case PT_HDR_FORWARDED:
            if (rc->forwarded)
                continue;
            break;
        case PT_HDR_EXPECT:
            /* RFC 9110 10.1.1: ignored in HTTP/1.0, so not passed on; a
             * buffered body comes with the head, there is nothing to wait
             * for (we said 100 ourselves). */
            if (h->version_minor == 0 || p->store)
                continue;
            break;
        case PT_HDR_OTHER:
            if (p->max_forwards != -1 && pt_str_caseeq_lit(f->name, "max-forwards"))
                continue;       /* sent below, one less (or dropped when invalid) */
            if (pt_proxy_head_h2_settings(f->name))
                continue;
            if (rc->xff && pt_proxy_head_xff_alias(f->name))
                continue;
            break;
        }
        PT_PUTS(f->name);
        PT_PUT(": ");
        PT_PUTS(f->value);
        PT_PUT("\r\n");
    }

    if (h->chunked || (r->body_kind != PT_BODY_NONE && pt_proxy_head_reframe(r))) {
        /* A request body filter may change the length: sent in chunks. */
        PT_PUT("Transfer-Encoding: chunked\r\n");
    } else if (h->content_length >= 0) {
        PT_PUT("Content-Length: ");
        n += pt_str_from_u64(out + n, (uint64_t) h->content_length);
        PT_PUT("\r\n");
    }
    if (rc->xff) {
        PT_PUT("X-Forwarded-For: ");
        size_t prior = seen >> PT_HDR_X_FORWARDED_FOR & 1
                       ? pt_proxy_head_join(out + n, h, PT_HDR_X_FORWARDED_FOR) : 0;
        n += prior;
        if (prior)
            PT_PUT(", ");
        n += pt_str_put(out + n, ip, iplen);
        PT_PUT("\r\nX-Forwarded-Proto: ");
        if (r->listener->tls)
            PT_PUT("https");
        else
            PT_PUT("http");
        PT_PUT("\r\n");
        if (h->host.len || h->authority.len) {
            PT_PUT("X-Forwarded-Host: ");
            PT_PUTS(h->authority.len ? h->authority : h->host);
            PT_PUT("\r\n");
        }
    }
    if (rc->forwarded) {
        /* RFC 7239: IPv6 nodes are quoted and bracketed. */
        bool v6 = strchr(ip, ':') != NULL;
        PT_PUT("Forwarded: ");
        bool keep = seen >> PT_HDR_FORWARDED & 1;
        for (unsigned i = 0; keep && i < h->nfields; i++)
            if (h->fields[i].id == PT_HDR_FORWARDED)
                keep = pt_proxy_head_forwarded_valid(h->fields[i].value);
        size_t prior = keep ? pt_proxy_head_join(out + n, h, PT_HDR_FORWARDED) : 0;
        n += prior;
        if (prior)
            PT_PUT(", ");
        PT_PUT("for=");
        if (v6)
            PT_PUT("\"[");
        n += pt_str_put(out + n, ip, iplen);
        if (v6)
            PT_PUT("]\"");
        if (r->listener->tls)
            PT_PUT(";proto=https");
        else
            PT_PUT(";proto=http");
        if (h->host.len) {
            PT_PUT(";host=\"");
            PT_PUTS(h->host);
            PT_PUTC('"');
        }
        PT_PUT("\r\n");
    }
    if (rc->via) {
        PT_PUT("Via: ");
        size_t prior = seen >> PT_HDR_VIA & 1 ? pt_proxy_head_join(out + n, h, PT_HDR_VIA) : 0;
        n += prior;
        if (prior)
            PT_PUT(", ");
        if (h->version_minor == 0)
            PT_PUT("1.0 portico\r\n");
        else
            PT_PUT("1.1 portico\r\n");
    }
    if (r->id.len && (rc->request_id || r->id.p != r->id_buf)) {
        PT_PUT("X-Request-ID: ");
        PT_PUTS(r->id);
        PT_PUT("\r\n");
    }
    if (p->max_forwards > 0)
        n += (size_t) sprintf(out + n, "Max-Forwards: %" PRId64 "\r\n", p->max_forwards - 1);
    if (p->upgrade) {
        PT_PUT("Connection: upgrade\r\nUpgrade: ");
        PT_PUTS(p->upgrade_offer);
        PT_PUT("\r\n");
    }
    PT_PUT("\r\n");
    PT_ASSERT(n <= cap);
    return (pt_str_t) { out, n };
}

/* Max-Forwards: 0 TRACE: the request as message/http without the fields
 * that carry credentials (RFC 9110 9.3.8), in the request arena. */
pt_str_t pt_proxy_head_trace(pt_request_t *r)
{
    const pt_http_head_t *h = &r->head;
    size_t cap = h->method.len + h->target.len + 16;
    for (unsigned i = 0; i < h->nfields; i++)
        cap += h->fields[i].name.len + h->fields[i].value.len + 4;
    char *out = pt_arena_alloc(r->arena, cap);
    size_t n = 0;
    if (out == NULL)
        return PT_STR_NULL;
    PT_PUTS(h->method);
    PT_PUTC(' ');
    PT_PUTS(h->target);
    if (h->version_minor)
        PT_PUT(" " PT_PROXY_HEAD_VERSION "\r\n");
    else
        PT_PUT(" HTTP/1.0\r\n");
    for (unsigned i = 0; i < h->nfields; i++) {
        const pt_http_field_t *f = &h->fields[i];
        if (f->id == PT_HDR_AUTHORIZATION || f->id == PT_HDR_PROXY_AUTHORIZATION
            || f->id == PT_HDR_COOKIE)
            continue;
        PT_PUTS(f->name);
        PT_PUT(": ");
        PT_PUTS(f->value);
        PT_PUT("\r\n");
    }
    PT_PUT("\r\n");
    PT_ASSERT(n <= cap);
    return (pt_str_t) { out, n };
}

/* ---- trailers -------------------------------------------------------------- */

/* Whether a trailer field may not go on: the fields that frame, route or
 * are hop-by-hop, those portico sets or removes itself, those the head's
 * Connection named (names, n of them) and those named like a field of the
 * head that portico did not pass on as the sender wrote it (hidden: named
 * in Connection, hidden by a module, or a module's own, like the client
 * certificate fields; hidden response fields alike). RFC 9110 6.5.2: a
 * trailer is merged into the header section only when the field's
 * definition allows it; ours is to treat one like the header field. */
static bool pt_proxy_head_trailer_refused(const pt_http_head_t *h, pt_str_t name,
                                          const pt_str_t *names, size_t n)
{
    switch (pt_http_hdr_id(name.p, name.len)) {
    case PT_HDR_OTHER:
        break;
    case PT_HDR_USER_AGENT: case PT_HDR_REFERER: case PT_HDR_CONTENT_TYPE: case PT_HDR_DATE:
    case PT_HDR_SERVER: case PT_HDR_AUTHORIZATION: case PT_HDR_COOKIE:
    case PT_HDR_ACCEPT_ENCODING: case PT_HDR_CONTENT_ENCODING: case PT_HDR_LOCATION:
        break;
    default:
        /* Host, framing, hop-by-hop, Trailer, Expect, the proxy
         * authentication fields, X-Forwarded-*, Forwarded, Via and
         * X-Request-ID. */
        return true;
    }
    if (pt_proxy_head_h2_settings(name)
        || (name.len == 25 && pt_str_caseeq_lit(name, "strict-transport-security")))
        return true;
    if (n && bsearch(&name, names, n, sizeof(*names), pt_proxy_head_token_cmp))
        return true;
    for (unsigned i = 0; i < h->nfields; i++)
        if ((h->fields[i].flags & PT_PROXY_DROP) && pt_str_field_alike(h->fields[i].name, name))
            return true;
    return false;
}

pt_str_t pt_proxy_head_trailers(pt_request_t *r, const pt_http_head_t *h, pt_str_t raw)
{
    const char *p = raw.p, *end = raw.p + raw.len;
    char *out = pt_arena_alloc(r->arena, raw.len + 2);
    pt_str_t *names;
    size_t n = 0, nnames;

    if (out == NULL || pt_proxy_head_connection_names(r->arena, h, &names, &nnames) != PT_OK)
        return PT_STR_NULL;
    /* The decoder checked the section: field lines "name:value" CRLF, then
     * CRLF. Each line is kept whole or left out. */
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t) (end - p));
        const char *colon = memchr(p, ':', (size_t) (end - p));
        size_t len = eol ? (size_t) (eol + 1 - p) : (size_t) (end - p);
        if (colon == NULL || eol == NULL || colon > eol)
            break;              /* the final CRLF */
        pt_str_t name = { p, (size_t) (colon - p) };
        if (!pt_proxy_head_trailer_refused(h, name, names, nnames)) {
            memcpy(out + n, p, len);
            n += len;
        }
        p += len;
    }
    PT_PUT("\r\n");
    PT_ASSERT(n <= raw.len + 2);
    return (pt_str_t) { out, n };
}

int pt_proxy_head_split_trailers(pt_request_t *r, const pt_http_head_t *h,
                                 const pt_chunked_t *ck, pt_proxy_trailers_t *t,
                                 const char *in, size_t used, size_t *keep, pt_str_t *tail)
{
    size_t cap = (ck->max_trailer ? ck->max_trailer : PT_CHUNKED_DEFAULT_MAX_TRAILER) + 8;

    *keep = used;
    *tail = PT_STR_NULL;
    if (!pt_chunked_in_trailer(ck))
        return PT_OK;
    /* Crossed the last-chunk line in this step, or was past it before. */
    size_t from = ck->trailer_off != SIZE_MAX ? ck->trailer_off : 0;
    if (from > used)
        from = used;
    *keep = from;
    if (t->p == NULL && (t->p = pt_arena_alloc(r->arena, cap)) == NULL)
        return PT_ERROR;
    if (t->len + (used - from) > cap)
        return PT_ERROR;        /* the decoder caps the section well below */
    memcpy(t->p + t->len, in + from, used - from);
    t->len += used - from;
    if (pt_chunked_done(ck)) {
        *tail = pt_proxy_head_trailers(r, h, (pt_str_t) { t->p, t->len });
        if (tail->p == NULL)
            return PT_ERROR;
    }
    return PT_OK;
}

/* ---- the response head for the client ------------------------------------ */

/* RFC 9110 8.6, RFC 9112 6.1: 1xx and 204 responses carry neither
 * Content-Length nor Transfer-Encoding, whatever the upstream wrote. */
static bool pt_proxy_head_no_framing(unsigned status)
{
    return status < 200 || status == 204;
}

static const pt_str_t pt_proxy_head_date = PT_STR("Date");
static const pt_str_t pt_proxy_head_via = PT_STR("Via");
static const pt_str_t pt_proxy_head_id = PT_STR("X-Request-ID");
static const pt_str_t pt_proxy_head_connection = PT_STR("Connection");

int pt_proxy_head_response(pt_proxy_t *p, pt_response_t *resp, bool chunked, bool upgrade)
{
    pt_request_t *r = p->r;
    pt_http_head_t *h = &p->resp;
    const pt_proxy_conf_t *rc = p->conf;
    /* An interim answer is relayed as the upstream wrote it: the gateway's
     * own fields belong to the final response. */
    bool interim = h->status < 200 && !upgrade;
    bool has_date = interim, has_id = interim, has_length = false;

    if ((h->conn & PT_HTTP_CONN_OTHER) && pt_proxy_head_drop_connection(r->arena, h) != PT_OK)
        return PT_ERROR;
    *resp = (pt_response_t) { .status = h->status, .reason = h->reason, .fields = h->fields,
                              .nfields = h->nfields, .cap = p->resp_fields_cap,
                              .content_length = -1,
                              /* A field line serialized is at most one byte
                               * longer than as received ("a:b"); a length
                               * is written in no more digits than it came. */
                              .bound = h->head_len + h->nfields + 24 };
    bool upgrade_426 = false;
    for (unsigned i = 0; i < h->nfields; i++) {
        pt_http_field_t *f = &h->fields[i];
        bool drop = false;
        if (f->id == PT_HDR_UPGRADE && h->status == 426 && !upgrade) {
            /* RFC 9110 15.5.22: a 426 MUST carry Upgrade, and the
             * "Connection: upgrade" that flagged it is for us to
             * write again (below), not a reason to take it away. */
            f->flags &= ~PT_PROXY_DROP;
            upgrade_426 = true;
        }
        if (f->flags & PT_PROXY_DROP)
            continue;
        switch (f->id) {
        case PT_HDR_CONNECTION: case PT_HDR_KEEP_ALIVE: case PT_HDR_PROXY_CONNECTION:
        case PT_HDR_TE: case PT_HDR_PROXY_AUTHENTICATE:
            drop = true;
            break;
        case PT_HDR_VIA:
            drop = rc->via;     /* joined with ours below */
            break;
        case PT_HDR_UPGRADE:
            /* RFC 9110 15.5.22: a 426 names the protocols it wants. */
            drop = !upgrade && h->status != 426;
            break;
        case PT_HDR_TRANSFER_ENCODING:
            /* Kept for HEAD and 304 answers that describe a GET's framing;
             * otherwise written by the serializer from what we send. */
            drop = p->body != PT_HTTP_BODY_NONE || r->head.version_minor == 0
                   || pt_proxy_head_no_framing(h->status);
            break;
        case PT_HDR_CONTENT_LENGTH:
            /* Both present: Transfer-Encoding wins. RFC 9110 8.6: one
             * value, as parsed ("2, 2", repeated fields and leading zeros
             * become "2"), which the serializer writes at the first. */
            drop = h->chunked || pt_proxy_head_no_framing(h->status) || has_length
                   || h->content_length < 0;
            if (!drop) {
                has_length = true;
                resp->content_length = h->content_length;
            }
            break;
        case PT_HDR_DATE:
            has_date = true;
            break;
        case PT_HDR_X_REQUEST_ID:
            has_id = true;
            break;
        case PT_HDR_OTHER:
            /* RFC 6797 7.2: no HSTS over a connection that is not secure. */
            drop = (f->name.len == 25 && r->conn->io.ssl == NULL
                    && pt_str_caseeq_lit(f->name, "strict-transport-security"))
                   || pt_proxy_head_h2_settings(f->name);
            break;
        }
        if (drop)
            f->flags |= PT_FIELD_HIDDEN;
    }
    /* RFC 9110 6.6.1: a recipient with a clock adds a missing Date. */
    pt_http_field_t add = { pt_proxy_head_date, PT_STR_NULL, PT_HDR_DATE, 0 };
    if (!has_date) {
        add.value = pt_clock_http_date();
        if (pt_response_append(r, resp, &add) != PT_OK)
            return PT_ERROR;
    }
    if (upgrade_426) {
        add = (pt_http_field_t) { pt_proxy_head_connection, PT_STR("upgrade"),
                                  PT_HDR_CONNECTION, 0 };
        if (pt_response_append(r, resp, &add) != PT_OK)
            return PT_ERROR;
    }
    if (rc->via) {
        add = (pt_http_field_t) { pt_proxy_head_via, h->version_minor == 0
                                  ? PT_STR("1.0 portico") : PT_STR("1.1 portico"),
                                  PT_HDR_VIA, PT_FIELD_JOIN };
        if (pt_response_append(r, resp, &add) != PT_OK)
            return PT_ERROR;
    }
    if (!has_id && r->id.len) {
        add = (pt_http_field_t) { pt_proxy_head_id, r->id, PT_HDR_X_REQUEST_ID, 0 };
        if (pt_response_append(r, resp, &add) != PT_OK)
            return PT_ERROR;
    }
    if (chunked)
        resp->flags |= PT_RESP_CHUNKED;
    if (upgrade)
        resp->flags |= PT_RESP_UPGRADE;
    else if (!interim && !r->keepalive)
        resp->flags |= PT_RESP_CLOSE;
    else if (!interim && r->head.version_minor == 0)
        resp->flags |= PT_RESP_KEEPALIVE;
    return PT_OK;
}
