/*
 * test_mod_skeleton.c: the test to copy along with worker/mod/mod_skeleton.c.
 * It includes the module's .c to reach its statics, parses route settings
 * through the module's own directive table from config text, runs the
 * load-time hooks the way master/conf_load.c does, and calls the phase
 * handlers on a request that needs no connection. (The content handler
 * sends a response, which needs one: that belongs in an integration test.)
 */
#include "worker/mod/mod_skeleton.c"

#include "worker/core/conf.h"
#include "worker/core/phase.h"
#include "test/unit/tap.h"

static pt_arena_t *arena;
static pt_conf_ctx_t cf;
static pt_conf_t conf;
static pt_skeleton_main_t mconf;
static pt_skeleton_conf_t dconf;    /* defaults { } */

static void setup(void)
{
    arena = pt_arena_create(4096, 0);
    cf = (pt_conf_ctx_t) { .arena = arena, .file = "test.conf" };
    pt_skeleton_module.index = 0;
    pt_conf_unset(pt_skeleton_directives, PT_SCOPE_MAIN, &mconf);
    pt_conf_defaults(&cf, pt_skeleton_directives, PT_SCOPE_MAIN, &mconf);
    pt_conf_unset(pt_skeleton_directives, PT_SCOPE_ROUTE, &dconf);
    pt_conf_defaults(&cf, pt_skeleton_directives, PT_SCOPE_ROUTE, &dconf);
    conf.mod_main[0] = &mconf;
    conf.mod_defaults[0] = &dconf;
}

/* A route from text (its settings, as inside routes = ( { ... } )) through
 * the table and init_route; returns init_route's result, or PT_ERROR when
 * a row refused a value. */
static int route_from(const char *text, pt_route_t *route, pt_skeleton_conf_t *sc)
{
    config_t lc;
    int rc = PT_ERROR;

    memset(route, 0, sizeof(*route));
    route->name = "r";
    route->mod_conf[0] = sc;
    pt_conf_unset(pt_skeleton_directives, PT_SCOPE_ROUTE, sc);
    cf.nerrors = 0;
    config_init(&lc);
    if (config_read_string(&lc, text) == CONFIG_TRUE) {
        pt_conf_target_t t = { pt_skeleton_directives, sc };
        if (pt_conf_walk(&cf, config_root_setting(&lc), PT_SCOPE_ROUTE, &t, 1, NULL) == PT_OK) {
            /* As the route loader does: defaults { } merged, then init_route. */
            pt_conf_merge(pt_skeleton_directives, PT_SCOPE_ROUTE, sc, &dconf);
            rc = pt_skeleton_init_route(&cf, &conf, route, sc, &dconf);
        }
    }
    config_destroy(&lc);
    return rc;
}

static void test_load(void)
{
    is(pt_skeleton_init_main(&cf, &conf, &mconf), PT_OK, "init_main takes the defaults");
    is(mconf.table_size, 65536, "skeleton_table_size defaults to 64k");
    pt_skeleton_main_t small = { .table_size = 1024 };
    is(pt_skeleton_init_main(&cf, &conf, &small), PT_ERROR, "init_main refuses a small table");

    pt_route_t route;
    pt_skeleton_conf_t sc;
    is(route_from("", &route, &sc), PT_OK, "a route without the directives loads");
    ok(route.handler == NULL, "and is not claimed");
    ok(route.phase_skip & 1, "off: its phase and log hooks skip the route");
    ok(route.filters == NULL, "and it adds no filter");
    is(sc.enabled, 0, "merged from the defaults: off");
    is(sc.limit, 10, "skeleton_limit 10");
    is(sc.timeout, 5000, "skeleton_timeout 5s");
    is(sc.max_size, 1024 * 1024, "skeleton_max_size 1M");
    is(sc.mode, PT_SKELETON_OFF, "skeleton_mode off");

    is(route_from("skeleton = true; skeleton_limit = 20; skeleton_mode = \"enforce\";\n"
                  "skeleton_group = \"ops\";", &route, &sc), PT_OK, "a route that sets them");
    is(sc.limit, 20, "its own limit");
    is(sc.mode, PT_SKELETON_ENFORCE, "its own mode");
    is((long long) sc.group_str.len, 3, "the group, compiled to a pt_str_t");
    ok(route.handler == NULL, "on but not answering: not claimed");
    ok(!(route.phase_skip & 1), "on: its hooks run on the route");
    ok(route.filters && route.filters->header, "and its header filter is registered");
    is(route_from("skeleton_limit = 2000;", &route, &sc), PT_ERROR, "the bounds hold");
    is(route_from("skeleton_answer = true;", &route, &sc), PT_ERROR,
       "skeleton_answer alone is refused");
    is(route_from("skeleton = true; skeleton_answer = true;", &route, &sc), PT_OK,
       "skeleton_answer with skeleton");
    ok(route.handler == &pt_skeleton_module, "claims the route");
}

