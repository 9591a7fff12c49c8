/*
 * test_phase.c: the phase engine on fake modules, no connection needed.
 *
 * Every fake handler is one function that finds its module and phase from
 * the entry the engine is on (r->phase_index), counts its runs, appends
 * "<module><phase>" to a trace and returns the next code of its script.
 * The core's steps append "R" (route), "C" (the Expect and body size
 * checks) and "X" (content). Each case compares the trace, so the order
 * of everything that ran, and what the engine reports to its caller.
 */
#include "common/pt.h"
#include "worker/core/module.h"
#include "worker/core/phase.h"
#include "worker/http/request.h"
#include "test/unit/tap.h"

#define D   PT_DECLINED

typedef struct {
    pt_module_t m;              /* first: the engine's module pointer is ours */
    char name[8];
    int first[PT_PHASE_MAX];    /* the first call's result */
    int then[PT_PHASE_MAX];     /* every later call's */
    unsigned runs[PT_PHASE_MAX];
} fake_t;

static fake_t fakes[8];
static size_t nfakes;
static const pt_module_t *mods[9];
static pt_phase_engine_t eng;
static pt_request_t req;
static pt_route_t route;
static char trace[512];
static unsigned route_in_post_read, no_route_after;

static int core_rc[3];          /* route, check, content */
static unsigned core_runs[3];

static void tr(const char *tok)
{
    if (trace[0])
        strcat(trace, " ");
    strcat(trace, tok);
}

static int fake_handler(pt_request_t *r)
{
    const pt_phase_entry_t *ph = &eng.entries[r->phase_index];
    fake_t *f = (fake_t *) (void *) ph->module;
    char tok[16];

    if (ph->phase == PT_PHASE_POST_READ && r->route != NULL)
        route_in_post_read++;
    if (ph->phase != PT_PHASE_POST_READ && r->route == NULL)
        no_route_after++;
    snprintf(tok, sizeof(tok), "%s%u", f->name, (unsigned) ph->phase);
    tr(tok);
    return f->runs[ph->phase]++ ? f->then[ph->phase] : f->first[ph->phase];
}

static void fake_log(pt_request_t *r)
{
    tr("log");
}

static int core_route(pt_request_t *r)
{
    tr("R");
    core_runs[0]++;
    if (core_rc[0] == PT_OK)
        r->route = &route;
    return core_rc[0];
}

static int core_check(pt_request_t *r)
{
    tr("C");
    core_runs[1]++;
    return core_rc[1];
}

static int core_content(pt_request_t *r)
{
    tr("X");
    core_runs[2]++;
    return core_rc[2];
}

static const pt_phase_core_t core = { core_route, core_check, core_content };

static void reset(void)
{
    memset(fakes, 0, sizeof(fakes));
    memset(mods, 0, sizeof(mods));
    memset(&req, 0, sizeof(req));
    memset(core_rc, 0, sizeof(core_rc));
    memset(core_runs, 0, sizeof(core_runs));
    nfakes = 0;
    trace[0] = '\0';
    route_in_post_read = no_route_after = 0;
}

static fake_t *fake(const char *name)
{
    fake_t *f = &fakes[nfakes];

    snprintf(f->name, sizeof(f->name), "%s", name);
    f->m.name = f->name;
    f->m.index = (unsigned) nfakes;
    mods[nfakes++] = &f->m;
    return f;
}

/* f takes part in phase p: its first call returns first, later ones then. */
static void on(fake_t *f, unsigned p, int first, int then)
{
    f->m.phase[p] = fake_handler;
    f->first[p] = first;
    f->then[p] = then;
}

static int run(void)
{
    pt_phase_build(&eng, mods);
    trace[0] = '\0';
    return pt_phase_run(&eng, &core, &req, PT_PHASE_POST_READ);
}

static int resume(void)
{
    trace[0] = '\0';
    return pt_phase_resume(&eng, &core, &req);
}

