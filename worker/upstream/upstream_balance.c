/*
 * upstream_balance.c: choosing a server (round-robin, least_conn, random
 * with two choices; hash and ewma in their own files), the in-flight
 * ledger, drain and slow start (see upstream_balance.h).
 */
#include "common/pt.h"
#include "common/clock.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/shm.h"
#include "common/sock.h"
#include "worker/core/conf.h"
#include "worker/core/var.h"
#include "worker/upstream/upstream_balance.h"

#include <signal.h>
#include <time.h>
#include <unistd.h>

#define PT_BALANCE_MAGIC    0x5054424cu     /* "PTBL": this layout */
#define PT_BALANCE_ZONE     "portico.balance"
#define PT_BALANCE_KEY_BUF  256             /* hash keys up to this render on the stack */

const pt_conf_enum_t pt_balance_names[] = {
    { "round_robin", PT_BALANCE_ROUND_ROBIN }, { "least_conn", PT_BALANCE_LEAST_CONN },
    { "random", PT_BALANCE_RANDOM }, { "hash", PT_BALANCE_HASH }, { "ewma", PT_BALANCE_EWMA },
    { NULL, 0 }
};

static const char pt_balance_full[] = "every server of the upstream is at max_conns";

/* A worker's share of the in-flight counts, by record column. */
typedef struct {
    _Atomic int32_t owner;      /* pid; 0: free */
    uint32_t pad;
    _Atomic int32_t count[PT_UPSTREAM_HEALTH_RECORDS];
} pt_balance_cell_t;

typedef struct {
    uint32_t magic;
    uint32_t ncolumns;
    uint64_t epoch;             /* this zone's: records of another zone do not match */
    pt_upstream_peer_t *column[PT_UPSTREAM_HEALTH_RECORDS];
    pt_balance_cell_t cells[PT_BALANCE_CELLS];
} pt_balance_zone_t;

#define PT_BALANCE_BYTES                                                                      \
    (sizeof(pt_balance_zone_t) + sizeof(pt_balance_zone_t) / 8 + 4 * PT_SLAB_PAGE)

static const pt_conf_t *pt_balance_conf_of;
static pt_balance_state_t *pt_balance_states;
static pt_balance_zone_t *pt_balance_zone;
static pt_balance_cell_t *pt_balance_cell;      /* this worker's; NULL: none */
static const char **pt_balance_why;             /* per upstream: the last choose's none */

/* ---- the ledger ----------------------------------------------------------- */

static bool pt_balance_pid_dead(int32_t pid)
{
    return pid > 0 && kill((pid_t) pid, 0) != 0 && errno == ESRCH;
}

/* Give back what cell holds (its owner is gone, or is us leaving). */
static void pt_balance_cell_drain(pt_balance_zone_t *bz, pt_balance_cell_t *cell)
{
    for (uint32_t c = 0; c < bz->ncolumns; c++) {
        int32_t n = atomic_exchange(&cell->count[c], 0);
        pt_upstream_peer_t *rec = bz->column[c];
        if (n == 0 || rec == NULL || rec->lb_column != c + 1
            || rec->lb_owner != (rec->tag.hash ^ bz->epoch))
            continue;
        atomic_fetch_sub(&rec->lb_inflight, n);
    }
}

/* Clear the cells of workers that died without giving theirs back. */
static void pt_balance_reclaim(pt_balance_zone_t *bz, int32_t self)
{
    for (unsigned i = 0; i < PT_BALANCE_CELLS; i++) {
        pt_balance_cell_t *cell = &bz->cells[i];
        int32_t pid = atomic_load(&cell->owner);
        if (!pt_balance_pid_dead(pid) || !atomic_compare_exchange_strong(&cell->owner, &pid, self))
            continue;
        pt_balance_cell_drain(bz, cell);
        pt_log(PT_LOG_NOTICE, "upstream in-flight counts of dead worker %d released",
               (int) pid);
        atomic_store(&cell->owner, 0);
    }
}