static void test_phases(void)
{
    pt_route_t route;
    pt_skeleton_conf_t sc;
    pt_request_t r = { .arena = arena, .conf = &conf };

    route_from("", &route, &sc);
    is(pt_skeleton_post_read(&r), PT_DECLINED, "post-read, no route yet: declines");
    r.route = &route;
    is(pt_skeleton_access(&r), PT_DECLINED, "off: access declines");
    ok(r.ctx[0] == NULL, "and keeps no state");
    is(pt_skeleton_post_access(&r), PT_DECLINED, "post-access declines");
    is(pt_skeleton_limit(&r), PT_DECLINED, "limit declines");
    is(pt_skeleton_pre_content(&r), PT_DECLINED, "pre-content declines");
    pt_skeleton_requests = 0;
    pt_skeleton_log(&r);
    is((long long) pt_skeleton_requests, 0, "the log hook counts nothing");

    route_from("skeleton = true; skeleton_mode = \"enforce\"; skeleton_group = \"ops\";",
               &route, &sc);
    is(pt_skeleton_access(&r), PT_DECLINED, "on: access declines");
    pt_skeleton_ctx_t *ctx = r.ctx[0];
    ok(ctx && ctx->seen == 1, "with its state in r->ctx");
    is(pt_skeleton_post_access(&r), 403, "enforce: anonymous is refused");
    pt_str_t ops = PT_STR("ops");
    pt_consumer_t who = { .id = PT_STR("alice"), .groups = &ops, .ngroups = 1 };
    r.consumer = &who;
    is(pt_skeleton_post_access(&r), PT_DECLINED, "a consumer in the group passes");
    pt_skeleton_log(&r);
    is((long long) pt_skeleton_requests, 1, "the log hook counts");
    r.route = NULL;
    pt_skeleton_log(&r);
    is((long long) pt_skeleton_requests, 1, "a request without a route is not its own");

    char buf[PT_VAR_BUF];
    pt_str_t seen = pt_skeleton_var_seen(&r, NULL, buf);
    ok(seen.len == 1 && seen.p[0] == '1', "$skeleton_seen renders the access handler's count");

    pt_http_field_t fields[4] = { { PT_STR("X-Skeleton"), PT_STR("0"), PT_HDR_OTHER, 0 } };
    pt_response_t resp = { .status = 200, .fields = fields, .nfields = 1, .cap = 4,
                           .content_length = -1 };
    is(pt_skeleton_header_filter(&r, &resp), PT_OK, "the header filter passes");
    const pt_http_field_t *f = pt_response_find(&resp, PT_STR("X-Skeleton"));
    ok(f && f->value.len == 1 && f->value.p[0] == '1', "and replaced the field");
    is(pt_skeleton_accept(NULL), PT_OK, "the accept hook lets connections in");
}

static void test_worker_and_engine(void)
{
    const pt_module_t *mods[] = { &pt_skeleton_module, NULL };
    pt_phase_engine_t e;

    is(pt_skeleton_init_worker(&conf), PT_OK, "init_worker");
    pt_skeleton_retire();
    ok(pt_skeleton_retiring, "retire marks the worker");
    pt_skeleton_flush();
    pt_skeleton_exit_worker(&conf);
    pt_phase_build(&e, mods);
    is(e.n, PT_PHASE_MAX, "one engine entry per phase it handles");
    is(e.nlog, 1, "one log hook");
}

int main(void)
{
    setup();
    test_load();
    test_phases();
    test_worker_and_engine();
    pt_arena_destroy(arena);
    return done_testing();
}
