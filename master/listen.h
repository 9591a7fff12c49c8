/*
 * listen.h: the master's listening sockets: one SO_REUSEPORT socket per
 * listen address per worker slot, kept for the master's whole life so a
 * reload never closes a socket (and never resets a queued connection).
 * Worker i of a generation with n workers serves every slot k with
 * k % n == i, so no slot is left unserved when the worker count shrinks;
 * a reuseport BPF program then steers new connections to slots 0..n-1
 * only, and the extra slots just drain.
 */
#ifndef PT_MASTER_LISTEN_H
#define PT_MASTER_LISTEN_H

#include "common/pt.h"
#include "worker/core/heritage.h"
#include "worker/core/core.h"

/* Make sure every listener of conf has sockets for slots 0..nslots-1
 * (binding what is new, applying backlogs); close the master's sockets of
 * addresses conf no longer has. PT_ERROR with a message in err: nothing
 * the running generation uses was touched. */
int pt_listen_sync(const pt_conf_t *conf, unsigned nslots, char *err, size_t err_len);

/* Whether address a (text: as printed) is free for this master: nobody
 * listens there, not even with SO_REUSEPORT (which would let two
 * instances split the traffic). PT_OK, or PT_ERROR with a message in err
 * naming the address and, when /proc tells, the pid that holds it. */
int pt_listen_probe(const pt_sockaddr_t *a, const char *text, char *err, size_t err_len);

/* Steer new connections of every address to the first nworkers slots. */
void pt_listen_steer(unsigned nworkers);

/* The sockets worker `worker` of `nworkers` serves for conf, written to
 * out (room for conf->nlisteners * slots); returns how many. */
size_t pt_listen_for_worker(const pt_conf_t *conf, unsigned worker, unsigned nworkers,
                            pt_heritage_listen_t *out);

/* How many slots exist (the largest worker count so far). */
unsigned pt_listen_slots(void);

/* Every listening fd the master holds, for closing in children. */
size_t pt_listen_all_fds(int *out, size_t max);

void pt_listen_close_all(void);

#endif
