/*
 * shm.c: the segment, its zone directory and the zone accessors.
 *
 * The directory is an array of zone offsets sorted by address. Free space
 * is whatever lies between zones, so freeing a zone is removing its entry,
 * and neighbouring free space needs no explicit merge.
 */
#include "common/pt.h"

#include <sys/mman.h>

#include "common/shm.h"

#define PT_SHM_MAGIC        0x5054534du     /* "PTSM" */
#define PT_SHM_VERSION      1
#define PT_ZONE_MAGIC       0x50545a4eu     /* "PTZN" */
#define PT_ZONE_DEAD        0x44454144u     /* "DEAD": collected */
#define PT_ZONE_VERSION     2               /* bump when pt_zone_s changes */
#define PT_SHM_ALIGN        4096            /* zones start on page boundaries */

struct pt_shm_s {
    uint32_t magic;
    uint32_t version;
    size_t size;                            /* the whole mapping */
    size_t data;                            /* offset of the zone space */
    uint64_t seq;                           /* zones created so far */
    size_t nzones;
    size_t zones[PT_SHM_MAX_ZONES];         /* offsets, ascending */
};

struct pt_zone_s {
    uint32_t magic;
    uint32_t version;
    char name[PT_ZONE_NAME_MAX + 1];
    char owner[PT_ZONE_OWNER_MAX + 1];      /* who declared it ("": anyone) */
    uint32_t owner_magic;                   /* the owner's layout of the contents */
    size_t size;                            /* as attached */
    size_t span;                            /* bytes taken from the segment */
    unsigned generation;                    /* newest generation using it */
    uint64_t seq;                           /* creation order, breaks ties */
    pt_shmtx_t lock;
    void *root;
    pt_slab_t *slab;
};

#define PT_ZONE_HDR     pt_align(sizeof(pt_zone_t), 64)

static inline void
pt_zone_check(const pt_zone_t *z)
{
    PT_ASSERT(z->magic == PT_ZONE_MAGIC);
}

size_t
pt_shm_overhead(void)
{
    return pt_align(sizeof(pt_shm_t), PT_SHM_ALIGN);
}

size_t
pt_shm_zone_footprint(size_t size)
{
    if (size > SIZE_MAX / 2)
        return SIZE_MAX;
    return pt_align(PT_ZONE_HDR + size, PT_SHM_ALIGN);
}

pt_shm_t *
pt_shm_create(size_t size)
{
    pt_shm_t *shm;
    void *mem;

    if (size > SIZE_MAX / 2 || pt_align(size, PT_SHM_ALIGN) < pt_shm_overhead()) {
        errno = EINVAL;
        return NULL;
    }
    size = pt_align(size, PT_SHM_ALIGN);

    mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        return NULL;

    /* Anonymous mappings come zeroed: only the non-zero fields are set. */
    shm = mem;
    shm->size = size;
    shm->data = pt_shm_overhead();
    shm->version = PT_SHM_VERSION;
    shm->magic = PT_SHM_MAGIC;
    return shm;
}

void
pt_shm_destroy(pt_shm_t *shm)
{
    if (shm == NULL)
        return;
    PT_ASSERT(shm->magic == PT_SHM_MAGIC);
    munmap(shm, shm->size);
}

size_t
pt_shm_size(const pt_shm_t *shm)
{
    PT_ASSERT(shm->magic == PT_SHM_MAGIC);
    return shm->size;
}

static pt_zone_t *
pt_shm_zone(pt_shm_t *shm, size_t i)
{
    return (pt_zone_t *) ((char *) shm + shm->zones[i]);
}

/* Finds room for span bytes: returns the offset and stores in *slot the
 * directory index the zone goes to; 0 if no gap is wide enough. */
