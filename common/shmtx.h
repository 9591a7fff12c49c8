/*
 * shmtx.h: the lock of a shared-memory zone, a robust process-shared
 * pthread mutex. When a process dies holding it (a worker crashes or is
 * SIGKILLed), the kernel hands it to the next locker with EOWNERDEAD
 * instead of leaving every other process blocked forever.
 *
 * Recovery makes the mutex usable again; it cannot make the data it
 * guards consistent. Code that writes under a zone lock must keep its
 * structures valid at every store (link a new node last, unlink first) or
 * tolerate what a half-done update leaves. Never hold it across I/O.
 */
#ifndef PT_SHMTX_H
#define PT_SHMTX_H

#include <pthread.h>

typedef struct {
    pthread_mutex_t m;
} pt_shmtx_t;

/* Initialises mx in place (it must live in memory shared by all users,
 * e.g. a zone header). PT_OK, or PT_ERROR with errno. */
int pt_shmtx_init(pt_shmtx_t *mx);

/* Blocks until mx is ours. If its last owner died holding it, marks it
 * consistent, logs a warning and still returns PT_OK. PT_ERROR only if the
 * mutex is unusable (ENOTRECOVERABLE: a recoverer died too), logged. */
int pt_shmtx_lock(pt_shmtx_t *mx);

/* Takes mx if free (recovering it from a dead owner as pt_shmtx_lock
 * does); true when the caller now holds it. */
bool pt_shmtx_trylock(pt_shmtx_t *mx);

/* Releases mx; the caller must hold it. */
void pt_shmtx_unlock(pt_shmtx_t *mx);

#endif
