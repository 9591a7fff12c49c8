/*
 * limit_key.c: the module's key variables (limit_key.h).
 */
#include "common/pt.h"
#include "common/arena.h"
#include "common/str.h"
#include "worker/http/request.h"
#include "worker/mod/limit/ratelimit/limit_key.h"
#include "worker/mod/limit/ratelimit/limit_parse.h"

#include <arpa/inet.h>
#include <netinet/in.h>

typedef struct {
    unsigned v4, v6;
} pt_limit_net_t;

static pt_str_t pt_limit_var_net(pt_request_t *r, const void *data, char *buf);
static const void *pt_limit_var_net_compile(pt_conf_ctx_t *cf, const config_setting_t *s,
                                            pt_str_t rest);
static pt_str_t pt_limit_var_arg(pt_request_t *r, const void *data, char *buf);
static const void *pt_limit_var_arg_compile(pt_conf_ctx_t *cf, const config_setting_t *s,
                                            pt_str_t rest);

const pt_var_def_t pt_limit_key_vars[] = {
    { "client_net_NAME", pt_limit_var_net, NULL, pt_limit_var_net_compile },
    { "limit_arg_NAME", pt_limit_var_arg, NULL, pt_limit_var_arg_compile },
    PT_VAR_DEF_END
};

static void pt_limit_mask(uint8_t *b, size_t len, unsigned bits)
{
    for (size_t i = 0; i < len; i++) {
        unsigned keep = bits >= 8 ? 8 : bits;
        b[i] &= (uint8_t) (0xff00u >> keep);
        bits -= keep;
    }
}

pt_str_t pt_limit_client_net(const struct sockaddr *sa, unsigned v4, unsigned v6, char *buf)
{
    uint8_t a[16];
    unsigned bits;
    int af = sa->sa_family;

    if (af == AF_INET) {
        memcpy(a, &((const struct sockaddr_in *) (const void *) sa)->sin_addr, 4);
        pt_limit_mask(a, 4, bits = v4);
    } else if (af == AF_INET6) {
        memcpy(a, &((const struct sockaddr_in6 *) (const void *) sa)->sin6_addr, 16);
        pt_limit_mask(a, 16, bits = v6);
    } else {
        return PT_STR_NULL;
    }
    if (inet_ntop(af, a, buf, INET6_ADDRSTRLEN) == NULL)
        return PT_STR_NULL;
    size_t n = strlen(buf);
    buf[n++] = '/';
    n += pt_str_from_u64(buf + n, bits);
    return (pt_str_t) { buf, n };
}

pt_str_t pt_limit_query_arg(pt_str_t query, pt_str_t name)
{
    const char *p = query.p, *end = query.p + query.len;

    while (p && p < end) {
        const char *amp = memchr(p, '&', (size_t) (end - p));
        const char *stop = amp ? amp : end;
        if ((size_t) (stop - p) >= name.len && memcmp(p, name.p, name.len) == 0) {
            if ((size_t) (stop - p) == name.len)
                return PT_STR_NULL;             /* "?key" alone: no value */
            if (p[name.len] == '=')
                return (pt_str_t) { p + name.len + 1, (size_t) (stop - p) - name.len - 1 };
        }
        p = amp ? amp + 1 : NULL;
    }
    return PT_STR_NULL;
}

static pt_str_t pt_limit_var_net(pt_request_t *r, const void *data, char *buf)
{
    const pt_limit_net_t *net = data;

    return pt_limit_client_net(pt_request_client_sa(r), net->v4, net->v6, buf);
}

static const void *pt_limit_var_net_compile(pt_conf_ctx_t *cf, const config_setting_t *s,
                                            pt_str_t rest)
{
    pt_limit_net_t *net = pt_arena_calloc(cf->arena, sizeof(*net));

    if (net == NULL)
        return NULL;
    if (pt_limit_parse_prefixes(rest.p, rest.len, &net->v4, &net->v6) != PT_OK) {
        pt_conf_error(cf, s, "$client_net_%.*s: give the IPv4 prefix length (0 to 32) and "
                      "optionally the IPv6 one (0 to 128): $client_net_24 or $client_net_24_64",
                      (int) rest.len, rest.p);
        return NULL;
    }
    return net;
}

static pt_str_t pt_limit_var_arg(pt_request_t *r, const void *data, char *buf)
{
    return pt_limit_query_arg(r->head.query, *(const pt_str_t *) data);
}

static const void *pt_limit_var_arg_compile(pt_conf_ctx_t *cf, const config_setting_t *s,
                                            pt_str_t rest)
{
    pt_str_t *name = pt_arena_calloc(cf->arena, sizeof(*name));
    char *p = name ? pt_arena_strndup(cf->arena, rest.p, rest.len) : NULL;

    if (p == NULL)
        return NULL;
    *name = (pt_str_t) { p, rest.len };
    return name;
}
