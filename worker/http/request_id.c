/*
 * request_id.c: request ids (see request_id.h).
 */
#include "common/pt.h"
#include "common/clock.h"
#include "worker/http/request_id.h"

#include <sys/random.h>
#include <unistd.h>

static uint64_t pt_request_id_hi, pt_request_id_lo, pt_request_id_seq;
static bool pt_request_id_seeded;
static char pt_request_id_pairs[256][2];
static char pt_request_id_hi_hex[16];     /* the digits of the fixed half */

static void pt_request_id_seed(void)
{
    static const char hex[] = "0123456789abcdef";

    if (getrandom(&pt_request_id_hi, sizeof(pt_request_id_hi), 0) != sizeof(pt_request_id_hi)
        || getrandom(&pt_request_id_lo, sizeof(pt_request_id_lo), 0)
           != sizeof(pt_request_id_lo))
        pt_request_id_hi = (uint64_t) getpid() << 32 ^ (uint64_t) pt_clock_wall_ms();
    for (int b = 0; b < 256; b++) {
        pt_request_id_pairs[b][0] = hex[b >> 4];
        pt_request_id_pairs[b][1] = hex[b & 15];
    }
    for (int i = 0; i < 8; i++)
        memcpy(pt_request_id_hi_hex + 2 * i,
               pt_request_id_pairs[(pt_request_id_hi >> (56 - 8 * i)) & 0xff], 2);
    pt_request_id_seeded = true;
}

void pt_request_id_make(char out[PT_REQUEST_ID_HEX + 1])
{
    if (!pt_request_id_seeded)
        pt_request_id_seed();

    uint64_t lo = pt_request_id_lo + ++pt_request_id_seq;

    /* This runs for every request: the fixed half's digits were made at
     * seeding, the counter's come two per byte from one table. */
    memcpy(out, pt_request_id_hi_hex, 16);
    for (int i = 0; i < 8; i++)
        memcpy(out + 16 + 2 * i, pt_request_id_pairs[(lo >> (56 - 8 * i)) & 0xff], 2);
    out[PT_REQUEST_ID_HEX] = '\0';
}
