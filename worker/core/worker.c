/*
 * worker.c: a worker process: adopt the heritage, drop privileges, run
 * the event loop, retire gracefully.
 *
 * Signals arrive through a signalfd in the loop (the master forks with
 * them blocked): SIGQUIT retires (stop accepting, finish what is in
 * flight, close idle connections at drain_timeout), SIGTERM and SIGINT
 * stop at once. The control socket to the master carries new log file
 * descriptors on reopen; its end of file means the master is gone, and
 * the worker retires.
 */
#include "common/pt.h"
#include "common/buf.h"
#include "common/mem.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/proctitle.h"
#include "worker/net/conn.h"
#include "worker/core/event.h"
#include "worker/core/metrics.h"
#include "worker/core/module.h"
#include "worker/core/timer.h"
#include "worker/core/worker.h"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define PT_WORKER_EVENTS        512
#define PT_WORKER_RESUME_MS     1000
#define PT_WORKER_CTL_FDS_MAX   64
#define PT_WORKER_TRIM_MS       1000
#define PT_WORKER_BUF_FREE_BYTES (8u << 20)    /* pooled buffers kept, both sizes */
#define PT_WORKER_MEM_SLACK     (4u << 20)     /* free heap kept before trimming */

const pt_conf_t *pt_worker_conf;

static const pt_heritage_t *pt_worker_h;
static pt_event_t *pt_worker_listen;
static size_t pt_worker_nlisten;
static pt_event_t pt_worker_sig_ev, pt_worker_ctl_ev;
static pt_timer_t pt_worker_drain_timer, pt_worker_resume_timer, pt_worker_trim_timer;
static bool pt_worker_paused, pt_worker_retiring, pt_worker_exit;
static unsigned pt_worker_holds;    /* work of a module a retiring worker waits for */

static void pt_worker_accept_resume(void)
{
    if (!pt_worker_paused || pt_worker_retiring)
        return;
    for (size_t i = 0; i < pt_worker_nlisten; i++)
        pt_event_add(&pt_worker_listen[i], EPOLLIN);
    pt_worker_paused = false;
    pt_timer_del(&pt_worker_resume_timer);
}

/* Memory after a burst: buffers nobody took for a while go back to malloc,
 * and malloc's free pages back to the system, so a flood of connections
 * does not leave the worker at its peak size. */
static void pt_worker_trim_tick(pt_timer_t *t)
{
    pt_buf_trim();
    pt_mem_trim(PT_WORKER_MEM_SLACK);
    pt_timer_set(t, PT_WORKER_TRIM_MS);
}

static void pt_worker_resume_tick(pt_timer_t *t)
{
    pt_worker_accept_resume();
}

/* Stop accepting: at_limit, at worker_connections (resumes when closes
 * take it below 90%); else out of descriptors (retries every second). */
static void pt_worker_accept_pause(bool at_limit)
{
    if (pt_worker_paused)
        return;
    for (size_t i = 0; i < pt_worker_nlisten; i++)
        if (pt_worker_listen[i].fd >= 0)
            pt_event_del(&pt_worker_listen[i]);
    pt_worker_paused = true;
    /* At worker_connections our closes resume accepting (below 90%);
     * out of descriptors frees up without a close of ours: try again. */
    if (!at_limit)
        pt_timer_set(&pt_worker_resume_timer, PT_WORKER_RESUME_MS);
}

/* A retiring worker is idle with no connection and no hold left. */
static void pt_worker_exit_if_idle(void)
{
    if (pt_worker_retiring && pt_conn_active == 0 && pt_worker_holds == 0)
        pt_worker_exit = true;
}

void pt_worker_hold(void)
{
    pt_worker_holds++;
}

void pt_worker_release(void)
{
    PT_ASSERT(pt_worker_holds > 0);
    pt_worker_holds--;
    pt_worker_exit_if_idle();
}

/* A connection closed: resume accepting, or exit when retiring and idle. */
static void pt_worker_conn_closed(void)
{
    if (pt_worker_paused
        && pt_conn_active < (unsigned) (pt_worker_conf->main.worker_connections * 9 / 10))
        pt_worker_accept_resume();
    pt_worker_exit_if_idle();
}

static void pt_worker_drain_timeout(pt_timer_t *t)
{
    pt_log(PT_LOG_NOTICE, "drain timeout: closing %u remaining connections", pt_conn_active);
    pt_worker_exit = true;
}

