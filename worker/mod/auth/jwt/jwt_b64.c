/*
 * jwt_b64.c: strict base64url (jwt_b64.h).
 */
#include "common/pt.h"
#include "worker/mod/auth/jwt/jwt_b64.h"

static const char pt_jwt_b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* The 6-bit value of c, or -1 outside the URL-safe alphabet. */
static int pt_jwt_b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

ssize_t pt_jwt_b64_decode(const char *in, size_t n, unsigned char *out)
{
    size_t o = 0;
    uint32_t acc = 0;
    unsigned bits = 0;

    /* One character left over carries 6 bits: no byte at all. */
    if (n % 4 == 1)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int v = pt_jwt_b64_value((unsigned char) in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t) v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char) (acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    /* The bits past the last byte must be zero (RFC 4648 §3.5): a
     * canonical encoder writes them so, and accepting others would let
     * one token have several spellings. */
    if (acc != 0)
        return -1;
    return (ssize_t) o;
}

size_t pt_jwt_b64_encode(const unsigned char *in, size_t n, char *out)
{
    size_t o = 0, i = 0;

    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8 | in[i + 2];
        out[o++] = pt_jwt_b64_alphabet[v >> 18];
        out[o++] = pt_jwt_b64_alphabet[(v >> 12) & 63];
        out[o++] = pt_jwt_b64_alphabet[(v >> 6) & 63];
        out[o++] = pt_jwt_b64_alphabet[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t) in[i] << 16;
        out[o++] = pt_jwt_b64_alphabet[v >> 18];
        out[o++] = pt_jwt_b64_alphabet[(v >> 12) & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8;
        out[o++] = pt_jwt_b64_alphabet[v >> 18];
        out[o++] = pt_jwt_b64_alphabet[(v >> 12) & 63];
        out[o++] = pt_jwt_b64_alphabet[(v >> 6) & 63];
    }
    return o;
}
