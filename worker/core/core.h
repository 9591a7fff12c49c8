/*
 * core.h: what one generation serves. The master builds a pt_conf_t from
 * the config file (master/conf_load.c runs the directive tables that live
 * next to each feature in worker/), forks the generation's workers with it,
 * and never changes it after.
 */
#ifndef PT_CORE_H
#define PT_CORE_H

#include "common/pt.h"
#include "common/arena.h"
#include "common/conf.h"
#include "common/sock.h"

#define PT_MODULES_MAX      32
#define PT_LISTENERS_MAX    64      /* a route's listener set is a 64-bit mask */

typedef struct pt_conf_s pt_conf_t;
typedef struct pt_listener_s pt_listener_t;
typedef struct pt_route_s pt_route_t;
typedef struct pt_upstream_s pt_upstream_t;
typedef struct pt_server_s pt_server_t;
typedef struct pt_router_s pt_router_t;
typedef struct pt_module_s pt_module_t;
typedef struct pt_request_s pt_request_t;
typedef struct pt_conn_s pt_conn_t;
typedef struct pt_proto_s pt_proto_t;
typedef struct pt_conf_file_s pt_conf_file_t;
typedef struct pt_tls_conf_s pt_tls_conf_t;
typedef struct pt_errpage_s pt_errpage_t;
typedef struct pt_zone_req_s pt_zone_req_t;
typedef struct pt_response_s pt_response_t;
typedef struct pt_filters_s pt_filters_t;
struct pt_router_key_s;         /* [traffic steering] router/router.h, for route->match */
struct pt_zone_s;

/* Process settings: the portico { } block. */
typedef struct {
    int64_t workers;            /* 0 = "auto": one per CPU */
    const char *user;
    const char *group;
    const char *pidfile;
    const char *error_log;
    int log_level;
    int64_t shm_size;
    pt_msec_t drain_timeout;
    int64_t max_generations;
    int64_t worker_connections;
    int64_t worker_rlimit_nofile;
    /* dns: the resolvers of upstream host names (upstream_dns.h) */
    const char *resolver;       /* "ip:port,[v6]:port" for c-ares; NULL: /etc/resolv.conf */
    pt_msec_t resolver_timeout;
    /* end dns */
} pt_main_conf_t;

/* Connection settings: a listen entry, defaults in portico { }. */
typedef struct {
    pt_msec_t header_timeout;
    pt_msec_t body_timeout;
    pt_msec_t keepalive_timeout;
    pt_msec_t send_timeout;
    pt_msec_t lingering_timeout;
    int64_t keepalive_requests;
    int64_t max_request_line;
    int64_t max_header_size;
    int64_t max_header_count;
    int64_t backlog;
    int merge_slashes;          /* "//" is "/" for routing and forwarding */
    int escaped_slashes;        /* PT_SLASHES_*: what %2F and %5C in a path do */
    int64_t header_min_rate;    /* bytes/s a head must arrive at; 0: no floor */
    int64_t body_min_rate;      /* bytes/s of the time spent waiting for a body */
    pt_msec_t min_rate_window;  /* how long a rate is measured over */
} pt_listen_conf_t;

enum { PT_SLASHES_REFUSE = 0, PT_SLASHES_KEEP, PT_SLASHES_DECODE };

struct pt_listener_s {
    const char *name;
    const char *address;        /* as written */
    pt_sockaddr_t addr;
    unsigned index;
    unsigned line;
    pt_listen_conf_t c;
    pt_tls_conf_t *tls;         /* NULL: plain HTTP */
    /* What runs on an accepted connection before its protocol: the TLS
     * handshake (set with tls), which then starts the protocol; NULL: the
     * protocol starts at once. */
    void (*handshake)(pt_conn_t *c);
    const pt_proto_t *proto;    /* the protocol spoken (net/proto.h); NULL: the default */
    unsigned metric_id;         /* metrics: its series (net/conn_metrics.h); 0: none */
};

/* Per-request settings every layer reads: a route, defaults in
 * defaults { }. What only one module reads lives in that module's own
 * struct (route->mod_conf), merged from defaults { } the same way. */
typedef struct {
    int64_t client_max_body_size;
    const char *server_header;  /* "" = none */
    pt_errpage_t *errors;       /* custom error responses, NULL-terminated list head */
} pt_route_conf_t;

