/*
 * consumer.c: the consumer's groups as one field value, for the identity
 * fields sent upstream (mod/auth) and the $consumer_groups variable.
 */
#include "common/pt.h"
#include "common/arena.h"
#include "worker/core/consumer.h"

#include <string.h>

pt_str_t pt_consumer_groups_join(pt_arena_t *a, const pt_consumer_t *c, size_t *left_out)
{
    size_t len = 0, n = 0, left = 0;

    for (size_t i = 0; i < c->ngroups; i++)
        len += c->groups[i].len + 1;
    char *p = len ? pt_arena_alloc(a, len) : NULL;
    if (p == NULL)
        return PT_STR_NULL;
    for (size_t i = 0; i < c->ngroups; i++) {
        if (memchr(c->groups[i].p, ',', c->groups[i].len)) {
            left++;
            continue;
        }
        if (n)
            p[n++] = ',';
        memcpy(p + n, c->groups[i].p, c->groups[i].len);
        n += c->groups[i].len;
    }
    if (left_out)
        *left_out = left;
    return (pt_str_t) { p, n };
}
