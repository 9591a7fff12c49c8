/*
 * conf.h: directive tables over libconfig.
 *
 * A module (or the core) describes its settings as rows of a table: name,
 * type, the scopes where it may appear, where the value goes (offsetof into
 * the scope's struct) and its default written as it would be in a config
 * file. This file walks libconfig groups against such tables, applies typed
 * setters, rejects unknown names, merges a scope from its parent, fills
 * defaults and prints the effective values (-T). Every error it reports
 * names the file and line of the offending setting.
 */
#ifndef PT_CONF_H
#define PT_CONF_H

#include "common/pt.h"
#include "common/arena.h"

#include <libconfig.h>

enum pt_conf_type {
    PT_CONF_BOOL = 1,   /* int: 0/1, UNSET -1 */
    PT_CONF_UINT,       /* int64_t >= 0, UNSET -1; arg: const pt_conf_bounds_t * or NULL */
    PT_CONF_DURATION,   /* pt_msec_t, UNSET -1: "250ms", "30s", "5m" */
    PT_CONF_SIZE,       /* int64_t, UNSET -1: "64k", "16M"; arg: bounds or NULL */
    PT_CONF_STRING,     /* const char * (arena copy), UNSET NULL */
    PT_CONF_ENUM,       /* int, UNSET -1; arg: const pt_conf_enum_t[] ending with {NULL} */
    PT_CONF_CUSTOM,     /* a pointer-sized field, UNSET NULL; set and dump do the work */
    PT_CONF_STRINGS,    /* const char ** NULL-terminated, UNSET NULL: "a" or [ "a", "b" ];
                         * arg: const pt_conf_strings_arg_t * or NULL */
    PT_CONF_ZONE,       /* pt_conf_zone_t * (arena), UNSET NULL: "name:size", a shared-memory
                         * zone; arg: bounds of the size or NULL */
    PT_CONF_COMPILED    /* pt_conf_compiled_t, UNSET .text NULL: a string compiled at load;
                         * arg: const pt_conf_compiler_t * (required) */
};

/* Scopes: where a directive may appear. */
#define PT_SCOPE_MAIN       0x01    /* the portico { } block */
#define PT_SCOPE_LISTEN     0x02    /* a listen entry; its defaults live in portico { } */
#define PT_SCOPE_ROUTE      0x04    /* a route entry; its defaults live in defaults { } */
#define PT_SCOPE_UPSTREAM   0x08    /* an upstream entry */
#define PT_SCOPE_TLS        0x10    /* a tls block (listener or upstream) */
#define PT_SCOPE_HANDLER    0x20    /* a route entry only, never defaults { }: what
                                     * answers the route (proxy, return, echo) */

#define PT_CONF_UNSET       (-1)

typedef struct {
    int64_t min, max;
} pt_conf_bounds_t;

/* Bounds of a duration that must be more than 0 (a timeout of 0 would
 * cut every connection at once). */
extern const pt_conf_bounds_t pt_conf_positive;

typedef struct {
    const char *name;
    int value;
} pt_conf_enum_t;

typedef struct pt_conf_ctx_s pt_conf_ctx_t;
typedef struct pt_directive_s pt_directive_t;

/* PT_CONF_STRINGS: what an empty list is refused with (NULL: allowed), and
 * a check of each string, which may rewrite it in place (it is an arena
 * copy) and reports its own error against s, the whole setting. */
typedef struct {
    const char *empty;
    int (*check)(pt_conf_ctx_t *cf, const config_setting_t *s, char *item);
} pt_conf_strings_arg_t;

/* PT_CONF_ZONE: a shared-memory zone named in the config. The name is
 * 1 to PT_ZONE_NAME_MAX letters, digits, '_', '-' or '.'; the size takes
 * the units of sizes. Where it was written is kept for the errors of the
 * loader (file as libconfig names it: give both to pt_conf_error_at()),
 * which joins it to the zone it asks the master for (ref). */
typedef struct {
    const char *name;
    int64_t size;
    const char *file;       /* NULL: the main file */
    unsigned line;
    void *ref;              /* the loader's, opaque here */
} pt_conf_zone_t;

/* PT_CONF_COMPILED: a string as written (what -T prints) and what the
 * row's compiler made of it. */
typedef struct {
    const char *text;
    const void *code;
} pt_conf_compiled_t;

/* The compiler of a PT_CONF_COMPILED row: NULL after reporting why text
 * (the value of s) does not compile. This is how a layer above common/
 * gives a directive type of its own (worker/core/var.h: templates). */
typedef struct {
    const void *(*compile)(pt_conf_ctx_t *cf, const config_setting_t *s, const char *text);
} pt_conf_compiler_t;

/* A custom setter stores the value of s into field; it reports its own
 * errors with pt_conf_error() and returns PT_OK or PT_ERROR. */
typedef int (*pt_conf_set_pt)(pt_conf_ctx_t *cf, const config_setting_t *s, void *field,
                              const pt_directive_t *d);
/* A custom dumper prints the value of field as a libconfig value. */
typedef void (*pt_conf_dump_pt)(FILE *out, const void *field, const pt_directive_t *d,
                                int indent);

struct pt_directive_s {
    const char *name;
    uint8_t type;
    uint8_t scope;
    size_t offset;
    const char *def;        /* default, as written in a config; NULL: none */
    const void *arg;        /* bounds or enum table */
    pt_conf_set_pt set;     /* PT_CONF_CUSTOM */
    pt_conf_dump_pt dump;   /* PT_CONF_CUSTOM, optional */
    const char *doc;        /* one line for --help style listings; optional */
};

