/*
 * mod_geoip.c: the client's country and autonomous system from MaxMind
 * DB files (libmaxminddb), for rules, logs, headers and routing.
 *
 *   portico = { geoip_country_db = "/var/lib/GeoIP/GeoLite2-Country.mmdb";
 *               geoip_asn_db = "/var/lib/GeoIP/GeoLite2-ASN.mmdb";
 *               geoip_header = "X-Country"; };
 *   routes = ( { geoip_allow_countries = [ "DE", "FR" ]; ... },
 *              { geoip_deny_countries = [ "XX" ]; ... } );
 *
 * The files are read by the master with each config load (into a sealed
 * memory file that libmaxminddb maps), so a reload reopens them, -t checks
 * them, and rewriting a file in place cannot change what running workers
 * read; workers inherit the mapping. The client address (the one trusted proxies name) is looked up
 * at most once per request, when something first asks, and kept in
 * r->ctx. geoip_header is set in the post-read phase, before routing, so
 * routes may match on it (headers = { "X-Country" = "DE"; }) and the
 * upstream receives it; the client's own copies are overwritten.
 */
#include "common/pt.h"
#include "common/conf.h"
#include "common/log.h"
#include "common/str.h"
#include "worker/core/module.h"
#include "worker/core/var.h"
#include "worker/http/http_error.h"
#include "worker/http/request.h"
#include "common/cidr.h"

#include <fcntl.h>
#include <maxminddb.h>
#include <sys/mman.h>
#include <unistd.h>

#define PT_GEOIP_COUNTRIES_MAX  300
#define PT_GEOIP_ORG_MAX        256
#define PT_GEOIP_FILE_MAX       (UINT64_C(4) << 30)    /* bytes of one database */

/* A database named in the config, opened by its setter. */
typedef struct {
    const char *path;
    MMDB_s *db;
} pt_geoip_db_t;

typedef struct {
    pt_geoip_db_t *country_db;  /* CUSTOM, UNSET NULL */
    pt_geoip_db_t *asn_db;
    const char *header;         /* STRING, UNSET NULL; "": none */
    /* set by init_main */
    MMDB_s *country, *asn;
    pt_str_t header_name;
} pt_geoip_main_t;

typedef struct {
    const char **allow;         /* STRINGS, UNSET NULL */
    const char **deny;
} pt_geoip_conf_t;

/* What one request's lookup found (r->ctx). */
typedef struct {
    bool done;
    char country[3];            /* "" unknown */
    uint32_t asn;               /* 0 unknown */
    pt_str_t org;
} pt_geoip_ctx_t;

static int pt_geoip_check_country(pt_conf_ctx_t *cf, const config_setting_t *s, char *item);
static int pt_geoip_db_set(pt_conf_ctx_t *cf, const config_setting_t *s, void *field,
                           const pt_directive_t *d);
static void pt_geoip_db_dump(FILE *out, const void *field, const pt_directive_t *d,
                             int indent);
static pt_str_t pt_geoip_var_country(pt_request_t *r, const void *data, char *buf);
static pt_str_t pt_geoip_var_asn(pt_request_t *r, const void *data, char *buf);
static pt_str_t pt_geoip_var_org(pt_request_t *r, const void *data, char *buf);

static const pt_conf_strings_arg_t pt_geoip_countries = {
    "needs at least one country code", pt_geoip_check_country
};

#define PT_GEOIP_MAIN(f)    offsetof(pt_geoip_main_t, f)

static const pt_directive_t pt_geoip_directives[] = {
    { "geoip_country_db", PT_CONF_CUSTOM, PT_SCOPE_MAIN, PT_GEOIP_MAIN(country_db), NULL,
      NULL, pt_geoip_db_set, pt_geoip_db_dump, "MaxMind DB file of countries (country.iso_code)" },
    { "geoip_asn_db", PT_CONF_CUSTOM, PT_SCOPE_MAIN, PT_GEOIP_MAIN(asn_db), NULL, NULL,
      pt_geoip_db_set, pt_geoip_db_dump, "MaxMind DB file of autonomous systems" },
    { "geoip_header", PT_CONF_STRING, PT_SCOPE_MAIN, PT_GEOIP_MAIN(header), "\"\"", NULL,
      NULL, NULL, "request field set to the client's country before routing" },
    { "geoip_allow_countries", PT_CONF_STRINGS, PT_SCOPE_ROUTE,
      offsetof(pt_geoip_conf_t, allow), NULL, &pt_geoip_countries, NULL, NULL,
      "country codes that alone may use the route" },
    { "geoip_deny_countries", PT_CONF_STRINGS, PT_SCOPE_ROUTE, offsetof(pt_geoip_conf_t, deny),
      NULL, &pt_geoip_countries, NULL, NULL, "country codes refused on the route" },
    PT_DIRECTIVE_END
};

