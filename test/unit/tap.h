/*
 * tap.h: a minimal Test Anything Protocol producer for the C unit tests,
 * read by automake's tap-driver.sh. Header-only so each test is one file.
 */
#ifndef PT_TAP_H
#define PT_TAP_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_n, tap_failed;

static void tap_vok(int pass, const char *fmt, va_list ap)
{
    tap_n++;
    if (!pass)
        tap_failed++;
    printf("%s %d - ", pass ? "ok" : "not ok", tap_n);
    vprintf(fmt, ap);
    putchar('\n');
    fflush(stdout);
}

static inline int tap_ok(int pass, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tap_vok(pass, fmt, ap);
    va_end(ap);
    if (!pass)
        printf("#   failed at %s:%d\n", file, line);
    return pass;
}

#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

#define is(got, want, ...) do {                                            \
    long long g_ = (long long) (got), w_ = (long long) (want);             \
    if (!tap_ok(g_ == w_, __FILE__, __LINE__, __VA_ARGS__))                \
        printf("#   got %lld, want %lld\n", g_, w_);                      \
} while (0)

#define is_str(got, want, ...) do {                                        \
    const char *g_ = (got), *w_ = (want);                                  \
    int p_ = (g_ && w_) ? strcmp(g_, w_) == 0 : g_ == w_;                  \
    if (!tap_ok(p_, __FILE__, __LINE__, __VA_ARGS__))                      \
        printf("#   got \"%s\", want \"%s\"\n", g_ ? g_ : "(null)",        \
               w_ ? w_ : "(null)");                                        \
} while (0)

#define diag(...) do { printf("# "); printf(__VA_ARGS__); putchar('\n'); } while (0)

/* A fixed-seed xorshift generator: random but repeatable test inputs. */
static uint64_t tap_rng_state = 0x9E3779B97F4A7C15ull;

static inline void tap_srand(uint64_t seed)
{
    tap_rng_state = seed ? seed : 0x9E3779B97F4A7C15ull;
}

static inline uint64_t tap_rand(void)
{
    tap_rng_state ^= tap_rng_state << 13;
    tap_rng_state ^= tap_rng_state >> 7;
    tap_rng_state ^= tap_rng_state << 17;
    return tap_rng_state;
}

/* Ends the run: prints the plan and sets the exit status. */
static inline int done_testing(void)
{
    printf("1..%d\n", tap_n);
    return tap_failed ? 1 : 0;
}

#endif
