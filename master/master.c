/*
 * master.c: start-up and the supervision loop.
 *
 * The master waits on a signalfd. A generation is one conf and its
 * workers; the newest is current, older ones are retiring: they got
 * SIGQUIT, finish what they have and exit, or are killed at their drain
 * deadline. A crashed worker of the current generation is respawned, after
 * a delay that doubles while it keeps crashing young. Too many lingering
 * generations (max_generations) and the oldest is told to close its
 * connections now.
 */
#include "common/pt.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/proctitle.h"
#include "common/shm.h"
#include "master/conf_load.h"
#include "master/daemon.h"
#include "master/listen.h"
#include "master/master.h"
#include "worker/core/conf.h"
#include "worker/core/module.h"
#include "worker/core/worker.h"

#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define PT_MASTER_KILL_GRACE_MS     5000    /* after drain_timeout, SIGKILL */
#define PT_MASTER_STOP_GRACE_MS     5000    /* after a fast stop, SIGKILL */
#define PT_MASTER_BACKOFF_MIN_MS    100
#define PT_MASTER_BACKOFF_MAX_MS    30000
#define PT_MASTER_YOUNG_MS          10000   /* dying younger than this is a crash loop */

typedef struct {
    pid_t pid;
    int ctl;                    /* our end of the control socket */
    pt_msec_t started;
    pt_msec_t respawn_at;       /* 0: none pending */
    pt_msec_t backoff;
} pt_proc_t;

typedef struct pt_gen_s pt_gen_t;
struct pt_gen_s {
    unsigned num;
    pt_conf_t *conf;
    unsigned nworkers;
    pt_proc_t *procs;
    unsigned alive;
    bool retiring;
    bool told_stop;
    pt_msec_t kill_at;          /* 0: no deadline */
    pt_gen_t *next;             /* older */
};

static const pt_master_opts_t *pt_master_opts;
static pt_gen_t *pt_master_gens;        /* newest first */
static unsigned pt_master_next_gen = 1;
static pt_shm_t *pt_master_shm;
static int pt_master_sigfd = -1;
static int pt_master_pidfd = -1;
static const char *pt_master_pidpath;
static char pt_master_pidbuf[PATH_MAX];
static bool pt_master_quitting, pt_master_stopping;
static pt_msec_t pt_master_stop_deadline;
static bool pt_master_drop;
static uid_t pt_master_uid;
static gid_t pt_master_gid;
static bool pt_master_log_is_file;

static unsigned pt_master_nworkers(const pt_conf_t *conf)
{
    if (pt_master_opts->workers > 0)
        return (unsigned) pt_master_opts->workers;
    if (conf->main.workers > 0)
        return (unsigned) conf->main.workers;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned) n : 1;
}

/* Who workers run as: the configured user (or nobody) when we are root. */
static int pt_master_credentials(const pt_conf_t *conf, char *err, size_t len)
{
    const char *user = conf->main.user;

    pt_master_drop = false;
    if (geteuid() != 0) {
        if (user)
            pt_log(PT_LOG_WARN, "not started as root: \"user\" %s is ignored", user);
        return PT_OK;
    }
    if (user == NULL)
        user = "nobody";
    struct passwd *pw = getpwnam(user);
    if (pw == NULL) {
        snprintf(err, len, "user \"%s\" does not exist", user);
        return PT_ERROR;
    }
    pt_master_uid = pw->pw_uid;
    pt_master_gid = pw->pw_gid;
    if (conf->main.group) {
        struct group *gr = getgrnam(conf->main.group);
        if (gr == NULL) {
            snprintf(err, len, "group \"%s\" does not exist", conf->main.group);
            return PT_ERROR;
        }
        pt_master_gid = gr->gr_gid;
    }
    pt_master_drop = pt_master_uid != 0;
    return PT_OK;
}

static int pt_master_fd_cmp(const void *a, const void *b)
{
    int x = *(const int *) a, y = *(const int *) b;

    return (x > y) - (x < y);
}