static const pt_var_def_t pt_geoip_vars[] = {
    { "geoip_country_code", pt_geoip_var_country, NULL, NULL },
    { "geoip_asn", pt_geoip_var_asn, NULL, NULL },
    { "geoip_asn_org", pt_geoip_var_org, NULL, NULL },
    PT_VAR_DEF_END
};

pt_module_t pt_geoip_module;

/* ---- load time ---------------------------------------------------------- */

/* ISO 3166-1 alpha-2, written in capitals as the databases do. */
static int pt_geoip_check_country(pt_conf_ctx_t *cf, const config_setting_t *s, char *item)
{
    if (strlen(item) != 2 || item[0] < 'A' || item[0] > 'Z' || item[1] < 'A' || item[1] > 'Z') {
        pt_conf_error(cf, s, "\"%s\": \"%s\" is not a two-letter country code in capitals",
                      config_setting_name(s), item);
        return PT_ERROR;
    }
    return PT_OK;
}

static void pt_geoip_close(void *data)
{
    MMDB_close(data);
}

/* A sealed in-memory copy of the file at path, as a descriptor, or -1
 * with errno set. libmaxminddb maps the file it opens: were that the file
 * itself, a later rewrite in place (not a rename) would change, or
 * truncate, what running workers read under them (SIGBUS). */
