/*
 * sock.c: address parsing and socket setup.
 */
#include "common/pt.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/sock.h"

static char pt_sock_err[512];

/* "1".."65535", digits only. */
static int
pt_sock_parse_port(const char *s, in_port_t *port)
{
    unsigned long v = 0;

    if (*s == '\0')
        return PT_ERROR;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return PT_ERROR;
        v = v * 10 + (unsigned long) (*s - '0');
        if (v > 65535)
            return PT_ERROR;
    }
    if (v == 0)
        return PT_ERROR;
    *port = htons((in_port_t) v);
    return PT_OK;
}

/* Splits "host:port" / "[v6]:port" into host (brackets dropped) and port.
 * v6 is set when the host was bracketed. */
static int
pt_sock_split(const char *s, char *host, size_t hostcap, const char **port, bool *v6)
{
    const char *end, *colon;
    size_t len;

    if (s[0] == '[') {
        end = strchr(s, ']');
        if (end == NULL || end[1] != ':')
            return PT_ERROR;
        s++;
        colon = end + 1;
        *v6 = true;
    } else {
        end = colon = strrchr(s, ':');
        if (colon == NULL || memchr(s, ':', (size_t) (colon - s)) != NULL)
            return PT_ERROR;    /* a bare IPv6 address must be bracketed */
        *v6 = false;
    }
    len = (size_t) (end - s);
    if (len >= hostcap)
        return PT_ERROR;
    memcpy(host, s, len);
    host[len] = '\0';
    *port = colon + 1;
    return PT_OK;
}

/* host is numeric (or "" / "*" for any IPv4 when allow_any): fills out. */
static int
pt_sock_numeric(const char *host, bool v6, in_port_t port, bool allow_any, pt_sockaddr_t *out)
{
    memset(out, 0, sizeof(*out));

    if (v6) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) &out->ss;
        if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
            return PT_ERROR;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = port;
        out->len = sizeof(*sin6);
        return PT_OK;
    }

    struct sockaddr_in *sin = (struct sockaddr_in *) &out->ss;
    if (allow_any && (host[0] == '\0' || strcmp(host, "*") == 0)) {
        sin->sin_addr.s_addr = htonl(INADDR_ANY);
    } else if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
        return PT_ERROR;
    }
    sin->sin_family = AF_INET;
    sin->sin_port = port;
    out->len = sizeof(*sin);
    return PT_OK;
}

int
pt_sock_parse_addr(const char *s, pt_sockaddr_t *out)
{
    char host[INET6_ADDRSTRLEN];
    const char *port_s;
    in_port_t port;
    bool v6;

    if (s == NULL
        || pt_sock_split(s, host, sizeof(host), &port_s, &v6) != PT_OK
        || pt_sock_parse_port(port_s, &port) != PT_OK)
        return PT_ERROR;
    return pt_sock_numeric(host, v6, port, true, out);
}

const char *
pt_sock_resolve_error(void)
{
    return pt_sock_err;
}

int
pt_sock_resolve(const char *hostport, pt_sockaddr_t *out, size_t max, size_t *n)
{
    struct addrinfo hints, *res, *ai;
    char host[256];
    const char *port_s;
    in_port_t port;
    bool v6;
    int rc;

    pt_sock_err[0] = '\0';
    *n = 0;
    if (hostport == NULL
        || pt_sock_split(hostport, host, sizeof(host), &port_s, &v6) != PT_OK
        || host[0] == '\0') {
        snprintf(pt_sock_err, sizeof(pt_sock_err),
                 "\"%s\" is not host:port or [ipv6]:port", hostport ? hostport : "");
        return PT_ERROR;
    }
    if (pt_sock_parse_port(port_s, &port) != PT_OK) {
        snprintf(pt_sock_err, sizeof(pt_sock_err),
                 "bad port \"%s\" in \"%s\" (want 1..65535)", port_s, hostport);
        return PT_ERROR;
    }
    if (max == 0) {
        snprintf(pt_sock_err, sizeof(pt_sock_err), "no room for an address");
        return PT_ERROR;
    }

    if (pt_sock_numeric(host, v6, port, false, &out[0]) == PT_OK) {
        *n = 1;
        return PT_OK;
    }
    if (v6) {
        snprintf(pt_sock_err, sizeof(pt_sock_err), "bad IPv6 address \"%s\"", host);
        return PT_ERROR;
    }

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0) {
        snprintf(pt_sock_err, sizeof(pt_sock_err), "cannot resolve \"%s\": %s",
                 host, rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
        return PT_ERROR;
    }

    for (ai = res; ai != NULL && *n < max; ai = ai->ai_next) {
        pt_sockaddr_t *a = &out[*n];

        if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
            || ai->ai_addrlen > sizeof(a->ss))
            continue;
        memset(a, 0, sizeof(*a));
        memcpy(&a->ss, ai->ai_addr, ai->ai_addrlen);
        a->len = ai->ai_addrlen;
        if (ai->ai_family == AF_INET)
            ((struct sockaddr_in *) &a->ss)->sin_port = port;
        else
            ((struct sockaddr_in6 *) &a->ss)->sin6_port = port;
        (*n)++;
    }
    freeaddrinfo(res);

    if (*n == 0) {
        snprintf(pt_sock_err, sizeof(pt_sock_err), "\"%s\" has no IPv4 or IPv6 address", host);
        return PT_ERROR;
    }
    return PT_OK;
}