/* Close lo..hi; without close_range (kernels before 5.9), one by one up to
 * the descriptor limit. */
static void pt_master_close_range(unsigned lo, unsigned hi)
{
    struct rlimit rl;

    if (close_range(lo, hi, 0) == 0)
        return;
    unsigned max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
                   && rl.rlim_cur < (1u << 24) ? (unsigned) rl.rlim_cur : 1u << 20;
    for (unsigned fd = lo; fd <= hi && fd < max; fd++)
        close((int) fd);
}

/* In a new worker: close every inherited fd it does not need (the other
 * workers' control sockets above all, or a worker would never see the
 * master's end), however many there are. keep is sorted in place. */
static void pt_master_close_except(int *keep, size_t nkeep)
{
    unsigned lo = 3;

    qsort(keep, nkeep, sizeof(*keep), pt_master_fd_cmp);
    for (size_t i = 0; i < nkeep; i++) {
        if (keep[i] < (int) lo)
            continue;
        if ((unsigned) keep[i] > lo)
            pt_master_close_range(lo, (unsigned) keep[i] - 1);
        lo = (unsigned) keep[i] + 1;
    }
    pt_master_close_range(lo, ~0u);
}

static int pt_master_spawn(pt_gen_t *g, unsigned slot)
{
    const pt_conf_t *conf = g->conf;
    pt_proc_t *p = &g->procs[slot];
    size_t cap = conf->nlisteners * pt_listen_slots();
    pt_heritage_listen_t *ls = calloc(cap ? cap : 1, sizeof(*ls));
    int sv[2];

    if (ls == NULL)
        goto retry;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
        pt_log_errno(PT_LOG_ALERT, errno, "socketpair");
        free(ls);
        goto retry;
    }
    size_t nls = pt_listen_for_worker(conf, slot, g->nworkers, ls);
    pid_t pid = fork();
    if (pid < 0) {
        pt_log_errno(PT_LOG_ALERT, errno, "fork");
        close(sv[0]);
        close(sv[1]);
        free(ls);
        goto retry;
    }
    if (pid == 0) {
        size_t nfiles = 0;
        for (const pt_conf_file_t *f = conf->files; f; f = f->next)
            nfiles++;
        int *keep = malloc((nls + nfiles + 2) * sizeof(*keep));
        size_t nkeep = 0;
        if (keep == NULL)
            _exit(2);
        for (size_t i = 0; i < nls; i++)
            keep[nkeep++] = ls[i].fd;
        keep[nkeep++] = sv[1];
        keep[nkeep++] = pt_log_fd();
        for (const pt_conf_file_t *f = conf->files; f; f = f->next)
            keep[nkeep++] = f->fd;
        pt_master_close_except(keep, nkeep);
        free(keep);
        pt_heritage_t h = {
            .slot = slot, .generation = g->num, .conf = conf, .shm = pt_master_shm,
            .listen = ls, .nlisten = nls, .ctl_fd = sv[1], .uid = pt_master_uid,
            .gid = pt_master_gid, .drop_privileges = pt_master_drop,
        };
        pt_worker_main(&h);
    }
    close(sv[1]);
    free(ls);
    p->pid = pid;
    p->ctl = sv[0];
    p->started = pt_clock_now;
    p->respawn_at = 0;
    g->alive++;
    pt_log(PT_LOG_INFO, "started worker %u of generation %u (pid %ld)", slot, g->num,
           (long) pid);
    return PT_OK;

retry:
    /* Out of processes or memory for now: try again later, backing off as
     * for a crash, rather than leave the slot empty for good. */
    p->backoff = p->backoff ? pt_min(p->backoff * 2, PT_MASTER_BACKOFF_MAX_MS)
                            : PT_MASTER_BACKOFF_MIN_MS;
    p->respawn_at = pt_clock_now + p->backoff;
    return PT_ERROR;
}

