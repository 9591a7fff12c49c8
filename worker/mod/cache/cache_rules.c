/*
 * cache_rules.c: whether a response may be stored (RFC 9111 §3) and the
 * object it becomes (see cache_rules.h).
 */
#include "common/pt.h"
#include "common/str.h"

#include <time.h>
#include "worker/mod/cache/cache_rules.h"

const pt_http_field_t *pt_cache_field(const pt_http_field_t *fields, unsigned n, pt_str_t name)
{
    for (unsigned i = 0; i < n; i++)
        if (!(fields[i].flags & 0x01) && pt_str_caseeq(fields[i].name, name))
            return &fields[i];
    return NULL;
}

void pt_cache_cc_fields(pt_cache_cc_t *cc, const pt_http_field_t *fields, unsigned n)
{
    pt_cache_cc_init(cc);
    for (unsigned i = 0; i < n; i++)
        if (!(fields[i].flags & 0x01) && pt_str_caseeq_lit(fields[i].name, "cache-control"))
            pt_cache_cc_parse(cc, fields[i].value);
}

/* Fields a cache never stores: hop-by-hop ones (RFC 9110 §7.6.1), the
 * framing (recomputed when served), Age (recomputed, §4.2.3) and the
 * request id of the request that filled it. */
static bool pt_cache_field_unstored(pt_str_t name)
{
    static const char *const names[] = {
        "connection", "keep-alive", "proxy-connection", "te", "transfer-encoding", "upgrade",
        "trailer", "proxy-authenticate", "proxy-authentication-info", "content-length", "age",
        "x-request-id", NULL
    };

    for (unsigned i = 0; names[i]; i++)
        if (pt_str_caseeq_lit(name, names[i]))
            return true;
    return false;
}

/* RFC 9110 §7.6.1: whether a Connection field among fields names name
 * (a hop-by-hop field of that message). */
static bool pt_cache_connection_names(const pt_http_field_t *fields, unsigned nf, pt_str_t name)
{
    for (unsigned i = 0; i < nf; i++)
        if (!(fields[i].flags & 0x01) && pt_str_caseeq_lit(fields[i].name, "connection")
            && pt_cache_list_has(fields[i].value, name))
            return true;
    return false;
}

pt_str_t pt_cache_fields_pack(pt_arena_t *arena, const pt_http_field_t *fields, unsigned nf,
                              pt_str_t skip, bool forwarding, unsigned *np)
{
    size_t size = 0;
    unsigned n = 0;
    bool conn = pt_cache_field(fields, nf, PT_STR("connection")) != NULL;

    for (int pass = 0; pass < 2; pass++) {
        char *out = NULL;
        if (pass == 1 && (out = pt_arena_alloc(arena, size ? size : 1)) == NULL)
            return PT_STR_NULL;
        size_t at = 0;
        n = 0;
        for (unsigned i = 0; i < nf; i++) {
            const pt_http_field_t *f = &fields[i];
            if ((f->flags & 0x01) || f->name.len > UINT16_MAX || f->value.len > UINT32_MAX
                || (pt_cache_field_unstored(f->name)
                    && !(forwarding && pt_str_caseeq_lit(f->name, "age")))
                || (!forwarding && pt_str_caseeq_lit(f->name, "set-cookie"))
                || (skip.len && pt_cache_list_has(skip, f->name))
                || (conn && pt_cache_connection_names(fields, nf, f->name)))
                continue;
            if (pass == 1) {
                pt_cache_field_hdr_t h = { (uint16_t) f->name.len,
                                           (uint8_t) pt_http_hdr_id(f->name.p, f->name.len), 0,
                                           (uint32_t) f->value.len };
                memcpy(out + at, &h, sizeof(h));
                memcpy(out + at + sizeof(h), f->name.p, f->name.len);
                memcpy(out + at + sizeof(h) + f->name.len, f->value.p, f->value.len);
            }
            at += sizeof(pt_cache_field_hdr_t) + f->name.len + f->value.len;
            n++;
        }
        if (pass == 0)
            size = at;
        else {
            *np = n;
            return (pt_str_t) { out, at };
        }
    }
    return PT_STR_NULL;
}

unsigned pt_cache_fields_unpack(pt_str_t blob, pt_http_field_t *fields, unsigned max)
{
    size_t at = 0;
    unsigned n = 0;

    while (n < max && at + sizeof(pt_cache_field_hdr_t) <= blob.len) {
        pt_cache_field_hdr_t h;
        memcpy(&h, blob.p + at, sizeof(h));
        at += sizeof(h);
        if (at + h.name_len + h.value_len > blob.len)
            break;
        pt_str_t name = { blob.p + at, h.name_len };
        fields[n++] = (pt_http_field_t) { name, { blob.p + at + h.name_len, h.value_len },
                                          h.id, 0 };
        at += h.name_len + h.value_len;
    }
    return n;
}

/* Append v with whitespace normalised: runs of SP/HTAB are one SP, none
 * next to a comma or at either end. */
