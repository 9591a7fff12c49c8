/*
 * test_shmtx.c: the zone lock across processes. A process that dies
 * holding it must not wedge the others; mutual exclusion must hold.
 * alarm() turns a regression (a hang) into a failure.
 */
#include "common/pt.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/shm.h"
#include "common/shmtx.h"
#include "test/unit/tap.h"

#define ROUNDS 100000

typedef struct {
    volatile uint64_t counter;
    volatile int in_section;
    volatile int overlaps;
} shared_t;

/* Forks a child that takes the lock, reports it through a pipe, then
 * either exits with it held or waits to be killed. Returns its pid once it
 * holds the lock. */
static pid_t
child_holding(pt_shmtx_t *mx, bool killed)
{
    int fds[2];
    pid_t pid;
    char c;

    if (pipe(fds) == -1)
        return -1;
    pid = fork();
    if (pid == 0) {
        close(fds[0]);
        pt_shmtx_lock(mx);
        if (write(fds[1], "L", 1) != 1)
            _exit(2);
        if (killed)
            for (;;)
                pause();
        _exit(0);       /* dies holding the lock */
    }
    close(fds[1]);
    if (read(fds[0], &c, 1) != 1)
        pid = -1;
    close(fds[0]);
    return pid;
}

static bool
file_has(const char *path, const char *needle)
{
    static char buf[8192];
    FILE *f = fopen(path, "r");
    size_t n = 0;

    if (f != NULL) {
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
    }
    buf[n] = '\0';
    return strstr(buf, needle) != NULL;
}

int
main(void)
{
    char logpath[] = "/tmp/pt_test_shmtx.XXXXXX";
    pt_shm_t *shm;
    pt_zone_t *z;
    pt_shmtx_t *mx;
    shared_t *sh;
    bool adopted;
    pid_t pid;
    int status, fd;

    /* The recovery warning goes to a file we can read back. */
    fd = mkstemp(logpath);
    if (fd >= 0)
        close(fd);
    ok(pt_log_open(logpath) == PT_OK, "log to %s", logpath);

    shm = pt_shm_create(1024 * 1024);
    z = shm ? pt_shm_zone_attach(shm, "locks", 256 * 1024, 1, &adopted) : NULL;
    ok(z != NULL, "zone for the test");
    if (z == NULL)
        return done_testing();
    mx = pt_zone_lock(z);

    /* Plain use. */
    is(pt_shmtx_lock(mx), PT_OK, "lock");
    ok(!pt_shmtx_trylock(mx), "trylock on a held lock fails");
    pt_shmtx_unlock(mx);
    ok(pt_shmtx_trylock(mx), "trylock on a free lock succeeds");
    pt_shmtx_unlock(mx);

    /* 1. Owner SIGKILLed while holding the lock. */
    pid = child_holding(mx, true);
    ok(pid > 0, "child holds the zone lock");
    ok(!pt_shmtx_trylock(mx), "the lock is taken while the child lives");
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    ok(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "child killed by SIGKILL");

    alarm(10);
    is(pt_shmtx_lock(mx), PT_OK, "parent takes the lock of the dead owner (no hang)");
    alarm(0);
    ok(file_has(logpath, "[warn]") && file_has(logpath, "owner died"),
       "recovery logged as a warning");
    {
        void *p = pt_zone_alloc_locked(z, 100);
        ok(p != NULL, "allocation under the recovered lock works");
        pt_zone_free_locked(z, p);
    }
    pt_shmtx_unlock(mx);

    alarm(10);
    {
        void *p = pt_zone_alloc(z, 1000);
        ok(p != NULL, "pt_zone_alloc (takes and releases the lock) works afterwards");
        pt_zone_free(z, p);
    }
    is(pt_shmtx_lock(mx), PT_OK, "the recovered lock behaves normally");
    pt_shmtx_unlock(mx);
    alarm(0);

    /* 2. Owner exits while holding it; recovered through trylock. */
    pid = child_holding(mx, false);
    waitpid(pid, &status, 0);
    ok(pid > 0 && WIFEXITED(status), "child exited holding the lock");
    alarm(10);
    ok(pt_shmtx_trylock(mx), "trylock recovers it");
    pt_shmtx_unlock(mx);
    alarm(0);

    /* 3. Mutual exclusion: two processes, ROUNDS increments each. */
    sh = pt_zone_calloc(z, sizeof(*sh));
    ok(sh != NULL, "shared counter in the zone");
    {
        pid_t kids[2];
        int good = 0;

        alarm(60);
        for (int k = 0; k < 2; k++) {
            kids[k] = fork();
            if (kids[k] == 0) {
                for (int i = 0; i < ROUNDS; i++) {
                    if (pt_shmtx_lock(mx) != PT_OK)
                        _exit(1);
                    if (sh->in_section++ != 0)
                        sh->overlaps++;
                    sh->counter = sh->counter + 1;   /* a non-atomic read-modify-write */
                    sh->in_section--;
                    pt_shmtx_unlock(mx);
                }
                _exit(0);
            }
        }
        for (int k = 0; k < 2; k++) {
            if (kids[k] > 0 && waitpid(kids[k], &status, 0) == kids[k]
                && WIFEXITED(status) && WEXITSTATUS(status) == 0)
                good++;
        }
        alarm(0);
        is(good, 2, "both children finished");
        is(sh->counter, 2 * ROUNDS, "counter is exactly 2N");
        is(sh->overlaps, 0, "never two processes inside the lock");
    }

    /* 4. A waiter blocked in lock() when the owner is killed gets it. */
    {
        int fds[2];
        char c = 0;
        pid_t waiter;

        pid = child_holding(mx, true);
        if (pipe(fds) != 0)
            fds[0] = fds[1] = -1;
        waiter = fork();
        if (waiter == 0) {
            close(fds[0]);
            if (pt_shmtx_lock(mx) != PT_OK)
                _exit(1);
            c = 'W';
            if (write(fds[1], &c, 1) != 1)
                _exit(2);
            pt_shmtx_unlock(mx);
            _exit(0);
        }
        close(fds[1]);
        usleep(100 * 1000);                 /* let the waiter block */
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        alarm(10);
        ok(read(fds[0], &c, 1) == 1 && c == 'W', "a blocked waiter wakes up owning the lock");
        waitpid(waiter, &status, 0);
        alarm(0);
        ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "waiter exited cleanly");
        close(fds[0]);
        is(pt_shmtx_lock(mx), PT_OK, "and the lock is free again");
        pt_shmtx_unlock(mx);
    }

    pt_zone_free(z, sh);
    pt_shm_destroy(shm);
    pt_log_open(NULL);
    unlink(logpath);
    return done_testing();
}