static void pt_master_signal_gen(pt_gen_t *g, int sig)
{
    for (unsigned i = 0; i < g->nworkers; i++)
        if (g->procs[i].pid > 0)
            kill(g->procs[i].pid, sig);
}

static pt_gen_t *pt_master_new_gen(pt_conf_t *conf)
{
    pt_gen_t *g = calloc(1, sizeof(*g));

    if (g == NULL)
        return NULL;
    g->num = conf->generation;
    g->conf = conf;
    g->nworkers = pt_master_nworkers(conf);
    g->procs = calloc(g->nworkers, sizeof(*g->procs));
    if (g->procs == NULL) {
        free(g);
        return NULL;
    }
    g->next = pt_master_gens;
    pt_master_gens = g;
    for (unsigned i = 0; i < g->nworkers; i++)
        pt_master_spawn(g, i);
    return g;
}

static void pt_master_free_gen(pt_gen_t *g)
{
    for (pt_gen_t **pp = &pt_master_gens; *pp; pp = &(*pp)->next) {
        if (*pp == g) {
            *pp = g->next;
            break;
        }
    }
    pt_log(PT_LOG_INFO, "generation %u has exited", g->num);
    pt_conf_free(g->conf);
    free(g->procs);
    free(g);
    unsigned oldest = pt_master_next_gen;
    for (pt_gen_t *o = pt_master_gens; o; o = o->next)
        oldest = o->num;
    if (pt_master_shm)
        pt_shm_zones_collect(pt_master_shm, oldest);
}

/* Keep at most max_generations retiring generations alive. */
static void pt_master_cap_generations(void)
{
    const pt_conf_t *cur = pt_master_gens->conf;
    unsigned lingering = 0;
    pt_gen_t *oldest = NULL;

    for (pt_gen_t *g = pt_master_gens->next; g; g = g->next) {
        if (g->alive == 0 || g->told_stop)
            continue;
        lingering++;
        oldest = g;
    }
    if (lingering <= (unsigned) cur->main.max_generations || oldest == NULL)
        return;
    pt_log(PT_LOG_WARN, "%u old generations still running (max_generations = %" PRId64
           "): telling generation %u to close its %u workers' connections now", lingering,
           cur->main.max_generations, oldest->num, oldest->alive);
    oldest->told_stop = true;
    pt_master_signal_gen(oldest, SIGTERM);
    oldest->kill_at = pt_clock_now + PT_MASTER_STOP_GRACE_MS;
}

static void pt_master_retire(pt_gen_t *g)
{
    g->retiring = true;
    g->kill_at = pt_clock_now + g->conf->main.drain_timeout + PT_MASTER_KILL_GRACE_MS;
    pt_master_signal_gen(g, SIGQUIT);
}

static int pt_master_open_files(pt_conf_t *conf, char *err, size_t len)
{
    return pt_conf_open_files(conf, pt_master_drop, pt_master_uid, pt_master_gid, err, len);
}

/* Attach the zones conf asks for and let their owners initialise (or
 * adopt) them, before any worker of the generation exists. */
static int pt_master_attach_zones(pt_conf_t *conf, char *err, size_t len)
{
    return pt_zone_conf_attach(pt_master_shm, conf, err, len);
}

/* Where conf sends the error log. */
static const char *pt_master_log_path(const pt_conf_t *conf)
{
    if (conf->main.error_log)
        return conf->main.error_log;
    return pt_master_opts->foreground ? "stderr" : PT_LOG_PATH;
}

/* A reload that names another error log: move there before forking the
 * new generation, which inherits it (older ones keep theirs until a
 * reopen). If it cannot be opened, say so and keep the old one. */
