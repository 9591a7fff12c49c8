/*
 * tls_ticket.c: session-ticket keys shared by every worker of every
 * generation, so a client resumes whichever worker it reaches, before or
 * after a reload.
 *
 * Each TLS listener has a zone "tls_tickets:<listener name>" holding a
 * small fixed array of keys: slot 0 encrypts new tickets, every slot
 * decrypts. The zone is adopted across reloads (same name and size), keys
 * included. Rotation is lazy: the first worker to issue a ticket after
 * ticket_rotation has passed since slot 0 was made shifts the keys down
 * (the oldest falls off) and makes a fresh slot 0, under the zone lock.
 * A ticket therefore stays decryptable for at least
 * (PT_TLS_TICKET_KEYS - 1) rotations, which is the lifetime we announce.
 */
#include "common/pt.h"
#include "common/log.h"
#include "common/shm.h"
#include "worker/core/conf.h"
#include "worker/tls/tls.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <time.h>

#define PT_TLS_TICKET_KEYS      3
#define PT_TLS_TICKET_MAGIC     0x50544b31u     /* "PTK1": this layout */
#define PT_TLS_TICKET_ZONE      (16 * 1024)     /* one slab page and its header */

typedef struct {
    unsigned char name[16];
    unsigned char aes[32];      /* AES-256-CBC */
    unsigned char hmac[32];     /* HMAC-SHA256 */
    int64_t created;            /* wall-clock ms; 0: empty slot */
} pt_tls_ticket_key_t;

typedef struct {
    uint32_t magic;
    pt_tls_ticket_key_t keys[PT_TLS_TICKET_KEYS];
} pt_tls_ticket_keys_t;

static EVP_CIPHER *pt_tls_ticket_cipher;

static int64_t pt_tls_ticket_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int pt_tls_ticket_new_key(pt_tls_ticket_key_t *k, int64_t now)
{
    if (RAND_bytes(k->name, sizeof(k->name)) != 1 || RAND_bytes(k->aes, sizeof(k->aes)) != 1
        || RAND_bytes(k->hmac, sizeof(k->hmac)) != 1)
        return PT_ERROR;
    k->created = now;
    return PT_OK;
}

/* Zone init, in the master before the generation's workers start: old is
 * the zone itself when its keys were kept from the previous generation. */
static int pt_tls_ticket_zone_init(pt_zone_t *zone, pt_zone_t *old, void *data)
{
    void **root = pt_zone_root(zone);
    int rc = PT_OK;

    if (pt_shmtx_lock(pt_zone_lock(zone)) != PT_OK)
        return PT_ERROR;
    pt_tls_ticket_keys_t *k = *root;
    if (old == NULL || k == NULL || k->magic != PT_TLS_TICKET_MAGIC) {
        if (k == NULL && (k = pt_zone_alloc_locked(zone, sizeof(*k))) == NULL) {
            rc = PT_ERROR;
        } else {
            memset(k, 0, sizeof(*k));
            rc = pt_tls_ticket_new_key(&k->keys[0], pt_tls_ticket_now());
            k->magic = PT_TLS_TICKET_MAGIC;
            *root = k;
        }
    }
    pt_shmtx_unlock(pt_zone_lock(zone));
    return rc;
}

/* The encryption key, rotated first if due; copied out under the lock. */
static int pt_tls_ticket_current(const pt_tls_conf_t *tls, pt_tls_ticket_key_t *out)
{
    pt_zone_t *zone = tls->tickets->zone;
    int64_t now = pt_tls_ticket_now();
    bool rotated = false;
    int rc = PT_OK;

    if (pt_shmtx_lock(pt_zone_lock(zone)) != PT_OK)
        return PT_ERROR;
    pt_tls_ticket_keys_t *k = *pt_zone_root(zone);
    if (k == NULL) {
        rc = PT_ERROR;
    } else {
        if (now - k->keys[0].created >= tls->ticket_rotation) {
            pt_tls_ticket_key_t fresh;
            /* Make the key first: a failed RAND leaves the old set intact. */
            if (pt_tls_ticket_new_key(&fresh, now) == PT_OK) {
                memmove(&k->keys[1], &k->keys[0], (PT_TLS_TICKET_KEYS - 1) * sizeof(k->keys[0]));
                k->keys[0] = fresh;
                rotated = true;
            }
            OPENSSL_cleanse(&fresh, sizeof(fresh));
        }
        *out = k->keys[0];
    }
    pt_shmtx_unlock(pt_zone_lock(zone));
    if (rotated)
        pt_log(PT_LOG_INFO, "TLS ticket key of zone \"%s\" rotated", pt_zone_name(zone));
    return rc;
}

