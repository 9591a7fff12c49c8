/*
 * auth.c: accepting and refusing on behalf of the mechanisms (auth.h).
 */
#include "common/pt.h"
#include "common/log.h"
#include "common/str.h"
#include "worker/core/module.h"
#include "worker/http/http_error.h"
#include "worker/mod/auth/auth.h"
#include "worker/mod/auth/auth_int.h"

/* metrics: accepted and refused by mechanism and reason. Both are static
 * strings of the mechanisms (no credential in them), named at run time
 * into a capped table. */
static unsigned pt_auth_metric_accepted, pt_auth_metric_refused;
static const char *const pt_auth_metric_mech[] = { "mechanism", NULL };
static const char *const pt_auth_metric_mech_reason[] = { "mechanism", "reason", NULL };

const pt_metric_def_t pt_auth_metrics[] = {
    { "portico_auth_accepted_total", "credentials accepted, by mechanism", PT_METRIC_COUNTER,
      NULL, 0, &pt_auth_metric_accepted, pt_auth_metric_mech, NULL, 16, 0 },
    { "portico_auth_refused_total", "credentials refused, by mechanism and reason",
      PT_METRIC_COUNTER, NULL, 0, &pt_auth_metric_refused, pt_auth_metric_mech_reason, NULL,
      64, 0 },
    PT_METRIC_END
};

static void pt_auth_count(unsigned id, const char *mechanism, const char *reason)
{
    pt_str_t v[2] = { { mechanism, strlen(mechanism) }, { reason, reason ? strlen(reason) : 0 } };

    if (pt_metrics_live)
        pt_metric_add(pt_metric_find_id(id, v), 1);
}
/* end metrics */

pt_auth_state_t *pt_auth_state(pt_request_t *r)
{
    pt_auth_state_t *st = r->ctx[pt_auth_module.index];

    if (st == NULL && (st = pt_arena_calloc(r->arena, sizeof(*st))) != NULL)
        r->ctx[pt_auth_module.index] = st;
    return st;
}

static int pt_auth_satisfy(const pt_request_t *r)
{
    const pt_auth_conf_t *ac = r->route ? pt_route_mod_conf(r->route, pt_auth_module) : NULL;

    return ac ? ac->satisfy : PT_AUTH_ALL;
}

bool pt_auth_satisfied(const pt_request_t *r)
{
    const pt_auth_state_t *st = r->ctx[pt_auth_module.index];

    return st && st->accepted && pt_auth_satisfy(r) == PT_AUTH_ANY;
}

int pt_auth_accept(pt_request_t *r, const pt_consumer_t *c, const char *mechanism)
{
    pt_auth_state_t *st = pt_auth_state(r);

    if (st == NULL)
        return 500;
    pt_auth_count(pt_auth_metric_accepted, mechanism, NULL);
    if (!st->accepted) {
        st->accepted = mechanism;
        r->consumer = c;
    }
    pt_log(PT_LOG_DEBUG, "%s: %s accepted as \"%.*s\"", pt_request_client_ip(r), mechanism,
           (int) (c ? c->id.len : 0), c ? c->id.p : "");
    return PT_DECLINED;
}

/* 503 (cannot check) over 403 (known, not allowed) over 401. */
static unsigned pt_auth_rank(unsigned status)
{
    return status == 503 ? 3 : status == 403 ? 2 : 1;
}

int pt_auth_refuse(pt_request_t *r, unsigned status, const char *challenge,
                   const char *mechanism, const char *reason)
{
    pt_auth_state_t *st = pt_auth_state(r);

    if (st == NULL)
        return 500;
    pt_log(PT_LOG_INFO, "%s: %s refused with %u: %s", pt_request_client_ip(r), mechanism,
           status, reason);
    pt_auth_count(pt_auth_metric_refused, mechanism, reason);
    if (st->status == 0 || pt_auth_rank(status) > pt_auth_rank(st->status)) {
        st->status = status;
        st->reason = reason;
    }
    if (challenge && st->nchallenges < PT_AUTH_CHALLENGES)
        st->challenges[st->nchallenges++] = challenge;
    if (pt_auth_satisfy(r) == PT_AUTH_ANY)
        return PT_DECLINED;
    pt_auth_answer(r, st);
    return PT_DONE;
}

void pt_auth_answer(pt_request_t *r, const pt_auth_state_t *st)
{
    pt_http_field_t f[PT_AUTH_CHALLENGES];
    unsigned n = 0;

    /* RFC 9110 §11.6.1: a 401 carries at least one challenge; a 403 may
     * carry one too (RFC 6750 §3.1: insufficient_scope); a 503 has no use
     * for them. */
    if (st->status == 401 || st->status == 403)
        for (; n < st->nchallenges; n++)
            f[n] = (pt_http_field_t) { PT_STR("WWW-Authenticate"),
                                       { st->challenges[n], strlen(st->challenges[n]) },
                                       PT_HDR_OTHER, 0 };
    pt_http_error_fields(r, st->status, st->reason, f, n);
}

/* Also the name with "_" for any "-": CGI, WSGI, Rack and PHP turn both
 * into HTTP_X_CONSUMER, so a client's X_Consumer would pose as the
 * identity field there. */
void pt_auth_strip_field(pt_request_t *r, pt_str_t name)
{
    for (unsigned i = 0; i < r->head.nfields; i++)
        if (pt_str_field_alike(r->head.fields[i].name, name))
            r->head.fields[i].flags |= PT_FIELD_NOFORWARD;
}

/* b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" */
static bool pt_auth_b64char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
        || c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
}

static bool pt_auth_b64token(pt_str_t t)
{
    size_t i = 0;

    while (i < t.len && pt_auth_b64char((unsigned char) t.p[i]))
        i++;
    if (i == 0)
        return false;
    while (i < t.len && t.p[i] == '=')
        i++;
    return i == t.len;
}

pt_auth_bearer_t pt_auth_bearer(const pt_request_t *r, pt_str_t *tok)
{
    const pt_http_field_t *auth = NULL;
    unsigned n = 0;

    for (unsigned i = 0; i < r->head.nfields; i++)
        if (r->head.fields[i].id == PT_HDR_AUTHORIZATION) {
            auth = &r->head.fields[i];
            n++;
        }
    if (auth == NULL)
        return PT_AUTH_BEARER_NONE;
    pt_str_t v = auth->value;
    if (v.len < 6 || strncasecmp(v.p, "Bearer", 6) != 0 || (v.len > 6 && v.p[6] != ' '))
        return PT_AUTH_BEARER_NONE;
    size_t i = 6;
    while (i < v.len && v.p[i] == ' ')
        i++;
    *tok = (pt_str_t) { v.p + i, v.len - i };
    if (n > 1 || !pt_auth_b64token(*tok))
        return PT_AUTH_BEARER_MALFORMED;
    return PT_AUTH_BEARER_FOUND;
}