size_t
pt_sock_ntop_host(const struct sockaddr *sa, char *buf, size_t n)
{
    char tmp[INET6_ADDRSTRLEN];

    switch (sa->sa_family) {
    case AF_INET:
        inet_ntop(AF_INET, &((const struct sockaddr_in *) sa)->sin_addr, tmp, sizeof(tmp));
        break;
    case AF_INET6:
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *) sa)->sin6_addr, tmp, sizeof(tmp));
        break;
    default:
        return pt_sock_ntop(sa, buf, n);
    }
    return (size_t) snprintf(buf, n, "%s", tmp);
}

size_t
pt_sock_ntop(const struct sockaddr *sa, char *buf, size_t n)
{
    char tmp[INET6_ADDRSTRLEN];

    switch (sa->sa_family) {
    case AF_INET: {
        const struct sockaddr_in *sin = (const struct sockaddr_in *) sa;
        inet_ntop(AF_INET, &sin->sin_addr, tmp, sizeof(tmp));
        return (size_t) snprintf(buf, n, "%s:%u", tmp, ntohs(sin->sin_port));
    }
    case AF_INET6: {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *) sa;
        inet_ntop(AF_INET6, &sin6->sin6_addr, tmp, sizeof(tmp));
        return (size_t) snprintf(buf, n, "[%s]:%u", tmp, ntohs(sin6->sin6_port));
    }
    case AF_UNIX: {
        const struct sockaddr_un *sun = (const struct sockaddr_un *) sa;
        return (size_t) snprintf(buf, n, "unix:%.*s",
                                 (int) sizeof(sun->sun_path), sun->sun_path);
    }
    default:
        return (size_t) snprintf(buf, n, "?");
    }
}

/* Closes fd keeping the errno of the failure that made us give up on it. */
static int
pt_sock_fail(int fd)
{
    int saved = errno;

    close(fd);
    errno = saved;
    return -1;
}

int
pt_sock_listen(const pt_sockaddr_t *a, int backlog, bool reuseport)
{
    int family = a->ss.ss_family, on = 1, fd;

    fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1)
        return pt_sock_fail(fd);
    if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) == -1)
        return pt_sock_fail(fd);
    if (family == AF_INET6
        && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) == -1)
        return pt_sock_fail(fd);
    if (bind(fd, (const struct sockaddr *) &a->ss, a->len) == -1
        || listen(fd, backlog) == -1)
        return pt_sock_fail(fd);
    return fd;
}

int
pt_sock_set_nodelay(int fd)
{
    int on = 1;

    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) == -1 ? PT_ERROR : PT_OK;
}

int
pt_sock_connect(const pt_sockaddr_t *a)
{
    int family = a->ss.ss_family, fd;

    fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return -1;
    if ((family == AF_INET || family == AF_INET6) && pt_sock_set_nodelay(fd) != PT_OK)
        return pt_sock_fail(fd);
    /* EINTR on a non-blocking connect still leaves it running, like
     * EINPROGRESS: the caller waits for writability either way. */
    if (connect(fd, (const struct sockaddr *) &a->ss, a->len) == -1
        && errno != EINPROGRESS && errno != EINTR)
        return pt_sock_fail(fd);
    return fd;
}
