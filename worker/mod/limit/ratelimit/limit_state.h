/*
 * limit_state.h: quotas across a restart. At exit each worker writes the
 * quota entries of every zone (and each zone's hash seed) to the state
 * file, through a temporary file renamed over it, so the file is always
 * one whole snapshot; the master reads it when it creates a zone anew.
 * Text, one record a line:
 *
 *   portico-limits 1
 *   zone NAME SEED
 *   q FINGERPRINT WORD KEY        (hex; KEY as the table stores it)
 *
 * A line that does not parse is skipped; a zone not in the file starts
 * empty. Rate and concurrency state is not kept (it is on the monotonic
 * clock and about requests of the process that ran them).
 */
#ifndef PT_LIMIT_STATE_H
#define PT_LIMIT_STATE_H

#include "common/pt.h"
#include "worker/mod/limit/ratelimit/limit_conf.h"

/* Write the entries of kind of every zone in zones to path. PT_OK or
 * PT_ERROR (errno set; the old file stays). */
int pt_limit_state_save(const char *path, const pt_limit_zone_t *zones, uint8_t kind);

/* The seed path holds for zone name: false when it holds none. */
bool pt_limit_state_seed(const char *path, const char *name, uint64_t *seed);

/* Insert zone name's records from path into t (made with that seed),
 * as entries of kind; returns how many. */
size_t pt_limit_state_load(const char *path, const char *name, pt_limit_table_t *t,
                           uint8_t kind);

#endif
