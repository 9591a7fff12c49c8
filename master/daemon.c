/*
 * daemon.c: daemonizing with a readiness pipe, the pid file, -s NAME.
 */
#include "common/pt.h"
#include "common/log.h"
#include "master/conf_load.h"
#include "master/daemon.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int pt_daemon_start(void)
{
    int p[2];
    char msg[1024];

    if (pipe2(p, O_CLOEXEC) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid > 0) {
        close(p[1]);
        size_t n = 0;
        ssize_t got;
        while (n < sizeof(msg) - 1 && (got = read(p[0], msg + n, sizeof(msg) - 1 - n)) != 0) {
            if (got < 0 && errno == EINTR)
                continue;
            if (got < 0)
                break;
            n += (size_t) got;
        }
        msg[n] = '\0';
        if (n == 2 && memcmp(msg, "ok", 2) == 0)
            _exit(0);
        fprintf(stderr, "portico: %s\n", n ? msg : "failed to start (see the error log)");
        _exit(1);
    }
    close(p[0]);
    setsid();
    /* No chdir("/"), as nginx: relative paths (-c, the pid file, logs,
     * @include) keep meaning what they meant at start, for every reload. */
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        if (null > 1)
            close(null);
    }
    return p[1];
}

void pt_daemon_ready(int fd, const char *error)
{
    if (fd < 0)
        return;
    const char *msg = error ? error : "ok";
    ssize_t rc = write(fd, msg, strlen(msg));
    (void) rc;
    close(fd);
}

int pt_pidfile_create(const char *path, char *err, size_t err_len)
{
    /* Its directory is made like a log file's (a fresh /run/portico/). */
    pt_conf_mkdir_parent(path);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    char buf[32];

    if (fd < 0) {
        snprintf(err, err_len, "cannot open pid file %s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        buf[n > 0 ? n : 0] = '\0';
        buf[strcspn(buf, "\n")] = '\0';
        snprintf(err, err_len, "already running (pid %s, pid file %s)", buf[0] ? buf : "?",
                 path);
        close(fd);
        return -1;
    }
    int n = snprintf(buf, sizeof(buf), "%ld\n", (long) getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t) n, 0) != n) {
        snprintf(err, err_len, "cannot write pid file %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

void pt_pidfile_remove(const char *path, int fd)
{
    if (fd < 0)
        return;
    unlink(path);
    close(fd);
}

pid_t pt_pidfile_read(const char *path, char *err, size_t err_len)
{
    char buf[32];
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        snprintf(err, err_len, "cannot open pid file %s: %s (is portico running?)", path,
                 strerror(errno));
        return -1;
    }
    /* A running master holds the lock for its whole life. A file nobody
     * locks is left from a crash, and its pid may belong to anyone now. */
    if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
        snprintf(err, err_len, "portico is not running (stale pid file %s)", path);
        close(fd);
        return -1;
    }
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    char *end;
    long pid = strtol(buf, &end, 10);
    if (n <= 0 || pid <= 1 || (*end != '\n' && *end != '\0')) {
        snprintf(err, err_len, "pid file %s does not hold a pid", path);
        return -1;
    }
    return (pid_t) pid;
}

static const struct {
    const char *name;
    int sig;
} pt_signal_names[] = {
    { "stop", SIGTERM }, { "quit", SIGQUIT }, { "reload", SIGHUP }, { "reopen", SIGUSR1 },
};

int pt_signal_master(const char *pidfile, const char *name, char *err, size_t err_len)
{
    int sig = 0;

    for (size_t i = 0; i < pt_countof(pt_signal_names); i++)
        if (strcmp(pt_signal_names[i].name, name) == 0)
            sig = pt_signal_names[i].sig;
    if (sig == 0) {
        snprintf(err, err_len, "unknown signal \"%s\" (use stop, quit, reload or reopen)",
                 name);
        return -1;
    }
    pid_t pid = pt_pidfile_read(pidfile, err, err_len);
    if (pid < 0)
        return -1;
    if (kill(pid, sig) != 0) {
        snprintf(err, err_len, "cannot signal pid %ld: %s", (long) pid, strerror(errno));
        return -1;
    }
    return 0;
}
