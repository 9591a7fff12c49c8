/*
 * upstream_dns_conf.c: the directives of host-name servers, their
 * resolution at load (in the master, with c-ares and the configured
 * resolvers) and their expansion into address slots.
 */
#include "common/pt.h"
#include "common/conf.h"
#include "common/log.h"
#include "common/sock.h"
#include "worker/core/conf.h"
#include "worker/upstream/upstream_dns.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#define PT_DNS_FIELD(f)     offsetof(pt_upstream_t, f)
#define PT_UPSTREAM_SERVERS_MAX     1024    /* entries of one upstream, slots included */

static const pt_conf_bounds_t pt_upstream_dns_slots_bounds = { 1, PT_UPSTREAM_DNS_SLOTS_MAX };
/* Below 100 ms a name would be asked for faster than workers look. */
static const pt_conf_bounds_t pt_upstream_dns_interval_bounds = { 100, 24 * 3600 * 1000 };

const pt_directive_t pt_upstream_dns_directives[] = {
    { "resolve", PT_CONF_BOOL, PT_SCOPE_UPSTREAM, PT_DNS_FIELD(resolve), "true", NULL, NULL,
      NULL, "re-resolve servers named by host name while running" },
    { "resolve_interval", PT_CONF_DURATION, PT_SCOPE_UPSTREAM, PT_DNS_FIELD(resolve_interval),
      "\"30s\"", &pt_upstream_dns_interval_bounds, NULL, NULL,
      "longest time between resolutions (a smaller TTL shortens it)" },
    { "max_addresses", PT_CONF_UINT, PT_SCOPE_UPSTREAM, PT_DNS_FIELD(max_addresses), "8",
      &pt_upstream_dns_slots_bounds, NULL, NULL, "addresses kept per host-name server" },
    { "resolve_required", PT_CONF_BOOL, PT_SCOPE_UPSTREAM, PT_DNS_FIELD(resolve_required),
      "true", NULL, NULL, NULL,
      "an unresolvable name at load is an error (false: start without addresses)" },
    PT_DIRECTIVE_END
};

/* ---- portico { resolver = [ ... ]; } -------------------------------------- */

/* One resolver address: "ip", "ip:port", "[v6]", "[v6]:port" or a bare v6;
 * appended to csv as c-ares wants it. */
static int pt_upstream_dns_conf_resolver_one(pt_conf_ctx_t *cf, const config_setting_t *e,
                                             char *csv, size_t len)
{
    const char *v = config_setting_type(e) == CONFIG_TYPE_STRING
                    ? config_setting_get_string(e) : NULL;
    char text[80];
    pt_sockaddr_t sa;
    struct in6_addr in6;

    if (v == NULL || strlen(v) >= 64) {
        pt_conf_error(cf, e, "a resolver is an address, e.g. \"127.0.0.1:53\" or \"[::1]:53\"");
        return PT_ERROR;
    }
    if (inet_pton(AF_INET6, v, &in6) == 1)
        snprintf(text, sizeof(text), "[%s]:53", v);
    else if (v[0] == '[' && v[strlen(v) - 1] == ']')
        snprintf(text, sizeof(text), "%s:53", v);
    else if (strchr(v, ':') == NULL)
        snprintf(text, sizeof(text), "%s:53", v);
    else
        snprintf(text, sizeof(text), "%s", v);
    if (pt_sock_parse_addr(text, &sa) != PT_OK) {
        pt_conf_error(cf, e, "resolver \"%s\" is not an IP address with an optional port", v);
        return PT_ERROR;
    }
    char out[PT_SOCK_ADDRSTRLEN];
    pt_sock_ntop((const struct sockaddr *) &sa.ss, out, sizeof(out));
    size_t used = strlen(csv);
    snprintf(csv + used, len - used, "%s%s", used ? "," : "", out);
    return PT_OK;
}

