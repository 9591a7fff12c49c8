/*
 * listen_conf.c: listen entries and the connection settings they take
 * (whose defaults may be set in portico { }).
 */
#include "common/pt.h"
#include "common/conf.h"
#include "common/sock.h"
#include "worker/core/conf.h"
#include "worker/net/proto.h"

#define PT_LCONF_FIELD(f)   offsetof(pt_listen_conf_t, f)

static const pt_conf_bounds_t pt_listen_line_bounds = { 256, 1024 * 1024 };
static const pt_conf_bounds_t pt_listen_head_bounds = { 1024, 1024 * 1024 };
static const pt_conf_bounds_t pt_listen_count_bounds = { 8, 10000 };
static const pt_conf_bounds_t pt_listen_backlog_bounds = { 1, 65535 };
static const pt_conf_bounds_t pt_listen_requests_bounds = { 1, INT32_MAX };
static const pt_conf_enum_t pt_listen_slash_modes[] = {
    { "refuse", PT_SLASHES_REFUSE }, { "keep", PT_SLASHES_KEEP },
    { "decode", PT_SLASHES_DECODE }, { NULL, 0 }
};

const pt_directive_t pt_listen_directives[] = {
    { "header_timeout", PT_CONF_DURATION, PT_SCOPE_MAIN | PT_SCOPE_LISTEN,
      PT_LCONF_FIELD(header_timeout), "\"10s\"", &pt_conf_positive, NULL, NULL,
      "time to receive a request head" },
    { "body_timeout", PT_CONF_DURATION, PT_SCOPE_MAIN | PT_SCOPE_LISTEN,
      PT_LCONF_FIELD(body_timeout), "\"60s\"", &pt_conf_positive, NULL, NULL,
      "longest pause between two reads of a request body" },
    { "keepalive_timeout", PT_CONF_DURATION, PT_SCOPE_MAIN | PT_SCOPE_LISTEN,
      PT_LCONF_FIELD(keepalive_timeout), "\"75s\"", &pt_conf_positive, NULL, NULL,
      "how long an idle keep-alive connection is kept" },
    { "send_timeout", PT_CONF_DURATION, PT_SCOPE_MAIN | PT_SCOPE_LISTEN,
      PT_LCONF_FIELD(send_timeout), "\"60s\"", &pt_conf_positive, NULL, NULL,
      "longest pause of a client that does not read" },
    { "lingering_timeout", PT_CONF_DURATION, PT_SCOPE_MAIN | PT_SCOPE_LISTEN,
      PT_LCONF_FIELD(lingering_timeout), "\"5s\"", NULL, NULL, NULL,
      "how long unread input is drained before closing" },
    { "keepalive_requests", PT_CONF_UINT, PT_SCOPE_MAIN | PT_SCOPE_LISTEN,
      PT_LCONF_FIELD(keepalive_requests), "1000", &pt_listen_requests_bounds, NULL, NULL,
      "requests per connection" },
    { "max_request_line", PT_CONF_SIZE, PT_SCOPE_MAIN | PT_SCOPE_LISTEN,
      PT_LCONF_FIELD(max_request_line), "\"8k\"", &pt_listen_line_bounds, NULL, NULL,
      "longest request line (414 beyond)" },
    { "max_header_size", PT_CONF_SIZE, PT_SCOPE_MAIN | PT_SCOPE_LISTEN,
      PT_LCONF_FIELD(max_header_size), "\"32k\"", &pt_listen_head_bounds, NULL, NULL,
      "largest request head (431 beyond)" },
    { "max_header_count", PT_CONF_UINT, PT_SCOPE_MAIN | PT_SCOPE_LISTEN,
      PT_LCONF_FIELD(max_header_count), "100", &pt_listen_count_bounds, NULL, NULL,
      "most header fields (431 beyond)" },
    { "backlog", PT_CONF_UINT, PT_SCOPE_MAIN | PT_SCOPE_LISTEN, PT_LCONF_FIELD(backlog),
      "511", &pt_listen_backlog_bounds, NULL, NULL, "listen queue length" },
    { "merge_slashes", PT_CONF_BOOL, PT_SCOPE_MAIN | PT_SCOPE_LISTEN,
      PT_LCONF_FIELD(merge_slashes), "true", NULL, NULL, NULL,
      "route and forward \"//\" in a path as \"/\"" },
    { "escaped_slashes", PT_CONF_ENUM, PT_SCOPE_MAIN | PT_SCOPE_LISTEN,
      PT_LCONF_FIELD(escaped_slashes), "\"refuse\"", pt_listen_slash_modes, NULL, NULL,
      "%2F and %5C in a path: refuse (400), keep, or decode into separators" },
    { "header_min_rate", PT_CONF_SIZE, PT_SCOPE_MAIN | PT_SCOPE_LISTEN,
      PT_LCONF_FIELD(header_min_rate), "\"0\"", NULL, NULL, NULL,
      "bytes per second a request head must arrive at (408 below); 0: no floor" },
    { "body_min_rate", PT_CONF_SIZE, PT_SCOPE_MAIN | PT_SCOPE_LISTEN,
      PT_LCONF_FIELD(body_min_rate), "\"500\"", NULL, NULL, NULL,
      "bytes per second of waiting a request body must arrive at (408 below); 0: no floor" },
    { "min_rate_window", PT_CONF_DURATION, PT_SCOPE_MAIN | PT_SCOPE_LISTEN,
      PT_LCONF_FIELD(min_rate_window), "\"10s\"", &pt_conf_positive, NULL, NULL,
      "the time over which header_min_rate and body_min_rate are measured" },
    PT_DIRECTIVE_END
};

