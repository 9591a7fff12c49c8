/*
 * test_sock.c: address parsing and printing, listen and connect on loopback.
 */
#include "common/pt.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <fcntl.h>
#include <unistd.h>

#include "common/sock.h"
#include "test/unit/tap.h"

static const struct { const char *in; const char *out; } good[] = {
    { "127.0.0.1:8080", "127.0.0.1:8080" },
    { "0.0.0.0:1", "0.0.0.0:1" },
    { "255.255.255.255:65535", "255.255.255.255:65535" },
    { "*:80", "0.0.0.0:80" },
    { ":80", "0.0.0.0:80" },
    { "[::1]:8080", "[::1]:8080" },
    { "[::]:80", "[::]:80" },
    { "[2001:db8::1]:443", "[2001:db8::1]:443" },
    { "[::ffff:1.2.3.4]:80", "[::ffff:1.2.3.4]:80" },
    { "10.0.0.1:00080", "10.0.0.1:80" },
};

static const char *const bad[] = {
    "", "80", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536",
    "127.0.0.1:99999999999", "127.0.0.1:-1", "127.0.0.1:+80", "127.0.0.1:8a", "127.0.0.1: 80",
    " 127.0.0.1:80", "127.1:80", "1.2.3.256:80", "localhost:80", "::1:80", "[::1]",
    "[::1]80", "[::1:80", "::1]:80", "[1.2.3.4]:80", "[fe80::1%lo]:80", "[]:80", "*:0",
    "**:80", "[*]:80", "1.2.3.4:80:80", "[::1]:80:80",
};

