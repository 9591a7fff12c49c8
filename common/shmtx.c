/*
 * shmtx.c: robust process-shared mutex.
 */
#include "common/pt.h"

#include <pthread.h>

#include "common/log.h"
#include "common/shmtx.h"

int
pt_shmtx_init(pt_shmtx_t *mx)
{
    pthread_mutexattr_t attr;
    int rc;

    rc = pthread_mutexattr_init(&attr);
    if (rc != 0) {
        errno = rc;
        return PT_ERROR;
    }
    rc = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    if (rc == 0)
        rc = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    if (rc == 0)
        rc = pthread_mutex_init(&mx->m, &attr);
    pthread_mutexattr_destroy(&attr);
    if (rc != 0) {
        errno = rc;
        return PT_ERROR;
    }
    return PT_OK;
}

/* We own the mutex of a dead process: make it usable again. */
static int
pt_shmtx_recover(pt_shmtx_t *mx)
{
    int rc = pthread_mutex_consistent(&mx->m);

    if (rc != 0) {
        pt_log_errno(PT_LOG_CRIT, rc, "shm lock %p: cannot recover from a dead owner",
                     (void *) mx);
        pthread_mutex_unlock(&mx->m);
        return PT_ERROR;
    }
    pt_log(PT_LOG_WARN, "shm lock %p: its owner died holding it; recovered, "
           "the data it guarded may be mid-update", (void *) mx);
    return PT_OK;
}

int
pt_shmtx_lock(pt_shmtx_t *mx)
{
    int rc = pthread_mutex_lock(&mx->m);

    if (pt_likely(rc == 0))
        return PT_OK;
    if (rc == EOWNERDEAD)
        return pt_shmtx_recover(mx);
    pt_log_errno(PT_LOG_CRIT, rc, "shm lock %p: cannot lock", (void *) mx);
    return PT_ERROR;
}

bool
pt_shmtx_trylock(pt_shmtx_t *mx)
{
    int rc = pthread_mutex_trylock(&mx->m);

    if (rc == 0)
        return true;
    if (rc == EOWNERDEAD)
        return pt_shmtx_recover(mx) == PT_OK;
    if (rc != EBUSY)
        pt_log_errno(PT_LOG_CRIT, rc, "shm lock %p: cannot trylock", (void *) mx);
    return false;
}

void
pt_shmtx_unlock(pt_shmtx_t *mx)
{
    pthread_mutex_unlock(&mx->m);
}
