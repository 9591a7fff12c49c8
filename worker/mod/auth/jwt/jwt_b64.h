/*
 * jwt_b64.h: base64url as RFC 7515 §2 and Appendix C want it in a JWS:
 * the URL-safe alphabet of RFC 4648 §5 with no padding, and nothing a
 * canonical encoder would not write (no '+', '/', '=', whitespace, no
 * length of 1 mod 4, no bits set past the last whole byte).
 */
#ifndef PT_JWT_B64_H
#define PT_JWT_B64_H

#include "common/pt.h"

/* The decoded size of n encoded bytes (an upper bound for out). */
#define PT_JWT_B64_DECODED_MAX(n)   ((n) / 4 * 3 + 2)

/* Decode the n bytes at in into out (room for PT_JWT_B64_DECODED_MAX(n));
 * returns the decoded length, or -1 when in is not strict base64url. */
ssize_t pt_jwt_b64_decode(const char *in, size_t n, unsigned char *out);

/* Encode n bytes into out (room for (n * 4 + 2) / 3), unpadded; returns
 * the length written. */
size_t pt_jwt_b64_encode(const unsigned char *in, size_t n, char *out);

#endif