static uint64_t pt_balance_epoch(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return pt_hash(&ts, sizeof(ts), (uint64_t) getpid()) | 1;
}

static void pt_balance_server_log(const pt_server_t *s, const char *change, const char *why)
{
    char addr[PT_SOCK_ADDRSTRLEN];

    pt_sock_ntop((const struct sockaddr *) &s->addr.ss, addr, sizeof(addr));
    pt_log(PT_LOG_NOTICE, "upstream %s: server %s %s: %s", s->upstream->name, addr, change,
           why);
}

/* The zone init hook (in the master, after the health zone's, which bound
 * every server to its record): give each record a ledger column, reset
 * the balancing fields of records that changed hands, start slow start
 * for servers a reload added. */
static int pt_balance_zone_init(pt_zone_t *zone, pt_zone_t *old, void *data)
{
    pt_conf_t *conf = data;
    pt_balance_zone_t *bz = *pt_zone_root(zone);

    if (old == NULL || bz == NULL || bz->magic != PT_BALANCE_MAGIC) {
        if (bz == NULL && (bz = pt_zone_alloc(zone, sizeof(*bz))) == NULL)
            return PT_ERROR;
        memset(bz, 0, sizeof(*bz));
        bz->magic = PT_BALANCE_MAGIC;
        bz->epoch = pt_balance_epoch();
        *pt_zone_root(zone) = bz;
        old = NULL;
    }
    pt_balance_reclaim(bz, (int32_t) getpid());
    pt_clock_update();
    for (size_t i = 0; i < conf->nupstreams; i++) {
        pt_upstream_t *u = &conf->upstreams[i];
        for (size_t k = 0; k < u->nservers; k++) {
            pt_server_t *s = &u->servers[k];
            pt_upstream_peer_t *rec = s->health;
            if (rec == NULL)
                continue;
            if (rec->lb_owner != (rec->tag.hash ^ bz->epoch)) {
                atomic_store(&rec->lb_inflight, 0);
                atomic_store(&rec->lb_drain, 0);
                atomic_store(&rec->lb_ewma_us, 0);
                atomic_store(&rec->lb_ewma_at, 0);
                atomic_store(&rec->lb_since, old && s->slow_start > 0 ? pt_clock_now : 0);
                rec->lb_owner = rec->tag.hash ^ bz->epoch;
                if (old && s->slow_start > 0)
                    pt_balance_server_log(s, "slow start", "added by reload");
            }
            if (rec->lb_column == 0 || rec->lb_column > bz->ncolumns
                || bz->column[rec->lb_column - 1] != rec) {
                if (bz->ncolumns == PT_UPSTREAM_HEALTH_RECORDS) {
                    pt_log(PT_LOG_ERR, "zone \"%s\": more than %d upstream servers",
                           PT_BALANCE_ZONE, PT_UPSTREAM_HEALTH_RECORDS);
                    return PT_ERROR;
                }
                bz->column[bz->ncolumns++] = rec;
                rec->lb_column = bz->ncolumns;
            }
            if (s->drain)
                pt_balance_server_log(s, "draining", "drain = true in the configuration");
        }
    }
    return PT_OK;
}

void pt_balance_acquire(const pt_server_t *s)
{
    pt_upstream_peer_t *rec = s->health;

    if (rec == NULL)
        return;
    atomic_fetch_add_explicit(&rec->lb_inflight, 1, memory_order_relaxed);
    if (pt_balance_cell && rec->lb_column)
        atomic_fetch_add_explicit(&pt_balance_cell->count[rec->lb_column - 1], 1,
                                  memory_order_relaxed);
}