int pt_upstream_dns_conf_set_resolver(pt_conf_ctx_t *cf, const config_setting_t *s, void *field,
                                      const pt_directive_t *d)
{
    char csv[PT_UPSTREAM_DNS_RESOLVERS_MAX * (PT_SOCK_ADDRSTRLEN + 1) + 1] = "";
    int type = config_setting_type(s);
    int n = type == CONFIG_TYPE_STRING ? 1 : config_setting_length(s);

    (void) d;
    if (type != CONFIG_TYPE_STRING && type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST) {
        pt_conf_error(cf, s, "\"resolver\" is a list of addresses, e.g. [ \"127.0.0.1:53\" ]");
        return PT_ERROR;
    }
    if (n < 1 || n > PT_UPSTREAM_DNS_RESOLVERS_MAX) {
        pt_conf_error(cf, s, "\"resolver\" takes 1 to %d addresses",
                      PT_UPSTREAM_DNS_RESOLVERS_MAX);
        return PT_ERROR;
    }
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = type == CONFIG_TYPE_STRING
                                    ? s : config_setting_get_elem(s, (unsigned) i);
        if (pt_upstream_dns_conf_resolver_one(cf, e, csv, sizeof(csv)) != PT_OK)
            return PT_ERROR;
    }
    *(const char **) field = pt_arena_strndup(cf->arena, csv, strlen(csv));
    return *(const char **) field ? PT_OK : PT_ERROR;
}

void pt_upstream_dns_conf_dump_resolver(FILE *out, const void *field, const pt_directive_t *d,
                                        int indent)
{
    const char *csv = *(const char *const *) field;

    (void) d;
    (void) indent;
    fputs("[ ", out);
    for (const char *p = csv; p && *p; ) {
        size_t n = strcspn(p, ",");
        fprintf(out, "%s\"%.*s\"", p == csv ? "" : ", ", (int) n, p);
        p += n + (p[n] == ',');
    }
    fputs(" ]", out);
}

/* ---- servers named by host name ------------------------------------------- */

/* Splits "host:port" / "[v6]:port"; false when it is not of that form. */
static bool pt_upstream_dns_split(const char *hostport, char *host, size_t len, uint16_t *port)
{
    const char *colon = strrchr(hostport, ':');
    const char *h = hostport;
    size_t hl;

    if (colon == NULL || colon == hostport)
        return false;
    hl = (size_t) (colon - hostport);
    if (h[0] == '[') {
        if (hl < 2 || h[hl - 1] != ']')
            return false;
        h++;
        hl -= 2;
    }
    if (hl == 0 || hl >= len)
        return false;
    char *end;
    errno = 0;
    unsigned long p = strtoul(colon + 1, &end, 10);
    if (colon[1] < '0' || colon[1] > '9' || *end || errno || p == 0 || p > 65535)
        return false;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (uint16_t) p;
    return true;
}

bool pt_upstream_dns_is_name(const char *hostport)
{
    char host[256];
    uint16_t port;
    unsigned char buf[16];

    if (!pt_upstream_dns_split(hostport, host, sizeof(host), &port))
        return false;               /* pt_sock_resolve reports the form */
    return inet_pton(AF_INET, host, buf) != 1 && inet_pton(AF_INET6, host, buf) != 1;
}

pt_upstream_dns_t *pt_upstream_dns_conf_note(pt_conf_ctx_t *cf, const config_setting_t *s,
                                             pt_upstream_t *u, const char *name)
{
    char host[256];
    pt_upstream_dns_t *d = pt_arena_calloc(cf->arena, sizeof(*d));

    if (d == NULL)
        return NULL;
    if (!pt_upstream_dns_split(name, host, sizeof(host), &d->port)) {
        pt_conf_error(cf, s, "upstream \"%s\": \"%s\" is not host:port", u->name, name);
        return NULL;
    }
    d->name = name;
    d->host = pt_arena_strndup(cf->arena, host, strlen(host));
    d->upstream = u;
    d->where = s;
    d->line = pt_conf_line(cf, s);
    return d;
}

/* Resolve d now, in the master (blocking is fine: it serves no traffic).
 * With resolve_required off, a name re-resolved later may start without
 * addresses: a warning, and its slots start empty (or as a previous
 * generation left them). */
