/*
 * phase.c: the phase engine (see phase.h).
 */
#include "common/pt.h"
#include "common/log.h"
#include "worker/core/module.h"
#include "worker/core/phase.h"
#include "worker/http/request.h"

_Static_assert(PT_MODULES_MAX <= 32, "a route's phase_skip has a bit per module");

pt_phase_engine_t pt_phase_engine;

void pt_phase_build(pt_phase_engine_t *e, const pt_module_t *const *modules)
{
    memset(e, 0, sizeof(*e));
    for (unsigned p = 0; p < PT_PHASE_MAX; p++) {
        e->start[p] = e->n;
        for (size_t i = 0; modules[i]; i++) {
            PT_ASSERT(i < PT_MODULES_MAX);
            if (modules[i]->phase[p] == NULL)
                continue;
            e->entries[e->n++] = (pt_phase_entry_t) {
                .handler = modules[i]->phase[p], .module = modules[i],
                .bit = UINT32_C(1) << modules[i]->index, .phase = (uint16_t) p,
            };
        }
        for (unsigned k = e->start[p]; k < e->n; k++)
            e->entries[k].next = (uint16_t) e->n;
    }
    e->start[PT_PHASE_MAX] = e->n;
    for (size_t i = 0; modules[i]; i++) {
        if (modules[i]->log) {
            e->log_bit[e->nlog] = UINT32_C(1) << modules[i]->index;
            e->log[e->nlog++] = modules[i]->log;
        }
    }
}

/* A traced request (mod_debug): which handler of which phase said what. */
static void pt_phase_debug(const pt_request_t *r, const pt_phase_entry_t *ph, int rc)
{
    static const char *const phases[PT_PHASE_MAX] = {
        [PT_PHASE_POST_READ] = "post-read", [PT_PHASE_ACCESS] = "access",
        [PT_PHASE_POST_ACCESS] = "post-access", [PT_PHASE_LIMIT] = "limit",
        [PT_PHASE_PRE_CONTENT] = "pre-content",
    };
    const char *what = rc == PT_DECLINED ? "declined" : rc == PT_OK ? "done"
                       : rc == PT_AGAIN ? "waits" : rc == PT_DONE ? "answered" : "refused";

    pt_log_always(PT_LOG_DEBUG, "request %.*s: phase %s: %s %s (%d)", (int) r->id.len, r->id.p,
                  phases[ph->phase], ph->module->name, what, rc);
}

/* Handlers from r->phase_index up to entry end (a phase's start): PT_OK
 * when all of them are through, else what stopped them. */
static int pt_phase_handlers(const pt_phase_engine_t *e, pt_request_t *r, unsigned end)
{
    /* Before routing every handler runs; after, not those of modules that
     * said at load time they have nothing to do on this route. */
    uint32_t skip = r->route ? r->route->phase_skip : 0;

    while (r->phase_index < end) {
        const pt_phase_entry_t *ph = &e->entries[r->phase_index];
        if (skip & ph->bit) {
            r->phase_index++;
            continue;
        }
        int rc = ph->handler(r);
        if (pt_unlikely(r->debug))
            pt_phase_debug(r, ph, rc);
        if (rc == PT_DECLINED) {
            r->phase_index++;
        } else if (rc == PT_OK) {
            r->phase_index = ph->next;
        } else if (rc == PT_AGAIN || rc == PT_DONE) {
            /* Suspended: phase_index stays on this handler. Answered: r
             * may be gone. */
            return rc;
        } else {
            return rc >= 400 ? rc : 500;
        }
    }
    return PT_OK;
}

int pt_phase_run(const pt_phase_engine_t *e, const pt_phase_core_t *core, pt_request_t *r,
                 unsigned from)
{
    int rc;

    /* An empty stretch costs a compare, not a call. */
    if (from == PT_PHASE_POST_READ) {
        unsigned end = e->start[PT_PHASE_ACCESS];
        if ((r->phase_index < end && (rc = pt_phase_handlers(e, r, end)) != PT_OK)
            || (rc = core->route(r)) != PT_OK)
            return rc;
    }
    if (from < PT_PHASE_PRE_CONTENT) {
        unsigned end = e->start[PT_PHASE_PRE_CONTENT];
        if ((r->phase_index < end && (rc = pt_phase_handlers(e, r, end)) != PT_OK)
            || (rc = core->check(r)) != PT_OK)
            return rc;
    }
    if (r->phase_index < e->n && (rc = pt_phase_handlers(e, r, e->n)) != PT_OK)
        return rc;
    rc = core->content(r);
    return rc >= 400 ? rc : PT_DONE;
}

int pt_phase_resume(const pt_phase_engine_t *e, const pt_phase_core_t *core, pt_request_t *r)
{
    PT_ASSERT(r->phase_index < e->n);
    /* The suspended entry's phase says which of the core's steps are
     * behind it: the index alone cannot, as phases may be empty. */
    return pt_phase_run(e, core, r, e->entries[r->phase_index].phase);
}

void pt_phase_log(const pt_phase_engine_t *e, pt_request_t *r)
{
    uint32_t skip = r->route ? r->route->phase_skip : 0;

    for (unsigned i = 0; i < e->nlog; i++)
        if (!(skip & e->log_bit[i]))
            e->log[i](r);
}