void pt_balance_release(const pt_server_t *s, uint64_t busy_us)
{
    pt_upstream_peer_t *rec = s->health;

    if (rec == NULL)
        return;
    atomic_fetch_sub_explicit(&rec->lb_inflight, 1, memory_order_relaxed);
    if (pt_balance_cell && rec->lb_column)
        atomic_fetch_sub_explicit(&pt_balance_cell->count[rec->lb_column - 1], 1,
                                  memory_order_relaxed);
    if (busy_us)
        pt_balance_ewma_observe(s, busy_us);
}

uint64_t pt_balance_now_us(void)
{
    return pt_clock_now_us;
}

/* ---- load time ------------------------------------------------------------ */

int pt_balance_conf(pt_conf_ctx_t *cf, pt_conf_t *conf, const config_setting_t *s,
                    pt_upstream_t *u)
{
    size_t usable = 0;

    for (size_t i = 0; i < u->nservers; i++) {
        pt_server_t *srv = &u->servers[i];
        if (srv->max_conns < 0)
            srv->max_conns = u->max_conns;
        if (srv->slow_start < 0)
            srv->slow_start = u->slow_start;
        usable += !srv->backup && !srv->drain;
    }
    if (usable == 0)
        pt_log(PT_LOG_WARN, "upstream \"%s\": every primary server is draining", u->name);
    if (u->balance == PT_BALANCE_HASH && u->hash_key.code == NULL) {
        pt_conf_error(cf, s, "upstream \"%s\": balance \"hash\" needs hash_key, "
                      "e.g. hash_key = \"$remote_addr\"", u->name);
        return PT_ERROR;
    }
    if (u->hash_load_bound > 0 && u->hash_load_bound < 100) {
        pt_conf_error(cf, s, "upstream \"%s\": hash_load_bound is 0 (off) or 100 %% and more",
                      u->name);
        return PT_ERROR;
    }
    if (u->balance != PT_BALANCE_HASH && u->hash_key.code != NULL) {
        pt_conf_error(cf, s, "upstream \"%s\": hash_key is only for balance = \"hash\"",
                      u->name);
        return PT_ERROR;
    }
    if (u->balance == PT_BALANCE_HASH && pt_balance_hash_build(cf, s, u) != PT_OK)
        return PT_ERROR;
    return pt_conf_zone_add(cf, conf, PT_BALANCE_ZONE, PT_BALANCE_BYTES, "upstream",
                            PT_BALANCE_MAGIC, pt_balance_zone_init, conf) ? PT_OK : PT_ERROR;
}

/* ---- worker start and end ------------------------------------------------- */

static pt_balance_zone_t *pt_balance_zone_of(const pt_conf_t *conf)
{
    for (const pt_zone_req_t *z = conf->zones; z; z = z->next)
        if (strcmp(z->name, PT_BALANCE_ZONE) == 0 && z->zone)
            return *pt_zone_root(z->zone);
    return NULL;
}

int pt_balance_init_worker(const pt_conf_t *conf)
{
    size_t n = conf->nupstreams ? conf->nupstreams : 1;

    pt_balance_conf_of = conf;
    pt_balance_states = calloc(n, sizeof(*pt_balance_states));
    pt_balance_why = calloc(n, sizeof(*pt_balance_why));
    if (pt_balance_states == NULL || pt_balance_why == NULL)
        return PT_ERROR;
    for (size_t i = 0; i < conf->nupstreams; i++) {
        const pt_upstream_t *u = &conf->upstreams[i];
        pt_balance_state_t *st = &pt_balance_states[i];
        st->current = calloc(u->nservers, sizeof(*st->current));
        st->load = calloc(u->nservers, sizeof(*st->load));
        st->was_down = calloc(u->nservers, sizeof(*st->was_down));
        if (st->current == NULL || st->load == NULL || st->was_down == NULL)
            return PT_ERROR;
        st->rand = pt_hash(&st, sizeof(st), (uint64_t) getpid() * 0x9e3779b97f4a7c15ull + i) | 1;
    }
    pt_balance_zone = pt_balance_zone_of(conf);
    pt_balance_cell = NULL;
    if (pt_balance_zone == NULL)
        return PT_OK;
    int32_t self = (int32_t) getpid();
    pt_balance_reclaim(pt_balance_zone, self);
    for (unsigned i = 0; i < PT_BALANCE_CELLS && pt_balance_cell == NULL; i++) {
        int32_t free_owner = 0;
        if (atomic_compare_exchange_strong(&pt_balance_zone->cells[i].owner, &free_owner, self))
            pt_balance_cell = &pt_balance_zone->cells[i];
    }
    if (pt_balance_cell == NULL)
        pt_log(PT_LOG_WARN, "zone \"%s\": all %d worker cells taken: this worker's in-flight "
               "counts are not recovered should it crash", PT_BALANCE_ZONE, PT_BALANCE_CELLS);
    return PT_OK;
}

