/*
 * mem.h: giving memory back to the system. glibc keeps freed chunks in
 * its bins, so after a burst (thousands of connections each holding a
 * buffer) a process stays at its peak size unless asked to return the
 * free pages.
 */
#ifndef PT_MEM_H
#define PT_MEM_H

#include "common/pt.h"

/* When malloc holds more than slack bytes free, return its free pages to
 * the system (malloc_trim). Returns true if it trimmed. Costs a walk of
 * malloc's free lists: call it from a slow timer, not per request. */
bool pt_mem_trim(size_t slack);

#endif
