/*
 * pt.h: the first include of every portico source file.
 *
 * It pulls in config.h and the libc headers nearly everyone needs, and
 * defines the result codes, string views and small macros shared by all
 * layers. It knows nothing about HTTP, workers or modules.
 */
#ifndef PT_H
#define PT_H

#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

/* Result codes shared by every layer. Handlers may also return an HTTP
 * status (>= 100) to finish a request with that status. */
enum {
    PT_OK = 0,
    PT_ERROR = -1,
    PT_AGAIN = -2,      /* would block; call again when the fd is ready */
    PT_DECLINED = -3,   /* not mine: try the next handler */
    PT_DONE = -4        /* finished, nothing more to do here */
};

/* Milliseconds, monotonic or as a duration. */
typedef int64_t pt_msec_t;

/* A string view: not NUL-terminated unless said so. */
typedef struct {
    const char *p;
    size_t len;
} pt_str_t;

#define PT_STR(lit)         ((pt_str_t) { (lit), sizeof(lit) - 1 })
#define PT_STR_NULL         ((pt_str_t) { NULL, 0 })
#define pt_str_eq_lit(s, lit) \
    ((s).len == sizeof(lit) - 1 && memcmp((s).p, (lit), sizeof(lit) - 1) == 0)

#define pt_countof(a)       (sizeof(a) / sizeof((a)[0]))
#define pt_min(a, b)        ((a) < (b) ? (a) : (b))
#define pt_max(a, b)        ((a) > (b) ? (a) : (b))
#define pt_align(n, a)      (((n) + ((a) - 1)) & ~((size_t) (a) - 1))

#define pt_likely(x)        __builtin_expect(!!(x), 1)
#define pt_unlikely(x)      __builtin_expect(!!(x), 0)
#define PT_PRINTF(f, a)     __attribute__((format(printf, f, a)))
#define PT_NORETURN         __attribute__((noreturn))
#define PT_NOINLINE         __attribute__((noinline))
#define PT_UNUSED           __attribute__((unused))

/* Recover the enclosing struct from a pointer to one of its members. */
#define pt_container_of(ptr, type, member) \
    ((type *) (void *) ((char *) (ptr) - offsetof(type, member)))

/* Invariants only, never input validation: a failed assertion is a bug. */
void pt_assert_fail(const char *expr, const char *file, int line) PT_NORETURN;
#define PT_ASSERT(e) \
    (pt_likely(e) ? (void) 0 : pt_assert_fail(#e, __FILE__, __LINE__))

#endif
