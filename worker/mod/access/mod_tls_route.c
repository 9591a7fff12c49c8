/*
 * mod_tls_route.c: what a route does about TLS (access phase):
 *
 *   https_redirect = true;         plain HTTP gets a 308 to the https:// URL
 *   https_port = 8443;             port of that URL (443: none written)
 *   hsts = "max-age=63072000";     Strict-Transport-Security on TLS responses
 *   require_client_cert = true;    403 without a verified client certificate
 *   client_cert_headers = true;    X-Client-Cert-Subject and
 *                                  X-Client-Cert-Fingerprint to the upstream,
 *                                  client-sent copies dropped
 *
 * It also owns the per-worker TLS state (tls.c) through its worker hooks.
 */
#include "common/pt.h"
#include "common/conf.h"
#include "common/str.h"
#include "worker/http/http_error.h"
#include "worker/core/filter.h"
#include "worker/core/module.h"
#include "worker/http/request.h"
#include "worker/tls/tls.h"

typedef struct {
    int https_redirect;
    int64_t https_port;
    const char *hsts;
    int require_client_cert;
    int client_cert_headers;
    /* compiled by init_route */
    pt_str_t hsts_value;        /* set on TLS responses by a header filter */
    bool active;                /* any of the above is on */
} pt_tls_route_conf_t;

#define PT_TLS_ROUTE_FIELD(f)   offsetof(pt_tls_route_conf_t, f)

/* RFC 6797 6.1: directives separated by ";", names compared without case
 * and none twice, max-age required with a number (maybe quoted). Returns
 * what is wrong, or NULL. */
static const char *pt_tls_route_hsts_check(const char *v)
{
    pt_str_t names[16];
    size_t nnames = 0;
    bool max_age = false;

    for (const char *p = v; *p; ) {
        const char *end = strchr(p, ';');
        pt_str_t d = pt_str_trim_ows((pt_str_t) { p, end ? (size_t) (end - p) : strlen(p) });
        p = end ? end + 1 : p + strlen(p);
        if (d.len == 0)
            continue;
        const char *eq = memchr(d.p, '=', d.len);
        pt_str_t name = pt_str_trim_ows((pt_str_t) { d.p, eq ? (size_t) (eq - d.p) : d.len });
        pt_str_t val = eq ? pt_str_trim_ows((pt_str_t) { eq + 1, d.len - (size_t) (eq + 1 - d.p) })
                          : PT_STR_NULL;
        for (size_t i = 0; i < nnames; i++)
            if (pt_str_caseeq(names[i], name))
                return "has a directive more than once";
        if (nnames == pt_countof(names))
            return "has too many directives";
        names[nnames++] = name;
        if (pt_str_caseeq_lit(name, "max-age")) {
            if (val.len >= 2 && val.p[0] == '"' && val.p[val.len - 1] == '"')
                val = (pt_str_t) { val.p + 1, val.len - 2 };
            uint64_t secs;
            if (pt_str_parse_uint(val.p, val.len, &secs) != PT_OK)
                return "needs max-age=SECONDS, a number";
            max_age = true;
        }
    }
    return max_age ? NULL : "needs max-age=SECONDS";
}

static int pt_tls_route_init_route(pt_conf_ctx_t *cf, pt_conf_t *conf, pt_route_t *route,
                                   void *rconf, const void *dconf);
static int pt_tls_route_init_worker(const pt_conf_t *conf);
static int pt_tls_route_access(pt_request_t *r);
static int pt_tls_route_hsts(pt_request_t *r, pt_response_t *resp);

static const pt_conf_bounds_t pt_tls_route_port_bounds = { 1, 65535 };

