/*
 * request_id.h: the ids the gateway gives requests that arrive without a
 * usable X-Request-ID.
 */
#ifndef PT_REQUEST_ID_H
#define PT_REQUEST_ID_H

#include "common/pt.h"

#define PT_REQUEST_ID_TEXT  36      /* "0190b6e2-5c1d-7a3e-9f21-6b0c4d8e2a17" */

/* Write a new id into out: a UUIDv7 in lowercase text (RFC 9562), 36
 * characters and a NUL: the time in ms, then 74 random bits, so no id
 * tells another. The first call must come after the fork (in a worker,
 * never the master), or the processes would draw the same random bytes. */
void pt_request_id_make(char out[PT_REQUEST_ID_TEXT + 1]);

#endif
