/*
 * test_htpasswd.c: lines of a basic-auth user file: what is an entry,
 * what is skipped and which hashes are refused.
 */
#include "common/pt.h"
#include "worker/mod/auth/basic/htpasswd.h"
#include "test/unit/tap.h"

static int line(const char *s, pt_str_t *user, pt_str_t *hash, const char **why)
{
    return pt_htpasswd_line((pt_str_t) { s, strlen(s) }, user, hash, why);
}

int main(void)
{
    pt_str_t u, h;
    const char *why = NULL;
    static const char bcrypt[] = "$2y$05$abcdefghijklmnopqrstuuJ4iO8jr5yE1lzCs7DKEnCMFgzC/xFAG";

    char buf[256];
    snprintf(buf, sizeof(buf), "alice:%s", bcrypt);
    ok(line(buf, &u, &h, &why) == PT_HTPASSWD_ENTRY, "bcrypt $2y$");
    ok(u.len == 5 && memcmp(u.p, "alice", 5) == 0 && h.len == strlen(bcrypt), "user and hash");
    buf[8] = 'b';
    ok(line(buf, &u, &h, &why) == PT_HTPASSWD_ENTRY, "bcrypt $2b$");
    buf[8] = 'a';
    ok(line(buf, &u, &h, &why) == PT_HTPASSWD_BAD, "$2a$ refused");
    snprintf(buf, sizeof(buf), "alice:%.59s", bcrypt);
    ok(line(buf, &u, &h, &why) == PT_HTPASSWD_BAD && strstr(why, "bcrypt"), "short bcrypt");
    ok(line("bob:$6$salt$hash/./xyz\r", &u, &h, &why) == PT_HTPASSWD_ENTRY && h.len == 18,
       "SHA-512-crypt, CR dropped");
    ok(line("bob:$5$rounds=10000$salt$hash", &u, &h, &why) == PT_HTPASSWD_ENTRY,
       "SHA-256-crypt with rounds");
    ok(line("carol:$y$j9T$salt$hash", &u, &h, &why) == PT_HTPASSWD_ENTRY, "yescrypt");
    ok(line("  dave:$6$s$h  ", &u, &h, &why) == PT_HTPASSWD_ENTRY && u.len == 4,
       "surrounding blanks trimmed");

    ok(line("", &u, &h, &why) == PT_HTPASSWD_SKIP, "blank");
    ok(line("   ", &u, &h, &why) == PT_HTPASSWD_SKIP, "spaces");
    ok(line("# alice:plain", &u, &h, &why) == PT_HTPASSWD_SKIP, "comment");

    ok(line("alice:secret", &u, &h, &why) == PT_HTPASSWD_BAD && strstr(why, "plaintext"),
       "plaintext");
    ok(line("alice:$apr1$salt$hash", &u, &h, &why) == PT_HTPASSWD_BAD && strstr(why, "MD5"),
       "apr1");
    ok(line("alice:$1$salt$hash", &u, &h, &why) == PT_HTPASSWD_BAD && strstr(why, "MD5"),
       "MD5-crypt");
    ok(line("alice:{SHA}abc=", &u, &h, &why) == PT_HTPASSWD_BAD && strstr(why, "SHA-1"),
       "{SHA}");
    ok(line("alice:abCDefGHij12.", &u, &h, &why) == PT_HTPASSWD_BAD, "DES");
    ok(line("alice", &u, &h, &why) == PT_HTPASSWD_BAD, "no colon");
    ok(line(":$6$s$h", &u, &h, &why) == PT_HTPASSWD_BAD, "no user");
    ok(line("al ice:$6$s$h", &u, &h, &why) == PT_HTPASSWD_BAD, "space in the user");
    ok(line("a,b:$6$s$h", &u, &h, &why) == PT_HTPASSWD_BAD, "comma in the user");
    ok(line("alice:$6$s$h:extra", &u, &h, &why) == PT_HTPASSWD_BAD, "a third field");
    ok(line("alice:$6$nosalt", &u, &h, &why) == PT_HTPASSWD_BAD, "SHA-crypt without salt");
    ok(line("alice:$6$s$h\"x", &u, &h, &why) == PT_HTPASSWD_BAD, "odd characters");
    ok(line("alice:", &u, &h, &why) == PT_HTPASSWD_BAD, "empty hash");
    return done_testing();
}