void pt_balance_exit_worker(void)
{
    if (pt_balance_cell) {
        pt_balance_cell_drain(pt_balance_zone, pt_balance_cell);
        atomic_store(&pt_balance_cell->owner, 0);
        pt_balance_cell = NULL;
    }
    if (pt_balance_states == NULL)
        return;
    for (size_t i = 0; i < pt_balance_conf_of->nupstreams; i++) {
        free(pt_balance_states[i].current);
        free(pt_balance_states[i].load);
        free(pt_balance_states[i].was_down);
    }
    free(pt_balance_states);
    free(pt_balance_why);
    pt_balance_states = NULL;
    pt_balance_why = NULL;
}

/* ---- what every algorithm asks ---------------------------------------------- */

/* A server this worker saw down is up again: start its ramp, unless another
 * worker did already. */
static void pt_balance_recovered(const pt_server_t *s, pt_msec_t now)
{
    pt_upstream_peer_t *rec = s->health;
    int64_t since = atomic_load(&rec->lb_since);

    if (since != 0 && now - since < s->slow_start)
        return;
    if (atomic_compare_exchange_strong(&rec->lb_since, &since, now))
        pt_balance_server_log(s, "slow start", "up again");
}

void pt_balance_note(pt_balance_state_t *st, const pt_server_t *s, bool up, pt_msec_t now)
{
    uint8_t *seen = &st->was_down[s->index];

    if (!up)
        *seen = 1;
    else if (*seen) {
        *seen = 0;
        pt_balance_recovered(s, now);
    }
}

int64_t pt_balance_ramp(const pt_server_t *s, int64_t w, pt_msec_t now)
{
    int64_t since = atomic_load_explicit(&s->health->lb_since, memory_order_relaxed);

    if (since != 0 && now - since < s->slow_start)
        w = pt_max(w * pt_max(now - since, (int64_t) 0) / s->slow_start, (int64_t) 1);
    return w;
}

/* ---- round-robin, least_conn, random ------------------------------------------ */

/* Smooth weighted round-robin: every server taking part gains its weight,
 * the richest is chosen and pays the total of those that took part. With
 * st->load set by the caller (least_conn's ties), only the servers whose
 * load is >= 0 take part. */
static pt_server_t *pt_balance_wrr_among(const pt_upstream_t *u, pt_balance_state_t *st,
                                         bool backup, pt_msec_t now, bool only)
{
    int64_t total = 0;
    size_t best = SIZE_MAX;

    for (size_t i = 0; i < u->nservers; i++) {
        const pt_server_t *s = &u->servers[i];
        if (only ? st->load[i] < 0 : (s->backup != backup || !pt_balance_ok(st, s, now)))
            continue;
        int64_t w = pt_balance_weight(s, now);
        st->current[i] += w;
        total += w;
        if (best == SIZE_MAX || st->current[i] > st->current[best])
            best = i;
    }
    if (best == SIZE_MAX)
        return NULL;
    st->current[best] -= total;
    return &u->servers[best];
}

pt_server_t *pt_balance_wrr(const pt_upstream_t *u, pt_balance_state_t *st, bool backup,
                            pt_msec_t now)
{
    return pt_balance_wrr_among(u, st, backup, now, false);
}