static int pt_geoip_copy(const char *path)
{
    char buf[64 * 1024];
    int in = open(path, O_RDONLY | O_CLOEXEC);
    int out = in >= 0 ? memfd_create("portico-geoip", MFD_CLOEXEC | MFD_ALLOW_SEALING) : -1;
    uint64_t total = 0;
    ssize_t n;

    if (out < 0)
        goto failed;
    while ((n = read(in, buf, sizeof(buf))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || (total += (uint64_t) n) > PT_GEOIP_FILE_MAX) {
            if (n >= 0)
                errno = EFBIG;
            goto failed;
        }
        for (ssize_t w, off = 0; off < n; off += w)
            if ((w = write(out, buf + off, (size_t) (n - off))) < 0)
                goto failed;
    }
    fcntl(out, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
    close(in);
    return out;
failed:;
    int err = errno;
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    errno = err;
    return -1;
}

static MMDB_s *pt_geoip_open(pt_conf_ctx_t *cf, const config_setting_t *s, const char *p)
{
    MMDB_s *db = pt_arena_calloc(cf->arena, sizeof(*db));
    const char *what = config_setting_name(s);
    char copy[64];

    if (db == NULL)
        return NULL;
    int fd = pt_geoip_copy(p);
    if (fd < 0) {
        pt_conf_error(cf, s, "%s: cannot open \"%s\": %s", what, p, strerror(errno));
        return NULL;
    }
    snprintf(copy, sizeof(copy), "/proc/self/fd/%d", fd);
    int rc = MMDB_open(copy, MMDB_MODE_MMAP, db);
    int err = errno;
    close(fd);                      /* the mapping keeps the copy */
    if (rc != MMDB_SUCCESS) {
        pt_conf_error(cf, s, "%s: cannot open \"%s\": %s", what, p,
                      rc == MMDB_IO_ERROR ? strerror(err) : MMDB_strerror(rc));
        return NULL;
    }
    if (pt_arena_cleanup_add(cf->arena, pt_geoip_close, db) != PT_OK) {
        MMDB_close(db);
        return NULL;
    }
    return db;
}

/* The file is opened here, while the setting can be blamed for it. */
static int pt_geoip_db_set(pt_conf_ctx_t *cf, const config_setting_t *s, void *field,
                           const pt_directive_t *d)
{
    const char *text = pt_conf_get_string(cf, s);
    pt_geoip_db_t *g = pt_arena_calloc(cf->arena, sizeof(*g));

    if (text == NULL || g == NULL || (g->path = pt_conf_path(cf, text)) == NULL
        || (g->db = pt_geoip_open(cf, s, g->path)) == NULL)
        return PT_ERROR;
    *(pt_geoip_db_t **) field = g;
    return PT_OK;
}

static void pt_geoip_db_dump(FILE *out, const void *field, const pt_directive_t *d,
                             int indent)
{
    pt_conf_print_string(out, (*(pt_geoip_db_t *const *) field)->path);
}

static int pt_geoip_init_main(pt_conf_ctx_t *cf, pt_conf_t *conf, void *mconf)
{
    pt_geoip_main_t *mc = mconf;

    mc->country = mc->country_db ? mc->country_db->db : NULL;
    mc->asn = mc->asn_db ? mc->asn_db->db : NULL;
    for (const char *p = mc->header; *p; p++) {
        if (!pt_str_tchar[(unsigned char) *p]) {
            pt_conf_error(cf, NULL, "geoip_header: \"%s\" is not a field name", mc->header);
            return PT_ERROR;
        }
    }
    if (mc->header[0] && mc->country == NULL) {
        pt_conf_error(cf, NULL, "geoip_header needs geoip_country_db");
        return PT_ERROR;
    }
    mc->header_name = (pt_str_t) { mc->header, strlen(mc->header) };
    return PT_OK;
}

static int pt_geoip_init_route(pt_conf_ctx_t *cf, pt_conf_t *conf, pt_route_t *route,
                               void *rconf, const void *dconf)
{
    const pt_geoip_conf_t *gc = rconf;
    const pt_geoip_main_t *mc = conf->mod_main[pt_geoip_module.index];

    if (gc->allow == NULL && gc->deny == NULL) {
        pt_module_phase_skip(route, &pt_geoip_module);
        return PT_OK;
    }
    /* init_main has not run yet: the path, not the open file, tells. */
    if (mc->country_db == NULL) {
        pt_conf_error(cf, NULL, "route \"%s\" (line %u): country rules need geoip_country_db",
                      route->name, route->line);
        return PT_ERROR;
    }
    if (pt_conf_strings_count(gc->allow) > PT_GEOIP_COUNTRIES_MAX
        || pt_conf_strings_count(gc->deny) > PT_GEOIP_COUNTRIES_MAX) {
        pt_conf_error(cf, NULL, "route \"%s\" (line %u): more than %d country codes",
                      route->name, route->line, PT_GEOIP_COUNTRIES_MAX);
        return PT_ERROR;
    }
    return PT_OK;
}

/* ---- request time ------------------------------------------------------- */

static const MMDB_entry_data_s *pt_geoip_get(MMDB_lookup_result_s *res, MMDB_entry_data_s *d,
                                             int type, const char *const *path)
{
    if (!res->found_entry || MMDB_aget_value(&res->entry, d, path) != MMDB_SUCCESS
        || !d->has_data || (int) d->type != type)
        return NULL;
    return d;
}

static MMDB_lookup_result_s pt_geoip_lookup_db(const MMDB_s *db, const pt_addr_t *a)
{
    struct sockaddr_storage ss;
    int err = MMDB_SUCCESS;

    pt_addr_to_sa(a, &ss);
    MMDB_lookup_result_s res = MMDB_lookup_sockaddr(db, (const struct sockaddr *) &ss, &err);
    if (err != MMDB_SUCCESS)
        res.found_entry = false;    /* an IPv6 client and an IPv4-only file, say */
    return res;
}

/* The request's lookup, made on first use. */
static const pt_geoip_ctx_t *pt_geoip_lookup(pt_request_t *r)
{
    static const pt_geoip_ctx_t none = { .done = true };
    static const char *const country_path[] = { "country", "iso_code", NULL };
    static const char *const asn_path[] = { "autonomous_system_number", NULL };
    static const char *const org_path[] = { "autonomous_system_organization", NULL };
    const pt_geoip_main_t *mc = r->conf->mod_main[pt_geoip_module.index];
    pt_geoip_ctx_t *ctx = r->ctx[pt_geoip_module.index];
    MMDB_entry_data_s d;
    pt_addr_t a;

    if (ctx)
        return ctx;
    if (mc == NULL || (mc->country == NULL && mc->asn == NULL)
        || (ctx = pt_arena_calloc(r->arena, sizeof(*ctx))) == NULL)
        return &none;
    r->ctx[pt_geoip_module.index] = ctx;
    ctx->done = true;
    pt_addr_from_sa(pt_request_client_sa(r), &a);
    if (mc->country) {
        MMDB_lookup_result_s res = pt_geoip_lookup_db(mc->country, &a);
        if (pt_geoip_get(&res, &d, MMDB_DATA_TYPE_UTF8_STRING, country_path)
            && d.data_size == 2) {
            ctx->country[0] = (char) pt_str_lower(d.utf8_string[0]) - 'a' + 'A';
            ctx->country[1] = (char) pt_str_lower(d.utf8_string[1]) - 'a' + 'A';
            if (ctx->country[0] < 'A' || ctx->country[0] > 'Z' || ctx->country[1] < 'A'
                || ctx->country[1] > 'Z')
                ctx->country[0] = '\0';
        }
    }
    if (mc->asn) {
        MMDB_lookup_result_s res = pt_geoip_lookup_db(mc->asn, &a);
        if (pt_geoip_get(&res, &d, MMDB_DATA_TYPE_UINT32, asn_path))
            ctx->asn = d.uint32;
        else if (pt_geoip_get(&res, &d, MMDB_DATA_TYPE_UINT16, asn_path))
            ctx->asn = d.uint16;
        if (pt_geoip_get(&res, &d, MMDB_DATA_TYPE_UTF8_STRING, org_path))
            ctx->org = (pt_str_t) { d.utf8_string, pt_min(d.data_size, PT_GEOIP_ORG_MAX) };
    }
    return ctx;
}

static pt_str_t pt_geoip_country(const pt_geoip_ctx_t *g)
{
    return g->country[0] ? (pt_str_t) { g->country, 2 } : PT_STR_NULL;
}

/* Post-read: the country field, before routing; the client's copies
 * carry our value too (the router reads every copy), "--" when unknown. */
static int pt_geoip_post_read(pt_request_t *r)
{
    const pt_geoip_main_t *mc = r->conf->mod_main[pt_geoip_module.index];

    if (mc == NULL || mc->header_name.len == 0)
        return PT_DECLINED;
    pt_str_t c = pt_geoip_country(pt_geoip_lookup(r));
    if (c.len == 0)
        c = PT_STR("--");
    bool sent = false;
    for (unsigned i = 0; i < r->head.nfields; i++) {
        pt_http_field_t *f = &r->head.fields[i];
        if (!pt_str_caseeq(f->name, mc->header_name)) {
            /* X_Country is X-Country to a CGI or WSGI upstream: not sent. */
            if (pt_str_field_alike(f->name, mc->header_name))
                f->flags |= PT_FIELD_NOFORWARD;
            continue;
        }
        f->value = c;
        if (sent)
            f->flags |= PT_FIELD_NOFORWARD;
        sent = true;
    }
    if (!sent && pt_request_field_add(r, mc->header_name, c) != PT_OK)
        return 500;
    /* A chunked request may end in a trailer section: a hidden, empty
     * entry after ours makes the proxy refuse a client's X-Country there
     * (it refuses trailer fields named like a field it hid). */
    if (!r->head.chunked)
        return PT_DECLINED;
    if (pt_request_field_add(r, mc->header_name, PT_STR("")) != PT_OK)
        return 500;
    r->head.fields[r->head.nfields - 1].flags |= PT_FIELD_NOFORWARD;
    return PT_DECLINED;
}

static bool pt_geoip_listed(const char *const *v, pt_str_t c)
{
    for (size_t i = 0; c.len && v && v[i]; i++)
        if (v[i][0] == c.p[0] && v[i][1] == c.p[1])
            return true;
    return false;
}

static int pt_geoip_access(pt_request_t *r)
{
    const pt_geoip_conf_t *gc = pt_route_mod_conf(r->route, pt_geoip_module);
    pt_str_t c = pt_geoip_country(pt_geoip_lookup(r));
    const char *why;

    if (pt_geoip_listed(gc->deny, c))
        why = "geoip_deny_countries names";
    else if (gc->allow && !pt_geoip_listed(gc->allow, c))
        why = c.len ? "not in geoip_allow_countries:" : "unknown country, geoip_allow_countries";
    else
        return PT_DECLINED;
    pt_log(PT_LOG_INFO, "%s: country rules of route \"%s\" refused: %s %.*s",
           pt_request_client_ip(r), r->route->name, why, (int) c.len, c.p ? c.p : "");
    pt_http_error(r, 403, "requests from this country are not allowed here");
    return PT_DONE;
}

static pt_str_t pt_geoip_var_country(pt_request_t *r, const void *data, char *buf)
{
    return pt_geoip_country(pt_geoip_lookup(r));
}

static pt_str_t pt_geoip_var_asn(pt_request_t *r, const void *data, char *buf)
{
    const pt_geoip_ctx_t *g = pt_geoip_lookup(r);

    return g->asn ? (pt_str_t) { buf, pt_str_from_u64(buf, g->asn) } : PT_STR_NULL;
}

static pt_str_t pt_geoip_var_org(pt_request_t *r, const void *data, char *buf)
{
    return pt_geoip_lookup(r)->org;
}

pt_module_t pt_geoip_module = {
    .name = "geoip",
    .directives = pt_geoip_directives,
    .main_conf_size = sizeof(pt_geoip_main_t),
    .route_conf_size = sizeof(pt_geoip_conf_t),
    .init_main = pt_geoip_init_main,
    .init_route = pt_geoip_init_route,
    .phase = { [PT_PHASE_POST_READ] = pt_geoip_post_read, [PT_PHASE_ACCESS] = pt_geoip_access },
    .vars = pt_geoip_vars,
};
