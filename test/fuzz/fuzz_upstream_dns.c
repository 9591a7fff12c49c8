/*
 * fuzz_upstream_dns.c: libFuzzer target for the host-name side of
 * upstreams (worker/upstream/upstream_dns.h).
 *
 * The input up to the first NUL is a server name given to the host:port
 * splitter (pt_upstream_dns_is_name), which must not read past it. The
 * rest is a sequence of answers merged into one set of slots: a byte with
 * the slot count (1..32) and the number of addresses, then 3 bytes per
 * address (family bit, last byte of the IP, port). After each merge: no
 * address sits in two slots, no slot at or past the count is used, every
 * used slot holds an address of the answer, as many slots are used as the
 * answer has distinct addresses (up to the count), a slot's address only
 * changes to one that joined now in place of one that left, and the diff
 * adds up.
 * Any breach aborts.
 */
#include "common/pt.h"

#include "worker/upstream/upstream_dns.h"

#include <netinet/in.h>

static bool same(const pt_upstream_dns_addr_t *a, const pt_upstream_dns_addr_t *b)
{
    return memcmp(a, b, sizeof(*a)) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pt_upstream_dns_slot_t slots[PT_UPSTREAM_DNS_SLOTS_MAX], before[PT_UPSTREAM_DNS_SLOTS_MAX];
    const uint8_t *nul = memchr(data, 0, size);
    size_t nlen = nul ? (size_t) (nul - data) : size;
    char *name = malloc(nlen + 1);

    if (name == NULL)
        return 0;
    memcpy(name, data, nlen);
    name[nlen] = '\0';
    (void) pt_upstream_dns_is_name(name);
    free(name);
    if (nul == NULL)
        return 0;

    memset(slots, 0, sizeof(slots));
    size_t pos = nlen + 1;
    for (int64_t now = 1; pos + 1 < size; now++) {
        unsigned nslots = data[pos] % PT_UPSTREAM_DNS_SLOTS_MAX + 1;
        unsigned n = data[pos + 1] % (PT_UPSTREAM_DNS_SLOTS_MAX + 8);
        pt_upstream_dns_addr_t addrs[PT_UPSTREAM_DNS_SLOTS_MAX + 8];
        pt_upstream_dns_diff_t diff;
        pos += 2;
        if (n > (size - pos) / 3)
            n = (unsigned) ((size - pos) / 3);
        for (unsigned i = 0; i < n; i++, pos += 3) {
            memset(&addrs[i], 0, sizeof(addrs[i]));
            addrs[i].family = data[pos] & 1 ? AF_INET6 : AF_INET;
            addrs[i].ip[addrs[i].family == AF_INET ? 3 : 15] = data[pos + 1];
            addrs[i].port = (uint16_t) (data[pos + 2] % 4 + 1);
        }
        memcpy(before, slots, sizeof(slots));
        bool changed = pt_upstream_dns_merge(slots, nslots, addrs, n, now, &diff);

        unsigned distinct = 0, used = 0, kept = 0, was = 0;
        unsigned considered = pt_min(n, (unsigned) PT_UPSTREAM_DNS_SLOTS_MAX);
        for (unsigned i = 0; i < considered; i++) {
            bool dup = false;
            for (unsigned j = 0; j < i && !dup; j++)
                dup = same(&addrs[i], &addrs[j]);
            distinct += !dup;
        }
        for (unsigned k = 0; k < PT_UPSTREAM_DNS_SLOTS_MAX; k++) {
            was += before[k].addr.family != 0;
            if (slots[k].addr.family == 0)
                continue;
            used++;
            if (k >= nslots)
                abort();
            bool in_answer = false;
            for (unsigned i = 0; i < considered && !in_answer; i++)
                in_answer = same(&slots[k].addr, &addrs[i]);
            if (!in_answer)
                abort();
            for (unsigned j = k + 1; j < PT_UPSTREAM_DNS_SLOTS_MAX; j++)
                if (same(&slots[k].addr, &slots[j].addr))
                    abort();
            if (before[k].addr.family != 0 && same(&before[k].addr, &slots[k].addr)) {
                kept++;
            } else if (slots[k].joined_at != now) {
                abort();            /* a slot's address only changes to a newcomer */
            } else if (before[k].addr.family != 0) {
                for (unsigned i = 0; i < considered; i++)
                    if (same(&before[k].addr, &addrs[i]))
                        abort();    /* it replaced one that stays */
            }
        }
        if (used != pt_min(distinct, nslots))
            abort();
        if (used != kept + diff.nadded || was != kept + diff.nremoved)
            abort();
        if (changed != (diff.nadded || diff.nremoved))
            abort();
        if (diff.nadded + diff.dropped != distinct - kept)
            abort();
    }
    return 0;
}
