/*
 * syslog.c: RFC 5424 over a local socket (see syslog.h).
 */
#include "common/pt.h"
#include "common/syslog.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int pt_syslog_facility(const char *name)
{
    static const struct { const char *name; int code; } f[] = {
        { "user", 1 }, { "daemon", 3 }, { "local0", 16 }, { "local1", 17 }, { "local2", 18 },
        { "local3", 19 }, { "local4", 20 }, { "local5", 21 }, { "local6", 22 },
        { "local7", 23 },
    };

    for (size_t i = 0; name && i < pt_countof(f); i++)
        if (strcmp(name, f[i].name) == 0)
            return f[i].code;
    return -1;
}

int pt_syslog_connect(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };

    if (strlen(path) >= sizeof(sa.sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

size_t pt_syslog_header(char *out, int facility, int severity, const char *app, long pid,
                        const char *msgid)
{
    static char host[256];
    struct timespec ts;
    struct tm tm;

    if (host[0] == '\0' && (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0'))
        strcpy(host, "-");
    clock_gettime(CLOCK_REALTIME, &ts);
    time_t now = ts.tv_sec;
    gmtime_r(&now, &tm);
    /* TIMESTAMP in UTC with milliseconds (RFC 5424 §6.2.3). */
    int n = snprintf(out, 256, "<%d>1 %04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %.64s %.48s %ld %.32s - ",
                     facility * 8 + severity, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, host, app, pid,
                     msgid && *msgid ? msgid : "-");
    return n > 0 ? pt_min((size_t) n, 255) : 0;
}

int pt_syslog_send(int *fd, const char *path, const char *msg, size_t len, uint64_t *dropped)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        if (*fd < 0 && (*fd = pt_syslog_connect(path)) < 0)
            break;
        if (send(*fd, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
            return PT_OK;
        if (errno != ECONNREFUSED && errno != ENOTCONN)
            break;          /* full (EAGAIN, ENOBUFS) or worse: drop, never wait */
        /* The listener was restarted: its socket is a new one. */
        close(*fd);
        *fd = -1;
    }
    (*dropped)++;
    return PT_ERROR;
}