static void test_build(void)
{
    reset();
    fake_t *a = fake("a"), *b = fake("b"), *c = fake("c"), *d = fake("d");
    on(a, PT_PHASE_ACCESS, D, D);
    on(a, PT_PHASE_LIMIT, D, D);
    on(c, PT_PHASE_POST_READ, D, D);
    on(c, PT_PHASE_PRE_CONTENT, D, D);
    c->m.log = fake_log;
    d->m.log = fake_log;
    (void) b;
    pt_phase_build(&eng, mods);

    is(eng.n, 4, "four handlers, four entries");
    ok(eng.entries[0].module == &c->m && eng.entries[0].phase == PT_PHASE_POST_READ,
       "post-read first");
    ok(eng.entries[1].module == &a->m && eng.entries[1].phase == PT_PHASE_ACCESS, "then access");
    ok(eng.entries[2].module == &a->m && eng.entries[2].phase == PT_PHASE_LIMIT,
       "then limit (post-access is empty)");
    ok(eng.entries[3].module == &c->m && eng.entries[3].phase == PT_PHASE_PRE_CONTENT,
       "then pre-content");
    unsigned of_b = 0;
    for (unsigned i = 0; i < eng.n; i++)
        of_b += eng.entries[i].module == &b->m;
    is(of_b, 0, "a module without handlers has no entry");
    is(eng.start[PT_PHASE_ACCESS], 1, "access starts at 1");
    is(eng.start[PT_PHASE_POST_ACCESS], 2, "the empty post-access phase starts where limit does");
    is(eng.start[PT_PHASE_LIMIT], 2, "limit starts at 2");
    is(eng.start[PT_PHASE_MAX], 4, "the end is n");
    is(eng.entries[0].next, 1, "post-read's next phase starts at 1");
    is(eng.entries[1].next, 2, "access's at 2");
    is(eng.entries[3].next, 4, "pre-content's at the end");
    is(eng.nlog, 2, "two log hooks, no slot for the others");

    reset();
    pt_phase_build(&eng, mods);
    is(eng.n, 0, "no modules, no entries");
    is(eng.nlog, 0, "and no log hooks");
}

/* The compiled-in table: one entry per phase handler, in phase order. */
static void test_build_real(void)
{
    unsigned want = 0, logs = 0;

    pt_module_setup();
    for (size_t i = 0; pt_modules[i]; i++) {
        for (unsigned p = 0; p < PT_PHASE_MAX; p++)
            want += pt_modules[i]->phase[p] != NULL;
        logs += pt_modules[i]->log != NULL;
    }
    is(pt_phase_engine.n, want, "pt_module_setup builds one entry per handler of pt_modules");
    is(pt_phase_engine.nlog, logs, "and one log slot per log hook");
    bool sorted = true;
    for (unsigned i = 0; i < pt_phase_engine.n; i++) {
        const pt_phase_entry_t *ph = &pt_phase_engine.entries[i];
        sorted &= ph->handler == ph->module->phase[ph->phase];
        sorted &= i == 0 || ph->phase >= pt_phase_engine.entries[i - 1].phase;
    }
    ok(sorted, "each entry is its module's handler, phases in order");
}

static void test_declined(void)
{
    reset();
    fake_t *a = fake("a"), *b = fake("b");
    on(a, PT_PHASE_POST_READ, D, D);
    on(a, PT_PHASE_ACCESS, D, D);
    on(b, PT_PHASE_ACCESS, D, D);
    on(b, PT_PHASE_POST_ACCESS, D, D);
    on(a, PT_PHASE_LIMIT, D, D);
    on(b, PT_PHASE_PRE_CONTENT, D, D);
    is(run(), PT_DONE, "all declined: content answered");
    is_str(trace, "a0 R a1 b1 b2 a3 C b4 X",
           "post-read, route, access, post-access, limit, checks, pre-content, content");
    is(route_in_post_read, 0, "post-read sees no route");
    is(no_route_after, 0, "every later phase sees the route");
}

/* pt_module_phase_skip: a module that said it has nothing to do on the
 * route is not called there after routing, but still is in post-read. */