static size_t pt_cache_norm(char *out, pt_str_t v)
{
    size_t n = 0;
    bool space = false;

    for (size_t i = 0; i < v.len; i++) {
        char c = v.p[i];
        if (c == ' ' || c == '\t') {
            space = true;
            continue;
        }
        if (space && n && c != ',' && out[n - 1] != ',')
            out[n++] = ' ';
        space = false;
        out[n++] = c;
    }
    return n;
}

pt_str_t pt_cache_vary_key(pt_arena_t *arena, pt_str_t names, const pt_http_field_t *req,
                           unsigned nreq)
{
    size_t size = 0;
    pt_str_t list = names, name;

    if (names.len == 0)
        return (pt_str_t) { "", 0 };
    while (pt_str_next_token(&list, &name)) {
        size += 2;
        for (unsigned i = 0; i < nreq; i++)
            if (pt_str_caseeq(req[i].name, name))
                size += req[i].value.len + 1;
    }
    char *out = pt_arena_alloc(arena, size + 1);
    if (out == NULL)
        return PT_STR_NULL;
    size_t n = 0;
    list = names;
    while (pt_str_next_token(&list, &name)) {
        bool any = false;
        for (unsigned i = 0; i < nreq; i++) {
            if (!pt_str_caseeq(req[i].name, name))
                continue;
            if (any)
                out[n++] = ',';
            n += pt_cache_norm(out + n, req[i].value);
            any = true;
        }
        if (!any)
            out[n++] = '\x01';      /* absent differs from empty */
        out[n++] = '\n';
    }
    return (pt_str_t) { out, n };
}

/* The Vary names of fields, lowercased and comma-joined; "*" if any says so. */
static pt_str_t pt_cache_vary_names(pt_arena_t *arena, const pt_http_field_t *fields,
                                    unsigned nf)
{
    size_t size = 0;

    for (unsigned i = 0; i < nf; i++)
        if (!(fields[i].flags & 0x01) && pt_str_caseeq_lit(fields[i].name, "vary"))
            size += fields[i].value.len + 1;
    if (size == 0)
        return (pt_str_t) { "", 0 };
    char *out = pt_arena_alloc(arena, size);
    if (out == NULL)
        return PT_STR_NULL;
    size_t n = 0;
    for (unsigned i = 0; i < nf; i++) {
        if ((fields[i].flags & 0x01) || !pt_str_caseeq_lit(fields[i].name, "vary"))
            continue;
        pt_str_t list = fields[i].value, tok;
        while (pt_str_next_token(&list, &tok)) {
            if (tok.len == 1 && tok.p[0] == '*')
                return PT_STR("*");
            if (n)
                out[n++] = ',';
            for (size_t j = 0; j < tok.len; j++)
                out[n++] = (char) pt_str_lower((unsigned char) tok.p[j]);
        }
    }
    return (pt_str_t) { out, n };
}

/* RFC 9110 §15: the statuses this cache understands (for must-understand). */
static bool pt_cache_status_understood(unsigned s)
{
    return (s >= 200 && s <= 208) || s == 226 || (s >= 300 && s <= 308 && s != 306)
           || (s >= 400 && s <= 418 && s != 418) || (s >= 421 && s <= 426) || s == 428
           || s == 429 || s == 431 || s == 451 || (s >= 500 && s <= 511 && s != 509);
}

static int64_t pt_cache_valid_ttl(const pt_cache_policy_t *pol, unsigned status)
{
    int64_t any = -1;

    for (size_t i = 0; i < pol->nvalid; i++) {
        if (pol->valid[i].status == status)
            return pol->valid[i].ttl;
        if (pol->valid[i].status == 0 && any < 0)
            any = pol->valid[i].ttl;
    }
    return any;
}

