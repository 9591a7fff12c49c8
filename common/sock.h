/*
 * sock.h: socket addresses and the few socket calls everyone makes.
 * Every fd made here is non-blocking and close-on-exec.
 */
#ifndef PT_SOCK_H
#define PT_SOCK_H

#include <sys/socket.h>

/* An address of any family and its length, ready for bind/connect. */
typedef struct {
    struct sockaddr_storage ss;
    socklen_t len;
} pt_sockaddr_t;

/* Room for any text pt_sock_ntop writes, NUL included. */
#define PT_SOCK_ADDRSTRLEN  64

/* Parses a numeric listen/peer address: "127.0.0.1:8080", "[::1]:8080",
 * "*:80" or ":80" (IPv4 any), "[::]:80". The port is required, 1..65535,
 * digits only. No names, no zone ids. PT_OK or PT_ERROR. */
int pt_sock_parse_addr(const char *s, pt_sockaddr_t *out);

/* Resolves "host:port" or "[v6]:port" into up to max addresses at out,
 * *n set to how many, in resolver order. A numeric host skips the resolver;
 * otherwise getaddrinfo runs, which blocks: for the master at load time
 * only. PT_ERROR on a bad string, a failed lookup or no address; the reason
 * is then in pt_sock_resolve_error(). */
int pt_sock_resolve(const char *hostport, pt_sockaddr_t *out, size_t max, size_t *n);

/* Why the last pt_sock_resolve failed ("" if it did not). The text lives
 * in a static buffer until the next call. */
const char *pt_sock_resolve_error(void);

/* Prints "1.2.3.4:80" or "[::1]:80" ("unix:<path>" for AF_UNIX, "?" for
 * anything else). snprintf semantics: returns the length needed. */
size_t pt_sock_ntop(const struct sockaddr *sa, char *buf, size_t n);

/* Prints the address alone: "1.2.3.4" or "::1". snprintf semantics. */
size_t pt_sock_ntop_host(const struct sockaddr *sa, char *buf, size_t n);

/* A listening socket on a: SO_REUSEADDR, SO_REUSEPORT if reuseport,
 * IPV6_V6ONLY for IPv6 (so "[::]:80" and "*:80" can coexist), bound and
 * listening with backlog. Returns the fd, or -1 with errno from the call
 * that failed. */
int pt_sock_listen(const pt_sockaddr_t *a, int backlog, bool reuseport);

/* Starts a non-blocking connect to a with TCP_NODELAY set. Returns the fd
 * (connected, or in progress: wait for writable, then read SO_ERROR), or
 * -1 with errno from the call that failed. */
int pt_sock_connect(const pt_sockaddr_t *a);

/* Sets TCP_NODELAY on fd. PT_OK, or PT_ERROR with errno. */
int pt_sock_set_nodelay(int fd);

#endif
