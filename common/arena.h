/*
 * arena.h: bump allocator for memory that dies all at once (a config
 * generation, a connection, a request). Nothing is freed alone; reset or
 * destroy releases everything and runs the cleanup hooks.
 *
 * Small requests are carved from blocks of block_size bytes; a request
 * larger than block_size / 4 gets a block of its own, so one big body does
 * not waste the rest of a block. The cap bounds what the arena takes from
 * malloc (the data bytes of all its blocks, the first included): a request
 * that would pass it fails with NULL, which is how a request that asks for
 * too much fails alone instead of growing the process.
 */
#ifndef PT_ARENA_H
#define PT_ARENA_H

typedef struct pt_arena_s pt_arena_t;

/* Every pointer returned is aligned to this. */
#define PT_ARENA_ALIGN  16

/* Creates an arena whose first block (block_size bytes; 0 picks 4096) is
 * allocated with the arena struct and kept across resets. cap is the hard
 * limit on block bytes (0 = unlimited); a cap below block_size is raised to
 * it. NULL on OOM. */
pt_arena_t *pt_arena_create(size_t block_size, size_t cap);

/* n bytes, PT_ARENA_ALIGN-aligned, uninitialised (n = 0 gives a valid
 * pointer too). NULL when the cap would be passed or malloc fails. */
void *pt_arena_alloc(pt_arena_t *a, size_t n);

/* pt_arena_alloc, zero-filled. */
void *pt_arena_calloc(pt_arena_t *a, size_t n);

/* A NUL-terminated copy of the n bytes at s (which need not be
 * NUL-terminated). NULL as pt_arena_alloc. */
char *pt_arena_strndup(pt_arena_t *a, const char *s, size_t n);

/* printf into the arena. NULL as pt_arena_alloc. */
char *pt_arena_sprintf(pt_arena_t *a, const char *fmt, ...) PT_PRINTF(2, 3);

typedef void (*pt_arena_cleanup_pt)(void *data);

/* Registers fn(data) to run at the next reset or destroy; hooks run in
 * reverse order of registration (last added, first run), so something
 * opened later is released before what it depends on. The record is taken
 * from the arena itself: PT_ERROR if that fails (fn is then not called). */
int pt_arena_cleanup_add(pt_arena_t *a, pt_arena_cleanup_pt fn, void *data);

/* Runs the cleanups, frees every block but the first and rewinds it, so
 * the arena can serve the next request without touching malloc. */
void pt_arena_reset(pt_arena_t *a);

/* Runs the cleanups and frees everything. NULL is a no-op. */
void pt_arena_destroy(pt_arena_t *a);

/* Bytes handed out since create or the last reset, alignment padding and
 * cleanup records included (not the unused tails of blocks). */
size_t pt_arena_used(const pt_arena_t *a);

/* Bytes of block memory held, the figure the cap limits. */
size_t pt_arena_footprint(const pt_arena_t *a);

#endif
