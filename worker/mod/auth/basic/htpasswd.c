/*
 * htpasswd.c: one line of a basic-auth user file (htpasswd.h).
 */
#include "common/pt.h"
#include "common/str.h"
#include "worker/mod/auth/basic/htpasswd.h"

/* The crypt(3) alphabet, plus what parameters use ("rounds=5000$",
 * yescrypt's "j9T$"). */
static bool pt_htpasswd_hash_chars(pt_str_t h)
{
    for (size_t i = 0; i < h.len; i++) {
        unsigned char c = (unsigned char) h.p[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || c == '.' || c == '/' || c == '$' || c == '=' || c == ','))
            return false;
    }
    return true;
}

static bool pt_htpasswd_prefix(pt_str_t h, const char *p)
{
    size_t n = strlen(p);

    return h.len > n && memcmp(h.p, p, n) == 0;
}

/* Why the hash is refused, or NULL when it is accepted. */
static const char *pt_htpasswd_hash_check(pt_str_t h)
{
    if (pt_htpasswd_prefix(h, "$2y$") || pt_htpasswd_prefix(h, "$2b$")) {
        /* $2b$NN$ + 22 salt + 31 hash characters */
        if (h.len != 60 || h.p[6] != '$' || h.p[4] < '0' || h.p[4] > '3' || h.p[5] < '0'
            || h.p[5] > '9')
            return "the hash is not a well-formed bcrypt hash ($2b$NN$ and 53 characters)";
    } else if (pt_htpasswd_prefix(h, "$5$") || pt_htpasswd_prefix(h, "$6$")
               || pt_htpasswd_prefix(h, "$y$")) {
        if (memchr(h.p + 3, '$', h.len - 3) == NULL)
            return "the hash is not a well-formed SHA-crypt or yescrypt hash (no salt)";
    } else if (pt_htpasswd_prefix(h, "$apr1$") || pt_htpasswd_prefix(h, "$1$")) {
        return "the hash is an MD5 hash, which is not accepted: use bcrypt ($2y$), SHA-crypt ($5$, "
               "$6$) or yescrypt ($y$)";
    } else if (pt_htpasswd_prefix(h, "{SHA}")) {
        return "the hash is an unsalted SHA-1 hash, which is not accepted: use bcrypt ($2y$), "
               "SHA-crypt ($5$, $6$) or yescrypt ($y$)";
    } else {
        return "the hash is not a bcrypt, SHA-crypt or yescrypt hash (plaintext and DES are not "
               "accepted)";
    }
    if (h.len > PT_HTPASSWD_HASH_MAX || !pt_htpasswd_hash_chars(h))
        return "the hash has characters no crypt(3) hash has";
    return NULL;
}

int pt_htpasswd_line(pt_str_t line, pt_str_t *user, pt_str_t *hash, const char **why)
{
    if (line.len && line.p[line.len - 1] == '\r')
        line.len--;
    pt_str_t t = pt_str_trim_ows(line);

    if (t.len == 0 || t.p[0] == '#')
        return PT_HTPASSWD_SKIP;
    const char *colon = memchr(t.p, ':', t.len);
    if (colon == NULL) {
        *why = "expected \"user:hash\"";
        return PT_HTPASSWD_BAD;
    }
    *user = (pt_str_t) { t.p, (size_t) (colon - t.p) };
    *hash = (pt_str_t) { colon + 1, t.len - user->len - 1 };
    if (user->len == 0 || user->len > PT_HTPASSWD_USER_MAX) {
        *why = "the user name is empty or longer than 256 bytes";
        return PT_HTPASSWD_BAD;
    }
    for (size_t i = 0; i < user->len; i++) {
        unsigned char c = (unsigned char) user->p[i];
        if (c < 0x21 || c == 0x7f || c == ',') {
            *why = "the user name has a space, a comma or a control character";
            return PT_HTPASSWD_BAD;
        }
    }
    if (memchr(hash->p, ':', hash->len)) {
        *why = "expected \"user:hash\" (a second ':')";
        return PT_HTPASSWD_BAD;
    }
    if ((*why = pt_htpasswd_hash_check(*hash)) != NULL)
        return PT_HTPASSWD_BAD;
    return PT_HTPASSWD_ENTRY;
}
