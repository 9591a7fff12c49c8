/*
 * limit_state.c: the quota state file (limit_state.h).
 */
#include "common/pt.h"
#include "worker/mod/limit/ratelimit/limit_state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define PT_LIMIT_STATE_HEAD     "portico-limits 1\n"
#define PT_LIMIT_STATE_LINE     512

int pt_limit_state_save(const char *path, const pt_limit_zone_t *zones, uint8_t kind)
{
    char tmp[4096];
    int n = snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long) getpid());

    if (n < 0 || (size_t) n >= sizeof(tmp)) {
        errno = ENAMETOOLONG;
        return PT_ERROR;
    }
    /* Keys are written as the table holds them, which for a short key is
     * its bytes: an API key, say. For the workers' user alone. */
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (f == NULL) {
        int err = errno;
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        errno = err;
        return PT_ERROR;
    }
    fputs(PT_LIMIT_STATE_HEAD, f);
    for (const pt_limit_zone_t *z = zones; z; z = z->next) {
        pt_limit_table_t *t = z->table;
        if (t == NULL)
            continue;
        fprintf(f, "zone %s %016llx\n", z->name, (unsigned long long) t->seed);
        for (uint64_t i = 0; i < t->nentries; i++) {
            pt_limit_entry_t *e = &t->entries[i];
            uint64_t tag = atomic_load_explicit(&e->tag, memory_order_acquire);
            if (tag == 0 || (tag & PT_LIMIT_TAG_BUSY) || e->kind != kind
                || e->keylen > PT_LIMIT_KEY_MAX)
                continue;
            fprintf(f, "q %016llx %016llx ", (unsigned long long) tag,
                    (unsigned long long) atomic_load_explicit(&e->word, memory_order_relaxed));
            for (unsigned k = 0; k < e->keylen; k++)
                fprintf(f, "%02x", e->key[k]);
            fputc('\n', f);
        }
    }
    if (fflush(f) != 0 || fsync(fileno(f)) != 0 || ferror(f)) {
        int err = errno;
        fclose(f);
        unlink(tmp);
        errno = err;
        return PT_ERROR;
    }
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        int err = errno;
        unlink(tmp);
        errno = err;
        return PT_ERROR;
    }
    return PT_OK;
}

static int pt_limit_state_hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* 16 hex digits at p into *v. */
static bool pt_limit_state_u64(const char *p, uint64_t *v)
{
    *v = 0;
    for (unsigned i = 0; i < 16; i++) {
        int d = pt_limit_state_hex(p[i]);
        if (d < 0)
            return false;
        *v = *v << 4 | (uint64_t) d;
    }
    return true;
}

/* Walk path's records of zone name: the seed, and each quota line to t. */
static bool pt_limit_state_read(const char *path, const char *name, uint64_t *seed,
                                pt_limit_table_t *t, uint8_t kind, size_t *loaded)
{
    FILE *f = fopen(path, "r");
    char line[PT_LIMIT_STATE_LINE];
    bool mine = false, found = false;
    size_t nlen = strlen(name);

    if (f == NULL)
        return false;
    if (fgets(line, sizeof(line), f) == NULL || strcmp(line, PT_LIMIT_STATE_HEAD) != 0) {
        fclose(f);
        return false;
    }
    while (fgets(line, sizeof(line), f)) {
        size_t len = strlen(line);
        if (len == 0 || line[len - 1] != '\n')
            break;              /* cut short, or longer than any record: stop */
        line[--len] = '\0';
        if (strncmp(line, "zone ", 5) == 0) {
            mine = len == 5 + nlen + 17 && memcmp(line + 5, name, nlen) == 0
                   && line[5 + nlen] == ' ' && pt_limit_state_u64(line + 6 + nlen, seed);
            found |= mine;
            continue;
        }
        uint64_t fp, word;
        size_t klen = len > 36 ? (len - 36) / 2 : 0;
        if (!mine || t == NULL || len < 36 || (len - 36) % 2 || klen > PT_LIMIT_KEY_MAX
            || strncmp(line, "q ", 2) != 0 || line[18] != ' ' || line[35] != ' '
            || !pt_limit_state_u64(line + 2, &fp) || !pt_limit_state_u64(line + 19, &word))
            continue;
        uint8_t key[PT_LIMIT_KEY_MAX];
        bool ok = true;
        for (size_t i = 0; i < klen && ok; i++) {
            int hi = pt_limit_state_hex(line[36 + 2 * i]), lo = pt_limit_state_hex(line[37 + 2 * i]);
            ok = hi >= 0 && lo >= 0;
            key[i] = (uint8_t) (hi << 4 | lo);
        }
        pt_limit_key_t k;
        bool created;
        pt_limit_entry_t *e;
        if (!ok)
            continue;
        pt_limit_table_key_stored(t, fp, key, klen, &k);
        if ((e = pt_limit_table_get(t, &k, 0, &created)) != NULL) {
            atomic_store_explicit(&e->word, word, memory_order_relaxed);
            e->kind = kind;
            (*loaded)++;
        }
    }
    fclose(f);
    return found;
}

bool pt_limit_state_seed(const char *path, const char *name, uint64_t *seed)
{
    size_t n = 0;

    return pt_limit_state_read(path, name, seed, NULL, 0, &n);
}

size_t pt_limit_state_load(const char *path, const char *name, pt_limit_table_t *t,
                           uint8_t kind)
{
    uint64_t seed;
    size_t n = 0;

    pt_limit_state_read(path, name, &seed, t, kind, &n);
    return n;
}
