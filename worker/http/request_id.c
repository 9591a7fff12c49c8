/*
 * request_id.c: request ids (see request_id.h).
 *
 * UUIDv7 (RFC 9562 §5.7): 48 bits of Unix time in ms, then 74 random bits,
 * so ids sort by time in logs and cannot be guessed from one another. The
 * random bits come from OpenSSL's DRBG in blocks, 10 bytes an id: one
 * RAND_bytes call per 400 requests instead of one per request.
 */
#include "common/pt.h"
#include "common/clock.h"
#include "worker/http/request_id.h"

#include <openssl/rand.h>
#include <sys/random.h>

#define PT_REQUEST_ID_POOL  4000        /* random bytes drawn at once */
#define PT_REQUEST_ID_RAND  10          /* taken by one id (74 bits used) */

static unsigned char pt_request_id_pool[PT_REQUEST_ID_POOL];
static size_t pt_request_id_used = PT_REQUEST_ID_POOL;

static void pt_request_id_refill(void)
{
    if (RAND_bytes(pt_request_id_pool, sizeof(pt_request_id_pool)) != 1) {
        /* The DRBG failed (no entropy source?): the kernel's pool then. */
        size_t got = 0;
        while (got < sizeof(pt_request_id_pool)) {
            ssize_t n = getrandom(pt_request_id_pool + got, sizeof(pt_request_id_pool) - got, 0);
            if (n <= 0)
                break;
            got += (size_t) n;
        }
    }
    pt_request_id_used = 0;
}

void pt_request_id_make(char out[PT_REQUEST_ID_TEXT + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char b[16];
    uint64_t ms = pt_clock_wall_ms();

    if (pt_request_id_used + PT_REQUEST_ID_RAND > sizeof(pt_request_id_pool))
        pt_request_id_refill();
    const unsigned char *rnd = pt_request_id_pool + pt_request_id_used;
    pt_request_id_used += PT_REQUEST_ID_RAND;

    for (int i = 0; i < 6; i++)
        b[i] = (unsigned char) (ms >> (40 - 8 * i));
    b[6] = (unsigned char) (0x70 | (rnd[0] & 0x0f));       /* version 7 */
    b[7] = rnd[1];
    b[8] = (unsigned char) (0x80 | (rnd[2] & 0x3f));       /* variant 10 */
    memcpy(b + 9, rnd + 3, 7);

    /* 8-4-4-4-12 hex digits. */
    size_t n = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[n++] = '-';
        out[n++] = hex[b[i] >> 4];
        out[n++] = hex[b[i] & 15];
    }
    out[n] = '\0';
}