/* Stop accepting, let requests in flight finish, close at drain_timeout. */
static void pt_worker_retire(const char *why)
{
    if (pt_worker_retiring)
        return;
    pt_log(PT_LOG_INFO, "retiring (%s), %u connections open", why, pt_conn_active);
    pt_worker_retiring = true;
    pt_proctitle_set("portico-retire", "portico: retiring worker process %u (generation %u)",
                     pt_worker_h->slot, pt_worker_h->generation);
    for (size_t i = 0; i < pt_worker_nlisten; i++) {
        /* The master keeps its copy: the socket and its queue live on for
         * the next generation. */
        pt_event_close(&pt_worker_listen[i]);
    }
    pt_timer_del(&pt_worker_resume_timer);
    for (size_t i = 0; i < pt_nmodules; i++)
        if (pt_modules[i]->retire)
            pt_modules[i]->retire();
    pt_conn_drain_all();
    pt_worker_exit_if_idle();
    pt_timer_prepare(&pt_worker_drain_timer, pt_worker_drain_timeout, NULL);
    pt_timer_set(&pt_worker_drain_timer, pt_worker_conf->main.drain_timeout);
}

static void pt_worker_signal(pt_event_t *ev, uint32_t events)
{
    struct signalfd_siginfo si;

    while (read(ev->fd, &si, sizeof(si)) == (ssize_t) sizeof(si)) {
        switch (si.ssi_signo) {
        case SIGQUIT:
            pt_worker_retire("SIGQUIT");
            break;
        case SIGTERM:
        case SIGINT:
            pt_log(PT_LOG_INFO, "stopping (signal %u)", si.ssi_signo);
            pt_worker_exit = true;
            break;
        default:
            break;
        }
    }
}

/* New descriptors from the master (reopen): the error log's, then one per
 * conf->files entry in order; each replaces the one at the same position,
 * under the same fd number, so nothing else changes. */
static void pt_worker_ctl_reopen(const int *fds, size_t n)
{
    const pt_conf_file_t *f = pt_worker_conf->files;
    struct stat log, err;

    for (size_t i = 0; i < pt_nmodules; i++)
        if (pt_modules[i]->flush)
            pt_modules[i]->flush();
    /* A daemon's stderr is its error log (what a sanitizer or a library
     * prints goes there): follow the log to the new file. */
    if (n > 0 && pt_log_fd() != 2 && fstat(pt_log_fd(), &log) == 0 && fstat(2, &err) == 0
        && log.st_dev == err.st_dev && log.st_ino == err.st_ino)
        dup2(fds[0], 2);
    for (size_t i = 0; i < n; i++) {
        int target = i == 0 ? pt_log_fd() : (f ? f->fd : -1);
        if (i > 0 && f)
            f = f->next;
        if (target >= 0 && target != 2 && dup3(fds[i], target, O_CLOEXEC) < 0)
            pt_log_errno(PT_LOG_ERR, errno, "reopen: dup3");
        close(fds[i]);
    }
    pt_log(PT_LOG_INFO, "log files reopened");
}

static void pt_worker_ctl(pt_event_t *ev, uint32_t events)
{
    for (;;) {
        char buf[16];
        char cbuf[CMSG_SPACE(PT_WORKER_CTL_FDS_MAX * sizeof(int))];
        struct iovec iov = { buf, sizeof(buf) };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
                             .msg_controllen = sizeof(cbuf) };
        ssize_t n = recvmsg(ev->fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n <= 0) {
            pt_event_close(ev);
            pt_worker_retire("the master is gone");
            return;
        }
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        if (n >= 6 && memcmp(buf, "reopen", 6) == 0 && cm && cm->cmsg_type == SCM_RIGHTS) {
            size_t nfds = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            int fds[PT_WORKER_CTL_FDS_MAX];
            memcpy(fds, CMSG_DATA(cm), nfds * sizeof(int));
            pt_worker_ctl_reopen(fds, nfds);
        }
    }
}

static void pt_worker_privileges(const pt_heritage_t *h)
{
    const pt_main_conf_t *m = &pt_worker_conf->main;

    if (m->worker_rlimit_nofile > 0) {
        struct rlimit rl = { (rlim_t) m->worker_rlimit_nofile, (rlim_t) m->worker_rlimit_nofile };
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            pt_log_errno(PT_LOG_WARN, errno, "setrlimit(RLIMIT_NOFILE, %" PRId64 ")",
                         m->worker_rlimit_nofile);
    }
    if (!h->drop_privileges)
        return;
    if (setgroups(0, NULL) != 0 || setgid(h->gid) != 0 || setuid(h->uid) != 0) {
        pt_log_errno(PT_LOG_EMERG, errno, "cannot drop privileges to uid %u gid %u",
                     (unsigned) h->uid, (unsigned) h->gid);
        exit(2);
    }
    /* Keep core dumps possible after the switch, for post-mortems. */
    prctl(PR_SET_DUMPABLE, 1);
}

