/*
 * fuzz_admin.c: libFuzzer target for the admin API's action bodies
 * (admin_body.c): the POST body into a JSON object, the drain/enable
 * arguments, and a refusal's detail as pt_http_error puts it into the
 * problem+json body (jansson's error text quotes the body's bytes).
 *
 * Invariants, any breach aborts: a refusal is 413 exactly when the body
 * is too long, else 400, with a non-empty detail whose JSON escape, in
 * quotes, is a JSON string; an accepted body is an object that survives
 * a dump and a second parse unchanged; drain arguments are the body's
 * two strings or nothing.
 */
#include "common/pt.h"
#include "common/str.h"
#include "worker/mod/content/admin/admin_body.h"

static void check_detail(const char *detail, size_t cap)
{
    size_t n = strlen(detail);
    char esc[514];

    if (n == 0 || n >= cap)
        abort();
    /* As pt_http_error: escaped into 512 bytes, cut at a whole escape. */
    size_t elen = pt_str_json_escape_cut(esc + 1, 512, detail, n);
    if (elen > 512)
        abort();
    esc[0] = '"';
    esc[elen + 1] = '"';
    json_t *s = json_loadb(esc, elen + 2, JSON_DECODE_ANY, NULL);
    if (!json_is_string(s))
        abort();
    json_decref(s);
}

static void check_object(json_t *v)
{
    char detail[256];
    unsigned status = 0;
    const char *un, *sn;

    if (!json_is_object(v))
        abort();
    if (pt_admin_drain_args(v, &un, &sn)) {
        if (un != json_string_value(json_object_get(v, "upstream"))
            || sn != json_string_value(json_object_get(v, "server")) || !un || !sn)
            abort();
    } else if (json_is_string(json_object_get(v, "upstream"))
               && json_is_string(json_object_get(v, "server"))) {
        abort();
    }
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (text == NULL)
        abort();
    size_t n = strlen(text);
    if (n <= PT_ADMIN_BODY_MAX) {
        json_t *w = pt_admin_body_parse(text, n, &status, detail, sizeof(detail));
        if (w == NULL || !json_equal(v, w))
            abort();
        json_decref(w);
    }
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char detail[256];
    unsigned status = 0;

    if (size > PT_ADMIN_BODY_MAX + 16)
        return 0;
    /* A heap copy of exactly size bytes, so reads past the end are caught. */
    char *body = malloc(size ? size : 1);
    memcpy(body, data, size);
    json_t *v = pt_admin_body_parse(size ? body : NULL, size, &status, detail,
                                    sizeof(detail));
    if (v == NULL) {
        if (status != (size > PT_ADMIN_BODY_MAX ? 413u : 400u))
            abort();
        check_detail(detail, sizeof(detail));
    } else {
        if (size > PT_ADMIN_BODY_MAX)
            abort();
        check_object(v);
        json_decref(v);
    }
    free(body);
    return 0;
}
