/*
 * listen.c: the listening socket set (see listen.h).
 */
#include "common/pt.h"
#include "common/log.h"
#include "common/sock.h"
#include "master/listen.h"

#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef SO_ATTACH_REUSEPORT_CBPF
#define SO_ATTACH_REUSEPORT_CBPF 51
#endif
#ifndef SO_DETACH_REUSEPORT_BPF
#define SO_DETACH_REUSEPORT_BPF 68
#endif

#define PT_LISTEN_SLOTS_MAX     512

typedef struct {
    pt_sockaddr_t addr;
    char text[PT_SOCK_ADDRSTRLEN];
    int fds[PT_LISTEN_SLOTS_MAX];
    unsigned nfds;
    int backlog;
    unsigned steered;           /* the BPF program's modulus, 0: none attached */
} pt_lsock_t;

static pt_lsock_t *pt_lsocks;
static size_t pt_nlsocks;
static unsigned pt_listen_nslots;

static pt_lsock_t *pt_listen_find(const pt_sockaddr_t *a)
{
    for (size_t i = 0; i < pt_nlsocks; i++)
        if (pt_lsocks[i].addr.len == a->len && memcmp(&pt_lsocks[i].addr.ss, &a->ss, a->len) == 0)
            return &pt_lsocks[i];
    return NULL;
}

static int pt_listen_open(pt_lsock_t *ls, char *err, size_t err_len)
{
    /* The first socket of an address this master does not hold yet. */
    if (ls->nfds == 0 && pt_listen_probe(&ls->addr, ls->text, err, err_len) != PT_OK)
        return PT_ERROR;
    int fd = pt_sock_listen(&ls->addr, ls->backlog, true);
    int one = 1;

    if (fd < 0) {
        snprintf(err, err_len, "cannot listen on %s: %s", ls->text, strerror(errno));
        return PT_ERROR;
    }
    /* Accepted sockets inherit TCP_NODELAY. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    ls->fds[ls->nfds++] = fd;
    return PT_OK;
}

int pt_listen_sync(const pt_conf_t *conf, unsigned nslots, char *err, size_t err_len)
{
    if (nslots > PT_LISTEN_SLOTS_MAX) {
        snprintf(err, err_len, "at most %d workers", PT_LISTEN_SLOTS_MAX);
        return PT_ERROR;
    }
    if (nslots < pt_listen_nslots)
        nslots = pt_listen_nslots;      /* slots are never closed */

    /* New addresses first, into a new array: on failure the old stays. */
    size_t n = pt_nlsocks;
    pt_lsock_t *ls = calloc(pt_nlsocks + conf->nlisteners, sizeof(*ls));
    if (ls == NULL) {
        snprintf(err, err_len, "out of memory");
        return PT_ERROR;
    }
    if (pt_nlsocks)
        memcpy(ls, pt_lsocks, pt_nlsocks * sizeof(*ls));
    for (size_t i = 0; i < conf->nlisteners; i++) {
        const pt_listener_t *l = &conf->listeners[i];
        bool found = false;
        for (size_t k = 0; k < n && !found; k++)
            found = ls[k].addr.len == l->addr.len
                    && memcmp(&ls[k].addr.ss, &l->addr.ss, l->addr.len) == 0;
        if (found)
            continue;
        ls[n].addr = l->addr;
        ls[n].backlog = (int) l->c.backlog;
        pt_sock_ntop((const struct sockaddr *) &l->addr.ss, ls[n].text, sizeof(ls[n].text));
        n++;
    }
    /* Open the missing slots of every address conf uses. */
    for (size_t k = 0; k < n; k++) {
        bool used = false;
        for (size_t i = 0; i < conf->nlisteners; i++) {
            const pt_listener_t *l = &conf->listeners[i];
            if (ls[k].addr.len == l->addr.len && memcmp(&ls[k].addr.ss, &l->addr.ss,
                                                        l->addr.len) == 0) {
                used = true;
                if (ls[k].backlog != (int) l->c.backlog && ls[k].nfds) {
                    ls[k].backlog = (int) l->c.backlog;
                    for (unsigned s = 0; s < ls[k].nfds; s++)
                        listen(ls[k].fds[s], ls[k].backlog);
                }
            }
        }
        while (used && ls[k].nfds < nslots) {
            if (pt_listen_open(&ls[k], err, err_len) != PT_OK) {
                /* Undo only what this call opened. */
                for (size_t j = 0; j < n; j++) {
                    unsigned keep = j < pt_nlsocks ? pt_lsocks[j].nfds : 0;
                    while (ls[j].nfds > keep)
                        close(ls[j].fds[--ls[j].nfds]);
                }
                free(ls);
                return PT_ERROR;
            }
        }
    }
    /* Addresses the new conf dropped: the master lets go of them (workers
     * of older generations keep theirs until they retire). */
    size_t kept = 0;
    for (size_t k = 0; k < n; k++) {
        bool used = false;
        for (size_t i = 0; i < conf->nlisteners && !used; i++)
            used = ls[k].addr.len == conf->listeners[i].addr.len
                   && memcmp(&ls[k].addr.ss, &conf->listeners[i].addr.ss, ls[k].addr.len) == 0;
        if (!used) {
            pt_log(PT_LOG_NOTICE, "no longer listening on %s", ls[k].text);
            for (unsigned s = 0; s < ls[k].nfds; s++)
                close(ls[k].fds[s]);
            continue;
        }
        ls[kept++] = ls[k];
    }
    free(pt_lsocks);
    pt_lsocks = ls;
    pt_nlsocks = kept;
    pt_listen_nslots = nslots;
    return PT_OK;
}

