/*
 * fuzz_version_accept.c: libFuzzer target for the API version readers
 * (worker/mod/access/version/version_parse.h).
 *
 * The input, on a heap copy of its exact size, is read as an Accept value,
 * a path and a query. A version found must be a valid one and lie inside
 * the input, or (an unescaped quoted value) in the caller's buffer. Any
 * breach aborts.
 */
#include "common/pt.h"

#include "worker/mod/access/version/version_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void pt_fuzz_check(pt_str_t v, pt_str_t in, const char *buf)
{
    if (v.p == NULL)
        return;
    if (!pt_version_valid(v))
        abort();
    bool inside = v.p >= in.p && v.p + v.len <= in.p + in.len;
    bool in_buf = v.p == buf && v.len <= PT_VERSION_MAX;
    if (!inside && !in_buf)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = malloc(size ? size : 1);
    char buf[PT_VERSION_MAX];
    memcpy(in, data, size);
    pt_str_t v = { in, size };

    pt_fuzz_check(pt_version_from_accept(v, PT_STR("version"), buf), v, buf);
    pt_fuzz_check(pt_version_from_path(v), v, buf);
    pt_fuzz_check(pt_version_from_query(v, PT_STR("version")), v, buf);
    free(in);
    return 0;
}
