/*
 * log.c: the error log. See log.h for the line format and its guarantees.
 */
#include "common/pt.h"

#include <fcntl.h>
#include <stdarg.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/syslog.h"

#include <inttypes.h>

int pt_log_level = PT_LOG_INFO;

static int pt_log_target = STDERR_FILENO;
static char pt_log_path[4096];          /* empty while the target is stderr */
static char pt_log_ident[32] = "master";
static char pt_log_syslog_path[108];    /* non-empty: the target is this syslog socket */
static uint64_t pt_log_syslog_dropped, pt_log_syslog_reported;

static const char *const pt_log_names[] = {
    "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug"
};

int
pt_log_level_parse(const char *name)
{
    if (name == NULL)
        return -1;
    for (size_t i = 0; i < pt_countof(pt_log_names); i++) {
        if (strcmp(name, pt_log_names[i]) == 0)
            return (int) i;
    }
    return -1;
}

const char *
pt_log_level_name(int level)
{
    if (level < 0 || (size_t) level >= pt_countof(pt_log_names))
        return "unknown";
    return pt_log_names[level];
}

/* "syslog" or "syslog:/path": the socket, else NULL. */
static const char *pt_log_syslog_socket(const char *path)
{
    if (strcmp(path, "syslog") == 0)
        return PT_SYSLOG_DEFAULT;
    if (strncmp(path, "syslog:", 7) == 0)
        return path[7] ? path + 7 : PT_SYSLOG_DEFAULT;
    return NULL;
}

bool
pt_log_is_syslog(const char *path)
{
    return path && pt_log_syslog_socket(path) != NULL;
}

int
pt_log_open(const char *path)
{
    int fd;

    if (path && pt_log_syslog_socket(path)) {
        const char *sock = pt_log_syslog_socket(path);
        if (strlen(sock) >= sizeof(pt_log_syslog_path)) {
            errno = ENAMETOOLONG;
            return PT_ERROR;
        }
        if ((fd = pt_syslog_connect(sock)) < 0)
            return PT_ERROR;
        if (pt_log_target != STDERR_FILENO)
            close(pt_log_target);
        pt_log_target = fd;
        strcpy(pt_log_syslog_path, sock);
        pt_log_path[0] = '\0';     /* nothing to reopen */
        return PT_OK;
    }
    pt_log_syslog_path[0] = '\0';
    if (path == NULL || strcmp(path, "stderr") == 0) {
        if (pt_log_target != STDERR_FILENO)
            close(pt_log_target);
        pt_log_target = STDERR_FILENO;
        pt_log_path[0] = '\0';
        return PT_OK;
    }
    if (strlen(path) >= sizeof(pt_log_path)) {
        errno = ENAMETOOLONG;
        return PT_ERROR;
    }

    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd == -1)
        return PT_ERROR;
    if (pt_log_target != STDERR_FILENO)
        close(pt_log_target);
    pt_log_target = fd;
    memmove(pt_log_path, path, strlen(path) + 1);   /* path may be pt_log_path itself */
    return PT_OK;
}

int
pt_log_reopen(void)
{
    int fd, saved;

    if (pt_log_path[0] == '\0')
        return PT_OK;

    fd = open(pt_log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd == -1)
        return PT_ERROR;
    /* dup3 swaps the file under the old number atomically: a line written
     * meanwhile lands in one file or the other, never nowhere. */
    if (dup3(fd, pt_log_target, O_CLOEXEC) == -1) {
        saved = errno;
        close(fd);
        errno = saved;
        return PT_ERROR;
    }
    close(fd);
    return PT_OK;
}

int
pt_log_fd(void)
{
    return pt_log_target;
}

void
pt_log_set_ident(const char *role, int slot)
{
    if (role == NULL)
        role = "master";
    if (slot >= 0)
        snprintf(pt_log_ident, sizeof(pt_log_ident), "%.15s.%d", role, slot);
    else
        snprintf(pt_log_ident, sizeof(pt_log_ident), "%.15s", role);
}

/* Copies src into dst with control characters as \xNN; dst must have room
 * for 4 * n bytes. Returns the bytes written. */
static size_t
pt_log_escape(char *dst, const char *src, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    char *d = dst;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char) src[i];
        if (c < 0x20 || c == 0x7f) {
            *d++ = '\\';
            *d++ = 'x';
            *d++ = hex[c >> 4];
            *d++ = hex[c & 0xf];
        } else {
            *d++ = (char) c;
        }
    }
    return (size_t) (d - dst);
}

/* One RFC 5424 message: facility daemon, the level as severity (the
 * PT_LOG_* numbers are syslog's), APP-NAME portico, PROCID the pid, MSGID
 * the process ("master", "worker.3"). Lines the socket had no room for are
 * counted and said with the next one that goes through. */