static void pt_master_move_log(const pt_conf_t *conf, const pt_conf_t *old)
{
    const char *path = pt_master_log_path(conf);
    bool is_file = strcmp(path, "stderr") != 0 && !pt_log_is_syslog(path);

    if (strcmp(path, pt_master_log_path(old)) == 0)
        return;
    pt_log(PT_LOG_NOTICE, "the error log moves to %s", path);
    if (is_file)
        pt_conf_mkdir_parent(path);
    if (pt_log_open(path) != PT_OK) {
        pt_log_errno(PT_LOG_ERR, errno, "cannot open error log %s, keeping this one", path);
        return;
    }
    pt_master_log_is_file = is_file;
    if (is_file && !pt_master_opts->foreground)
        dup2(pt_log_fd(), 2);
    pt_log(PT_LOG_NOTICE, "the error log moved here from %s", pt_master_log_path(old));
}

static void pt_master_log_errors(const char *what, const char *errors)
{
    const char *p = errors;

    while (p && *p) {
        size_t n = strcspn(p, "\n");
        pt_log(PT_LOG_ERR, "%s: %.*s", what, (int) n, p);
        p += n + (p[n] == '\n');
    }
}

static void pt_master_reload(void)
{
    char *errors = NULL, err[512];
    pt_gen_t *cur = pt_master_gens;

    pt_log(PT_LOG_NOTICE, "reloading %s", pt_master_opts->conf_path);
    pt_conf_t *conf = pt_conf_load(pt_master_opts->conf_path, pt_master_next_gen, &errors);
    if (conf == NULL) {
        pt_master_log_errors("reload failed", errors);
        pt_log(PT_LOG_ERR, "reload failed: keeping the configuration of generation %u",
               cur->num);
        free(errors);
        return;
    }
    if (conf->main.shm_size != cur->conf->main.shm_size)
        pt_log(PT_LOG_WARN, "shm_size changed: it takes effect on restart, not on reload");
    if (pt_master_opts->pidfile == NULL && strcmp(conf->main.pidfile, pt_master_pidpath) != 0)
        pt_log(PT_LOG_WARN, "pidfile changed: it takes effect on restart, not on reload");
    /* The listening sockets last: pt_listen_sync() undoes its own work when
     * it fails, but once it succeeds it has closed the addresses conf
     * dropped, which the running generation needs if we then gave up. */
    if (pt_master_credentials(conf, err, sizeof(err)) != PT_OK
        || pt_master_open_files(conf, err, sizeof(err)) != PT_OK
        || pt_master_attach_zones(conf, err, sizeof(err)) != PT_OK
        || pt_listen_sync(conf, pt_master_nworkers(conf), err, sizeof(err)) != PT_OK) {
        pt_log(PT_LOG_ERR, "reload failed: %s; keeping generation %u", err, cur->num);
        pt_master_credentials(cur->conf, err, sizeof(err));
        pt_conf_free(conf);
        return;
    }
    pt_master_next_gen++;
    pt_log_level = conf->main.log_level;
    pt_master_move_log(conf, cur->conf);
    pt_gen_t *g = pt_master_new_gen(conf);
    if (g == NULL) {
        pt_log(PT_LOG_ERR, "reload failed: out of memory; keeping generation %u", cur->num);
        pt_conf_free(conf);
        return;
    }
    pt_listen_steer(g->nworkers);
    pt_master_retire(cur);
    pt_log(PT_LOG_NOTICE, "reloaded: generation %u with %u workers, generation %u retiring",
           g->num, g->nworkers, cur->num);
    if (cur->alive == 0)
        pt_master_free_gen(cur);    /* its workers were all waiting for a respawn */
    pt_master_cap_generations();
}

static void pt_master_send_fds(int sock, const int *fds, size_t n)
{
    char cbuf[CMSG_SPACE(64 * sizeof(int))];
    struct iovec iov = { (void *) "reopen", 6 };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
                         .msg_controllen = CMSG_SPACE(n * sizeof(int)) };
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);

    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(n * sizeof(int));
    memcpy(CMSG_DATA(cm), fds, n * sizeof(int));
    if (sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
        pt_log_errno(PT_LOG_WARN, errno, "sending reopened log files to a worker");
}

