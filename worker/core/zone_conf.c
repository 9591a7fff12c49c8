/*
 * zone_conf.c: load-time requests for shared-memory zones. A module asks
 * while its directives are parsed; the master attaches every zone of a
 * generation before forking it (master/master.c).
 */
#include "common/pt.h"
#include "common/conf.h"
#include "worker/core/conf.h"

pt_zone_req_t *pt_conf_zone_add(pt_conf_ctx_t *cf, pt_conf_t *conf, const char *name,
                                size_t size, int (*init)(struct pt_zone_s *, bool, void *),
                                void *data)
{
    pt_zone_req_t **tail = &conf->zones;

    for (pt_zone_req_t *z = conf->zones; z; z = z->next) {
        if (strcmp(z->name, name) == 0) {
            if (z->size != size) {
                pt_conf_error(cf, NULL, "zone \"%s\" declared with two sizes", name);
                return NULL;
            }
            return z;
        }
        tail = &z->next;
    }
    pt_zone_req_t *z = pt_arena_calloc(cf->arena, sizeof(*z));
    if (z == NULL)
        return NULL;
    z->name = name;
    z->size = size;
    z->init = init;
    z->data = data;
    *tail = z;
    return z;
}

