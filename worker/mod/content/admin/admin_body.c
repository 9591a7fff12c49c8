/*
 * admin_body.c: an admin action's body into a JSON object (admin_body.h).
 */
#include "common/pt.h"
#include "worker/mod/content/admin/admin_body.h"

json_t *pt_admin_body_parse(const char *p, size_t len, unsigned *status, char *detail,
                            size_t cap)
{
    json_error_t err;

    if (len > PT_ADMIN_BODY_MAX) {
        *status = 413;
        snprintf(detail, cap, "admin request bodies are limited to 64 KiB");
        return NULL;
    }
    json_t *v = json_loadb(p ? p : "", len, JSON_REJECT_DUPLICATES, &err);
    if (v == NULL || !json_is_object(v)) {
        *status = 400;
        if (v)
            snprintf(detail, cap, "the body must be a JSON object");
        else
            snprintf(detail, cap, "the body is not JSON: %s (at byte %d)", err.text,
                     err.position);
        json_decref(v);
        return NULL;
    }
    return v;
}

static const char *pt_admin_body_str(const json_t *body, const char *key)
{
    const json_t *v = json_object_get(body, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

bool pt_admin_drain_args(const json_t *body, const char **upstream, const char **server)
{
    *upstream = pt_admin_body_str(body, "upstream");
    *server = pt_admin_body_str(body, "server");
    return *upstream != NULL && *server != NULL;
}
