/*
 * shm.h: the shared-memory segment and its named zones.
 *
 * The master maps one anonymous shared segment before the first fork, so
 * every worker of every generation sees it at the same address and
 * pointers into it are valid everywhere. The segment starts with a header
 * and a directory of at most PT_SHM_MAX_ZONES zones; the rest is carved
 * into zones, each a header (magic, layout version, name, owner, size, lock,
 * slab allocator, root pointer, newest generation using it) followed by
 * the memory its slab hands out.
 *
 * Only the master changes the directory (attach, collect), at config load,
 * so the directory takes no lock: workers must not call those, nor read
 * the directory (find, zone_at) while the master may change it. Inside a
 * zone, any process allocates through the pt_zone_* calls under the
 * zone's robust lock. A full segment or directory refuses new zones with
 * ENOSPC; it never overwrites one.
 */
#ifndef PT_SHM_H
#define PT_SHM_H

#include "common/shmtx.h"
#include "common/slab.h"

typedef struct pt_shm_s pt_shm_t;
typedef struct pt_zone_s pt_zone_t;

/* Most zones a segment holds, live generations together. */
#define PT_SHM_MAX_ZONES    256
/* Longest zone name, in bytes. */
#define PT_ZONE_NAME_MAX    63
/* Longest owner tag of a zone, in bytes. */
#define PT_ZONE_OWNER_MAX   31

/* Maps a segment of size bytes (rounded up to the page size) and writes
 * its header. Master only, before any fork. NULL with errno set on failure
 * (EINVAL if size cannot hold the header). */
pt_shm_t *pt_shm_create(size_t size);

/* Unmaps the segment. NULL is a no-op. */
void pt_shm_destroy(pt_shm_t *shm);

/* Size of the mapping in bytes. */
size_t pt_shm_size(const pt_shm_t *shm);

/* Bytes of a segment that no zone can use (header and directory): size a
 * segment as pt_shm_overhead() + the sum of pt_shm_zone_footprint(). */
size_t pt_shm_overhead(void);

/* Bytes a zone of the given size takes from the segment, header included. */
size_t pt_shm_zone_footprint(size_t size);

/* Master only, at config load of generation `generation`. A live zone with
 * the same name and size (and this binary's layout) is adopted: *adopted is
 * set true, its contents and root are kept, and it is marked as used by
 * this generation. Otherwise a fresh zone is carved out and initialised
 * (lock, slab over its memory, root NULL) and *adopted set false; a zone of
 * the same name but another size stays for the older generations that use
 * it. NULL with errno: ENOSPC (no room in the segment or directory full),
 * ENAMETOOLONG (name over PT_ZONE_NAME_MAX), EINVAL (empty name, or size
 * too small for one slab page). */
pt_zone_t *pt_shm_zone_attach(pt_shm_t *shm, const char *name, size_t size,
                              unsigned generation, bool *adopted);

/* pt_shm_zone_attach() for a zone that belongs to someone: only a live zone
 * of the same name and size that also has this owner tag (a module name,
 * at most PT_ZONE_OWNER_MAX bytes, else ENAMETOOLONG) and this magic (the
 * owner's layout of the contents) is adopted, so a reload never hands one
 * owner's memory to another. pt_shm_zone_attach() is this with owner ""
 * and magic 0. */
pt_zone_t *pt_shm_zone_attach_owned(pt_shm_t *shm, const char *name, size_t size,
                                    unsigned generation, const char *owner, uint32_t magic,
                                    bool *adopted);

/* Master only: frees the space of every zone whose newest user generation
 * is older than oldest_live_generation, once no process of those
 * generations is left. Neighbouring free space merges by construction
 * (free space is the gaps between zones). */
void pt_shm_zones_collect(pt_shm_t *shm, unsigned oldest_live_generation);

/* The zone named name used by the newest generation, or NULL. */
pt_zone_t *pt_shm_zone_find(pt_shm_t *shm, const char *name);

/* Number of zones in the directory, and the i-th by address (0 <= i <
 * count), for listing zones in an admin view. */
size_t pt_shm_zone_count(const pt_shm_t *shm);
pt_zone_t *pt_shm_zone_at(pt_shm_t *shm, size_t i);

/* The zone's name and its size as attached (the slab gets a little less:
 * its page descriptors live in the same memory). */
const char *pt_zone_name(const pt_zone_t *z);
size_t pt_zone_size(const pt_zone_t *z);

/* The owner tag and magic the zone was attached with. */
const char *pt_zone_owner(const pt_zone_t *z);
uint32_t pt_zone_magic(const pt_zone_t *z);

/* Newest generation that attached the zone. */
unsigned pt_zone_generation(const pt_zone_t *z);

/* The zone's lock, for pt_zone_*_locked and for structures of the owner. */
pt_shmtx_t *pt_zone_lock(pt_zone_t *z);

/* One pointer the zone's owner keeps its root object in (NULL in a fresh
 * zone); it survives adoption. Write it under the zone lock. */
void **pt_zone_root(pt_zone_t *z);

/* Allocation in the zone under its lock: NULL when the zone is full (or its
 * lock unusable). Every pointer is 16-byte aligned. */
void *pt_zone_alloc(pt_zone_t *z, size_t n);
void *pt_zone_calloc(pt_zone_t *z, size_t n);
void pt_zone_free(pt_zone_t *z, void *p);

/* The same for a caller that already holds pt_zone_lock(z). */
void *pt_zone_alloc_locked(pt_zone_t *z, size_t n);
void pt_zone_free_locked(pt_zone_t *z, void *p);

/* The zone slab's counters, read under the lock. */
void pt_zone_stats(pt_zone_t *z, pt_slab_stats_t *st);

#endif