/* Fewest in flight per weight (gateway-wide counts); the servers tied at
 * the least go round-robin among themselves. */
static pt_server_t *pt_balance_least_conn(const pt_upstream_t *u, pt_balance_state_t *st,
                                          bool backup, pt_msec_t now)
{
    int64_t bn = -1, bw = 1;

    for (size_t i = 0; i < u->nservers; i++) {
        const pt_server_t *s = &u->servers[i];
        st->load[i] = -1;
        if (s->backup != backup || !pt_balance_ok(st, s, now))
            continue;
        int64_t n = pt_balance_inflight(s), w = pt_balance_weight(s, now);
        st->load[i] = (int32_t) n;
        if (bn < 0 || n * bw < bn * w) {
            bn = n;
            bw = w;
        }
    }
    if (bn < 0)
        return NULL;
    for (size_t i = 0; i < u->nservers; i++)
        if (st->load[i] >= 0
            && (int64_t) st->load[i] * bw != bn * pt_balance_weight(&u->servers[i], now))
            st->load[i] = -1;
    return pt_balance_wrr_among(u, st, backup, now, true);
}

static uint64_t pt_balance_rand(pt_balance_state_t *st)
{
    uint64_t x = st->rand;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return st->rand = x;
}

/* A server drawn by weight among those with load >= 0 (total: their sum). */
static size_t pt_balance_draw(const pt_upstream_t *u, pt_balance_state_t *st, int64_t total,
                              pt_msec_t now)
{
    int64_t at = (int64_t) (pt_balance_rand(st) % (uint64_t) total);
    size_t last = 0;

    for (size_t i = 0; i < u->nservers; i++) {
        if (st->load[i] < 0)
            continue;
        last = i;
        at -= pt_balance_weight(&u->servers[i], now);
        if (at < 0)
            return i;
    }
    return last;
}

/* Power of two choices: two distinct servers drawn by weight, the one
 * with fewer in flight per weight goes (the first drawn on a tie). */
static pt_server_t *pt_balance_random(const pt_upstream_t *u, pt_balance_state_t *st,
                                      bool backup, pt_msec_t now)
{
    int64_t total = 0;
    size_t n = 0, only = 0;

    for (size_t i = 0; i < u->nservers; i++) {
        const pt_server_t *s = &u->servers[i];
        st->load[i] = -1;
        if (s->backup != backup || !pt_balance_ok(st, s, now))
            continue;
        st->load[i] = pt_balance_inflight(s);
        total += pt_balance_weight(s, now);
        n++;
        only = i;
    }
    if (n == 0)
        return NULL;
    if (n == 1)
        return &u->servers[only];
    /* The second among the others: two distinct servers are compared. */
    size_t a = pt_balance_draw(u, st, total, now);
    int64_t wa = pt_balance_weight(&u->servers[a], now);
    int32_t la = st->load[a];
    st->load[a] = -1;
    size_t b = pt_balance_draw(u, st, total - wa, now);
    int64_t wb = pt_balance_weight(&u->servers[b], now);
    return &u->servers[(int64_t) st->load[b] * wa < (int64_t) la * wb ? b : a];
}

/* ---- choosing ------------------------------------------------------------------ */

/* A server of the group whose down time is over and whose trial this
 * caller won (it goes first, so a recovered server is seen at once). */
static pt_server_t *pt_balance_trial(const pt_upstream_t *u, bool backup, pt_msec_t now)
{
    for (size_t i = 0; i < u->nservers; i++) {
        pt_server_t *s = &u->servers[i];
        if (!s->absent && s->backup == backup && !pt_upstream_health_up(s) && pt_balance_takes(s)
            && pt_upstream_health_usable(s, now))
            return s;
    }
    return NULL;
}

/* After a failure: the first usable server after failed in the group
 * (failed itself last, as a lone server is its own retry). */
