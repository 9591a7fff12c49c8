/*
 * test_zone_conf.c: zones declared through the module interface: one name
 * is one owner's (two claimants are an error naming both), and a reload
 * hands init_zone the previous generation's zone only when its name,
 * size, owner and magic all match; otherwise a fresh, empty zone.
 */
#include "common/pt.h"
#include "common/conf.h"
#include "common/shm.h"
#include "worker/core/conf.h"
#include "worker/core/module.h"
#include "test/unit/tap.h"

#define KB 1024

typedef struct {
    pt_conf_zone_t *zone;
} test_mconf_t;

static const pt_directive_t test_rows[] = {
    { "zone", PT_CONF_ZONE, PT_SCOPE_MAIN | PT_SCOPE_ROUTE, offsetof(test_mconf_t, zone), NULL,
      NULL, NULL, NULL, NULL },
    PT_DIRECTIVE_END
};

static int test_inits;
static pt_zone_t *test_zone, *test_old;
static void *test_data;

static int test_init(pt_zone_t *zone, pt_zone_t *old, void *data)
{
    test_inits++;
    test_zone = zone;
    test_old = old;
    test_data = data;
    return PT_OK;
}

static pt_module_t test_mx = { .name = "mx", .directives = test_rows, .zone_magic = 7,
                               .init_zone = test_init, .index = 0 };
static pt_module_t test_my = { .name = "my", .directives = test_rows, .zone_magic = 7,
                               .init_zone = test_init, .index = 1 };

static pt_conf_t *test_conf_new(pt_arena_t *a, unsigned generation)
{
    pt_conf_t *conf = pt_arena_calloc(a, sizeof(*conf));

    conf->arena = a;
    conf->generation = generation;
    return conf;
}

static void test_ctx(pt_conf_ctx_t *cf, pt_arena_t *a)
{
    memset(cf, 0, sizeof(*cf));
    cf->arena = a;
    cf->file = "test.conf";
}

static void test_add_rules(void)
{
    pt_arena_t *a = pt_arena_create(4096, 0);
    pt_conf_t *conf = test_conf_new(a, 1);
    pt_conf_ctx_t cf;

    test_ctx(&cf, a);
    pt_zone_req_t *z = pt_conf_zone_add(&cf, conf, "a", 64 * KB, "mx", 7, test_init, NULL);
    ok(z != NULL && cf.nerrors == 0, "a zone is declared");
    ok(pt_conf_zone_add(&cf, conf, "a", 64 * KB, "mx", 7, NULL, NULL) == z,
       "the same name, owner, magic and size again is the same zone");
    ok(z->init == test_init, "which keeps the first init");
    ok(pt_conf_zone_add(&cf, conf, "a", 128 * KB, "mx", 7, NULL, NULL) == NULL
       && strstr(cf.errors, "zone \"a\" declared with two sizes"), "another size is an error");
    ok(pt_conf_zone_add(&cf, conf, "a", 64 * KB, "my", 7, NULL, NULL) == NULL
       && strstr(cf.errors, "zone \"a\" is declared by both mx and my"),
       "another owner is an error naming both (%s)", cf.errors);
    ok(pt_conf_zone_add(&cf, conf, "a", 64 * KB, "mx", 8, NULL, NULL) == NULL
       && strstr(cf.errors, "zone \"a\" is declared by mx with two layouts"),
       "another magic of the same owner is an error");
    ok(pt_conf_zone_add(&cf, conf, "b", 64 * KB, "my", 1, NULL, NULL) != NULL,
       "another name is another zone");
    pt_arena_destroy(a);
}

/* A PT_CONF_ZONE value as the walker makes it, from "zone = <text>;" at
 * the given line of test.conf. */
static pt_conf_zone_t *test_value(pt_conf_ctx_t *cf, const char *text, unsigned line)
{
    char buf[256];
    config_t c;

    config_init(&c);
    snprintf(buf, sizeof(buf), "%*szone = %s;", (int) line - 1, "", text);
    for (unsigned i = 0; i + 1 < line; i++)
        buf[i] = '\n';
    config_read_string(&c, buf);
    pt_conf_zone_t *z = pt_conf_get_zone(cf, config_lookup(&c, "zone"), NULL);
    config_destroy(&c);
    return z;
}

