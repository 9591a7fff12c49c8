/*
 * test_consumer.c: pt_consumer_in_group() on a table of cases, and the
 * consumer variables ($consumer, $consumer_plan, $consumer_groups) as a
 * log format renders them, for a consumer and for an anonymous request.
 */
#include "common/pt.h"
#include "common/arena.h"
#include "common/conf.h"
#include "worker/core/consumer.h"
#include "worker/core/var.h"
#include "worker/http/request.h"
#include "test/unit/tap.h"

static const pt_str_t groups[] = { { "admins", 6 }, { "billing", 7 }, { "", 0 } };

static const struct {
    const char *group;
    size_t ngroups;
    bool want;
} cases[] = {
    { "admins", 3, true },
    { "billing", 3, true },
    { "Admins", 3, false },         /* names compare byte for byte */
    { "admin", 3, false },          /* a prefix is not the group */
    { "adminsx", 3, false },
    { "", 3, true },                /* the empty group, listed */
    { "", 2, false },               /* not listed */
    { "billing", 1, false },        /* only ngroups count */
    { "admins", 0, false },
};

static void test_in_group(void)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        pt_consumer_t c = { .id = PT_STR("alice"), .groups = groups,
                            .ngroups = cases[i].ngroups };
        pt_str_t g = { cases[i].group, strlen(cases[i].group) };
        is(pt_consumer_in_group(&c, g), cases[i].want, "\"%s\" in the first %zu groups: %s",
           cases[i].group, cases[i].ngroups, cases[i].want ? "yes" : "no");
    }
    ok(!pt_consumer_in_group(NULL, PT_STR("admins")), "anonymous is in no group");
}

static pt_str_t render(pt_request_t *r, const pt_var_tpl_t *t, bool dash)
{
    return pt_var_render(t, r, PT_VAR_LOG, dash, 0);
}

static char *cstr(pt_str_t s)
{
    static char buf[256];

    snprintf(buf, sizeof(buf), "%.*s", (int) s.len, s.p ? s.p : "");
    return buf;
}

static void test_vars(void)
{
    pt_arena_t *a = pt_arena_create(4096, 1 << 20);
    pt_conf_ctx_t cf = { .arena = a };
    pt_var_tpl_t *t = pt_var_compile(&cf, NULL, "$consumer|$consumer_plan|${consumer_groups}");
    pt_request_t r = { .arena = a };

    ok(t != NULL, "the consumer variables compile");
    is_str(cstr(render(&r, t, true)), "-|-|-", "anonymous: all empty (a dash in a log)");
    is_str(cstr(render(&r, t, false)), "||", "anonymous: all empty");

    pt_consumer_t c = { .id = PT_STR("alice"), .groups = groups, .ngroups = 2,
                        .plan = PT_STR("gold") };
    r.consumer = &c;
    is_str(cstr(render(&r, t, true)), "alice|gold|admins,billing", "a consumer");
    c.ngroups = 1;
    c.plan = PT_STR_NULL;
    is_str(cstr(render(&r, t, true)), "alice|-|admins", "one group, no plan");
    c.ngroups = 0;
    is_str(cstr(render(&r, t, true)), "alice|-|-", "no groups");
    pt_str_t odd[] = { PT_STR("a\"b"), PT_STR("c") };
    c.groups = odd;
    c.ngroups = 2;
    is_str(cstr(render(&r, t, false)), "alice||a\\x22b,c", "group names escaped like any value");
    pt_arena_destroy(a);
}

int main(void)
{
    test_in_group();
    test_vars();
    return done_testing();
}
