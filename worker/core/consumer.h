/*
 * consumer.h: who is asking. An authentication module (access phase) sets
 * r->consumer once it has verified a credential; ACLs (post-access),
 * limits, cache keys and logs read it. NULL means anonymous. The consumer
 * and what it points to belong to the module that set it and live at
 * least as long as the request (its config or the request arena).
 */
#ifndef PT_CONSUMER_H
#define PT_CONSUMER_H

#include "common/pt.h"
#include "common/arena.h"

typedef struct pt_consumer_s {
    pt_str_t id;                /* the name logs and limits key on */
    const pt_str_t *groups;     /* what ACLs grant to */
    size_t ngroups;
    pt_str_t plan;              /* the tier quotas and limits are chosen by; may be empty */
    const void *claims;         /* opaque to the core, owned by the auth module that set it */
} pt_consumer_t;

/* Whether consumer c (NULL: anonymous, in no group) is in group; names
 * compare byte for byte. */
static inline bool pt_consumer_in_group(const pt_consumer_t *c, pt_str_t group)
{
    if (c == NULL)
        return false;
    for (size_t i = 0; i < c->ngroups; i++)
        if (c->groups[i].len == group.len
            && (group.len == 0 || memcmp(c->groups[i].p, group.p, group.len) == 0))
            return true;
    return false;
}

/* c's groups joined with "," in arena a (PT_STR_NULL for none, or out of
 * memory). A group that holds a comma ("staff,admins", from a token) is
 * left out, counted in *left_out when that is not NULL: a reader would
 * take it for two groups, one of them never granted. */
pt_str_t pt_consumer_groups_join(pt_arena_t *a, const pt_consumer_t *c, size_t *left_out);

#endif
