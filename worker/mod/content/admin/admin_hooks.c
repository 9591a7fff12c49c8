/*
 * admin_hooks.c: the tables of zone readers and actions other modules
 * register for the admin API (admin_hooks.h). Process memory, filled
 * before or right after fork; read by the admin handler only.
 */
#include "common/pt.h"
#include "worker/mod/content/admin/admin_hooks.h"

typedef struct {
    char name[PT_ADMIN_HOOK_NAME_MAX + 1];
    pt_admin_zone_reader_pt reader;     /* one of the two, by table */
    pt_admin_action_pt action;
    void *data;
} pt_admin_hook_t;

typedef struct {
    pt_admin_hook_t v[PT_ADMIN_HOOKS_MAX];
    size_t n;
} pt_admin_hooks_t;

static pt_admin_hooks_t pt_admin_readers, pt_admin_actions;

static int pt_admin_hook_add(pt_admin_hooks_t *t, const char *name, pt_admin_hook_t h)
{
    size_t len = name ? strlen(name) : 0;
    size_t i = 0;

    if (len == 0 || len > PT_ADMIN_HOOK_NAME_MAX || (h.reader == NULL && h.action == NULL))
        return PT_ERROR;
    while (i < t->n && strcmp(t->v[i].name, name) != 0)
        i++;
    if (i == t->n) {
        if (t->n == PT_ADMIN_HOOKS_MAX)
            return PT_ERROR;
        t->n++;
    }
    memcpy(h.name, name, len + 1);
    t->v[i] = h;
    return PT_OK;
}

int pt_admin_zone_reader_add(const char *name, pt_admin_zone_reader_pt fn, void *data)
{
    return pt_admin_hook_add(&pt_admin_readers, name,
                             (pt_admin_hook_t) { .reader = fn, .data = data });
}

int pt_admin_action_add(const char *name, pt_admin_action_pt fn, void *data)
{
    return pt_admin_hook_add(&pt_admin_actions, name,
                             (pt_admin_hook_t) { .action = fn, .data = data });
}

json_t *pt_admin_zones_read(void)
{
    json_t *o = json_object();

    for (size_t i = 0; o && i < pt_admin_readers.n; i++) {
        const pt_admin_hook_t *h = &pt_admin_readers.v[i];
        json_t *v = h->reader(h->data);
        if (v)                  /* NULL: nothing to show now */
            json_object_set_new(o, h->name, v);
    }
    return o;
}

bool pt_admin_action_find(const char *name, pt_admin_action_pt *fn, void **data)
{
    for (size_t i = 0; i < pt_admin_actions.n; i++)
        if (strcmp(pt_admin_actions.v[i].name, name) == 0) {
            *fn = pt_admin_actions.v[i].action;
            *data = pt_admin_actions.v[i].data;
            return true;
        }
    return false;
}

json_t *pt_admin_actions_list(void)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < pt_admin_actions.n; i++)
        json_array_append_new(a, json_string(pt_admin_actions.v[i].name));
    return a;
}