/* The key named name: PT_OK with *slot set, or PT_DECLINED when unknown. */
static int pt_tls_ticket_find(const pt_tls_conf_t *tls, const unsigned char *name,
                              pt_tls_ticket_key_t *out, int *slot)
{
    pt_zone_t *zone = tls->tickets->zone;
    int rc = PT_DECLINED;

    if (pt_shmtx_lock(pt_zone_lock(zone)) != PT_OK)
        return PT_ERROR;
    pt_tls_ticket_keys_t *k = *pt_zone_root(zone);
    for (int i = 0; k && i < PT_TLS_TICKET_KEYS; i++) {
        if (k->keys[i].created != 0 && memcmp(k->keys[i].name, name, 16) == 0) {
            *out = k->keys[i];
            *slot = i;
            rc = PT_OK;
            break;
        }
    }
    pt_shmtx_unlock(pt_zone_lock(zone));
    return rc;
}

static int pt_tls_ticket_mac_init(EVP_MAC_CTX *hctx, unsigned char *key)
{
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key, 32),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *) "SHA256", 0),
        OSSL_PARAM_construct_end()
    };

    return EVP_MAC_CTX_set_params(hctx, params) == 1 ? PT_OK : PT_ERROR;
}

/* OpenSSL's ticket callback: enc = 1 to seal a new ticket (return 1),
 * enc = 0 to open one: 1 with the current key, 2 with an older one or
 * under TLS 1.3 (the client then gets a fresh ticket: RFC 8446 C.4 asks
 * clients to use each ticket once, and OpenSSL sends a 1.3 resumption
 * none unless asked), 0 for an unknown key (full handshake), -1 on
 * failure. */
static int pt_tls_ticket_cb(SSL *ssl, unsigned char key_name[16], unsigned char *iv,
                            EVP_CIPHER_CTX *ctx, EVP_MAC_CTX *hctx, int enc)
{
    const pt_tls_conf_t *tls = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    pt_tls_ticket_key_t key;
    int slot = 0, rc = -1;

    if (tls == NULL || tls->tickets == NULL || tls->tickets->zone == NULL)
        return enc ? -1 : 0;
    if (enc) {
        if (pt_tls_ticket_current(tls, &key) == PT_OK
            && RAND_bytes(iv, EVP_CIPHER_get_iv_length(pt_tls_ticket_cipher)) == 1
            && EVP_EncryptInit_ex2(ctx, pt_tls_ticket_cipher, key.aes, iv, NULL) == 1
            && pt_tls_ticket_mac_init(hctx, key.hmac) == PT_OK) {
            memcpy(key_name, key.name, 16);
            rc = 1;
        }
    } else {
        int found = pt_tls_ticket_find(tls, key_name, &key, &slot);
        if (found == PT_DECLINED)
            rc = 0;
        else if (found == PT_OK
                 && EVP_DecryptInit_ex2(ctx, pt_tls_ticket_cipher, key.aes, iv, NULL) == 1
                 && pt_tls_ticket_mac_init(hctx, key.hmac) == PT_OK)
            rc = slot == 0 && SSL_version(ssl) != TLS1_3_VERSION ? 1 : 2;
    }
    OPENSSL_cleanse(&key, sizeof(key));
    if (rc < 0)
        ERR_clear_error();
    return rc;
}

int pt_tls_ticket_setup(pt_conf_ctx_t *cf, pt_conf_t *conf, pt_tls_conf_t *tls,
                        const char *name)
{
    char zname[PT_ZONE_NAME_MAX + 1];

    if (pt_tls_ticket_cipher == NULL
        && (pt_tls_ticket_cipher = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL)) == NULL) {
        pt_conf_error(cf, NULL, "OpenSSL has no AES-256-CBC for session tickets");
        return PT_ERROR;
    }
    if (snprintf(zname, sizeof(zname), "tls_tickets:%s", name) >= (int) sizeof(zname)) {
        /* A long listener name: a digest keeps the zone name stable. */
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned len = 0;
        EVP_Digest(name, strlen(name), md, &len, EVP_sha256(), NULL);
        int n = snprintf(zname, sizeof(zname), "tls_tickets:");
        for (unsigned i = 0; i < 16 && i < len; i++)
            n += snprintf(zname + n, sizeof(zname) - (size_t) n, "%02x", md[i]);
    }
    const char *copy = pt_arena_strndup(cf->arena, zname, strlen(zname));
    if (copy == NULL
        || (tls->tickets = pt_conf_zone_add(cf, conf, copy, PT_TLS_TICKET_ZONE, "tls",
                                            PT_TLS_TICKET_MAGIC, pt_tls_ticket_zone_init,
                                            NULL)) == NULL)
        return PT_ERROR;
    if (SSL_CTX_set_tlsext_ticket_key_evp_cb(tls->ctx, pt_tls_ticket_cb) != 1) {
        pt_conf_error(cf, NULL, "cannot install the session ticket callback");
        return PT_ERROR;
    }
    /* Announce how long a ticket surely decrypts (see the top comment). */
    int64_t life = (PT_TLS_TICKET_KEYS - 1) * tls->ticket_rotation / 1000;
    SSL_CTX_set_timeout(tls->ctx, (long) pt_max(life, (int64_t) 1));
    return PT_OK;
}