static pt_server_t *pt_balance_next(const pt_upstream_t *u, const pt_server_t *failed,
                                    bool backup, pt_msec_t now)
{
    for (size_t k = 1; k <= u->nservers; k++) {
        pt_server_t *s = &u->servers[(failed->index + k) % u->nservers];
        if (s->backup == backup && pt_balance_takes(s) && pt_upstream_health_usable(s, now))
            return s;
    }
    return NULL;
}

static pt_server_t *pt_balance_run(const pt_upstream_t *u, pt_balance_state_t *st, bool backup,
                                   pt_msec_t now)
{
    switch (u->balance) {
    case PT_BALANCE_LEAST_CONN:
        return pt_balance_least_conn(u, st, backup, now);
    case PT_BALANCE_RANDOM:
        return pt_balance_random(u, st, backup, now);
    case PT_BALANCE_EWMA:
        return pt_balance_ewma(u, st, backup, now);
    default:
        return pt_balance_wrr(u, st, backup, now);
    }
}

/* The key of r for a hash upstream: false when there is none (no request,
 * or the template rendered empty). */
static bool pt_balance_key(const pt_upstream_t *u, pt_request_t *r, uint64_t *key)
{
    char buf[PT_BALANCE_KEY_BUF];

    if (r == NULL)
        return false;
    size_t n = pt_var_render_to(u->hash_key.code, r, buf, sizeof(buf));
    if (n == 0)
        return false;
    if (n <= sizeof(buf)) {
        *key = pt_hash(buf, n, 0);
        return true;
    }
    pt_str_t k = pt_var_render(u->hash_key.code, r, PT_VAR_RAW, false, 0);   /* a long one */
    *key = pt_hash(k.p, k.len, 0);
    return true;
}

static const char *pt_balance_none(const pt_upstream_t *u)
{
    bool up = false, full = false;

    for (size_t i = 0; i < u->nservers; i++) {
        const pt_server_t *s = &u->servers[i];
        if (!pt_upstream_health_up(s))
            continue;
        up = true;
        if (!pt_balance_draining(s))
            full = true;
    }
    return full ? pt_balance_full
           : up ? "every server of the upstream that is up is draining"
                : "every server of the upstream is down";
}

pt_server_t *pt_balance_choose(const pt_upstream_t *u, const pt_server_t *failed,
                               pt_request_t *r)
{
    pt_balance_state_t *st = &pt_balance_states[u->index];
    pt_msec_t now = pt_clock_now;
    uint64_t key = 0;

    /* One server, up: what every path below would choose (it is a primary:
     * an upstream has one at least), without walking them. */
    if (u->nservers == 1 && failed == NULL && pt_upstream_health_up(&u->servers[0])
        && pt_balance_takes(&u->servers[0]))
        return &u->servers[0];
    bool keyed = u->balance == PT_BALANCE_HASH && pt_balance_key(u, r, &key);
    for (int backup = 0; backup < 2; backup++) {
        /* A trial first, whatever the algorithm: a server that is down
         * comes back only through one. */
        pt_server_t *s = failed ? NULL : pt_balance_trial(u, backup, now);
        if (s == NULL && keyed && !backup)  /* the ring holds the primaries */
            s = pt_balance_hash(u, st, key, failed, now);
        if (s == NULL)
            s = failed ? pt_balance_next(u, failed, backup, now)
                       : pt_balance_run(u, st, backup, now);
        if (s)
            return s;
    }
    if (pt_balance_why)
        pt_balance_why[u->index] = pt_balance_none(u);
    return NULL;
}

bool pt_balance_saturated(const pt_upstream_t *u)
{
    return pt_balance_why && pt_balance_why[u->index] == pt_balance_full;
}

const char *pt_balance_none_reason(const pt_upstream_t *u)
{
    const char *why = pt_balance_why ? pt_balance_why[u->index] : NULL;

    return why ? why : "every server of the upstream is down";
}