static void pt_master_reopen(void)
{
    char err[512];

    if (pt_master_log_is_file) {
        if (pt_log_reopen() != PT_OK)
            pt_log_errno(PT_LOG_ERR, errno, "cannot reopen the error log");
        else if (!pt_master_opts->foreground)
            dup2(pt_log_fd(), 2);
    }
    for (pt_gen_t *g = pt_master_gens; g; g = g->next) {
        if (pt_master_open_files(g->conf, err, sizeof(err)) != PT_OK) {
            pt_log(PT_LOG_ERR, "reopen: %s", err);
            continue;
        }
        int fds[64];
        size_t n = 0;
        fds[n++] = pt_log_fd();
        for (const pt_conf_file_t *f = g->conf->files; f && n < pt_countof(fds); f = f->next)
            fds[n++] = f->fd;
        for (unsigned i = 0; i < g->nworkers; i++)
            if (g->procs[i].pid > 0)
                pt_master_send_fds(g->procs[i].ctl, fds, n);
    }
    pt_log(PT_LOG_NOTICE, "log files reopened");
}

static void pt_master_describe(int status, char *buf, size_t len)
{
    if (WIFEXITED(status))
        snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, len, "killed by signal %d%s", WTERMSIG(status),
                 WCOREDUMP(status) ? " (core dumped)" : "");
    else
        snprintf(buf, len, "stopped (status %d)", status);
}

static void pt_master_reap(void)
{
    int status;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (pt_gen_t *g = pt_master_gens; g; g = g->next) {
            for (unsigned i = 0; i < g->nworkers; i++) {
                pt_proc_t *p = &g->procs[i];
                if (p->pid != pid)
                    continue;
                char how[96];
                pt_master_describe(status, how, sizeof(how));
                p->pid = 0;
                close(p->ctl);
                p->ctl = -1;
                g->alive--;
                bool expected = g->retiring || g->told_stop || pt_master_quitting
                                || pt_master_stopping || g != pt_master_gens;
                if (expected) {
                    pt_log(PT_LOG_INFO, "worker %u of generation %u (pid %ld) %s", i, g->num,
                           (long) pid, how);
                } else {
                    pt_msec_t lived = pt_clock_now - p->started;
                    p->backoff = lived >= PT_MASTER_YOUNG_MS ? 0
                                 : p->backoff ? pt_min(p->backoff * 2, PT_MASTER_BACKOFF_MAX_MS)
                                 : PT_MASTER_BACKOFF_MIN_MS;
                    p->respawn_at = pt_clock_now + p->backoff + (p->backoff == 0);
                    pt_log(PT_LOG_ALERT, "worker %u of generation %u (pid %ld) %s; respawning "
                           "in %" PRId64 " ms", i, g->num, (long) pid, how, p->backoff);
                }
                if (g->alive == 0 && g != pt_master_gens)
                    pt_master_free_gen(g);
                goto next;
            }
        }
next:
        ;
    }
}

static pt_msec_t pt_master_timers(void)
{
    pt_msec_t next = -1;

    for (pt_gen_t *g = pt_master_gens; g; g = g->next) {
        if (g->kill_at && g->alive) {
            if (g->kill_at <= pt_clock_now) {
                pt_log(PT_LOG_WARN, "generation %u did not exit in time: killing %u workers",
                       g->num, g->alive);
                pt_master_signal_gen(g, SIGKILL);
                g->kill_at = 0;
            } else if (next < 0 || g->kill_at - pt_clock_now < next) {
                next = g->kill_at - pt_clock_now;
            }
        }
        if (g != pt_master_gens || pt_master_quitting || pt_master_stopping)
            continue;
        for (unsigned i = 0; i < g->nworkers; i++) {
            pt_proc_t *p = &g->procs[i];
            if (p->pid || p->respawn_at == 0)
                continue;
            if (p->respawn_at <= pt_clock_now)
                pt_master_spawn(g, i);      /* failing, it sets a later respawn_at */
            if (p->pid == 0 && (next < 0 || p->respawn_at - pt_clock_now < next))
                next = p->respawn_at - pt_clock_now;
        }
    }
    if (pt_master_stop_deadline) {
        if (pt_master_stop_deadline <= pt_clock_now) {
            for (pt_gen_t *g = pt_master_gens; g; g = g->next)
                pt_master_signal_gen(g, SIGKILL);
            pt_master_stop_deadline = 0;
        } else if (next < 0 || pt_master_stop_deadline - pt_clock_now < next) {
            next = pt_master_stop_deadline - pt_clock_now;
        }
    }
    return next;
}

