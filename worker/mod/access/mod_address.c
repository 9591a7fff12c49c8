/*
 * mod_address.c: allow and deny by client address.
 *
 *   routes = ( { address_rules = [ "deny 10.1.0.0/16", "allow 10.0.0.0/8",
 *                                  "allow 2001:db8::/32" ];
 *                address_default = "deny"; ... } );
 *   portico = { accept_rules = { internal = [ "allow 127.0.0.0/8", "deny all" ]; }; };
 *
 * A route's rules are read in order against the client address (the one
 * a trusted proxy named, see mod_realip.c), the first match decides, and
 * address_default decides when none matches; a denial is a 403 (access
 * phase, before any authentication). accept_rules are a listener's (by
 * name), decided on the connection's own peer as soon as it is accepted:
 * a denied connection is closed before a byte is read.
 */
#include "common/pt.h"
#include "common/conf.h"
#include "common/log.h"
#include "worker/core/module.h"
#include "worker/http/http_error.h"
#include "worker/http/request.h"
#include "worker/net/conn.h"
#include "common/cidr.h"

/* accept_rules = { NAME = [ rules ]; ... }: parsed by the setter, while
 * the setting lives, into a list init_main matches to listeners by name. */
typedef struct pt_address_accept_s {
    const char *listener;
    const char *file;           /* as libconfig names it */
    unsigned line;
    pt_cidr_rules_t *rules;
    struct pt_address_accept_s *next;
} pt_address_accept_t;

typedef struct {
    pt_address_accept_t *accept;    /* CUSTOM, UNSET NULL */
    /* compiled by init_main: rules by listener index, NULL: none */
    pt_cidr_rules_t **by_listener;
    size_t nlisteners;
    bool any;
} pt_address_main_t;

typedef struct {
    pt_cidr_rules_t *rules;     /* CUSTOM, UNSET NULL */
    int def;                    /* ENUM: 1 allow, 0 deny */
} pt_address_conf_t;

static const pt_conf_enum_t pt_address_defaults[] = {
    { "allow", 1 }, { "deny", 0 }, { NULL, 0 }
};

static int pt_address_accept_set(pt_conf_ctx_t *cf, const config_setting_t *s, void *field,
                                 const pt_directive_t *d);
static void pt_address_accept_dump(FILE *out, const void *field, const pt_directive_t *d,
                                   int indent);

static const pt_directive_t pt_address_directives[] = {
    { "accept_rules", PT_CONF_CUSTOM, PT_SCOPE_MAIN,
      offsetof(pt_address_main_t, accept), NULL, NULL, pt_address_accept_set,
      pt_address_accept_dump,
      "per listener name, allow/deny rules on the peer address at accept time" },
    { "address_rules", PT_CONF_CUSTOM, PT_SCOPE_ROUTE, offsetof(pt_address_conf_t, rules),
      NULL, NULL, pt_cidr_rules_conf_set, pt_cidr_rules_conf_dump,
      "\"allow CIDR\" / \"deny CIDR\" in order, the first match decides" },
    { "address_default", PT_CONF_ENUM, PT_SCOPE_ROUTE, offsetof(pt_address_conf_t, def),
      "\"allow\"", pt_address_defaults, NULL, NULL,
      "what a client no address rule matches gets" },
    PT_DIRECTIVE_END
};

pt_module_t pt_address_module;

static int pt_address_accept_set(pt_conf_ctx_t *cf, const config_setting_t *s, void *field,
                                 const pt_directive_t *d)
{
    pt_address_accept_t *head = NULL;
    int rc = PT_OK;

    if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
        pt_conf_error(cf, s, "\"accept_rules\" must be a group { LISTENER = [ rules ]; }");
        return PT_ERROR;
    }
    for (int i = config_setting_length(s) - 1; i >= 0; i--) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned) i);
        pt_address_accept_t *a = pt_arena_calloc(cf->arena, sizeof(*a));
        if (a == NULL)
            return PT_ERROR;
        a->listener = pt_arena_strndup(cf->arena, config_setting_name(e),
                                       strlen(config_setting_name(e)));
        a->line = pt_conf_line(cf, e);
        a->file = config_setting_source_file(e);
        if ((a->rules = pt_cidr_rules_conf_parse(cf, e)) == NULL) {
            rc = PT_ERROR;
            continue;
        }
        a->next = head;
        head = a;
    }
    *(pt_address_accept_t **) field = head;
    return rc;
}

