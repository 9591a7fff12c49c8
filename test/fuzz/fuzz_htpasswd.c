/*
 * fuzz_htpasswd.c: libFuzzer target for the htpasswd line parser. An
 * entry's user and hash must lie inside the line, be non-empty and hold
 * no ':'; a refusal must say why. Any breach aborts.
 */
#include "common/pt.h"
#include "worker/mod/auth/basic/htpasswd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *line = malloc(size ? size : 1);
    pt_str_t user, hash;
    const char *why = NULL;

    if (line == NULL)
        return 0;
    memcpy(line, data, size);
    int rc = pt_htpasswd_line((pt_str_t) { line, size }, &user, &hash, &why);
    if (rc == PT_HTPASSWD_ENTRY) {
        if (user.len == 0 || hash.len == 0 || user.p < line || hash.p < line
            || user.p + user.len > line + size || hash.p + hash.len > line + size
            || memchr(user.p, ':', user.len) || memchr(hash.p, ':', hash.len))
            abort();
    } else if (rc == PT_HTPASSWD_BAD && why == NULL) {
        abort();
    }
    free(line);
    return 0;
}