static void pt_master_stop(bool graceful)
{
    if (graceful) {
        if (pt_master_quitting || pt_master_stopping)
            return;
        pt_master_quitting = true;
        pt_log(PT_LOG_NOTICE, "graceful stop: draining workers");
        for (pt_gen_t *g = pt_master_gens; g; g = g->next)
            pt_master_signal_gen(g, SIGQUIT);
        /* Nobody will accept again: refuse new connections now (as nginx
         * does) rather than queue them until the drain ends and reset them. */
        pt_listen_close_all();
        pt_master_stop_deadline = pt_clock_now + pt_master_gens->conf->main.drain_timeout
                                  + PT_MASTER_KILL_GRACE_MS;
        return;
    }
    if (pt_master_stopping)
        return;
    pt_master_stopping = true;
    pt_log(PT_LOG_NOTICE, "stopping");
    for (pt_gen_t *g = pt_master_gens; g; g = g->next)
        pt_master_signal_gen(g, SIGTERM);
    pt_listen_close_all();
    pt_master_stop_deadline = pt_clock_now + PT_MASTER_STOP_GRACE_MS;
}

static unsigned pt_master_alive(void)
{
    unsigned n = 0;

    for (pt_gen_t *g = pt_master_gens; g; g = g->next)
        n += g->alive;
    return n;
}

static void pt_master_loop(void)
{
    for (;;) {
        pt_clock_update();
        pt_msec_t timeout = pt_master_timers();
        if ((pt_master_quitting || pt_master_stopping) && pt_master_alive() == 0)
            return;
        struct pollfd pfd = { pt_master_sigfd, POLLIN, 0 };
        int rc = poll(&pfd, 1, timeout > INT32_MAX ? INT32_MAX : (int) timeout);
        pt_clock_update();
        if (rc <= 0)
            continue;
        struct signalfd_siginfo si;
        while (read(pt_master_sigfd, &si, sizeof(si)) == (ssize_t) sizeof(si)) {
            switch (si.ssi_signo) {
            case SIGCHLD:
                pt_master_reap();
                break;
            case SIGHUP:
                if (!pt_master_quitting && !pt_master_stopping)
                    pt_master_reload();
                break;
            case SIGQUIT:
                pt_master_stop(true);
                break;
            case SIGTERM:
            case SIGINT:
                pt_master_stop(false);
                break;
            case SIGUSR1:
                pt_master_reopen();
                break;
            case SIGUSR2:
                pt_log(PT_LOG_WARN, "binary upgrade (SIGUSR2) is not supported yet");
                break;
            }
        }
    }
}

static int pt_master_fail(int ready_fd, const char *msg)
{
    pt_log(PT_LOG_EMERG, "%s", msg);
    if (ready_fd >= 0)
        pt_daemon_ready(ready_fd, msg);
    else if (pt_log_fd() != 2)
        fprintf(stderr, "portico: %s\n", msg);
    return 1;
}