static void test_modules(void)
{
    pt_arena_t *a = pt_arena_create(4096, 0);
    pt_conf_t *conf = test_conf_new(a, 1);
    pt_conf_ctx_t cf;
    test_mconf_t mx = { 0 }, my = { 0 }, route = { 0 };

    test_ctx(&cf, a);
    mx.zone = test_value(&cf, "\"limits:64k\"", 3);
    my.zone = test_value(&cf, "\"limits:64k\"", 7);
    ok(mx.zone && my.zone && mx.zone->line == 3, "zone values keep their line");
    conf->mod_main[0] = &mx;
    ok(pt_zone_conf_module(&cf, conf, &test_mx) == PT_OK && cf.nerrors == 0,
       "a module's zone row becomes a zone request");
    pt_zone_req_t *req = mx.zone->ref;
    ok(req && strcmp(req->name, "limits") == 0 && req->size == 64 * KB,
       "named and sized as written");
    ok(req && strcmp(req->owner, "mx") == 0 && req->magic == 7 && req->init == test_init
       && req->data == mx.zone, "owned by the module, with its magic, init_zone and value");

    /* A route of the same module naming the same zone shares it. */
    pt_route_t *r = pt_arena_calloc(a, sizeof(*r));
    route.zone = test_value(&cf, "\"limits:64k\"", 9);
    r->mod_conf[0] = &route;
    conf->routes = r;
    conf->nroutes = 1;
    ok(pt_zone_conf_module(&cf, conf, &test_mx) == PT_OK && route.zone->ref == req,
       "the same module naming it again shares the zone");

    conf->mod_main[1] = &my;
    ok(pt_zone_conf_module(&cf, conf, &test_my) == PT_ERROR, "a second module claiming it fails");
    ok(cf.errors && strstr(cf.errors, "test.conf:7: zone \"limits\" is declared by both mx and my"),
       "with an error naming both, at the second declaration (%s)", cf.errors);
    pt_arena_destroy(a);
}

/* One generation asking for zone name of size by owner/magic. */
static pt_zone_t *test_generation(pt_shm_t *shm, unsigned gen, const char *name, size_t size,
                                  const char *owner, uint32_t magic)
{
    pt_arena_t *a = pt_arena_create(4096, 0);
    pt_conf_t *conf = test_conf_new(a, gen);
    pt_conf_ctx_t cf;
    char err[256] = "";
    pt_zone_t *zone = NULL;

    test_ctx(&cf, a);
    test_inits = 0;
    test_zone = test_old = NULL;
    pt_zone_req_t *z = pt_conf_zone_add(&cf, conf, name, size, owner, magic, test_init, NULL);
    if (z && pt_zone_conf_attach(shm, conf, err, sizeof(err)) == PT_OK && test_inits == 1
        && test_zone == z->zone)
        zone = z->zone;
    else
        diag("generation %u: %s", gen, err);
    pt_arena_destroy(a);
    return zone;
}

static void test_reload(void)
{
    pt_shm_t *shm = pt_shm_create(pt_shm_overhead() + 8 * pt_shm_zone_footprint(128 * KB));
    pt_zone_t *z1, *z;

    z1 = test_generation(shm, 1, "keys", 64 * KB, "mx", 7);
    ok(z1 != NULL && test_old == NULL, "a new zone: init_zone gets no old zone");
    ok(strcmp(pt_zone_owner(z1), "mx") == 0 && pt_zone_magic(z1) == 7,
       "the zone carries its owner and magic");
    char *secret = pt_zone_alloc(z1, 16);
    strcpy(secret, "kept");
    *pt_zone_root(z1) = secret;

    z = test_generation(shm, 2, "keys", 64 * KB, "mx", 7);
    ok(z == z1 && test_old == z1, "same name, size, owner, magic: the old zone is adopted");
    ok(*pt_zone_root(z) == secret && strcmp(secret, "kept") == 0, "with its contents");

    z = test_generation(shm, 3, "keys", 64 * KB, "my", 7);
    ok(z != NULL && z != z1 && test_old == NULL, "another owner: a fresh zone, no old");
    ok(z && *pt_zone_root(z) == NULL, "empty");
    z = test_generation(shm, 4, "keys", 64 * KB, "mx", 8);
    ok(z != NULL && z != z1 && test_old == NULL, "another magic: a fresh zone, no old");
    z = test_generation(shm, 5, "keys", 128 * KB, "mx", 7);
    ok(z != NULL && z != z1 && test_old == NULL, "another size: a fresh zone, no old");
    z = test_generation(shm, 6, "keys", 64 * KB, "mx", 7);
    ok(z == z1 && test_old == z1 && *pt_zone_root(z) == secret,
       "the owner's own zone, still live, is adopted again");
    ok(strcmp(secret, "kept") == 0, "untouched by the others");
    pt_shm_destroy(shm);
}

int main(void)
{
    test_add_rules();
    test_modules();
    test_reload();
    return done_testing();
}