static void pt_address_accept_dump(FILE *out, const void *field, const pt_directive_t *d,
                                   int indent)
{
    const pt_address_accept_t *a = *(const pt_address_accept_t *const *) field;

    fputs("{", out);
    for (; a; a = a->next) {
        fprintf(out, " %s = ", a->listener);
        pt_cidr_rules_conf_dump(out, &a->rules, d, indent);
        fputs(";", out);
    }
    fputs(" }", out);
}

static int pt_address_init_main(pt_conf_ctx_t *cf, pt_conf_t *conf, void *mconf)
{
    pt_address_main_t *mc = mconf;
    const pt_address_accept_t *head = mc->accept;

    if (head == NULL)
        return PT_OK;
    mc->nlisteners = conf->nlisteners;
    mc->by_listener = pt_arena_calloc(cf->arena, (conf->nlisteners + 1) * sizeof(void *));
    if (mc->by_listener == NULL)
        return PT_ERROR;
    for (const pt_address_accept_t *a = head; a; a = a->next) {
        size_t k = 0;
        for (; k < conf->nlisteners; k++)
            if (conf->listeners[k].name && strcmp(conf->listeners[k].name, a->listener) == 0)
                break;
        if (k == conf->nlisteners) {
            pt_conf_error_at(cf, a->file, a->line, "accept_rules: no listener named \"%s\"",
                             a->listener);
            return PT_ERROR;
        }
        mc->by_listener[k] = a->rules;
        mc->any = true;
    }
    return PT_OK;
}

static int pt_address_init_route(pt_conf_ctx_t *cf, pt_conf_t *conf, pt_route_t *route,
                                 void *rconf, const void *dconf)
{
    const pt_address_conf_t *ac = rconf;

    if ((ac->rules == NULL || ac->rules->n == 0) && ac->def == 1)
        pt_module_phase_skip(route, &pt_address_module);
    return PT_OK;
}

static int pt_address_access(pt_request_t *r)
{
    const pt_address_conf_t *ac = pt_route_mod_conf(r->route, pt_address_module);
    pt_addr_t a;
    size_t rule = 0;

    pt_addr_from_sa(pt_request_client_sa(r), &a);
    int v = pt_cidr_rules_eval(ac->rules, &a, &rule);
    if (v == 1 || (v < 0 && ac->def == 1))
        return PT_DECLINED;
    if (v == 0)
        pt_log(PT_LOG_INFO, "%s: address rules of route \"%s\" refused: \"%s\"",
               pt_request_client_ip(r), r->route->name, ac->rules->text[rule]);
    else
        pt_log(PT_LOG_INFO, "%s: address rules of route \"%s\" refused: no rule matched, "
               "address_default is \"deny\"", pt_request_client_ip(r), r->route->name);
    pt_http_error(r, 403, "the client address is not allowed here");
    return PT_DONE;
}

static int pt_address_accept(pt_conn_t *c)
{
    const pt_address_main_t *mc = c->conf->mod_main[pt_address_module.index];
    pt_addr_t a;
    size_t rule = 0;

    if (mc == NULL || !mc->any || c->listener->index >= mc->nlisteners)
        return PT_OK;
    const pt_cidr_rules_t *rules = mc->by_listener[c->listener->index];
    if (rules == NULL)
        return PT_OK;
    pt_addr_from_sa(&c->peer.sa, &a);
    if (pt_cidr_rules_eval(rules, &a, &rule) != 0)
        return PT_OK;
    pt_log(PT_LOG_INFO, "%s: accept_rules of listener \"%s\" refused the connection: \"%s\"",
           pt_conn_peer_ip(c), c->listener->name, rules->text[rule]);
    return PT_ERROR;
}

pt_module_t pt_address_module = {
    .name = "address",
    .directives = pt_address_directives,
    .main_conf_size = sizeof(pt_address_main_t),
    .route_conf_size = sizeof(pt_address_conf_t),
    .init_main = pt_address_init_main,
    .init_route = pt_address_init_route,
    .phase = { [PT_PHASE_ACCESS] = pt_address_access },
    .accept = pt_address_accept,
};