const char *pt_cache_storable(const pt_cache_policy_t *pol, const pt_cache_resp_t *in,
                              pt_arena_t *arena, pt_cache_obj_t *hdr,
                              pt_str_t parts[PT_CACHE_NPARTS])
{
    pt_cache_cc_t cc;
    unsigned status = in->status;

    if (status < 200 || status == 206 || status == 304 || status > 599)
        return "status";
    if (in->request_no_store)
        return "request no-store";
    pt_cache_cc_fields(&cc, in->fields, in->nfields);
    bool understood = pt_cache_status_understood(status);
    if ((cc.flags & PT_CC_MUST_UNDERSTAND) && !understood)
        return "must-understand";
    if ((cc.flags & PT_CC_NO_STORE) && !((cc.flags & PT_CC_MUST_UNDERSTAND) && understood))
        return "no-store";
    if (cc.flags & PT_CC_PRIVATE)
        return "private";
    if (in->request_authorized
        && !(cc.flags & (PT_CC_PUBLIC | PT_CC_MUST_REVALIDATE)) && cc.s_maxage < 0)
        return "authorization";
    if (!pol->set_cookie && pt_cache_field(in->fields, in->nfields, PT_STR("set-cookie")))
        return "set-cookie";
    pt_str_t vary = pt_cache_vary_names(arena, in->fields, in->nfields);
    if (vary.p == NULL)
        return "out of memory";
    if (vary.len == 1 && vary.p[0] == '*')
        return "vary *";

    const pt_http_field_t *f;
    int64_t date = (f = pt_cache_field(in->fields, in->nfields, PT_STR("date")))
                   ? pt_cache_parse_date(f->value) : -1;
    int64_t age = -1;
    if ((f = pt_cache_field(in->fields, in->nfields, PT_STR("age")))) {
        /* a list ("Age: 10, 20") counts by its first member */
        pt_str_t list = f->value, first;
        if (pt_str_next_token(&list, &first))
            age = pt_cache_parse_delta(first);
    }
    int64_t expires = (f = pt_cache_field(in->fields, in->nfields, PT_STR("expires")))
                      ? pt_cache_parse_date(f->value) : -2;
    int64_t lm = (f = pt_cache_field(in->fields, in->nfields, PT_STR("last-modified")))
                 ? pt_cache_parse_date(f->value) : -1;
    bool validator = lm >= 0 || pt_cache_field(in->fields, in->nfields, PT_STR("etag"));
    int64_t request_time = in->request_ms / 1000, response_time = in->response_ms / 1000;

    int64_t lifetime = pt_cache_explicit_lifetime(&cc, date, expires, response_time);
    if (lifetime >= 0 && pol->valid_override) {
        /* the operator's TTL for the status wins over the upstream's */
        int64_t ttl = pt_cache_valid_ttl(pol, status);
        if (ttl >= 0)
            lifetime = ttl;
    }
    if (lifetime < 0) {
        bool by_default = pt_cache_status_heuristic(status) || (cc.flags & PT_CC_PUBLIC);
        int64_t ttl = pt_cache_valid_ttl(pol, status);
        if (ttl >= 0)
            lifetime = ttl;
        else if (!by_default)
            return "no explicit freshness";
        else if (pol->heuristic)
            lifetime = pt_cache_heuristic_lifetime(date >= 0 ? date : response_time, lm,
                                                   pol->heuristic_max);
        else
            lifetime = 0;
    }
    bool no_cache = (cc.flags & PT_CC_NO_CACHE) != 0;
    if ((lifetime == 0 || no_cache) && !validator)
        return "stale on arrival, no validator";

    int64_t initial_age = pt_cache_initial_age(request_time, response_time, date, age);
    if (initial_age >= lifetime && !validator && cc.stale_while_revalidate < 0
        && cc.stale_if_error < 0)
        return "stale on arrival, no validator";

    memset(hdr, 0, sizeof(*hdr));
    hdr->kind = PT_CACHE_OBJ_FULL;
    hdr->status = (uint16_t) status;
    hdr->fresh = (pt_cache_fresh_t) {
        .corrected_initial_age = initial_age,
        .response_time = response_time,
        .lifetime = lifetime,
        .swr = cc.stale_while_revalidate,
        .sie = cc.stale_if_error,
        .no_cache = no_cache,
        .must_revalidate = (cc.flags & (PT_CC_MUST_REVALIDATE | PT_CC_PROXY_REVALIDATE))
                           || cc.s_maxage >= 0,
    };
    unsigned n = 0;
    parts[PT_CACHE_FIELDS] = pt_cache_fields_pack(arena, in->fields, in->nfields,
                                                  cc.private_fields, false, &n);
    if (parts[PT_CACHE_FIELDS].p == NULL)
        return "out of memory";
    if (date < 0 && pt_cache_field(in->fields, in->nfields, PT_STR("date")) == NULL) {
        /* RFC 9110 §6.6.1: a response without Date gets the time it was
         * received, so hits say when it was made, not when served */
        char *blob = pt_arena_alloc(arena, parts[PT_CACHE_FIELDS].len + 64);
        if (blob == NULL)
            return "out of memory";
        memcpy(blob, parts[PT_CACHE_FIELDS].p, parts[PT_CACHE_FIELDS].len);
        char d[40];
        time_t t = (time_t) response_time;
        struct tm tm;
        size_t dl = gmtime_r(&t, &tm) ? strftime(d, sizeof(d), "%a, %d %b %Y %H:%M:%S GMT", &tm)
                                      : 0;
        pt_cache_field_hdr_t fh = { 4, PT_HDR_DATE, 0, (uint32_t) dl };
        size_t at = parts[PT_CACHE_FIELDS].len;
        memcpy(blob + at, &fh, sizeof(fh));
        memcpy(blob + at + sizeof(fh), "Date", 4);
        memcpy(blob + at + sizeof(fh) + 4, d, dl);
        parts[PT_CACHE_FIELDS] = (pt_str_t) { blob, at + sizeof(fh) + 4 + dl };
        n++;
    }
    hdr->nfields = n;
    parts[PT_CACHE_VARY_NAMES] = vary;
    parts[PT_CACHE_VARY_KEY] = pt_cache_vary_key(arena, vary, in->req_fields, in->req_nfields);
    if (parts[PT_CACHE_VARY_KEY].p == NULL)
        return "out of memory";
    parts[PT_CACHE_NOCACHE_FIELDS] = cc.no_cache_fields;
    return NULL;
}