enum { PT_PATH_PREFIX = 0, PT_PATH_EXACT, PT_PATH_REGEX };

typedef struct {
    const char *name;
    const char *value;          /* exact value, or NULL: present */
    bool negate;
} pt_route_header_t;

struct pt_route_s {
    const char *name;
    unsigned index;
    unsigned line;
    /* match */
    const char **hosts;         /* "api.example.com", "*.example.com"; NULL: any */
    size_t nhosts;
    int path_kind;
    const char *path;           /* prefix, exact path or regex source */
    size_t path_len;
    void *regex;                /* pcre2_code * for PT_PATH_REGEX */
    const char **method_list;   /* "methods" as written; NULL: any */
    uint32_t methods;           /* bit (1 << PT_METHOD_x); 0: any; bit 0: other methods named */
    const char **method_names;  /* methods outside the well-known set */
    pt_route_header_t *headers;
    size_t nheaders;
    uint64_t listeners;         /* bit per listener index; 0: all */
    /* [traffic steering] a module's own condition (an API version), set in
     * its init_route and asked after the router's own; NULL: none. */
    bool (*match)(const pt_route_t *route, const struct pt_router_key_s *key);
    /* rewrite of the forwarded path */
    int strip_prefix;
    const char *replace_prefix;
    const char *rewrite;        /* with $1..$9 from a regex path; may hold a "?query" */
    int rewrite_query;          /* PT_REWRITE_QUERY_*: the client's query after a rewrite */
    /* what answers */
    const pt_module_t *handler; /* content handler module */
    pt_filters_t *filters;          /* response and request filters (filter.h); NULL: none */
    pt_route_conf_t c;
    uint32_t phase_skip;        /* bit per module index: its phase handlers skip this route */
    void *mod_conf[PT_MODULES_MAX];
};

enum { PT_REWRITE_QUERY_APPEND = 0, PT_REWRITE_QUERY_REPLACE };

struct pt_server_s {
    const char *name;           /* "host:port" as written */
    pt_sockaddr_t addr;
    pt_upstream_t *upstream;
    unsigned index;
    int64_t weight;
    bool backup;                /* used only when every primary is down */
    struct pt_upstream_peer_s *health;  /* shared record (upstream_health.h); NULL: none */
    /* dns: a slot of a host-name server re-resolved at run time (upstream_dns.h) */
    struct pt_upstream_dns_s *dns;      /* the name it belongs to; NULL: a fixed address */
    unsigned dns_slot;                  /* 0 .. max_addresses - 1 within that name */
    bool absent;                        /* no address in this slot now: never chosen */
    unsigned addr_version;              /* bumped when the slot's address changes or leaves */
    /* end dns */
    /* balancing (worker/upstream/upstream_balance.h) */
    int64_t max_conns;          /* in flight gateway-wide before the next server; 0: no cap */
    pt_msec_t slow_start;       /* weight ramps up over this after recovery; 0: none */
    bool drain;                 /* configured draining: no new requests */
    /* metrics: first value of its series (upstream_metrics.h); 0: not counted */
    unsigned metric_id;
};