static size_t
pt_shm_find_gap(pt_shm_t *shm, size_t span, size_t *slot)
{
    size_t prev_end = shm->data;

    for (size_t i = 0; i < shm->nzones; i++) {
        if (shm->zones[i] - prev_end >= span) {
            *slot = i;
            return prev_end;
        }
        prev_end = shm->zones[i] + pt_shm_zone(shm, i)->span;
    }
    if (shm->size - prev_end >= span) {
        *slot = shm->nzones;
        return prev_end;
    }
    return 0;
}

static pt_zone_t *
pt_shm_zone_carve(pt_shm_t *shm, const char *name, size_t size, unsigned generation,
                  const char *owner, uint32_t magic)
{
    size_t span = pt_shm_zone_footprint(size), off, slot;
    pt_zone_t *z;

    if (shm->nzones == PT_SHM_MAX_ZONES || span == SIZE_MAX) {
        errno = ENOSPC;
        return NULL;
    }
    off = pt_shm_find_gap(shm, span, &slot);
    if (off == 0) {
        errno = ENOSPC;
        return NULL;
    }

    z = (pt_zone_t *) ((char *) shm + off);
    memset(z, 0, sizeof(*z));
    memcpy(z->name, name, strlen(name) + 1);
    memcpy(z->owner, owner, strlen(owner) + 1);
    z->owner_magic = magic;
    z->version = PT_ZONE_VERSION;
    z->size = size;
    z->span = span;
    z->generation = generation;
    z->root = NULL;
    z->slab = pt_slab_init((char *) z + PT_ZONE_HDR, span - PT_ZONE_HDR);
    if (z->slab == NULL) {
        errno = EINVAL;
        return NULL;
    }
    if (pt_shmtx_init(&z->lock) != PT_OK)
        return NULL;
    z->seq = ++shm->seq;
    z->magic = PT_ZONE_MAGIC;

    memmove(&shm->zones[slot + 1], &shm->zones[slot],
            (shm->nzones - slot) * sizeof(shm->zones[0]));
    shm->zones[slot] = off;
    shm->nzones++;
    return z;
}

pt_zone_t *
pt_shm_zone_attach(pt_shm_t *shm, const char *name, size_t size,
                   unsigned generation, bool *adopted)
{
    return pt_shm_zone_attach_owned(shm, name, size, generation, "", 0, adopted);
}

pt_zone_t *
pt_shm_zone_attach_owned(pt_shm_t *shm, const char *name, size_t size, unsigned generation,
                         const char *owner, uint32_t magic, bool *adopted)
{
    pt_zone_t *best = NULL;
    size_t len;

    PT_ASSERT(shm->magic == PT_SHM_MAGIC);
    len = strlen(name);
    if (len == 0) {
        errno = EINVAL;
        return NULL;
    }
    if (len > PT_ZONE_NAME_MAX || strlen(owner) > PT_ZONE_OWNER_MAX) {
        errno = ENAMETOOLONG;
        return NULL;
    }

    for (size_t i = 0; i < shm->nzones; i++) {
        pt_zone_t *z = pt_shm_zone(shm, i);

        pt_zone_check(z);
        /* Another layout version means another binary wrote it, another
         * owner or magic another module or layout: not ours to read, so it
         * is left to its generation and a fresh one made. */
        if (z->version == PT_ZONE_VERSION && z->size == size && strcmp(z->name, name) == 0
            && strcmp(z->owner, owner) == 0 && z->owner_magic == magic
            && (best == NULL || z->seq > best->seq))
            best = z;
    }
    if (best != NULL) {
        if (generation > best->generation)
            best->generation = generation;
        *adopted = true;
        return best;
    }

    *adopted = false;
    return pt_shm_zone_carve(shm, name, size, generation, owner, magic);
}

