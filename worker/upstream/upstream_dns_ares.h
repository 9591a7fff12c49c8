/*
 * upstream_dns_ares.h: the c-ares resolver of a worker, on its event loop
 * (sockets in epoll, c-ares's timeouts on a timer), and the blocking form
 * the master uses at load time. Both ask for A and AAAA at once and use
 * the resolvers of portico { resolver } (default: /etc/resolv.conf's),
 * /etc/hosts first as c-ares does.
 */
#ifndef PT_UPSTREAM_DNS_ARES_H
#define PT_UPSTREAM_DNS_ARES_H

#include "common/pt.h"
#include "worker/core/core.h"
#include "worker/upstream/upstream_dns.h"

/* A finished query: ok with addrs[0..n) (n >= 1) and the smallest TTL of
 * the answer (0: none known, as for /etc/hosts), or !ok with error. */
typedef void (*pt_upstream_dns_ares_done_pt)(void *data, bool ok, const char *error,
                                             const pt_upstream_dns_addr_t *addrs, unsigned n,
                                             int ttl);

/* The worker's channel; PT_OK or PT_ERROR (logged). */
int pt_upstream_dns_ares_init(const pt_main_conf_t *m);
/* Cancel what is out (no callback runs) and free the channel. */
void pt_upstream_dns_ares_exit(void);

/* Start resolving host; done runs later from the event loop, or at once
 * (an /etc/hosts hit). PT_ERROR: no channel or no memory (done not run). */
int pt_upstream_dns_ares_query(const char *host, uint16_t port, pt_upstream_dns_ares_done_pt done,
                               void *data);

/* How long a query may take at most with m's settings (two rounds over
 * the resolvers, c-ares doubling the timeout in the second): the lease a
 * resolving worker takes. */
pt_msec_t pt_upstream_dns_ares_lease(const pt_main_conf_t *m);

#endif
