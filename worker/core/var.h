/*
 * var.h: request variables ($remote_addr, $status, $http_user_agent, ...)
 * in templates compiled at load time, so rendering walks a list of
 * literal and variable segments with no name lookups.
 *
 * The variables are a registry: the core ones are var.c's own, and a
 * module adds its own by listing them in its pt_module_t (.vars). Names
 * are looked up only while a template is compiled; a compiled segment
 * holds the getter and its data.
 */
#ifndef PT_VAR_H
#define PT_VAR_H

#include "common/pt.h"
#include "common/conf.h"
#include "worker/core/core.h"

#define PT_VAR_BUF          64      /* scratch a getter may format its value in */

typedef struct pt_var_tpl_s pt_var_tpl_t;

enum pt_var_escape {
    PT_VAR_RAW = 0,         /* as is (redirect targets: values are checked URLs) */
    PT_VAR_LOG,             /* '"', '\\' and non-printable bytes as \xHH */
    PT_VAR_JSON,            /* inside a JSON string */
    PT_VAR_JSON_DOC         /* a JSON document's template: a variable inside the
                             * template's "..." as PT_VAR_JSON, one outside
                             * quotes as a value (a number, null when empty, or
                             * a string), so the line parses whatever it holds */
};

/* A variable's value for r: a view that stays valid while r lives, or one
 * into buf (PT_VAR_BUF bytes that last until the render ends). Empty
 * means unset. data is the definition's, or for a family what its
 * compile made of the name. */
typedef pt_str_t (*pt_var_get_pt)(pt_request_t *r, const void *data, char *buf);

/* One variable, a row of a NULL-name-terminated array. A name ending in
 * "_NAME" is a family: "http_NAME" stands for every name that starts
 * "http_" and has more after it, and compile turns that rest ("user_agent")
 * into the data get receives (NULL: error, reported against s). */
typedef struct pt_var_def_s {
    const char *name;
    pt_var_get_pt get;
    const void *data;
    const void *(*compile)(pt_conf_ctx_t *cf, const config_setting_t *s, pt_str_t rest);
} pt_var_def_t;

#define PT_VAR_DEF_END      { NULL, NULL, NULL, NULL }

/* Compile text; $name or ${name} are variables, $$ is a dollar. An unknown
 * name is an error reported against s. NULL on error. */
pt_var_tpl_t *pt_var_compile(pt_conf_ctx_t *cf, const config_setting_t *s, const char *text);

/* Render tpl for r into the request arena; empty values become "-" when
 * dash is true (log formats). Each variable is evaluated once. With
 * max > 0 the longest values are cut, each whole escapes only, so that the
 * result is at most max bytes (or the template's own text, if that is
 * longer). */
pt_str_t pt_var_render(const pt_var_tpl_t *tpl, pt_request_t *r, int escape, bool dash,
                       size_t max);

/* Render tpl for r as is (no escaping, empty values empty) into out, up
 * to cap bytes, without the arena: for a value needed only for a moment
 * (a hash key). Returns the whole length; more than cap means out holds
 * only its first cap bytes. */
size_t pt_var_render_to(const pt_var_tpl_t *tpl, pt_request_t *r, char *out, size_t cap);

/* Append value to out with the given escaping; returns bytes written
 * (at most cap: a value that does not fit is cut). */
size_t pt_var_escape_into(char *out, size_t cap, pt_str_t value, int escape);


/* The compiler of PT_CONF_COMPILED rows holding a template: the row's
 * pt_conf_compiled_t.code is then a pt_var_tpl_t *. */
extern const pt_conf_compiler_t pt_var_compiler;

/* The core's plain names, for the man page check (NULL-terminated, from
 * index 1); the families and the modules' variables are pt_var_def_t
 * arrays, which the check reads too. */
extern const char *const pt_var_names[];

#endif