#define PT_DIRECTIVE_END    { NULL, 0, 0, 0, NULL, NULL, NULL, NULL, NULL }

/* What a load accumulates: the arena that owns the values and the errors. */
struct pt_conf_ctx_s {
    pt_arena_t *arena;
    const char *file;       /* the main file, for errors without a setting */
    const char *include_dir;    /* where relative @include names resolve; NULL: cwd */
    const config_setting_t *where;  /* errors without a setting point here, if set */
    unsigned nerrors;
    char *errors;           /* "file:line: message\n" lines, arena memory */
    size_t errors_len;
    void *data;             /* the conf being built (the caller's), for setters */
    const char **copy_of;   /* by fd: the file memory file /proc/self/fd/N copies */
    int ncopy_of;
};

/* One table and the struct its offsets point into, for pt_conf_walk(). */
typedef struct {
    const pt_directive_t *table;
    void *base;
} pt_conf_target_t;

/* Record "file:line: message" for setting s (NULL: cf->where, or else the
 * main file without a line). */
void pt_conf_error(pt_conf_ctx_t *cf, const config_setting_t *s, const char *fmt, ...)
    PT_PRINTF(3, 4);

/* Record "file:line: message" at an explicit place (libconfig's own
 * parse errors; file as libconfig names it). */
void pt_conf_error_at(pt_conf_ctx_t *cf, const char *file, unsigned line, const char *fmt, ...)
    PT_PRINTF(4, 5);

/* The file of setting s as a path usable from here (included files are
 * named relative to cf->include_dir by libconfig), into buf. */
const char *pt_conf_file(const pt_conf_ctx_t *cf, const config_setting_t *s, char *buf,
                         size_t len);

/* The file a memory copy of an included file (conf_include.c) stands
 * for, as the @include named it; any other name as it is. */
const char *pt_conf_copied(const pt_conf_ctx_t *cf, const char *file);

/* The line of setting s. libconfig stamps a string element of a list or
 * array with the line of the token after it, which is wrong when the
 * element ends its line; this finds the line that holds the string. */
unsigned pt_conf_line(const pt_conf_ctx_t *cf, const config_setting_t *s);

/* Set every field of the rows that apply to scope to its UNSET value. */
void pt_conf_unset(const pt_directive_t *t, unsigned scope, void *base);

/* Apply every member of group to the first target whose table has a row of
 * that name for scope; a member no table knows is an error, unless its name
 * is in skip (a NULL-terminated list the caller handles itself). Returns
 * PT_OK or PT_ERROR (errors recorded in cf). */
/* The name of names (NULL-terminated) closest to name by edit distance
 * (typos, swapped letters), when close enough to be a likely misspelling;
 * NULL otherwise. For "did you mean" hints. */
const char *pt_conf_suggest(const char *name, const char *const *names);

int pt_conf_walk(pt_conf_ctx_t *cf, const config_setting_t *group, unsigned scope,
                 const pt_conf_target_t *targets, size_t ntargets, const char *const *skip);

/* Apply one setting through its row. */
int pt_conf_apply(pt_conf_ctx_t *cf, const config_setting_t *s, const pt_directive_t *d,
                  void *base);

/* Copy each UNSET field of child (rows applying to scope) from parent. */
void pt_conf_merge(const pt_directive_t *t, unsigned scope, void *child, const void *parent);

/* Fill each field still UNSET with its row's default. PT_ERROR only if a
 * default in the table does not parse (a bug, reported like a config error). */
int pt_conf_defaults(pt_conf_ctx_t *cf, const pt_directive_t *t, unsigned scope, void *base);

/* Print "name = value;" for each row applying to scope that has a value. */
void pt_conf_dump(FILE *out, const pt_directive_t *t, unsigned scope, const void *base,
                  int indent);

/* Helpers for custom setters and for the loader. */
const char *pt_conf_get_string(pt_conf_ctx_t *cf, const config_setting_t *s);
int pt_conf_get_uint(pt_conf_ctx_t *cf, const config_setting_t *s, int64_t min, int64_t max,
                     int64_t *out);
int pt_conf_get_bool(pt_conf_ctx_t *cf, const config_setting_t *s, int *out);
int pt_conf_get_duration(pt_conf_ctx_t *cf, const config_setting_t *s, pt_msec_t *out);
int pt_conf_get_size(pt_conf_ctx_t *cf, const config_setting_t *s, int64_t *out);
/* A string or an array/list of strings, as a NULL-terminated array. */
const char **pt_conf_get_strings(pt_conf_ctx_t *cf, const config_setting_t *s, size_t *n);
/* The number of strings of a NULL-terminated array (NULL: 0). */
size_t pt_conf_strings_count(const char *const *v);
/* Parse "name:size" (a PT_CONF_ZONE value) of setting s into an arena
 * pt_conf_zone_t; size within b (NULL: one slab page to 64G). NULL with
 * the error in cf. */
pt_conf_zone_t *pt_conf_get_zone(pt_conf_ctx_t *cf, const config_setting_t *s,
                                 const pt_conf_bounds_t *b);
const char *pt_conf_type_name(int libconfig_type);
/* A file named in the config, as an arena copy: a relative path is taken
 * from the main config file's directory; NULL stays NULL. */
const char *pt_conf_path(pt_conf_ctx_t *cf, const char *path);
void pt_conf_print_string(FILE *out, const char *s);
void pt_conf_indent(FILE *out, int indent);

#endif
