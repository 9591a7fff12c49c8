/*
 * hash.c: a multiply / xor-shift hash over 8-byte words.
 *
 * Each word is scrambled by an odd multiply and a shift, xored into the
 * state, and the state is stepped by a rotation and another odd multiply.
 * Every step is a bijection of the state for a fixed word, so no input
 * can collapse the state to a fixed value and wash the seed out (the weak
 * spot of folded 64x64->128 multiplies). The length goes into the start
 * and the end, and a final xor-shift-multiply cascade spreads every input
 * bit over every output bit.
 */
#include "common/pt.h"

#include "common/hash.h"

/* Odd constants with about half their bits set and no short pattern. */
#define PT_HASH_K1  UINT64_C(0x9e3779b97f4a7c15)    /* 2^64 / golden ratio */
#define PT_HASH_K2  UINT64_C(0xd6e8feb86659fd93)
#define PT_HASH_K3  UINT64_C(0xa0761d6478bd642f)
#define PT_HASH_K4  UINT64_C(0xe7037ed1a0b428db)

static inline uint64_t
pt_hash_rotl(uint64_t x, unsigned r)
{
    return (x << r) | (x >> (64 - r));
}

static inline uint64_t
pt_hash_load(const unsigned char *p)
{
    uint64_t w;

    memcpy(&w, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap64(w);   /* same values on every host */
#endif
    return w;
}

/* The last 1..7 bytes, little-endian, zero-padded: the length mixed in at
 * the start tells "a" from "a\0". */
static inline uint64_t
pt_hash_load_tail(const unsigned char *p, size_t n)
{
    uint64_t w = 0;

    for (size_t i = 0; i < n; i++)
        w |= (uint64_t) p[i] << (8 * i);
    return w;
}

/* ASCII-lowercases the 8 bytes of w at once. In each byte, bit 7 of
 * (b & 0x7f) + (0x80 - 'A') is set when b >= 'A', and of (b & 0x7f) +
 * (0x80 - 'Z' - 1) when b > 'Z'; bytes >= 0x80 are excluded by ~w. The
 * sums never carry across bytes because each operand byte is < 0x80. */
static inline uint64_t
pt_hash_lower_word(uint64_t w)
{
    const uint64_t ones = UINT64_C(0x0101010101010101);
    uint64_t low7 = w & (ones * 0x7f);
    uint64_t ge_a = low7 + ones * (0x80 - 'A');
    uint64_t gt_z = low7 + ones * (0x80 - 'Z' - 1);
    uint64_t upper = ge_a & ~gt_z & ~w & (ones * 0x80);

    return w | (upper >> 2);    /* 0x80 >> 2 is the case bit 0x20 */
}

static inline uint64_t
pt_hash_step(uint64_t h, uint64_t w)
{
    w *= PT_HASH_K2;
    w ^= w >> 29;
    h ^= w;
    return pt_hash_rotl(h, 27) * PT_HASH_K3 + PT_HASH_K4;
}

static inline uint64_t
pt_hash_final(uint64_t h, size_t n)
{
    h ^= (uint64_t) n * PT_HASH_K1;
    h ^= h >> 32;
    h *= PT_HASH_K2;
    h ^= h >> 29;
    h *= PT_HASH_K3;
    h ^= h >> 32;
    return h;
}

/* One body for both variants; lower is a constant after inlining. */
static inline uint64_t
pt_hash_run(const unsigned char *s, size_t n, uint64_t seed, bool lower)
{
    uint64_t h = seed ^ ((uint64_t) n * PT_HASH_K4) ^ PT_HASH_K1;
    size_t i = 0;

    for (; i + 8 <= n; i += 8) {
        uint64_t w = pt_hash_load(s + i);
        h = pt_hash_step(h, lower ? pt_hash_lower_word(w) : w);
    }
    if (i < n) {
        uint64_t w = pt_hash_load_tail(s + i, n - i);
        h = pt_hash_step(h, lower ? pt_hash_lower_word(w) : w);
    }
    return pt_hash_final(h, n);
}

uint64_t
pt_hash(const void *p, size_t n, uint64_t seed)
{
    return pt_hash_run(p, n, seed, false);
}

uint64_t
pt_hash_lower(const void *p, size_t n, uint64_t seed)
{
    return pt_hash_run(p, n, seed, true);
}