static const char *const pt_listen_entry_names[] = { "address", "name", "tls", NULL };

int pt_listen_conf_parse(pt_conf_ctx_t *cf, pt_conf_t *conf, const config_setting_t *s,
                         pt_listener_t *l, pt_listen_tls_pt tls)
{
    pt_conf_target_t t = { pt_listen_directives, &l->c };
    const config_setting_t *e;
    int rc = PT_OK;

    l->line = config_setting_source_line(s);
    l->proto = pt_proto_find("http/1.1", 8);
    if (config_setting_type(s) == CONFIG_TYPE_STRING) {
        /* The short form: listen = ( "127.0.0.1:8080" ); */
        pt_conf_unset(pt_listen_directives, PT_SCOPE_LISTEN, &l->c);
        l->address = pt_conf_get_string(cf, s);
    } else if (config_setting_type(s) == CONFIG_TYPE_GROUP) {
        pt_conf_unset(pt_listen_directives, PT_SCOPE_LISTEN, &l->c);
        rc = pt_conf_walk(cf, s, PT_SCOPE_LISTEN, &t, 1, pt_listen_entry_names);
        if ((e = config_setting_get_member(s, "name")) != NULL)
            l->name = pt_conf_get_string(cf, e);
        if ((e = config_setting_get_member(s, "address")) != NULL)
            l->address = pt_conf_get_string(cf, e);
        else
            pt_conf_error(cf, s, "listen entry without \"address\"");
        if ((e = config_setting_get_member(s, "tls")) != NULL
            && tls(cf, conf, e, l) != PT_OK)
            rc = PT_ERROR;
    } else {
        pt_conf_error(cf, s, "each listen entry must be \"address:port\" or a group { }");
        return PT_ERROR;
    }
    if (l->address == NULL)
        return PT_ERROR;
    if (pt_sock_parse_addr(l->address, &l->addr) != PT_OK) {
        pt_conf_error(cf, s, "invalid listen address \"%s\" (use \"127.0.0.1:8080\", "
                      "\"[::1]:8080\" or \"*:8080\")", l->address);
        return PT_ERROR;
    }
    if (l->name == NULL)
        l->name = l->address;
    pt_conf_merge(pt_listen_directives, PT_SCOPE_LISTEN, &l->c, &conf->listen_defaults);
    return rc;
}
