/*
 * mod_realip.c: the real client address behind trusted proxies
 * (post-read phase, before routing):
 *
 *   portico = { trusted_proxies = [ "10.0.0.0/8", "::1/128" ];
 *               real_ip_from = "x-forwarded-for"; };
 *
 * Only when the connection's peer is in trusted_proxies is the request's
 * X-Forwarded-For (or Forwarded) read, from the right (worker/http/http_forwarded.h); the
 * address found becomes r->client_sa / r->client_ip, which $remote_addr,
 * the address and GeoIP rules and rate-limit keys use. An untrusted
 * peer's fields are never believed.
 */
#include "common/pt.h"
#include "common/conf.h"
#include "common/log.h"
#include "common/sock.h"
#include "worker/core/module.h"
#include "worker/http/request.h"
#include "common/cidr.h"
#include "worker/http/http_forwarded.h"

enum { PT_REALIP_FROM_XFF = PT_HTTP_FORWARDED_XFF, PT_REALIP_FROM_FORWARDED = PT_HTTP_FORWARDED_RFC7239,
       PT_REALIP_FROM_PROXY_PROTOCOL };

typedef struct {
    pt_cidr_list_t *trusted;    /* CUSTOM, UNSET NULL */
    int from;                   /* ENUM */
} pt_realip_main_t;

/* Most X-Forwarded-For or Forwarded fields one request may have walked. */
#define PT_REALIP_FIELDS_MAX    16

static const pt_conf_enum_t pt_realip_sources[] = {
    { "x-forwarded-for", PT_REALIP_FROM_XFF }, { "forwarded", PT_REALIP_FROM_FORWARDED },
    { "proxy_protocol", PT_REALIP_FROM_PROXY_PROTOCOL }, { NULL, 0 }
};

static const pt_directive_t pt_realip_directives[] = {
    { "trusted_proxies", PT_CONF_CUSTOM, PT_SCOPE_MAIN, offsetof(pt_realip_main_t, trusted),
      NULL, NULL, pt_cidr_list_conf_set, pt_cidr_list_conf_dump,
      "networks of the proxies whose forwarded client address is believed" },
    { "real_ip_from", PT_CONF_ENUM, PT_SCOPE_MAIN, offsetof(pt_realip_main_t, from),
      "\"x-forwarded-for\"", pt_realip_sources, NULL, NULL,
      "where a trusted proxy names the client: x-forwarded-for or forwarded" },
    PT_DIRECTIVE_END
};

pt_module_t pt_realip_module;

static int pt_realip_init_main(pt_conf_ctx_t *cf, pt_conf_t *conf, void *mconf)
{
    const pt_realip_main_t *mc = mconf;

    /* Listeners read no PROXY protocol header (yet): nothing to take it from. */
    if (mc->from == PT_REALIP_FROM_PROXY_PROTOCOL) {
        pt_conf_error(cf, NULL, "real_ip_from = \"proxy_protocol\": no listener speaks the "
                      "PROXY protocol; use \"x-forwarded-for\" or \"forwarded\"");
        return PT_ERROR;
    }
    return PT_OK;
}

static int pt_realip_post_read(pt_request_t *r)
{
    const pt_realip_main_t *mc = r->conf->mod_main[pt_realip_module.index];
    pt_str_t values[PT_REALIP_FIELDS_MAX];
    size_t n = 0;
    pt_addr_t peer, client;

    if (mc == NULL || mc->trusted == NULL || mc->trusted->n == 0)
        return PT_DECLINED;
    pt_addr_from_sa(&r->conn->peer.sa, &peer);
    if (!pt_cidr_list_match(mc->trusted, &peer))
        return PT_DECLINED;
    unsigned id = mc->from == PT_REALIP_FROM_FORWARDED ? PT_HDR_FORWARDED
                                                       : PT_HDR_X_FORWARDED_FOR;
    /* The last fields are the nearest hops: keep those when there are many. */
    size_t seen = 0;
    for (unsigned i = 0; i < r->head.nfields; i++)
        if (r->head.fields[i].id == id)
            seen++;
    if (seen == 0)
        return PT_DECLINED;
    size_t skip = seen > PT_REALIP_FIELDS_MAX ? seen - PT_REALIP_FIELDS_MAX : 0;
    for (unsigned i = 0; i < r->head.nfields; i++) {
        if (r->head.fields[i].id != id)
            continue;
        if (skip) {
            skip--;
            continue;
        }
        values[n++] = r->head.fields[i].value;
    }
    if (!pt_http_forwarded_walk(mc->from, values, n, mc->trusted, &peer, &client))
        return PT_DECLINED;

    struct sockaddr_storage *ss = pt_arena_alloc(r->arena, sizeof(*ss));
    char *ip = pt_arena_alloc(r->arena, PT_SOCK_ADDRSTRLEN);
    if (ss == NULL || ip == NULL)
        return 500;
    pt_addr_to_sa(&client, ss);
    pt_addr_ntop(&client, ip, PT_SOCK_ADDRSTRLEN);
    r->client_sa = (const struct sockaddr *) ss;
    r->client_ip = ip;
    return PT_DECLINED;
}

pt_module_t pt_realip_module = {
    .name = "realip",
    .directives = pt_realip_directives,
    .main_conf_size = sizeof(pt_realip_main_t),
    .init_main = pt_realip_init_main,
    .phase = { [PT_PHASE_POST_READ] = pt_realip_post_read },
};
