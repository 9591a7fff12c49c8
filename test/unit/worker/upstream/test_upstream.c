/*
 * test_upstream.c: choosing a server (worker/upstream/upstream.h): the
 * exact smooth weighted round-robin sequence, a retry after a failure
 * going to the next server without disturbing the rotation, and a lone
 * server.
 */
#include "common/pt.h"

#include "worker/core/core.h"
#include "worker/upstream/upstream.h"
#include "test/unit/tap.h"

#define NSERVERS_MAX    4

static pt_upstream_t ups[3];
static pt_server_t servers[3][NSERVERS_MAX];
static pt_conf_t conf;

/* Upstream i with one server per weight, named "a", "b", ... */
static void make_upstream(unsigned i, const int64_t *weights, size_t n)
{
    static const char *const names[NSERVERS_MAX] = { "a", "b", "c", "d" };

    ups[i].name = "u";
    ups[i].index = i;
    ups[i].servers = servers[i];
    ups[i].nservers = n;
    for (size_t k = 0; k < n; k++)
        servers[i][k] = (pt_server_t) { .name = names[k], .upstream = &ups[i],
                                        .index = (unsigned) k, .weight = weights[k] };
}

/* The names of n picks in a row, as one string. */
static const char *picks(const pt_upstream_t *u, size_t n)
{
    static char out[64];

    for (size_t i = 0; i < n && i < sizeof(out) - 1; i++) {
        out[i] = pt_upstream_pick(u, NULL)->name[0];
        out[i + 1] = '\0';
    }
    return out;
}

int main(void)
{
    static const int64_t w511[] = { 5, 1, 1 }, w32[] = { 3, 2 }, w1[] = { 1 };

    make_upstream(0, w511, 3);
    make_upstream(1, w32, 2);
    make_upstream(2, w1, 1);
    conf.upstreams = ups;
    conf.nupstreams = 3;
    ok(pt_upstream_init_worker(&conf) == PT_OK, "worker state for 3 upstreams");

    /* 5,1,1: the heavy server is spread out, not picked 5 times in a row. */
    is_str(picks(&ups[0], 7), "aabacaa", "weights 5,1,1: a,a,b,a,c,a,a");
    is_str(picks(&ups[0], 14), "aabacaaaabacaa", "  and the same again, twice");
    is_str(picks(&ups[1], 10), "ababaababa", "weights 3,2: a,b,a,b,a twice");

    /* A retry after a failure takes the next server and leaves the
     * rotation where it was. */
    is_str(picks(&ups[0], 3), "aab", "5,1,1 again: a,a,b");
    is_str(pt_upstream_pick(&ups[0], &servers[0][0])->name, "b", "after a fails: b");
    is_str(pt_upstream_pick(&ups[0], &servers[0][1])->name, "c", "after b fails: c");
    is_str(pt_upstream_pick(&ups[0], &servers[0][2])->name, "a", "after c fails: a (wraps)");
    is_str(picks(&ups[0], 4), "acaa", "  the rotation goes on: a,c,a,a");

    /* One server: always it, even as the retry after itself failed. */
    is_str(picks(&ups[2], 3), "aaa", "one server: always a");
    ok(pt_upstream_pick(&ups[2], &servers[2][0]) == &servers[2][0],
       "  also after it failed");

    pt_upstream_exit_worker();
    return done_testing();
}
