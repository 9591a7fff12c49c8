/*
 * test_shm.c: the segment and its zones: attach, adoption across
 * generations, collection and reuse of space, limits, and sharing with a
 * forked child.
 */
#include "common/pt.h"

#include <sys/wait.h>
#include <unistd.h>

#include "common/shm.h"
#include "test/unit/tap.h"

#define KB 1024

int
main(void)
{
    pt_shm_t *shm;
    pt_zone_t *a1, *a2, *a3, *b, *z;
    bool adopted;
    char *obj;

    errno = 0;
    ok(pt_shm_create(0) == NULL && errno == EINVAL, "a segment smaller than its header: EINVAL");

    shm = pt_shm_create(pt_shm_overhead() + pt_shm_zone_footprint(64 * KB) * 3);
    ok(shm != NULL, "create a segment for three 64k zones");
    is(pt_shm_size(shm) % 4096, 0, "size is page-aligned");
    is(pt_shm_zone_count(shm), 0, "no zones yet");
    ok(pt_shm_zone_find(shm, "limits") == NULL, "find on an empty directory");

    /* Generation 1: a fresh zone. */
    adopted = true;
    a1 = pt_shm_zone_attach(shm, "limits", 64 * KB, 1, &adopted);
    ok(a1 != NULL && !adopted, "gen 1 attach \"limits\" 64k: fresh");
    is_str(pt_zone_name(a1), "limits", "name");
    is(pt_zone_size(a1), 64 * KB, "size");
    is(pt_zone_generation(a1), 1, "generation");
    ok(*pt_zone_root(a1) == NULL, "root starts NULL");
    ok((char *) a1 > (char *) shm && (char *) a1 < (char *) shm + pt_shm_size(shm),
       "zone inside the segment");

    obj = pt_zone_alloc(a1, 100);
    ok(obj != NULL, "allocate in the zone");
    strcpy(obj, "state that must survive a reload");
    *pt_zone_root(a1) = obj;
    {
        pt_slab_stats_t st;
        pt_zone_stats(a1, &st);
        ok(st.used == 128 && st.allocs == 1 && st.total > 56 * KB && st.total <= 64 * KB,
           "zone stats: used %zu, total %zu", st.used, st.total);
    }

    /* Generation 2, same name and size: adopted with contents. */
    a2 = pt_shm_zone_attach(shm, "limits", 64 * KB, 2, &adopted);
    ok(a2 == a1 && adopted, "gen 2 same name and size: adopted");
    ok(*pt_zone_root(a2) == obj && strcmp(obj, "state that must survive a reload") == 0,
       "root and contents kept");
    is(pt_zone_generation(a2), 2, "now used by generation 2");

    /* Generation 3, other size: a fresh zone; the old one stays. */
    a3 = pt_shm_zone_attach(shm, "limits", 32 * KB, 3, &adopted);
    ok(a3 != NULL && a3 != a1 && !adopted, "gen 3 other size: fresh zone");
    ok(*pt_zone_root(a3) == NULL, "fresh root");
    ok(strcmp(obj, "state that must survive a reload") == 0, "old zone untouched");
    ok(pt_shm_zone_find(shm, "limits") == a3, "find returns the newest generation's zone");
    is(pt_shm_zone_count(shm), 2, "two zones named limits");

    b = pt_shm_zone_attach(shm, "cache", 64 * KB, 3, &adopted);
    ok(b != NULL && !adopted, "gen 3 attach \"cache\" 64k");

    /* Segment full: gen 3's zones leave no room for another 64k. */
    errno = 0;
    z = pt_shm_zone_attach(shm, "extra", 64 * KB, 3, &adopted);
    ok(z == NULL && errno == ENOSPC, "no room: NULL, ENOSPC");

    /* Collect: generation 2 retired, its zone's space is reused. */
    pt_shm_zones_collect(shm, 2);
    is(pt_shm_zone_count(shm), 3, "collect(2) keeps zones used by gen >= 2");
    pt_shm_zones_collect(shm, 3);
    is(pt_shm_zone_count(shm), 2, "collect(3) frees the gen-2 zone");
    z = pt_shm_zone_attach(shm, "extra", 64 * KB, 3, &adopted);
    ok(z == a1 && !adopted, "the freed space takes a new zone (same place)");
    ok(*pt_zone_root(z) == NULL, "and it is fresh, not the old contents");
    ok(pt_shm_zone_attach(shm, "limits", 64 * KB, 4, &adopted) == NULL,
       "the collected zone cannot be adopted any more");
    pt_shm_destroy(shm);

    /* Coalescing: two neighbours collected give room for one zone as big
     * as both. */
    shm = pt_shm_create(pt_shm_overhead() + 3 * pt_shm_zone_footprint(60 * KB));
    {
        pt_zone_t *x = pt_shm_zone_attach(shm, "x", 60 * KB, 1, &adopted);
        pt_zone_t *y = pt_shm_zone_attach(shm, "y", 60 * KB, 1, &adopted);
        pt_zone_t *w = pt_shm_zone_attach(shm, "w", 60 * KB, 2, &adopted);
        size_t both = 2 * pt_shm_zone_footprint(60 * KB) - pt_shm_zone_footprint(0);
        ok(x && y && w, "three zones fill the segment");
        ok(pt_shm_zone_attach(shm, "big", both, 2, &adopted) == NULL, "no room for a double");
        pt_shm_zones_collect(shm, 2);
        z = pt_shm_zone_attach(shm, "big", both, 2, &adopted);
        ok(z == x, "after collecting x and y, one zone spans both");
        {
            void *p = pt_zone_alloc(z, 100 * KB);
            ok(p != NULL, "and its slab can hand out 100k");
        }
    }
    pt_shm_destroy(shm);

    /* Limits: names and the directory. */
    shm = pt_shm_create(pt_shm_overhead() + (PT_SHM_MAX_ZONES + 1) * pt_shm_zone_footprint(4 * KB));
    ok(shm != NULL, "segment for %d small zones", PT_SHM_MAX_ZONES + 1);
    {
        char name[80];
        int made = 0;

        memset(name, 'n', 64);
        name[64] = '\0';
        errno = 0;
        ok(pt_shm_zone_attach(shm, name, 4 * KB, 1, &adopted) == NULL && errno == ENAMETOOLONG,
           "a 64-byte name: ENAMETOOLONG");
        name[63] = '\0';
        z = pt_shm_zone_attach(shm, name, 4 * KB, 1, &adopted);
        ok(z != NULL && strlen(pt_zone_name(z)) == 63, "a 63-byte name is fine");
        errno = 0;
        ok(pt_shm_zone_attach(shm, "", 4 * KB, 1, &adopted) == NULL && errno == EINVAL,
           "an empty name: EINVAL");
        errno = 0;
        ok(pt_shm_zone_attach(shm, "tiny", 16, 1, &adopted) == NULL && errno == EINVAL,
           "a zone too small for one slab page: EINVAL");

        made = 1;
        for (int i = 0; i < PT_SHM_MAX_ZONES + 5; i++) {
            snprintf(name, sizeof(name), "z%d", i);
            if (pt_shm_zone_attach(shm, name, 4 * KB, 1, &adopted) == NULL)
                break;
            made++;
        }
        is(made, PT_SHM_MAX_ZONES, "the directory holds %d zones", PT_SHM_MAX_ZONES);
        is(errno, ENOSPC, "the next attach fails with ENOSPC though space is left");
        ok(pt_shm_zone_find(shm, "z100") != NULL, "find among many");
        ok(pt_zone_alloc(pt_shm_zone_find(shm, "z100"), 64) != NULL,
           "a minimal zone can allocate");
        {
            bool sorted = true;
            for (size_t i = 1; i < pt_shm_zone_count(shm); i++)
                sorted &= (char *) pt_shm_zone_at(shm, i - 1) < (char *) pt_shm_zone_at(shm, i);
            ok(sorted, "zone_at lists zones by address");
        }
    }
    pt_shm_destroy(shm);

    /* A forked child sees the zone at the same address and its writes
     * reach the parent. */
    shm = pt_shm_create(1024 * KB);
    z = pt_shm_zone_attach(shm, "shared", 256 * KB, 1, &adopted);
    {
        pid_t pid = fork();
        int status = -1;

        if (pid == 0) {
            char *p = pt_zone_alloc(z, 64);
            if (p == NULL)
                _exit(1);
            strcpy(p, "from the child");
            pt_shmtx_lock(pt_zone_lock(z));
            *pt_zone_root(z) = p;
            pt_shmtx_unlock(pt_zone_lock(z));
            _exit(0);
        }
        waitpid(pid, &status, 0);
        ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child allocated in the zone");
        obj = *pt_zone_root(z);
        ok(obj != NULL && strcmp(obj, "from the child") == 0, "parent reads the child's object");
        pt_zone_free(z, obj);
        pt_slab_stats_t st;
        pt_zone_stats(z, &st);
        ok(st.used == 0 && st.allocs == 1, "parent freed what the child allocated");
        obj = pt_zone_calloc(z, 3000);
        ok(obj && obj[0] == 0 && obj[2999] == 0, "zone calloc");
        pt_zone_free(z, obj);
        pt_zone_free(z, NULL);
    }
    pt_shm_destroy(shm);
    pt_shm_destroy(NULL);

    return done_testing();
}
