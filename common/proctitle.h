/*
 * proctitle.h: what ps and top show for each process ("portico: master
 * process -c /etc/portico/portico.conf", "portico: worker process 0
 * (generation 3)"), as nginx does.
 *
 * The title is written over the memory of argv and of the environment
 * strings after it (the environment is copied to the heap first), which is
 * what /proc/PID/cmdline reads; the kernel's short name (comm, what top
 * shows without -c) is set too.
 */
#ifndef PT_PROCTITLE_H
#define PT_PROCTITLE_H

#include "common/pt.h"

/* Once, first thing in main: takes over argv's memory (argv itself stays
 * readable: its strings are copied). */
void pt_proctitle_init(int argc, char **argv);

/* Set the title (printf format); cut to the room argv and the
 * environment had. comm: the short name (at most 15 bytes used). */
void pt_proctitle_set(const char *comm, const char *fmt, ...) PT_PRINTF(2, 3);

#endif
