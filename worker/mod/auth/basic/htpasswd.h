/*
 * htpasswd.h: the lines of a basic-auth user file, "user:hash", where the
 * hash is one crypt(3) computes slowly enough to be stored: bcrypt
 * ($2y$, $2b$), SHA-crypt ($5$, $6$) or yescrypt ($y$). Plaintext, DES,
 * MD5 ($1$, $apr1$) and {SHA} entries are refused, so a weak file cannot
 * be loaded by mistake. Blank lines and lines starting with '#' are
 * skipped.
 */
#ifndef PT_HTPASSWD_H
#define PT_HTPASSWD_H

#include "common/pt.h"

#define PT_HTPASSWD_USER_MAX    256
#define PT_HTPASSWD_HASH_MAX    512

enum { PT_HTPASSWD_BAD = -1, PT_HTPASSWD_SKIP = 0, PT_HTPASSWD_ENTRY = 1 };

/* Parse one line (without its newline; a trailing CR is allowed):
 * PT_HTPASSWD_ENTRY with *user and *hash pointing into line,
 * PT_HTPASSWD_SKIP, or PT_HTPASSWD_BAD with *why saying what is wrong. */
int pt_htpasswd_line(pt_str_t line, pt_str_t *user, pt_str_t *hash, const char **why);

#endif
