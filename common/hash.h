/*
 * hash.h: fast seeded 64-bit hash for hash tables in process memory and
 * in shm zones. Not cryptographic: the seed (random per segment or per
 * table) keeps clients from predicting collisions, not a determined
 * attacker who can observe outputs.
 */
#ifndef PT_HASH_H
#define PT_HASH_H

/* Hash of n bytes at p (p may be NULL when n is 0). The same input and seed
 * give the same value in every process and on every run. */
uint64_t pt_hash(const void *p, size_t n, uint64_t seed);

/* pt_hash of the bytes with ASCII 'A'-'Z' lowercased, without a copy:
 * for case-insensitive keys such as header names and hosts. */
uint64_t pt_hash_lower(const void *p, size_t n, uint64_t seed);

#endif
