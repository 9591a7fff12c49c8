/*
 * test_admin_hooks.c: the registry other modules fill for the admin API:
 * zone readers answer under their names, actions are found by name, a
 * name registered again replaces its entry, bad names and a full table
 * are refused.
 */
#include "common/pt.h"
#include "worker/mod/content/admin/admin_hooks.h"
#include "test/unit/tap.h"

static json_t *reader_cache(void *data)
{
    return json_pack("{s:I,s:I}", "hits", (json_int_t) *(int *) data, "misses", (json_int_t) 1);
}

static json_t *reader_none(void *data)
{
    (void) data;
    return NULL;
}

static unsigned action_purge(const json_t *body, json_t **answer, const char **why, void *data)
{
    (void) data;
    if (!json_is_string(json_object_get(body, "key"))) {
        *why = "give \"key\"";
        return 400;
    }
    *answer = json_pack("{s:i}", "purged", 1);
    return 200;
}

static unsigned action_other(const json_t *body, json_t **answer, const char **why, void *data)
{
    (void) body;
    (void) answer;
    (void) why;
    (void) data;
    return 204;
}

int main(void)
{
    int hits = 7;
    pt_admin_action_pt fn = NULL;
    void *data = NULL;
    char name[80];

    json_t *z = pt_admin_zones_read();
    ok(json_is_object(z) && json_object_size(z) == 0, "no reader: an empty object");
    json_decref(z);
    json_t *a = pt_admin_actions_list();
    ok(json_is_array(a) && json_array_size(a) == 0, "no action: an empty list");
    json_decref(a);

    ok(pt_admin_zone_reader_add("cache", reader_cache, &hits) == PT_OK, "reader added");
    ok(pt_admin_zone_reader_add("quiet", reader_none, NULL) == PT_OK, "a second reader");
    z = pt_admin_zones_read();
    ok(json_integer_value(json_object_get(json_object_get(z, "cache"), "hits")) == 7,
       "the reader's answer under its name");
    ok(json_object_get(z, "quiet") == NULL && json_object_size(z) == 1,
       "a reader with nothing now: left out");
    json_decref(z);
    hits = 9;
    ok(pt_admin_zone_reader_add("cache", reader_cache, &hits) == PT_OK, "registered again");
    z = pt_admin_zones_read();
    ok(json_object_size(z) == 1
       && json_integer_value(json_object_get(json_object_get(z, "cache"), "hits")) == 9,
       "replaced, not added");
    json_decref(z);

    ok(pt_admin_action_add("cache.purge", action_purge, NULL) == PT_OK, "action added");
    ok(pt_admin_action_find("cache.purge", &fn, &data) && fn == action_purge, "found by name");
    ok(!pt_admin_action_find("cache.purg", &fn, &data), "a prefix is not the name");
    json_t *body = json_pack("{s:s}", "key", "/x"), *answer = NULL;
    const char *why = NULL;
    ok(fn(body, &answer, &why, data) == 200 && answer, "the action runs");
    json_decref(body);
    json_decref(answer);
    ok(pt_admin_action_add("cache.purge", action_other, NULL) == PT_OK
       && pt_admin_action_find("cache.purge", &fn, &data) && fn == action_other,
       "an action registered again is replaced");
    a = pt_admin_actions_list();
    ok(json_array_size(a) == 1 && strcmp(json_string_value(json_array_get(a, 0)),
                                         "cache.purge") == 0, "listed once");
    json_decref(a);

    ok(pt_admin_action_add("", action_other, NULL) == PT_ERROR, "empty name refused");
    ok(pt_admin_action_add(NULL, action_other, NULL) == PT_ERROR, "no name refused");
    ok(pt_admin_action_add("x", NULL, NULL) == PT_ERROR, "no function refused");
    memset(name, 'n', PT_ADMIN_HOOK_NAME_MAX + 1);
    name[PT_ADMIN_HOOK_NAME_MAX + 1] = '\0';
    ok(pt_admin_action_add(name, action_other, NULL) == PT_ERROR, "too long a name refused");
    name[PT_ADMIN_HOOK_NAME_MAX] = '\0';
    ok(pt_admin_action_add(name, action_other, NULL) == PT_OK, "the longest name taken");

    int full = PT_OK;
    for (int i = 0; i < PT_ADMIN_HOOKS_MAX + 1 && full == PT_OK; i++) {
        snprintf(name, sizeof(name), "a%d", i);
        full = pt_admin_action_add(name, action_other, NULL);
    }
    ok(full == PT_ERROR, "a full table refuses a new name");
    ok(pt_admin_action_add("cache.purge", action_purge, NULL) == PT_OK,
       "a full table still replaces");
    return done_testing();
}
