/*
 * phase.h: the phase engine. At startup the phase handlers of every module
 * are laid out in one flat array, phase after phase and in module order
 * within a phase, so a request walks only handlers that exist; each entry
 * knows where the next phase starts, which is where PT_OK jumps. The log
 * hooks are flattened into an array of their own.
 *
 * The engine also sequences the core's own steps between the phases
 * (choosing the route after post-read, checking the head against it after
 * limit, the content handler at the end), given as a pt_phase_core_t, and
 * reports what is left to do (render an error) to its caller, so it runs
 * without a connection and a test can drive it with fake modules.
 */
#ifndef PT_PHASE_H
#define PT_PHASE_H

#include "common/pt.h"
#include "worker/core/core.h"
#include "worker/core/module.h"

typedef int (*pt_phase_handler_pt)(pt_request_t *r);
typedef void (*pt_phase_log_pt)(pt_request_t *r);

typedef struct {
    pt_phase_handler_pt handler;
    const pt_module_t *module;
    uint32_t bit;               /* 1 << module->index, against route->phase_skip */
    uint16_t phase;             /* enum pt_phase */
    uint16_t next;              /* index of the first entry of the next phase */
} pt_phase_entry_t;

#define PT_PHASE_ENTRIES_MAX    (PT_MODULES_MAX * PT_PHASE_MAX)

typedef struct {
    pt_phase_entry_t entries[PT_PHASE_ENTRIES_MAX];
    unsigned n;
    unsigned start[PT_PHASE_MAX + 1];   /* first entry of each phase; [PT_PHASE_MAX] = n */
    pt_phase_log_pt log[PT_MODULES_MAX];
    uint32_t log_bit[PT_MODULES_MAX];   /* the module of log[i], against phase_skip */
    unsigned nlog;
} pt_phase_engine_t;

/* The core's steps. Each returns PT_OK to go on, PT_DONE when it answered
 * (or started answering) the request itself, or a status >= 400 for the
 * caller to render; content's result is passed through like a handler's
 * PT_DONE unless it is a status >= 400. */
typedef struct {
    int (*route)(pt_request_t *r);      /* after post-read: set r->route */
    int (*check)(pt_request_t *r);      /* after limit: the head against the route */
    int (*content)(pt_request_t *r);    /* after pre-content: answer */
} pt_phase_core_t;

/* The engine of this process, built by pt_module_setup(). */
extern pt_phase_engine_t pt_phase_engine;

/* Fill e from modules (NULL-terminated, in order): one entry per phase
 * handler a module has, one log slot per log hook. At most PT_MODULES_MAX
 * modules. */
void pt_phase_build(pt_phase_engine_t *e, const pt_module_t *const *modules);

/* Run r from phase `from` (PT_PHASE_POST_READ for a new request, with
 * r->phase_index 0) through the content handler, handlers from
 * r->phase_index on. Returns PT_AGAIN (a handler suspended; r->phase_index
 * is that handler's entry), PT_DONE (answered; r may be freed already and
 * must not be touched), or a status >= 400 the caller renders with
 * pt_http_error() (a handler's result that is neither a code of module.h
 * nor a status >= 400 is reported as 500). */
int pt_phase_run(const pt_phase_engine_t *e, const pt_phase_core_t *core, pt_request_t *r,
                 unsigned from);

/* Re-enter the handler that returned PT_AGAIN (the entry at
 * r->phase_index) and carry on from there; returns as pt_phase_run(). */
int pt_phase_resume(const pt_phase_engine_t *e, const pt_phase_core_t *core, pt_request_t *r);

/* Call every module's log hook for r, in module order. */
void pt_phase_log(const pt_phase_engine_t *e, pt_request_t *r);

#endif
