/*
 * cidr.c: addresses, networks and ordered allow/deny lists (cidr.h).
 */
#include "common/pt.h"
#include "common/conf.h"
#include "common/str.h"
#include "common/cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>

static const uint8_t pt_cidr_v4_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

int pt_addr_parse(const char *s, size_t n, pt_addr_t *out)
{
    char text[INET6_ADDRSTRLEN + 1];
    uint8_t b[16];

    if (n == 0 || n >= sizeof(text))
        return PT_ERROR;
    memcpy(text, s, n);
    text[n] = '\0';
    if (memchr(s, ':', n)) {
        if (inet_pton(AF_INET6, text, b) != 1)
            return PT_ERROR;
    } else {
        memcpy(b, pt_cidr_v4_prefix, 12);
        if (inet_pton(AF_INET, text, b + 12) != 1)
            return PT_ERROR;
    }
    memcpy(out->w, b, 16);
    return PT_OK;
}

void pt_addr_from_sa(const struct sockaddr *sa, pt_addr_t *out)
{
    uint8_t b[16] = { 0 };

    if (sa->sa_family == AF_INET) {
        memcpy(b, pt_cidr_v4_prefix, 12);
        memcpy(b + 12, &((const struct sockaddr_in *) (const void *) sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        memcpy(b, &((const struct sockaddr_in6 *) (const void *) sa)->sin6_addr, 16);
    }
    memcpy(out->w, b, 16);
}

bool pt_addr_is_v4(const pt_addr_t *a)
{
    return memcmp(a->w, pt_cidr_v4_prefix, 12) == 0;
}

socklen_t pt_addr_to_sa(const pt_addr_t *a, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (pt_addr_is_v4(a)) {
        struct sockaddr_in *in = (struct sockaddr_in *) ss;
        in->sin_family = AF_INET;
        memcpy(&in->sin_addr, (const uint8_t *) a->w + 12, 4);
        return sizeof(*in);
    }
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) ss;
    in6->sin6_family = AF_INET6;
    memcpy(&in6->sin6_addr, a->w, 16);
    return sizeof(*in6);
}

size_t pt_addr_ntop(const pt_addr_t *a, char *buf, size_t len)
{
    bool v4 = pt_addr_is_v4(a);
    const void *src = v4 ? (const void *) ((const uint8_t *) a->w + 12) : (const void *) a->w;

    if (inet_ntop(v4 ? AF_INET : AF_INET6, src, buf, (socklen_t) len) == NULL) {
        buf[0] = '\0';
        return 0;
    }
    return strlen(buf);
}

static void pt_cidr_mask(unsigned bits, pt_addr_t *mask)
{
    uint8_t b[16] = { 0 };

    for (unsigned i = 0; i < 16; i++) {
        unsigned left = bits > 8 * i ? bits - 8 * i : 0;
        b[i] = left >= 8 ? 0xff : (uint8_t) (0xff00 >> left);
    }
    memcpy(mask->w, b, 16);
}

int pt_cidr_parse(const char *s, size_t n, pt_cidr_t *out, const char **why)
{
    const char *slash = memchr(s, '/', n);
    size_t alen = slash ? (size_t) (slash - s) : n;
    pt_addr_t a;
    uint64_t bits;

    *why = NULL;
    if (pt_addr_parse(s, alen, &a) != PT_OK) {
        *why = "is not an IPv4 or IPv6 address";
        return PT_ERROR;
    }
    bool v4 = memchr(s, ':', alen) == NULL;
    unsigned max = v4 ? 32 : 128;
    if (slash == NULL) {
        bits = max;
    } else if (pt_str_parse_uint(slash + 1, n - alen - 1, &bits) != PT_OK || bits > max
               || n - alen - 1 > 3) {
        *why = v4 ? "has a prefix length that is not 0 to 32" :
                    "has a prefix length that is not 0 to 128";
        return PT_ERROR;
    }
    out->bits = (uint8_t) (v4 ? bits + 96 : bits);
    pt_cidr_mask(out->bits, &out->mask);
    out->net.w[0] = a.w[0] & out->mask.w[0];
    out->net.w[1] = a.w[1] & out->mask.w[1];
    if (out->net.w[0] != a.w[0] || out->net.w[1] != a.w[1]) {
        *why = "has bits set past its prefix length";
        return PT_ERROR;
    }
    return PT_OK;
}

bool pt_cidr_list_match(const pt_cidr_list_t *l, const pt_addr_t *a)
{
    for (size_t i = 0; l && i < l->n; i++)
        if (pt_cidr_match(&l->v[i], a))
            return true;
    return false;
}

int pt_cidr_rules_eval(const pt_cidr_rules_t *l, const pt_addr_t *a, size_t *rule)
{
    for (size_t i = 0; l && i < l->n; i++) {
        if (pt_cidr_match(&l->v[i].cidr, a)) {
            *rule = i;
            return l->v[i].allow ? 1 : 0;
        }
    }
    return -1;
}

int pt_cidr_rule_parse(const char *s, pt_cidr_rule_t *rule, const char **why)
{
    size_t n = strlen(s);
    pt_str_t t = pt_str_trim_ows((pt_str_t) { s, n });
    const char *sp = memchr(t.p, ' ', t.len);

    *why = "must be \"allow CIDR\" or \"deny CIDR\" (CIDR may be \"all\")";
    if (sp == NULL)
        return PT_ERROR;
    pt_str_t verb = { t.p, (size_t) (sp - t.p) };
    pt_str_t net = pt_str_trim_ows((pt_str_t) { sp + 1, t.len - verb.len - 1 });
    if (pt_str_eq_lit(verb, "allow"))
        rule->allow = true;
    else if (pt_str_eq_lit(verb, "deny"))
        rule->allow = false;
    else
        return PT_ERROR;
    if (pt_str_eq_lit(net, "all")) {
        memset(&rule->cidr, 0, sizeof(rule->cidr));
        *why = NULL;
        return PT_OK;
    }
    return pt_cidr_parse(net.p, net.len, &rule->cidr, why);
}

/* The strings of s (a string, or an array or list of them), each with the
 * setting it came from (for its line); NULL with the error in cf. */
static const char **pt_cidr_conf_strings(pt_conf_ctx_t *cf, const config_setting_t *s,
                                         const config_setting_t ***where, size_t *n)
{
    const char **v = pt_conf_get_strings(cf, s, n);

    if (v == NULL)
        return NULL;
    if (*n > PT_CIDR_LIST_MAX) {
        pt_conf_error(cf, s, "\"%s\" has more than %d entries", config_setting_name(s),
                      PT_CIDR_LIST_MAX);
        return NULL;
    }
    *where = pt_arena_alloc(cf->arena, (*n + 1) * sizeof(**where));
    if (*where == NULL)
        return NULL;
    for (size_t i = 0; i < *n; i++)
        (*where)[i] = config_setting_type(s) == CONFIG_TYPE_STRING
                      ? s : config_setting_get_elem(s, (unsigned) i);
    return v;
}

int pt_cidr_list_conf_set(pt_conf_ctx_t *cf, const config_setting_t *s, void *field,
                          const pt_directive_t *d)
{
    const config_setting_t **where;
    size_t n;
    const char **v = pt_cidr_conf_strings(cf, s, &where, &n);
    pt_cidr_list_t *l = pt_arena_calloc(cf->arena, sizeof(*l));
    int rc = PT_OK;

    if (v == NULL || l == NULL || (l->v = pt_arena_alloc(cf->arena, (n + 1) * sizeof(*l->v)))
                                  == NULL)
        return PT_ERROR;
    for (size_t i = 0; i < n; i++) {
        const char *why;
        if (pt_cidr_parse(v[i], strlen(v[i]), &l->v[i], &why) != PT_OK) {
            pt_conf_error(cf, where[i], "\"%s\": \"%s\" %s", config_setting_name(s), v[i], why);
            rc = PT_ERROR;
        }
    }
    l->n = n;
    l->text = v;
    *(pt_cidr_list_t **) field = l;
    return rc;
}

pt_cidr_rules_t *pt_cidr_rules_conf_parse(pt_conf_ctx_t *cf, const config_setting_t *s)
{
    const config_setting_t **where;
    size_t n;
    const char **v = pt_cidr_conf_strings(cf, s, &where, &n);
    pt_cidr_rules_t *l = pt_arena_calloc(cf->arena, sizeof(*l));
    int rc = PT_OK;

    if (v == NULL || l == NULL || (l->v = pt_arena_alloc(cf->arena, (n + 1) * sizeof(*l->v)))
                                  == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const char *why;
        if (pt_cidr_rule_parse(v[i], &l->v[i], &why) != PT_OK) {
            pt_conf_error(cf, where[i], "\"%s\": \"%s\" %s", config_setting_name(s) ?
                          config_setting_name(s) : "rules", v[i], why);
            rc = PT_ERROR;
        }
    }
    l->n = n;
    l->text = v;
    return rc == PT_OK ? l : NULL;
}

int pt_cidr_rules_conf_set(pt_conf_ctx_t *cf, const config_setting_t *s, void *field,
                           const pt_directive_t *d)
{
    pt_cidr_rules_t *l = pt_cidr_rules_conf_parse(cf, s);

    if (l == NULL)
        return PT_ERROR;
    *(pt_cidr_rules_t **) field = l;
    return PT_OK;
}

static void pt_cidr_dump_strings(FILE *out, const char *const *v)
{
    fputs("[", out);
    for (size_t i = 0; v && v[i]; i++) {
        fputs(i ? ", " : " ", out);
        pt_conf_print_string(out, v[i]);
    }
    fputs(" ]", out);
}

void pt_cidr_list_conf_dump(FILE *out, const void *field, const pt_directive_t *d, int indent)
{
    const pt_cidr_list_t *l = *(const pt_cidr_list_t *const *) field;

    pt_cidr_dump_strings(out, l ? l->text : NULL);
}

void pt_cidr_rules_conf_dump(FILE *out, const void *field, const pt_directive_t *d,
                             int indent)
{
    const pt_cidr_rules_t *l = *(const pt_cidr_rules_t *const *) field;

    pt_cidr_dump_strings(out, l ? l->text : NULL);
}