static void test_skip(void)
{
    reset();
    fake_t *a = fake("a"), *b = fake("b");
    on(a, PT_PHASE_POST_READ, D, D);
    on(a, PT_PHASE_ACCESS, D, D);
    on(b, PT_PHASE_ACCESS, D, D);
    on(a, PT_PHASE_LIMIT, D, D);
    route.phase_skip = 0;
    pt_module_phase_skip(&route, &a->m);
    is(run(), PT_DONE, "content answered");
    is_str(trace, "a0 R b1 C X", "a skipped on the route after post-read, b not");
    route.phase_skip = 0;
}

static void test_ok(void)
{
    reset();
    fake_t *a = fake("a"), *b = fake("b");
    on(a, PT_PHASE_POST_READ, PT_OK, PT_OK);
    on(b, PT_PHASE_POST_READ, D, D);
    on(a, PT_PHASE_ACCESS, PT_OK, PT_OK);
    on(b, PT_PHASE_ACCESS, D, D);
    on(b, PT_PHASE_LIMIT, D, D);
    is(run(), PT_DONE, "PT_OK: the request goes on");
    is_str(trace, "a0 R a1 b3 C X", "PT_OK skips the rest of its phase, not the next phase");
}

static void test_again(void)
{
    reset();
    fake_t *a = fake("a"), *b = fake("b"), *s = fake("s"), *e = fake("e");
    on(a, PT_PHASE_POST_READ, D, D);
    on(b, PT_PHASE_ACCESS, D, D);
    on(s, PT_PHASE_ACCESS, PT_AGAIN, D);
    on(e, PT_PHASE_ACCESS, D, D);
    on(e, PT_PHASE_LIMIT, D, D);
    is(run(), PT_AGAIN, "a handler suspends");
    is_str(trace, "a0 R b1 s1", "nothing after it ran");
    ok(eng.entries[req.phase_index].module == &s->m, "the resume index is on the suspended one");
    is(resume(), PT_DONE, "resumed through content");
    is_str(trace, "s1 e1 e3 C X", "resume re-enters that handler, then the rest");
    is(a->runs[PT_PHASE_POST_READ], 1, "post-read ran once");
    is(b->runs[PT_PHASE_ACCESS], 1, "the handler before the suspended one ran once");
    is(s->runs[PT_PHASE_ACCESS], 2, "the suspended one ran twice");
    is(e->runs[PT_PHASE_ACCESS], 1, "the one after it once");
    is(core_runs[0], 1, "routing ran once");
    is(core_runs[1], 1, "the checks ran once");
    is(core_runs[2], 1, "content ran once");

    /* No post-read handler: access starts at entry 0, and resuming there
     * must not route again. */
    reset();
    s = fake("s");
    on(s, PT_PHASE_ACCESS, PT_AGAIN, PT_AGAIN);
    is(run(), PT_AGAIN, "suspended in the first entry");
    is(resume(), PT_AGAIN, "suspended again");
    is(resume(), PT_AGAIN, "and again");
    is_str(trace, "s1", "each resume re-enters only it");
    is(core_runs[0], 1, "routing ran once over three runs");
    is(s->runs[PT_PHASE_ACCESS], 3, "the handler ran three times");
}

static void test_again_post_read(void)
{
    reset();
    fake_t *p = fake("p"), *q = fake("q"), *a = fake("a");
    on(p, PT_PHASE_POST_READ, PT_AGAIN, PT_OK);
    on(q, PT_PHASE_POST_READ, D, D);
    on(a, PT_PHASE_ACCESS, D, D);
    is(run(), PT_AGAIN, "post-read suspends");
    is_str(trace, "p0", "before routing");
    ok(req.route == NULL, "no route yet");
    is(resume(), PT_DONE, "resumed");
    is_str(trace, "p0 R a1 C X", "then routing and the rest (PT_OK skipped q)");
    is(core_runs[0], 1, "routed once");
    is(route_in_post_read + no_route_after, 0, "route NULL in post-read only");
}