/* reuseport cBPF: A = random % n; return A. The kernel picks the socket at
 * that index in the group, which is our slot order: sockets join in slot
 * order and none ever leaves. */
static int pt_listen_attach_bpf(int fd, unsigned n)
{
    struct sock_filter code[] = {
        { BPF_LD | BPF_W | BPF_ABS, 0, 0, (uint32_t) (SKF_AD_OFF + SKF_AD_RANDOM) },
        { BPF_ALU | BPF_MOD | BPF_K, 0, 0, n },
        { BPF_RET | BPF_A, 0, 0, 0 },
    };
    struct sock_fprog prog = { pt_countof(code), code };

    return setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog));
}

void pt_listen_steer(unsigned nworkers)
{
    for (size_t k = 0; k < pt_nlsocks; k++) {
        pt_lsock_t *ls = &pt_lsocks[k];
        unsigned want = nworkers < ls->nfds ? nworkers : 0;
        if (ls->steered == want || ls->nfds == 0)
            continue;
        int rc = want ? pt_listen_attach_bpf(ls->fds[0], want)
                      : setsockopt(ls->fds[0], SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, NULL, 0);
        if (rc != 0)
            pt_log_errno(PT_LOG_WARN, errno, "%s: cannot %s reuseport steering", ls->text,
                         want ? "attach" : "detach");
        else
            ls->steered = want;
    }
}

size_t pt_listen_for_worker(const pt_conf_t *conf, unsigned worker, unsigned nworkers,
                            pt_heritage_listen_t *out)
{
    size_t n = 0;

    for (size_t i = 0; i < conf->nlisteners; i++) {
        pt_lsock_t *ls = pt_listen_find(&conf->listeners[i].addr);
        if (ls == NULL)
            continue;
        for (unsigned s = worker; s < ls->nfds; s += nworkers)
            out[n++] = (pt_heritage_listen_t) { (unsigned) i, ls->fds[s] };
    }
    return n;
}

unsigned pt_listen_slots(void)
{
    return pt_listen_nslots;
}

size_t pt_listen_all_fds(int *out, size_t max)
{
    size_t n = 0;

    for (size_t k = 0; k < pt_nlsocks; k++)
        for (unsigned s = 0; s < pt_lsocks[k].nfds && n < max; s++)
            out[n++] = pt_lsocks[k].fds[s];
    return n;
}

void pt_listen_close_all(void)
{
    for (size_t k = 0; k < pt_nlsocks; k++)
        for (unsigned s = 0; s < pt_lsocks[k].nfds; s++)
            close(pt_lsocks[k].fds[s]);
    free(pt_lsocks);
    pt_lsocks = NULL;
    pt_nlsocks = 0;
}
