/*
 * test_hash.c: determinism, seeding, avalanche, bucket spread, and the
 * lowercase variant.
 */
#include "common/pt.h"

#include "common/hash.h"
#include "test/unit/tap.h"

static void
fill_rand(unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char) tap_rand();
}

int
main(void)
{
    tap_srand(0x9E3779B97F4A7C15);
    unsigned char buf[256], low[256];

    ok(pt_hash("abc", 3, 0) == pt_hash("abc", 3, 0), "deterministic");
    ok(pt_hash("abc", 3, 0) != pt_hash("abc", 3, 1), "seed changes the value");
    ok(pt_hash("abc", 3, 0) != pt_hash("abd", 3, 0), "input changes the value");
    ok(pt_hash("a", 1, 0) != pt_hash("a\0", 2, 0), "trailing NUL changes the value");
    ok(pt_hash(NULL, 0, 0) != pt_hash(NULL, 0, 1), "empty input still depends on the seed");
    ok(pt_hash("12345678", 8, 7) != pt_hash("1234567", 7, 7), "length matters at word edges");

    /* Unaligned input hashes the same as aligned. */
    {
        unsigned char shifted[300];
        int diff = 0;
        fill_rand(buf, sizeof(buf));
        for (size_t off = 1; off < 8; off++) {
            memcpy(shifted + off, buf, 200);
            diff += pt_hash(shifted + off, 200, 5) != pt_hash(buf, 200, 5);
        }
        is(diff, 0, "value does not depend on alignment");
    }

    /* Avalanche: flipping one input bit flips about half the output bits,
     * for every bit position, over lengths around the word boundaries. */
    {
        static const size_t lens[] = { 1, 3, 7, 8, 9, 16, 24, 31, 64 };
        int weak = 0;
        double worst = 32.0;

        for (size_t li = 0; li < pt_countof(lens); li++) {
            size_t n = lens[li];
            for (size_t bit = 0; bit < n * 8; bit++) {
                long flips = 0;
                const int trials = 200;
                for (int t = 0; t < trials; t++) {
                    uint64_t seed = tap_rand(), h1, h2;
                    fill_rand(buf, n);
                    h1 = pt_hash(buf, n, seed);
                    buf[bit / 8] ^= (unsigned char) (1u << (bit % 8));
                    h2 = pt_hash(buf, n, seed);
                    flips += __builtin_popcountll(h1 ^ h2);
                }
                double avg = (double) flips / trials;
                if (avg < 30.0 || avg > 34.0)
                    weak++;
                if (__builtin_fabs(avg - 32.0) > __builtin_fabs(worst - 32.0))
                    worst = avg;
            }
        }
        ok(weak == 0, "every input bit flips 30..34 of 64 output bits on average "
           "(worst %.2f)", worst);
    }

    /* Seed avalanche. */
    {
        long flips = 0;
        for (int t = 0; t < 64 * 100; t++) {
            uint64_t seed = tap_rand();
            fill_rand(buf, 12);
            flips += __builtin_popcountll(pt_hash(buf, 12, seed)
                                          ^ pt_hash(buf, 12, seed ^ (1ull << (t % 64))));
        }
        double avg = (double) flips / (64 * 100);
        ok(avg > 31.0 && avg < 33.0, "flipping a seed bit flips %.2f output bits", avg);
    }

    /* Spread: sequential keys, as a gateway sees ("key1", "key2", ...),
     * over 1024 buckets; chi-square stays near its 1023 degrees of freedom. */
    {
        static unsigned buckets[1024];
        const int keys = 200000;
        double chi = 0, expect = (double) keys / 1024;
        char key[32];
        for (int i = 0; i < keys; i++) {
            int n = snprintf(key, sizeof(key), "client-%d", i);
            buckets[pt_hash(key, (size_t) n, 42) & 1023]++;
        }
        for (int b = 0; b < 1024; b++)
            chi += (buckets[b] - expect) * (buckets[b] - expect) / expect;
        ok(chi > 850 && chi < 1200, "sequential keys spread evenly (chi2 %.0f, df 1023)", chi);

        memset(buckets, 0, sizeof(buckets));
        chi = 0;
        for (int i = 0; i < keys; i++) {
            uint32_t ip = 0x0a000000u + (uint32_t) i;     /* 10.0.0.0 upwards */
            buckets[(pt_hash(&ip, 4, 42) >> 40) & 1023]++;
        }
        for (int b = 0; b < 1024; b++)
            chi += (buckets[b] - expect) * (buckets[b] - expect) / expect;
        ok(chi > 850 && chi < 1200, "sequential IPv4 addresses spread in the high bits too "
           "(chi2 %.0f)", chi);
    }

    /* pt_hash_lower == pt_hash of the lowercased bytes, for random bytes
     * (all 256 values, so the SWAR fold is checked at its edges), every
     * length up to 70 and every alignment. */
    {
        int diff = 0;
        for (int t = 0; t < 20000; t++) {
            size_t n = (size_t) t % 71, off = (size_t) (t / 71) % 8;
            uint64_t seed = tap_rand();
            fill_rand(buf + off, n);
            if (t % 3 == 0) {   /* bias towards letters and their neighbours */
                for (size_t i = 0; i < n; i++)
                    buf[off + i] = (unsigned char) ("@AZ[`az{\xc1\xda" "Bq"[tap_rand() % 12]);
            }
            for (size_t i = 0; i < n; i++) {
                unsigned char c = buf[off + i];
                low[i] = (c >= 'A' && c <= 'Z') ? (unsigned char) (c + 32) : c;
            }
            diff += pt_hash_lower(buf + off, n, seed) != pt_hash(low, n, seed);
        }
        is(diff, 0, "pt_hash_lower equals pt_hash of the lowercased bytes (20000 cases)");
        ok(pt_hash_lower("Content-Type", 12, 9) == pt_hash("content-type", 12, 9),
           "header names hash alike in any case");
        ok(pt_hash_lower("\xc0\xdf", 2, 9) == pt_hash("\xc0\xdf", 2, 9),
           "bytes >= 0x80 are not folded");
        ok(pt_hash_lower("@[`{", 4, 9) == pt_hash("@[`{", 4, 9),
           "the neighbours of A-Z and a-z are not folded");
    }

    return done_testing();
}