static void test_again_pre_content(void)
{
    reset();
    fake_t *a = fake("a"), *x = fake("x");
    on(a, PT_PHASE_LIMIT, D, D);
    on(x, PT_PHASE_PRE_CONTENT, PT_AGAIN, D);
    is(run(), PT_AGAIN, "pre-content suspends");
    is_str(trace, "R a3 C x4", "after the checks");
    is(resume(), PT_DONE, "resumed");
    is_str(trace, "x4 X", "the checks and limit are not run again");
    is(core_runs[1], 1, "checks ran once");
    is(a->runs[PT_PHASE_LIMIT], 1, "limit ran once");
}

static void test_done_and_status(void)
{
    reset();
    fake_t *a = fake("a"), *b = fake("b");
    on(a, PT_PHASE_ACCESS, PT_DONE, PT_DONE);
    on(b, PT_PHASE_ACCESS, D, D);
    on(b, PT_PHASE_LIMIT, D, D);
    is(run(), PT_DONE, "PT_DONE");
    is_str(trace, "R a1", "stops everything after it");
    is(core_runs[2], 0, "no content");

    reset();
    a = fake("a");
    b = fake("b");
    on(a, PT_PHASE_LIMIT, 429, 429);
    on(b, PT_PHASE_LIMIT, D, D);
    on(b, PT_PHASE_PRE_CONTENT, D, D);
    is(run(), 429, "a status goes back to the caller for the error renderer");
    is_str(trace, "R a3", "and nothing else runs");

    reset();
    a = fake("a");
    on(a, PT_PHASE_POST_READ, PT_ERROR, PT_ERROR);
    is(run(), 500, "PT_ERROR is a 500");
    is_str(trace, "a0", "before routing");

    reset();
    a = fake("a");
    on(a, PT_PHASE_ACCESS, 200, 200);
    is(run(), 500, "a status under 400 is no answer: 500");
}

static void test_core_steps(void)
{
    reset();
    fake_t *a = fake("a");
    on(a, PT_PHASE_POST_READ, D, D);
    on(a, PT_PHASE_ACCESS, D, D);
    core_rc[0] = PT_DONE;
    is(run(), PT_DONE, "no route (the core answered 404)");
    is_str(trace, "a0 R", "no phase after routing runs");

    reset();
    a = fake("a");
    on(a, PT_PHASE_LIMIT, D, D);
    on(a, PT_PHASE_PRE_CONTENT, D, D);
    core_rc[1] = PT_DONE;
    is(run(), PT_DONE, "the checks answered (413)");
    is_str(trace, "R a3 C", "after limit, before pre-content");

    reset();
    core_rc[2] = 502;
    is(run(), 502, "content's status goes to the caller");
    reset();
    core_rc[2] = PT_OK;
    is(run(), PT_DONE, "content's PT_OK: it owns the request now");
    is_str(trace, "R C X", "no modules: route, checks, content");
}

static void test_log(void)
{
    reset();
    fake_t *a = fake("a"), *b = fake("b"), *c = fake("c");
    a->m.log = fake_log;
    on(b, PT_PHASE_ACCESS, D, D);
    c->m.log = fake_log;
    pt_phase_build(&eng, mods);
    trace[0] = '\0';
    pt_phase_log(&eng, &req);
    is_str(trace, "log log", "each log hook once, nothing for a module without one");
    route.phase_skip = 0;
    pt_module_phase_skip(&route, &a->m);
    req.route = &route;
    trace[0] = '\0';
    pt_phase_log(&eng, &req);
    is_str(trace, "log", "a module that skips the route does not log on it");
    req.route = NULL;
    trace[0] = '\0';
    pt_phase_log(&eng, &req);
    is_str(trace, "log log", "but does for a request no route took");
    route.phase_skip = 0;
}

int main(void)
{
    test_build();
    test_build_real();
    test_declined();
    test_skip();
    test_ok();
    test_again();
    test_again_post_read();
    test_again_pre_content();
    test_done_and_status();
    test_core_steps();
    test_log();
    return done_testing();
}