static const pt_directive_t pt_tls_route_directives[] = {
    { "https_redirect", PT_CONF_BOOL, PT_SCOPE_ROUTE, PT_TLS_ROUTE_FIELD(https_redirect),
      "false", NULL, NULL, NULL, "answer plain HTTP with a 308 to https://" },
    { "https_port", PT_CONF_UINT, PT_SCOPE_ROUTE, PT_TLS_ROUTE_FIELD(https_port), "443",
      &pt_tls_route_port_bounds, NULL, NULL, "port of the https:// redirect target" },
    { "hsts", PT_CONF_STRING, PT_SCOPE_ROUTE, PT_TLS_ROUTE_FIELD(hsts), NULL, NULL, NULL,
      NULL, "Strict-Transport-Security value sent over TLS" },
    { "require_client_cert", PT_CONF_BOOL, PT_SCOPE_ROUTE,
      PT_TLS_ROUTE_FIELD(require_client_cert), "false", NULL, NULL, NULL,
      "403 unless the client presented a verified certificate" },
    { "client_cert_headers", PT_CONF_BOOL, PT_SCOPE_ROUTE,
      PT_TLS_ROUTE_FIELD(client_cert_headers), "false", NULL, NULL, NULL,
      "pass the client certificate's subject and fingerprint upstream" },
    PT_DIRECTIVE_END
};

pt_module_t pt_tls_route_module = {
    .name = "tls_route",
    .directives = pt_tls_route_directives,
    .route_conf_size = sizeof(pt_tls_route_conf_t),
    .init_route = pt_tls_route_init_route,
    .init_worker = pt_tls_route_init_worker,
    .phase = { [PT_PHASE_ACCESS] = pt_tls_route_access },
};

static const pt_str_t pt_tls_route_subject = { "X-Client-Cert-Subject", 21 };
static const pt_str_t pt_tls_route_fingerprint = { "X-Client-Cert-Fingerprint", 25 };

static int pt_tls_route_init_route(pt_conf_ctx_t *cf, pt_conf_t *conf, pt_route_t *route,
                                   void *rconf, const void *dconf)
{
    pt_tls_route_conf_t *tc = rconf;

    pt_conf_merge(pt_tls_route_directives, PT_SCOPE_ROUTE, tc, dconf);
    if (tc->hsts && tc->hsts[0] == '\0')
        tc->hsts = NULL;            /* hsts = "" in a route turns off the defaults' */
    if (tc->hsts) {
        for (const char *p = tc->hsts; *p; p++) {
            if ((unsigned char) *p < 0x20 || *p == 0x7f) {
                pt_conf_error(cf, NULL, "route \"%s\" (line %u): \"hsts\" has a control "
                              "character", route->name, route->line);
                return PT_ERROR;
            }
        }
        const char *why = pt_tls_route_hsts_check(tc->hsts);
        if (why) {
            pt_conf_error(cf, NULL, "route \"%s\" (line %u): \"hsts\" %s", route->name,
                          route->line, why);
            return PT_ERROR;
        }
        tc->hsts_value = (pt_str_t) { tc->hsts, strlen(tc->hsts) };
        if (pt_filter_add_header(cf, route, &pt_tls_route_module, pt_tls_route_hsts) != PT_OK)
            return PT_ERROR;
    }
    tc->active = tc->https_redirect == 1 || tc->hsts != NULL || tc->require_client_cert == 1
                 || tc->client_cert_headers == 1;
    if (tc->https_redirect != 1 && tc->require_client_cert != 1 && tc->client_cert_headers != 1)
        pt_module_phase_skip(route, &pt_tls_route_module);
    return PT_OK;
}

static int pt_tls_route_init_worker(const pt_conf_t *conf)
{
    return pt_tls_init_worker(conf);
}

static const pt_str_t pt_tls_route_sts = { "Strict-Transport-Security", 25 };

/* Header filter, on routes with hsts only: over TLS, the route's
 * Strict-Transport-Security replaces any the upstream sent, so there is
 * one. The access phase has run (a response made before it, say a 404
 * with no route, never reaches a route's filters). */
static int pt_tls_route_hsts(pt_request_t *r, pt_response_t *resp)
{
    const pt_tls_route_conf_t *tc = r->route->mod_conf[pt_tls_route_module.index];

    if (r->conn->io.ssl == NULL)
        return PT_OK;
    return pt_response_set(r, resp, pt_tls_route_sts, tc->hsts_value) == PT_OK ? PT_OK : 500;
}

