/*
 * zone_conf.c: load-time requests for shared-memory zones, and their
 * attachment by the master. A module declares a zone with a PT_CONF_ZONE
 * row (or, for a layer such as TLS, calls pt_conf_zone_add()); each zone
 * carries its owner's name and magic, so a name claimed twice is caught at
 * load and a reload adopts only a zone its owner made in the same layout.
 * The master attaches every zone of a generation before forking it.
 */
#include "common/pt.h"
#include "common/conf.h"
#include "common/log.h"
#include "common/shm.h"
#include "worker/core/conf.h"
#include "worker/core/module.h"

/* pt_conf_zone_add(), with errors at cz's place when it is given. */
static pt_zone_req_t *pt_zone_conf_add(pt_conf_ctx_t *cf, pt_conf_t *conf,
                                       const pt_conf_zone_t *cz, const char *name, size_t size,
                                       const char *owner, uint32_t magic, pt_zone_init_pt init,
                                       void *data)
{
    pt_zone_req_t **tail = &conf->zones;
    char msg[256];

    for (pt_zone_req_t *z = conf->zones; z; z = z->next) {
        tail = &z->next;
        if (strcmp(z->name, name) != 0)
            continue;
        if (strcmp(z->owner, owner) != 0)
            snprintf(msg, sizeof(msg), "zone \"%s\" is declared by both %s and %s", name,
                     z->owner, owner);
        else if (z->magic != magic)
            snprintf(msg, sizeof(msg), "zone \"%s\" is declared by %s with two layouts", name,
                     owner);
        else if (z->size != size)
            snprintf(msg, sizeof(msg), "zone \"%s\" declared with two sizes", name);
        else
            return z;
        if (cz)
            pt_conf_error_at(cf, cz->file, cz->line, "%s", msg);
        else
            pt_conf_error(cf, NULL, "%s", msg);
        return NULL;
    }
    pt_zone_req_t *z = pt_arena_calloc(cf->arena, sizeof(*z));
    if (z == NULL)
        return NULL;
    z->name = name;
    z->size = size;
    z->owner = owner;
    z->magic = magic;
    z->init = init;
    z->data = data;
    *tail = z;
    return z;
}

pt_zone_req_t *pt_conf_zone_add(pt_conf_ctx_t *cf, pt_conf_t *conf, const char *name,
                                size_t size, const char *owner, uint32_t magic,
                                pt_zone_init_pt init, void *data)
{
    return pt_zone_conf_add(cf, conf, NULL, name, size, owner, magic, init, data);
}

/* The zones of m's rows in one struct of its (NULL: none). */
static int pt_zone_conf_scan(pt_conf_ctx_t *cf, pt_conf_t *conf, const pt_module_t *m,
                             unsigned scope, const void *base)
{
    int rc = PT_OK;

    for (const pt_directive_t *d = m->directives; base && d->name; d++) {
        if (d->type != PT_CONF_ZONE || !(d->scope & scope))
            continue;
        pt_conf_zone_t *cz = *(pt_conf_zone_t *const *) (const void *) ((const char *) base
                                                                       + d->offset);
        /* A value merged from defaults { } is the same one: joined once. */
        if (cz == NULL || cz->ref != NULL)
            continue;
        if ((cz->ref = pt_zone_conf_add(cf, conf, cz, cz->name, (size_t) cz->size, m->name,
                                        m->zone_magic, m->init_zone, cz)) == NULL)
            rc = PT_ERROR;
    }
    return rc;
}

int pt_zone_conf_module(pt_conf_ctx_t *cf, pt_conf_t *conf, const pt_module_t *m)
{
    int rc = PT_OK;

    if (m->directives == NULL)
        return PT_OK;
    if (pt_zone_conf_scan(cf, conf, m, PT_SCOPE_MAIN, conf->mod_main[m->index]) != PT_OK)
        rc = PT_ERROR;
    if (pt_zone_conf_scan(cf, conf, m, PT_SCOPE_ROUTE, conf->mod_defaults[m->index]) != PT_OK)
        rc = PT_ERROR;
    for (size_t i = 0; i < conf->nroutes; i++)
        if (pt_zone_conf_scan(cf, conf, m, PT_SCOPE_ROUTE_ENTRY,
                              conf->routes[i].mod_conf[m->index]) != PT_OK)
            rc = PT_ERROR;
    return rc;
}

int pt_zone_conf_modules(pt_conf_ctx_t *cf, pt_conf_t *conf)
{
    int rc = PT_OK;

    for (size_t i = 0; i < pt_nmodules; i++)
        if (pt_zone_conf_module(cf, conf, pt_modules[i]) != PT_OK)
            rc = PT_ERROR;
    return rc;
}

int pt_zone_conf_attach(pt_shm_t *shm, pt_conf_t *conf, char *err, size_t len)
{
    for (pt_zone_req_t *z = conf->zones; z; z = z->next) {
        bool adopted = false;
        z->zone = pt_shm_zone_attach_owned(shm, z->name, z->size, conf->generation, z->owner,
                                           z->magic, &adopted);
        if (z->zone == NULL) {
            snprintf(err, len, "cannot place zone \"%s\" of %zu bytes in "
                     "shared memory: %s (raise shm_size)", z->name, z->size, strerror(errno));
            return PT_ERROR;
        }
        if (z->init && z->init(z->zone, adopted ? z->zone : NULL, z->data) != PT_OK) {
            snprintf(err, len, "cannot initialise zone \"%s\"", z->name);
            return PT_ERROR;
        }
        pt_log(PT_LOG_INFO, "zone \"%s\" (%zu bytes) %s", z->name, z->size,
               adopted ? "kept from the previous generation" : "created");
    }
    return PT_OK;
}