struct pt_upstream_s {
    const char *name;
    unsigned index;
    unsigned line;
    pt_server_t *servers;
    size_t nservers;
    int64_t keepalive;          /* max idle connections per worker */
    pt_msec_t keepalive_timeout;
    int64_t keepalive_requests;
    pt_msec_t connect_timeout;
    pt_msec_t send_timeout;
    pt_msec_t read_timeout;
    int64_t max_response_header_size;
    int retry;                  /* retry on a fresh connection when a reused one was dead */
    const char *host;           /* Host to send; NULL: the client's */
    pt_tls_conf_t *tls;
    int64_t max_fails;          /* failures within fail_timeout that mark down; 0: never */
    pt_msec_t fail_timeout;
    const uint8_t *fail_statuses;   /* bitmap of statuses 0..599 counted as failures; NULL */
    /* probes, retries, ejection (upstream_probe.h, upstream_retry.h, upstream_eject.h) */
    struct pt_upstream_probe_conf_s *health_check;      /* NULL: no active checks */
    struct pt_upstream_eject_conf_s *outlier_ejection;  /* NULL: no ejection */
    int64_t retries;            /* other tries after the first, at most */
    pt_msec_t retry_timeout;    /* no new try once the request is this old */
    const char **retry_on;      /* as written; compiled into retry_on_mask */
    uint32_t retry_on_mask;     /* PT_RETRY_ON_* bits */
    int64_t retry_budget;       /* percent of recent requests that may be retries */
    int64_t retry_budget_floor; /* retries per second allowed whatever the share */
    struct pt_upstream_group_s *group;  /* shared record of the upstream; NULL: none */
    /* dns: re-resolution of host-name servers (upstream_dns.h) */
    int resolve;                /* host names are re-resolved at run time */
    pt_msec_t resolve_interval;
    int64_t max_addresses;      /* address slots per host-name server */
    int resolve_required;       /* an unresolvable name at load is an error */
    struct pt_upstream_dns_s *dns;  /* its host-name servers; NULL: none */
    /* end dns */
    /* balancing (worker/upstream/upstream_balance.h) */
    int balance;                /* PT_BALANCE_*; 0: smooth weighted round-robin */
    pt_conf_compiled_t hash_key;    /* balance "hash": a var.h template */
    int64_t hash_load_bound;    /* balance "hash": % of a fair share a server may hold; 0: off */
    pt_msec_t ewma_decay;       /* balance "ewma": how fast latency is forgotten */
    int64_t max_conns;          /* servers' default */
    pt_msec_t slow_start;       /* servers' default */
    int64_t queue;              /* requests a worker holds while all are at max_conns */
    pt_msec_t queue_timeout;    /* how long one waits there (503 beyond) */
    struct pt_upstream_ring_s *ring;    /* balance "hash": the ring (upstream_hash.c) */
};

/* A file a module asked the master to open (pt_conf_file_add): one per
 * path in a conf, shared by every module that names it. The master opens
 * it before forking the generation, keeps it for the generation's life
 * and, on reopen (SIGUSR1), reopens it under the same fd number in itself
 * and in every worker; workers only use fd. */
struct pt_conf_file_s {
    const char *path;
    const char *what;           /* for errors: "access log" */
    unsigned flags;             /* PT_CONF_FILE_* */
    int fd;                     /* -1 until the master opened it */
    unsigned index;             /* 0 .. conf->nfiles - 1, in the order asked */
    pt_conf_file_t *next;
};

/* A custom error response. */
struct pt_errpage_s {
    unsigned status;            /* 0: any status without its own entry */
    const char *content_type;
    const char *body;
    size_t body_len;
    pt_errpage_t *next;
};

/* A shared-memory zone a module (or a layer: TLS tickets) asked for at load
 * time. The master attaches it before forking the generation, adopting the
 * previous generation's zone of the same name, size, owner and magic with
 * its contents, and calls init with the zone and, when adopted, old (the
 * same zone; NULL when it is fresh); the workers then find it in zone. */
typedef int (*pt_zone_init_pt)(struct pt_zone_s *zone, struct pt_zone_s *old, void *data);

struct pt_zone_req_s {
    const char *name;
    size_t size;
    const char *owner;          /* who declared it: a module's name */
    uint32_t magic;             /* the owner's layout of the contents */
    pt_zone_init_pt init;
    void *data;
    struct pt_zone_s *zone;
    pt_zone_req_t *next;
};

struct pt_conf_s {
    pt_arena_t *arena;
    const char *path;
    unsigned generation;
    pt_main_conf_t main;
    pt_listen_conf_t listen_defaults;
    pt_route_conf_t route_defaults;
    pt_listener_t *listeners;
    size_t nlisteners;
    pt_upstream_t *upstreams;
    size_t nupstreams;
    pt_route_t *routes;
    size_t nroutes;
    pt_router_t *router;
    pt_conf_file_t *files;      /* files modules asked for, in order */
    size_t nfiles;
    pt_zone_req_t *zones;
    void *mod_main[PT_MODULES_MAX];
    void *mod_defaults[PT_MODULES_MAX];     /* route-scope structs of defaults { } */
};

/* The generation this worker serves: set by pt_worker_main (worker.c)
 * before its event loop runs, read-only after. */
extern const pt_conf_t *pt_worker_conf;

#endif
