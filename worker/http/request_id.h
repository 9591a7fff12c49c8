/*
 * request_id.h: the ids the gateway gives requests that arrive without a
 * usable X-Request-ID.
 */
#ifndef PT_REQUEST_ID_H
#define PT_REQUEST_ID_H

#include "common/pt.h"

#define PT_REQUEST_ID_HEX   32      /* digits of an id we make */

/* Write a new id into out: PT_REQUEST_ID_HEX lowercase hex digits and a
 * NUL. Unique within the process: a random 128-bit base, drawn on the
 * first call, plus a count. The first call must come after the fork (in
 * a worker, never the master), or the processes would share ids. */
void pt_request_id_make(char out[PT_REQUEST_ID_HEX + 1]);

#endif