static int pt_upstream_dns_conf_resolve(pt_conf_ctx_t *cf, const pt_conf_t *conf,
                                        pt_upstream_dns_t *d)
{
    const pt_upstream_t *u = d->upstream;
    char err[256], path[4096];

    if (pt_upstream_dns_resolve_blocking(&conf->main, d->host, d->port, d->loaded,
                                         PT_UPSTREAM_DNS_SLOTS_MAX, &d->nloaded, &d->loaded_ttl,
                                         err, sizeof(err)) == PT_OK)
        return PT_OK;
    d->nloaded = 0;
    if (u->resolve && !u->resolve_required) {
        pt_log(PT_LOG_WARN, "%s:%u: upstream \"%s\": cannot resolve \"%s\": %s; starting "
               "without its addresses", pt_conf_file(cf, d->where, path, sizeof(path)), d->line,
               u->name, d->name, err);
        return PT_OK;
    }
    pt_conf_error(cf, d->where, "upstream \"%s\": cannot resolve \"%s\": %s", u->name,
                  d->name, err);
    return PT_ERROR;
}

int pt_upstream_dns_conf_expand(pt_conf_ctx_t *cf, pt_conf_t *conf, pt_upstream_t *u)
{
    size_t n = 0;
    const config_setting_t *first_name = NULL;
    pt_upstream_dns_t **tail = &u->dns;

    /* A config already in error fails anyway: no queries (and no waits on
     * resolvers) for it. */
    if (cf->nerrors)
        return PT_OK;
    for (size_t i = 0; i < u->nservers; i++) {
        pt_upstream_dns_t *d = u->servers[i].dns;
        if (d && pt_upstream_dns_conf_resolve(cf, conf, d) != PT_OK)
            return PT_ERROR;
        n += d == NULL ? 1 : u->resolve ? (size_t) u->max_addresses : d->nloaded;
        if (d && first_name == NULL)
            first_name = d->where;
    }
    if (first_name == NULL)
        return PT_OK;
    if (n > PT_UPSTREAM_SERVERS_MAX) {
        pt_conf_error(cf, first_name,
                      "upstream \"%s\": more than %d servers once names are expanded",
                      u->name, PT_UPSTREAM_SERVERS_MAX);
        return PT_ERROR;
    }
    pt_server_t *ns = pt_arena_calloc(cf->arena, n * sizeof(*ns));
    if (ns == NULL)
        return PT_ERROR;
    size_t k = 0;
    for (size_t i = 0; i < u->nservers; i++) {
        const pt_server_t *spec = &u->servers[i];
        pt_upstream_dns_t *d = spec->dns;
        if (d == NULL) {
            ns[k] = *spec;
            ns[k].index = (unsigned) k;
            k++;
            continue;
        }
        if (!u->resolve) {
            /* Resolved once: a fixed server per address, as a literal. */
            for (unsigned a = 0; a < d->nloaded; a++, k++) {
                ns[k] = *spec;
                ns[k].dns = NULL;
                ns[k].index = (unsigned) k;
                pt_upstream_dns_addr_to_sa(&d->loaded[a], &ns[k].addr);
            }
            continue;
        }
        d->first = (unsigned) k;
        d->nslots = (unsigned) u->max_addresses;
        for (unsigned a = 0; a < d->nslots; a++, k++) {
            ns[k] = *spec;
            ns[k].index = (unsigned) k;
            ns[k].dns_slot = a;
            ns[k].absent = a >= d->nloaded;
            /* Until the zone binds it (the unit tests have none): the
             * answer in order. */
            if (a < d->nloaded) {
                pt_upstream_dns_addr_to_sa(&d->loaded[a], &ns[k].addr);
                d->joined[a] = 0;
            }
        }
        *tail = d;
        tail = &d->next;
    }
    u->servers = ns;
    u->nservers = n;
    return u->dns ? pt_upstream_dns_conf_zone(cf, conf) : PT_OK;
}

void pt_upstream_dns_conf_dump_server(FILE *out, const pt_server_t *s)
{
    const pt_upstream_dns_t *d = s->dns;
    bool first = true;

    fprintf(out, "{ address = \"%s\"; weight = %" PRId64 ";%s } /* resolves to", d->name,
            s->weight, s->backup ? " backup = true;" : "");
    for (unsigned k = 0; k < d->nslots; k++) {
        const pt_server_t *slot = &d->upstream->servers[d->first + k];
        char addr[PT_SOCK_ADDRSTRLEN];
        if (slot->absent)
            continue;
        pt_sock_ntop((const struct sockaddr *) &slot->addr.ss, addr, sizeof(addr));
        fprintf(out, "%s %s", first ? "" : ",", addr);
        first = false;
    }
    fprintf(out, "%s */", first ? " nothing" : "");
}