int pt_master_run(const pt_master_opts_t *o, pt_conf_t *conf)
{
    char err[512];
    int ready_fd = -1;
    sigset_t set;

    pt_master_opts = o;
    pt_log_set_ident("master", -1);
    pt_proctitle_set("portico-master", "portico: master process%s", o->args ? o->args : "");
    pt_log_level = conf->main.log_level;
    pt_clock_update();

    const char *log = pt_master_log_path(conf);
    pt_master_log_is_file = strcmp(log, "stderr") != 0 && !pt_log_is_syslog(log);
    if (pt_master_log_is_file)
        pt_conf_mkdir_parent(log);
    if (strcmp(log, "stderr") != 0 && pt_log_open(log) != PT_OK) {
        fprintf(stderr, "portico: cannot open error log %s: %s\n", log, strerror(errno));
        return 1;
    }
    if (!o->foreground) {
        if ((ready_fd = pt_daemon_start()) < 0) {
            fprintf(stderr, "portico: cannot daemonize: %s\n", strerror(errno));
            return 1;
        }
        if (pt_master_log_is_file)
            dup2(pt_log_fd(), 2);
    }

    /* A copy: the pidfile named in the configuration lives in that
     * generation's arena, freed when the generation exits after a reload,
     * yet the path is compared on each reload and removed at exit. */
    const char *pp = o->pidfile ? o->pidfile : conf->main.pidfile;
    if (strlen(pp) >= sizeof(pt_master_pidbuf))
        return pt_master_fail(ready_fd, "the pidfile path is too long");
    pt_master_pidpath = strcpy(pt_master_pidbuf, pp);
    pt_conf_mkdir_parent(pt_master_pidpath);     /* $localstatedir/run may not exist yet */
    if ((pt_master_pidfd = pt_pidfile_create(pt_master_pidpath, err, sizeof(err))) < 0)
        return pt_master_fail(ready_fd, err);
    if (pt_master_credentials(conf, err, sizeof(err)) != PT_OK) {
        pt_pidfile_remove(pt_master_pidpath, pt_master_pidfd);
        return pt_master_fail(ready_fd, err);
    }
    pt_master_shm = pt_shm_create((size_t) conf->main.shm_size);
    if (pt_master_shm == NULL) {
        snprintf(err, sizeof(err), "cannot create %" PRId64 " bytes of shared memory: %s",
                 conf->main.shm_size, strerror(errno));
        pt_pidfile_remove(pt_master_pidpath, pt_master_pidfd);
        return pt_master_fail(ready_fd, err);
    }
    if (pt_listen_sync(conf, pt_master_nworkers(conf), err, sizeof(err)) != PT_OK
        || pt_master_open_files(conf, err, sizeof(err)) != PT_OK
        || pt_master_attach_zones(conf, err, sizeof(err)) != PT_OK) {
        pt_pidfile_remove(pt_master_pidpath, pt_master_pidfd);
        return pt_master_fail(ready_fd, err);
    }

    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGQUIT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    pt_master_sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (pt_master_sigfd < 0) {
        snprintf(err, sizeof(err), "signalfd: %s", strerror(errno));
        pt_pidfile_remove(pt_master_pidpath, pt_master_pidfd);
        return pt_master_fail(ready_fd, err);
    }

    pt_master_next_gen = conf->generation + 1;
    pt_gen_t *g = pt_master_new_gen(conf);
    if (g == NULL || g->alive == 0) {
        pt_pidfile_remove(pt_master_pidpath, pt_master_pidfd);
        return pt_master_fail(ready_fd, "cannot start the workers");
    }
    pt_listen_steer(g->nworkers);
    pt_log(PT_LOG_NOTICE, "portico %s started: %u workers, generation %u", PACKAGE_VERSION,
           g->nworkers, g->num);
    pt_daemon_ready(ready_fd, NULL);

    pt_master_loop();

    pt_log(PT_LOG_NOTICE, "exiting");
    while (pt_master_gens) {
        pt_gen_t *next = pt_master_gens->next;
        pt_conf_free(pt_master_gens->conf);
        free(pt_master_gens->procs);
        free(pt_master_gens);
        pt_master_gens = next;
    }
    pt_listen_close_all();
    pt_shm_destroy(pt_master_shm);
    pt_pidfile_remove(pt_master_pidpath, pt_master_pidfd);
    close(pt_master_sigfd);
    return 0;
}