void pt_worker_main(const pt_heritage_t *h)
{
    sigset_t set;

    pt_worker_h = h;
    pt_worker_conf = h->conf;
    pt_log_set_ident("worker", (int) h->slot);
    pt_proctitle_set("portico-worker", "portico: worker process %u (generation %u)", h->slot,
                     h->generation);
    pt_worker_privileges(h);
    signal(SIGPIPE, SIG_IGN);

    sigemptyset(&set);
    sigaddset(&set, SIGQUIT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    sigprocmask(SIG_BLOCK, &set, NULL);
    pt_clock_update();

    if (pt_event_init(PT_WORKER_EVENTS) != PT_OK || pt_timer_init() != PT_OK) {
        pt_log_errno(PT_LOG_EMERG, errno, "cannot start the event loop");
        exit(2);
    }
    pt_buf_pool_init(PT_WORKER_BUF_FREE_BYTES);
    pt_timer_prepare(&pt_worker_resume_timer, pt_worker_resume_tick, NULL);
    pt_timer_prepare(&pt_worker_trim_timer, pt_worker_trim_tick, NULL);
    pt_timer_set(&pt_worker_trim_timer, PT_WORKER_TRIM_MS);
    if (pt_metrics_worker_init(pt_worker_conf, h->slot) != PT_OK)
        pt_log(PT_LOG_WARN, "no metrics zone for slot %u: this worker counts for itself only",
               h->slot);
    pt_conn_hooks_t hooks = {
        .max_conns = (unsigned) pt_worker_conf->main.worker_connections,
        .on_limit = pt_worker_accept_pause, .on_closed = pt_worker_conn_closed,
    };
    pt_conn_setup(&hooks);
    pt_conn_accept_setup(pt_modules);
    for (size_t i = 0; i < pt_nmodules; i++) {
        if (pt_modules[i]->init_worker && pt_modules[i]->init_worker(pt_worker_conf) != PT_OK) {
            pt_log(PT_LOG_EMERG, "module %s failed to start", pt_modules[i]->name);
            exit(2);
        }
    }

    pt_worker_sig_ev.fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    pt_worker_sig_ev.handler = pt_worker_signal;
    if (pt_worker_sig_ev.fd < 0 || pt_event_add(&pt_worker_sig_ev, EPOLLIN) != PT_OK) {
        pt_log_errno(PT_LOG_EMERG, errno, "signalfd");
        exit(2);
    }
    pt_worker_ctl_ev.fd = h->ctl_fd;
    pt_worker_ctl_ev.handler = pt_worker_ctl;
    if (h->ctl_fd >= 0)
        pt_event_add(&pt_worker_ctl_ev, EPOLLIN);

    pt_worker_nlisten = h->nlisten;
    pt_worker_listen = calloc(h->nlisten ? h->nlisten : 1, sizeof(*pt_worker_listen));
    if (pt_worker_listen == NULL)
        exit(2);
    for (size_t i = 0; i < h->nlisten; i++) {
        pt_event_t *ev = &pt_worker_listen[i];
        ev->fd = h->listen[i].fd;
        ev->handler = pt_conn_accept;
        ev->data = (void *) &pt_worker_conf->listeners[h->listen[i].listener];
        /* Level-triggered: an accept batch may stop early and rely on
         * being told again. */
        if (pt_event_add(ev, EPOLLIN) != PT_OK)
            exit(2);
    }
    pt_log(PT_LOG_DEBUG, "worker %u of generation %u started", h->slot, h->generation);

    while (!pt_worker_exit) {
        if (pt_event_process(pt_timer_next()) != PT_OK)
            break;
        pt_timer_run();
    }

    pt_conn_close_all();
    for (size_t i = pt_nmodules; i-- > 0;)
        if (pt_modules[i]->exit_worker)
            pt_modules[i]->exit_worker(pt_worker_conf);
    pt_timer_exit();
    pt_event_exit();
    free(pt_worker_listen);
    exit(0);
}
