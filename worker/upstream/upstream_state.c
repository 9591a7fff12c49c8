/*
 * upstream_state.c: the read-only view of the servers' shared state and
 * the run-time drain switch (see upstream_state.h).
 */
#include "common/pt.h"
#include "common/log.h"
#include "common/sock.h"
#include "worker/upstream/upstream_balance.h"
#include "worker/upstream/upstream_state.h"

static void pt_upstream_state_log(const pt_server_t *s, const char *change, const char *why)
{
    char addr[PT_SOCK_ADDRSTRLEN];

    pt_sock_ntop((const struct sockaddr *) &s->addr.ss, addr, sizeof(addr));
    pt_log(PT_LOG_NOTICE, "upstream %s: server %s %s: %s", s->upstream->name, addr, change,
           why);
}

int pt_upstream_server_set_drain(const pt_server_t *s, bool drain, const char *why)
{
    pt_upstream_peer_t *rec = s->health;

    if (rec == NULL)
        return PT_ERROR;
    if (atomic_exchange(&rec->lb_drain, drain ? 1u : 0u) != (drain ? 1u : 0u))
        pt_upstream_state_log(s, drain ? "draining" : "no longer draining",
                              why ? why : "set at run time");
    return PT_OK;
}

void pt_upstream_state_each(const pt_conf_t *conf, pt_upstream_state_fn fn, void *data)
{
    uint64_t now_us = pt_balance_now_us();
    pt_msec_t now = (pt_msec_t) (now_us / 1000);

    for (size_t i = 0; i < conf->nupstreams; i++) {
        const pt_upstream_t *u = &conf->upstreams[i];
        for (size_t k = 0; k < u->nservers; k++) {
            const pt_server_t *s = &u->servers[k];
            const pt_upstream_peer_t *rec = s->health;
            uint32_t hs = rec ? atomic_load(&rec->state) : PT_UPSTREAM_HEALTH_UP;
            pt_upstream_server_state_t v = {
                .upstream = u,
                .server = s,
                .health = hs == PT_UPSTREAM_HEALTH_UP ? "up"
                          : hs == PT_UPSTREAM_HEALTH_TRIAL ? "trial" : "down",
                .inflight = pt_balance_inflight(s),
                .weight = s->weight,
                .effective_weight = pt_balance_weight(s, now),
                .drain = pt_balance_draining(s),
                .drain_runtime = rec && atomic_load(&rec->lb_drain),
                .ewma_us = pt_balance_ewma_value(s, now_us),
            };
            fn(&v, data);
        }
    }
}

int pt_upstream_server_start_ramp(const pt_server_t *s, const char *why)
{
    if (s->health == NULL || s->slow_start <= 0)
        return PT_ERROR;
    atomic_store(&s->health->lb_since, (int64_t) (pt_balance_now_us() / 1000));
    pt_upstream_state_log(s, "slow start", why ? why : "started at run time");
    return PT_OK;
}