/* 308 to the same URL over https (the method and body are kept). */
static int pt_tls_route_redirect(pt_request_t *r, const pt_tls_route_conf_t *tc)
{
    const pt_http_head_t *h = &r->head;
    pt_str_t host = h->authority.len ? h->authority : h->host;
    size_t len = host.len;
    char port[16] = "";

    if (host.len == 0) {
        pt_http_error(r, 400, "no host to redirect to https");
        return PT_DONE;
    }
    /* Drop the port the client used; the https one is ours to say. */
    if (host.p[0] == '[') {
        const char *end = memchr(host.p, ']', host.len);
        len = end ? (size_t) (end - host.p) + 1 : host.len;
    } else {
        const char *colon = memchr(host.p, ':', host.len);
        len = colon ? (size_t) (colon - host.p) : host.len;
    }
    if (tc->https_port != 443)
        snprintf(port, sizeof(port), ":%" PRId64, tc->https_port);
    char *loc;
    if (h->target_form == PT_HTTP_FORM_ORIGIN)
        loc = pt_arena_sprintf(r->arena, "https://%.*s%s%.*s", (int) len, host.p, port,
                               (int) h->target.len, h->target.p);
    else
        loc = pt_arena_sprintf(r->arena, "https://%.*s%s%.*s%s%.*s", (int) len, host.p, port,
                               (int) h->path.len, h->path.p, h->query.p ? "?" : "",
                               (int) h->query.len, h->query.p ? h->query.p : "");
    if (loc == NULL)
        return 500;
    pt_http_field_t f = { PT_STR("Location"), { loc, strlen(loc) }, PT_HDR_LOCATION, 0 };
    pt_response_send(r, 308, NULL, &f, 1, NULL, 0);
    return PT_DONE;
}

/* Hide client-sent copies of the headers we set, so an upstream never
 * takes a client's word for its own certificate. */
static void pt_tls_route_hide(pt_request_t *r)
{
    for (unsigned i = 0; i < r->head.nfields; i++) {
        pt_http_field_t *f = &r->head.fields[i];
        if (pt_str_caseeq(f->name, pt_tls_route_subject)
            || pt_str_caseeq(f->name, pt_tls_route_fingerprint))
            f->flags |= PT_FIELD_NOFORWARD;
    }
}

/* One hidden, empty entry of each name at the end (after ours, so lookups
 * find the real ones first), whether or not the client sent it: the proxy
 * refuses trailer fields named like a field it hid, so the names are ours
 * in a trailer section too. PT_OK or PT_ERROR. */
static int pt_tls_route_own(pt_request_t *r)
{
    if (pt_request_field_add(r, pt_tls_route_subject, PT_STR("")) != PT_OK)
        return PT_ERROR;
    r->head.fields[r->head.nfields - 1].flags |= PT_FIELD_NOFORWARD;
    if (pt_request_field_add(r, pt_tls_route_fingerprint, PT_STR("")) != PT_OK)
        return PT_ERROR;
    r->head.fields[r->head.nfields - 1].flags |= PT_FIELD_NOFORWARD;
    return PT_OK;
}

static int pt_tls_route_access(pt_request_t *r)
{
    const pt_tls_route_conf_t *tc = r->route->mod_conf[pt_tls_route_module.index];
    const pt_tls_peer_t *peer = NULL;
    bool tls = r->conn->io.ssl != NULL;

    if (tc == NULL || !tc->active)
        return PT_DECLINED;
    if (tc->https_redirect == 1 && !tls)
        return pt_tls_route_redirect(r, tc);
    if (tls && (tc->require_client_cert == 1 || tc->client_cert_headers == 1))
        peer = pt_tls_peer(&r->conn->io);
    if (tc->require_client_cert == 1 && peer == NULL) {
        pt_http_error(r, 403, "this route needs a verified client certificate");
        return PT_DONE;
    }
    if (tc->client_cert_headers == 1) {
        pt_tls_route_hide(r);
        if (peer && (pt_request_field_add(r, pt_tls_route_subject, (pt_str_t) {
                         peer->subject, strlen(peer->subject) }) != PT_OK
                     || pt_request_field_add(r, pt_tls_route_fingerprint, (pt_str_t) {
                         peer->fingerprint, strlen(peer->fingerprint) }) != PT_OK))
            return 500;
        if (pt_tls_route_own(r) != PT_OK)
            return 500;
    }
    return PT_DECLINED;
}
