/*
 * conf_env.c: environment variables in configuration strings.
 *
 * ${NAME} and ${NAME:-default}, NAME in capitals, digits and _ (starting
 * with a capital or _), are replaced by the variable's value when the file
 * is loaded, in every string of the file; ${NAME:-default} takes default
 * when NAME is unset or empty. An unset NAME without a default is an error
 * naming file and line: a literal "${DB_HOST}" must never reach a path or
 * an address. Lowercase ${name} stays a request variable of a template,
 * and $$ a literal dollar sign.
 */
#include "common/pt.h"
#include "common/conf.h"
#include "master/conf_load.h"

#include <stdlib.h>

#define PT_CONF_ENV_MAX     65536       /* the longest string after expansion */

static bool pt_conf_env_first(char c)
{
    return (c >= 'A' && c <= 'Z') || c == '_';
}

static bool pt_conf_env_next(char c)
{
    return pt_conf_env_first(c) || (c >= '0' && c <= '9');
}

/* Expand in; NULL when nothing was to expand (*err NULL) or on an error
 * (*err says which). The result is malloc'd. */
static char *pt_conf_env_expand(const char *in, char *err, size_t err_len, bool *failed)
{
    char *out = NULL;
    size_t n = 0, cap = 0;
    const char *copied = in;

    *failed = false;
    for (const char *p = in; *p; p++) {
        if (p[0] == '$' && p[1] == '$') {
            p++;
            continue;
        }
        if (p[0] != '$' || p[1] != '{' || !pt_conf_env_first(p[2]))
            continue;
        const char *name = p + 2, *q = name;
        while (pt_conf_env_next(*q))
            q++;
        const char *def = NULL, *end = q;
        if (q[0] == ':' && q[1] == '-') {
            def = q + 2;
            end = strchr(def, '}');
        } else if (*q != '}') {
            continue;           /* ${Name} with lowercase: a request variable */
        }
        if (end == NULL || *end != '}') {
            snprintf(err, err_len, "unterminated ${%.*s in \"%.200s\"", (int) (q - name), name,
                     in);
            *failed = true;
            free(out);
            return NULL;
        }
        char var[256];
        size_t vlen = (size_t) (q - name);
        if (vlen >= sizeof(var)) {
            snprintf(err, err_len, "environment variable name too long in \"%.200s\"", in);
            *failed = true;
            free(out);
            return NULL;
        }
        memcpy(var, name, vlen);
        var[vlen] = '\0';
        const char *val = getenv(var);
        size_t val_len;
        if (val == NULL || (def && *val == '\0')) {
            if (def == NULL) {
                snprintf(err, err_len, "environment variable %.100s is not set (write "
                         "${%.100s:-default} to give a default)", var, var);
                *failed = true;
                free(out);
                return NULL;
            }
            val = def;
            val_len = (size_t) (end - def);
        } else {
            val_len = strlen(val);
        }
        size_t lit = (size_t) (p - copied);
        if (n + lit + val_len + 1 > PT_CONF_ENV_MAX) {
            snprintf(err, err_len, "string longer than %d bytes after expanding ${%.100s}",
                     PT_CONF_ENV_MAX, var);
            *failed = true;
            free(out);
            return NULL;
        }
        if (n + lit + val_len + 1 > cap) {
            cap = pt_max(cap * 2, n + lit + val_len + 1);
            char *nb = realloc(out, cap);
            if (nb == NULL) {
                snprintf(err, err_len, "out of memory");
                *failed = true;
                free(out);
                return NULL;
            }
            out = nb;
        }
        memcpy(out + n, copied, lit);
        n += lit;
        memcpy(out + n, val, val_len);
        n += val_len;
        copied = end + 1;
        p = end;
    }
    if (out == NULL)
        return NULL;
    size_t rest = strlen(copied);
    if (n + rest + 1 > PT_CONF_ENV_MAX) {
        snprintf(err, err_len, "string longer than %d bytes after expansion", PT_CONF_ENV_MAX);
        *failed = true;
        free(out);
        return NULL;
    }
    char *nb = realloc(out, n + rest + 1);
    if (nb == NULL) {
        free(out);
        *failed = true;
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    memcpy(nb + n, copied, rest + 1);
    return nb;
}

int pt_conf_expand_env(pt_conf_ctx_t *cf, config_setting_t *s)
{
    int rc = PT_OK;

    switch (config_setting_type(s)) {
    case CONFIG_TYPE_GROUP:
    case CONFIG_TYPE_LIST:
    case CONFIG_TYPE_ARRAY:
        for (int i = 0; i < config_setting_length(s); i++)
            if (pt_conf_expand_env(cf, config_setting_get_elem(s, (unsigned) i)) != PT_OK)
                rc = PT_ERROR;
        return rc;
    case CONFIG_TYPE_STRING: {
        const char *v = config_setting_get_string(s);
        char err[512];
        bool failed;
        if (v == NULL || strstr(v, "${") == NULL)
            return PT_OK;
        char *x = pt_conf_env_expand(v, err, sizeof(err), &failed);
        if (failed) {
            pt_conf_error(cf, s, "%s", err);
            return PT_ERROR;
        }
        if (x != NULL) {
            config_setting_set_string(s, x);
            free(x);
        }
        return PT_OK;
    }
    default:
        return PT_OK;
    }
}