int
main(void)
{
    char buf[PT_SOCK_ADDRSTRLEN];
    pt_sockaddr_t a;

    for (size_t i = 0; i < pt_countof(good); i++) {
        memset(&a, 0, sizeof(a));
        int rc = pt_sock_parse_addr(good[i].in, &a);
        pt_sock_ntop((struct sockaddr *) &a.ss, buf, sizeof(buf));
        ok(rc == PT_OK && strcmp(buf, good[i].out) == 0, "parse \"%s\" -> %s",
           good[i].in, buf);
    }
    for (size_t i = 0; i < pt_countof(bad); i++)
        is(pt_sock_parse_addr(bad[i], &a), PT_ERROR, "reject \"%s\"", bad[i]);

    pt_sock_parse_addr("[::1]:80", &a);
    is(a.len, sizeof(struct sockaddr_in6), "IPv6 length");
    is(a.ss.ss_family, AF_INET6, "IPv6 family");
    pt_sock_parse_addr("1.2.3.4:80", &a);
    is(a.len, sizeof(struct sockaddr_in), "IPv4 length");

    /* ntop / ntop_host, including snprintf semantics. */
    pt_sock_parse_addr("[2001:db8::42]:8443", &a);
    pt_sock_ntop_host((struct sockaddr *) &a.ss, buf, sizeof(buf));
    is_str(buf, "2001:db8::42", "ntop_host IPv6 without brackets or port");
    pt_sock_parse_addr("192.168.1.10:80", &a);
    pt_sock_ntop_host((struct sockaddr *) &a.ss, buf, sizeof(buf));
    is_str(buf, "192.168.1.10", "ntop_host IPv4");
    is(pt_sock_ntop((struct sockaddr *) &a.ss, buf, 4), strlen("192.168.1.10:80"),
       "ntop returns the full length");
    is_str(buf, "192", "ntop cuts and terminates");

    /* resolve */
    {
        pt_sockaddr_t out[8];
        size_t n = 99;
        is(pt_sock_resolve("127.0.0.1:9000", out, 8, &n), PT_OK, "resolve numeric IPv4");
        is(n, 1, "one address");
        pt_sock_ntop((struct sockaddr *) &out[0].ss, buf, sizeof(buf));
        is_str(buf, "127.0.0.1:9000", "numeric IPv4 kept");
        is(pt_sock_resolve("[::1]:9001", out, 8, &n), PT_OK, "resolve numeric IPv6");
        is_str(pt_sock_resolve_error(), "", "no error after success");

        is(pt_sock_resolve("localhost:9002", out, 8, &n), PT_OK, "resolve localhost");
        ok(n >= 1, "localhost gives %zu address(es)", n);
        {
            bool loop = true;
            for (size_t i = 0; i < n; i++) {
                pt_sock_ntop((struct sockaddr *) &out[i].ss, buf, sizeof(buf));
                loop &= strcmp(buf, "127.0.0.1:9002") == 0 || strcmp(buf, "[::1]:9002") == 0;
            }
            ok(loop, "every localhost address is loopback with the port set");
        }
        is(pt_sock_resolve("localhost:9002", out, 1, &n), PT_OK, "resolve with max 1");
        is(n, 1, "max respected");

        is(pt_sock_resolve("no-such-host.invalid:80", out, 8, &n), PT_ERROR,
           "unknown name fails");
        ok(strstr(pt_sock_resolve_error(), "no-such-host.invalid") != NULL,
           "error names the host: %s", pt_sock_resolve_error());
        is(n, 0, "no addresses on failure");
        is(pt_sock_resolve("localhost", out, 8, &n), PT_ERROR, "missing port fails");
        ok(pt_sock_resolve_error()[0] != '\0', "with a reason: %s", pt_sock_resolve_error());
        is(pt_sock_resolve("localhost:0", out, 8, &n), PT_ERROR, "port 0 fails");
        is(pt_sock_resolve(":80", out, 8, &n), PT_ERROR, "empty host fails");
        is(pt_sock_resolve("[nope]:80", out, 8, &n), PT_ERROR, "bad bracketed address fails");
    }

    /* listen on an ephemeral loopback port, then connect to it. */
    {
        pt_sockaddr_t bound;
        int lfd, cfd, afd = -1, err = -1, fl;
        socklen_t elen = sizeof(err);
        struct pollfd pfd;

        pt_sock_parse_addr("127.0.0.1:1", &a);
        ((struct sockaddr_in *) &a.ss)->sin_port = 0;   /* parse refuses 0; the kernel picks */
        lfd = pt_sock_listen(&a, 16, true);
        ok(lfd >= 0, "listen on 127.0.0.1:0");
        fl = fcntl(lfd, F_GETFL);
        ok(fl != -1 && (fl & O_NONBLOCK), "listener is non-blocking");
        ok((fcntl(lfd, F_GETFD) & FD_CLOEXEC) != 0, "listener is close-on-exec");

        bound.len = sizeof(bound.ss);
        getsockname(lfd, (struct sockaddr *) &bound.ss, &bound.len);
        pt_sock_ntop((struct sockaddr *) &bound.ss, buf, sizeof(buf));
        ok(strncmp(buf, "127.0.0.1:", 10) == 0 && strcmp(buf, "127.0.0.1:0") != 0,
           "bound to %s", buf);

        /* SO_REUSEPORT lets a second socket share the port. */
        {
            int lfd2 = pt_sock_listen(&bound, 16, true);
            ok(lfd2 >= 0, "a second SO_REUSEPORT listener on the same port");
            if (lfd2 >= 0)
                close(lfd2);
            errno = 0;
            lfd2 = pt_sock_listen(&bound, 16, false);
            ok(lfd2 == -1 && errno == EADDRINUSE, "without SO_REUSEPORT: EADDRINUSE (errno kept)");
        }

        cfd = pt_sock_connect(&bound);
        ok(cfd >= 0, "connect started");
        pfd.fd = cfd;
        pfd.events = POLLOUT;
        ok(poll(&pfd, 1, 5000) == 1, "connect completes");
        getsockopt(cfd, SOL_SOCKET, SO_ERROR, &err, &elen);
        is(err, 0, "no socket error");
        pfd.fd = lfd;
        pfd.events = POLLIN;
        if (poll(&pfd, 1, 5000) == 1)
            afd = accept(lfd, NULL, NULL);
        ok(afd >= 0, "accepted");
        {
            int nd = 0;
            socklen_t l = sizeof(nd);
            getsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &nd, &l);
            ok(nd != 0, "TCP_NODELAY set on the connecting socket");
        }
        ok(write(cfd, "ping", 4) == 4, "write");
        {
            char r[8] = { 0 };
            pfd.fd = afd;
            poll(&pfd, 1, 5000);
            ok(read(afd, r, sizeof(r)) == 4 && memcmp(r, "ping", 4) == 0, "bytes arrive");
        }
        close(afd);
        close(cfd);
        close(lfd);

        /* Connect to a closed port: refused now or later, never a hang. */
        cfd = pt_sock_connect(&bound);
        if (cfd >= 0) {
            pfd.fd = cfd;
            pfd.events = POLLOUT;
            poll(&pfd, 1, 5000);
            getsockopt(cfd, SOL_SOCKET, SO_ERROR, &err, &elen);
            is(err, ECONNREFUSED, "connect to a closed port is refused");
            close(cfd);
        } else {
            is(errno, ECONNREFUSED, "connect to a closed port is refused");
        }
    }

    /* IPv6 listener with V6ONLY beside an IPv4 one on the same port. */
    {
        pt_sockaddr_t v4, v6;
        int l4, l6;
        pt_sock_parse_addr("[::]:1", &v6);
        ((struct sockaddr_in6 *) &v6.ss)->sin6_port = 0;
        l6 = pt_sock_listen(&v6, 8, false);
        if (l6 < 0) {
            diag("no IPv6 here (%s); skipping the V6ONLY check", strerror(errno));
            ok(1, "skip: IPv6 unavailable");
        } else {
            pt_sockaddr_t b;
            b.len = sizeof(b.ss);
            getsockname(l6, (struct sockaddr *) &b.ss, &b.len);
            pt_sock_parse_addr("0.0.0.0:1", &v4);
            ((struct sockaddr_in *) &v4.ss)->sin_port = ((struct sockaddr_in6 *) &b.ss)->sin6_port;
            l4 = pt_sock_listen(&v4, 8, false);
            ok(l4 >= 0, "[::]:p and 0.0.0.0:p coexist (IPV6_V6ONLY)");
            if (l4 >= 0)
                close(l4);
            close(l6);
        }
    }

    is(pt_sock_set_nodelay(-1), PT_ERROR, "set_nodelay on a bad fd fails");

    return done_testing();
}
