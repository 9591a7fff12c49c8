/*
 * listen_probe.c: before a master takes an address, make sure nobody else
 * listens there. Every portico listening socket has SO_REUSEPORT, so a
 * second instance's bind would succeed and the kernel would split traffic
 * between two configurations; a probe bound without SO_REUSEPORT fails
 * with EADDRINUSE instead. The holder is named from /proc when it can be.
 */
#include "common/pt.h"
#include "common/sock.h"
#include "master/listen.h"

#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

/* The inode of the listening socket bound to a, from /proc/net/tcp or
 * tcp6 (hex address as the kernel prints it), or 0. */
static unsigned long pt_listen_inode(const pt_sockaddr_t *a)
{
    char want[64];
    const char *table;

    if (a->ss.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *) &a->ss;
        snprintf(want, sizeof(want), "%08X:%04X", in->sin_addr.s_addr, ntohs(in->sin_port));
        table = "/proc/net/tcp";
    } else {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) &a->ss;
        const uint32_t *w = (const uint32_t *) in6->sin6_addr.s6_addr;
        snprintf(want, sizeof(want), "%08X%08X%08X%08X:%04X", w[0], w[1], w[2], w[3],
                 ntohs(in6->sin6_port));
        table = "/proc/net/tcp6";
    }
    FILE *f = fopen(table, "r");
    char line[512], local[64], state[8];
    unsigned long inode = 0;
    if (f == NULL)
        return 0;
    while (inode == 0 && fgets(line, sizeof(line), f)) {
        unsigned long ino;
        /* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
        if (sscanf(line, " %*s %63s %*s %7s %*s %*s %*s %*s %*s %lu", local, state, &ino) == 3
            && strcmp(state, "0A") == 0 && strcmp(local, want) == 0)
            inode = ino;
    }
    fclose(f);
    return inode;
}

/* A process with a descriptor on socket inode, or 0. Bounded: at most
 * 4096 processes and 4096 descriptors each are looked at. */
static long pt_listen_inode_pid(unsigned long inode)
{
    char want[64], path[600], link[64];
    DIR *proc = opendir("/proc");
    struct dirent *d;
    long pid = 0;
    unsigned nproc = 0;

    if (proc == NULL)
        return 0;
    snprintf(want, sizeof(want), "socket:[%lu]", inode);
    while (pid == 0 && nproc++ < 4096 && (d = readdir(proc)) != NULL) {
        if (d->d_name[0] < '1' || d->d_name[0] > '9')
            continue;
        snprintf(path, sizeof(path), "/proc/%s/fd", d->d_name);
        DIR *fds = opendir(path);
        struct dirent *e;
        unsigned nfd = 0;
        if (fds == NULL)
            continue;
        while (pid == 0 && nfd++ < 4096 && (e = readdir(fds)) != NULL) {
            snprintf(path, sizeof(path), "/proc/%s/fd/%s", d->d_name, e->d_name);
            ssize_t n = readlink(path, link, sizeof(link) - 1);
            if (n > 0) {
                link[n] = '\0';
                if (strcmp(link, want) == 0)
                    pid = strtol(d->d_name, NULL, 10);
            }
        }
        closedir(fds);
    }
    closedir(proc);
    return pid;
}

int pt_listen_probe(const pt_sockaddr_t *a, const char *text, char *err, size_t err_len)
{
    int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), on = 1;

    if (fd < 0) {
        snprintf(err, err_len, "cannot listen on %s: %s", text, strerror(errno));
        return PT_ERROR;
    }
    /* SO_REUSEADDR as the real sockets have it, so connections of an
     * earlier run in TIME_WAIT do not count; bind, never listen. */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    if (a->ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
    int rc = bind(fd, (const struct sockaddr *) &a->ss, a->len), saved = errno;
    close(fd);
    if (rc == 0)
        return PT_OK;
    errno = saved;
    if (errno != EADDRINUSE) {
        snprintf(err, err_len, "cannot listen on %s: %s", text, strerror(errno));
        return PT_ERROR;
    }
    unsigned long inode = pt_listen_inode(a);
    long pid = inode ? pt_listen_inode_pid(inode) : 0;
    if (pid > 0)
        snprintf(err, err_len, "cannot listen on %s: address already in use (by pid %ld; "
                 "is another portico running?)", text, pid);
    else
        snprintf(err, err_len, "cannot listen on %s: address already in use", text);
    return PT_ERROR;
}