static void pt_log_syslog(int level, const char *msg, size_t len, bool cut, int err)
{
    char line[256 + 4 * PT_LOG_MSG_MAX + 300];  /* header, escaped message, error text */
    size_t off;

    if (pt_log_syslog_dropped > pt_log_syslog_reported) {
        uint64_t n = pt_log_syslog_dropped - pt_log_syslog_reported;
        off = pt_syslog_header(line, 3, PT_LOG_WARN, "portico", (long) getpid(), pt_log_ident);
        off += (size_t) snprintf(line + off, sizeof(line) - off,
                                 "%" PRIu64 " error log lines dropped: the syslog socket was full", n);
        if (pt_syslog_send(&pt_log_target, pt_log_syslog_path, line, off,
                           &pt_log_syslog_dropped) == PT_OK)
            pt_log_syslog_reported += n;
    }
    off = pt_syslog_header(line, 3, level, "portico", (long) getpid(), pt_log_ident);
    /* The escaped message fits: PT_LOG_MSG_MAX bytes, 4 each at most. */
    off += pt_log_escape(line + off, msg, len);
    if (cut) {
        memcpy(line + off, "...", 3);
        off += 3;
    }
    if (err != 0) {
        char errbuf[128];
        const char *es = strerror_r(err, errbuf, sizeof(errbuf));
        int r = snprintf(line + off, 256, ": %s", es);
        off += pt_min((size_t) (r > 0 ? r : 0), 255);
    }
    pt_syslog_send(&pt_log_target, pt_log_syslog_path, line, off, &pt_log_syslog_dropped);
}

static void pt_log_write(int level, int err, const char *fmt, va_list ap) PT_PRINTF(3, 0);

static void
pt_log_write(int level, int err, const char *fmt, va_list ap)
{
    char msg[PT_LOG_MSG_MAX + 1];
    /* header, body escaped at 4 bytes a byte, "...", ": " strerror, "\n" */
    char line[128 + 4 * PT_LOG_MSG_MAX + 3 + 256 + 1];
    char errbuf[128];
    struct tm tm;
    time_t now;
    size_t len, off;
    bool cut;
    ssize_t w;
    int r;

    r = vsnprintf(msg, sizeof(msg), fmt, ap);
    if (r < 0)
        r = 0;
    cut = (size_t) r > PT_LOG_MSG_MAX;
    len = cut ? PT_LOG_MSG_MAX : (size_t) r;

    if (pt_log_syslog_path[0]) {
        pt_log_syslog(level, msg, len, cut, err);
        return;
    }
    /* Local time with milliseconds and the UTC offset, so lines of
     * machines in other zones (or across a DST change) line up. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    now = ts.tv_sec;
    if (localtime_r(&now, &tm) == NULL)
        memset(&tm, 0, sizeof(tm));
    long off_min = tm.tm_gmtoff / 60;
    r = snprintf(line, 128, "%04d/%02d/%02d %02d:%02d:%02d.%03ld %c%02ld%02ld [%s] %ld#%s: ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                 tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
                 off_min < 0 ? '-' : '+', labs(off_min) / 60, labs(off_min) % 60,
                 pt_log_level_name(level), (long) getpid(), pt_log_ident);
    off = pt_min((size_t) r, 127);

    off += pt_log_escape(line + off, msg, len);
    if (cut) {
        memcpy(line + off, "...", 3);
        off += 3;
    }
    if (err != 0) {
        /* GNU strerror_r: returns the text, not necessarily in errbuf. */
        const char *es = strerror_r(err, errbuf, sizeof(errbuf));
        r = snprintf(line + off, 256, ": %s", es);
        off += pt_min((size_t) r, 255);
    }
    line[off++] = '\n';

    do {
        w = write(pt_log_target, line, off);
    } while (w == -1 && errno == EINTR);
}

void
pt_log(int level, const char *fmt, ...)
{
    va_list ap;
    int saved;

    if (level > pt_log_level)
        return;
    saved = errno;
    va_start(ap, fmt);
    pt_log_write(level, 0, fmt, ap);
    va_end(ap);
    errno = saved;
}

void
pt_log_always(int level, const char *fmt, ...)
{
    va_list ap;
    int saved = errno;

    va_start(ap, fmt);
    pt_log_write(level, 0, fmt, ap);
    va_end(ap);
    errno = saved;
}

void
pt_log_errno(int level, int err, const char *fmt, ...)
{
    va_list ap;
    int saved;

    if (level > pt_log_level)
        return;
    saved = errno;
    va_start(ap, fmt);
    pt_log_write(level, err, fmt, ap);
    va_end(ap);
    errno = saved;
}

void
pt_assert_fail(const char *expr, const char *file, int line)
{
    pt_log(PT_LOG_CRIT, "assertion failed: %s (%s:%d)", expr, file, line);
    abort();
}