void
pt_shm_zones_collect(pt_shm_t *shm, unsigned oldest_live_generation)
{
    size_t kept = 0;

    PT_ASSERT(shm->magic == PT_SHM_MAGIC);
    for (size_t i = 0; i < shm->nzones; i++) {
        pt_zone_t *z = pt_shm_zone(shm, i);

        pt_zone_check(z);
        if (z->generation < oldest_live_generation) {
            /* A stale pointer to it now fails the magic check instead of
             * scribbling over whatever takes the space next. */
            z->magic = PT_ZONE_DEAD;
            continue;
        }
        shm->zones[kept++] = shm->zones[i];
    }
    shm->nzones = kept;
}

pt_zone_t *
pt_shm_zone_find(pt_shm_t *shm, const char *name)
{
    pt_zone_t *best = NULL;

    PT_ASSERT(shm->magic == PT_SHM_MAGIC);
    for (size_t i = 0; i < shm->nzones; i++) {
        pt_zone_t *z = pt_shm_zone(shm, i);

        if (strcmp(z->name, name) != 0)
            continue;
        if (best == NULL || z->generation > best->generation
            || (z->generation == best->generation && z->seq > best->seq))
            best = z;
    }
    return best;
}

size_t
pt_shm_zone_count(const pt_shm_t *shm)
{
    PT_ASSERT(shm->magic == PT_SHM_MAGIC);
    return shm->nzones;
}

pt_zone_t *
pt_shm_zone_at(pt_shm_t *shm, size_t i)
{
    PT_ASSERT(shm->magic == PT_SHM_MAGIC && i < shm->nzones);
    return pt_shm_zone(shm, i);
}

const char *
pt_zone_name(const pt_zone_t *z)
{
    pt_zone_check(z);
    return z->name;
}

const char *
pt_zone_owner(const pt_zone_t *z)
{
    pt_zone_check(z);
    return z->owner;
}

uint32_t
pt_zone_magic(const pt_zone_t *z)
{
    pt_zone_check(z);
    return z->owner_magic;
}

size_t
pt_zone_size(const pt_zone_t *z)
{
    pt_zone_check(z);
    return z->size;
}

unsigned
pt_zone_generation(const pt_zone_t *z)
{
    pt_zone_check(z);
    return z->generation;
}

pt_shmtx_t *
pt_zone_lock(pt_zone_t *z)
{
    pt_zone_check(z);
    return &z->lock;
}

void **
pt_zone_root(pt_zone_t *z)
{
    pt_zone_check(z);
    return &z->root;
}

void *
pt_zone_alloc_locked(pt_zone_t *z, size_t n)
{
    pt_zone_check(z);
    return pt_slab_alloc_locked(z->slab, n);
}

void
pt_zone_free_locked(pt_zone_t *z, void *p)
{
    pt_zone_check(z);
    pt_slab_free_locked(z->slab, p);
}

void *
pt_zone_alloc(pt_zone_t *z, size_t n)
{
    void *p;

    pt_zone_check(z);
    if (pt_shmtx_lock(&z->lock) != PT_OK)
        return NULL;
    p = pt_slab_alloc_locked(z->slab, n);
    pt_shmtx_unlock(&z->lock);
    return p;
}

void *
pt_zone_calloc(pt_zone_t *z, size_t n)
{
    void *p = pt_zone_alloc(z, n);

    /* Zeroing needs no lock: nobody else has the pointer yet. */
    if (p != NULL)
        memset(p, 0, n);
    return p;
}

void
pt_zone_free(pt_zone_t *z, void *p)
{
    pt_zone_check(z);
    if (p == NULL || pt_shmtx_lock(&z->lock) != PT_OK)
        return;     /* an unusable lock leaks p rather than racing on the slab */
    pt_slab_free_locked(z->slab, p);
    pt_shmtx_unlock(&z->lock);
}

void
pt_zone_stats(pt_zone_t *z, pt_slab_stats_t *st)
{
    pt_zone_check(z);
    if (pt_shmtx_lock(&z->lock) != PT_OK) {
        pt_slab_stats(z->slab, st);
        return;
    }
    pt_slab_stats(z->slab, st);
    pt_shmtx_unlock(&z->lock);
}
