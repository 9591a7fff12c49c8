/*
 * proto.h: the protocol a client connection speaks above its transport
 * (HTTP/1.1 today; HTTP/2 would be another). A listener names its protocol
 * when it is set up; TLS may switch to the one ALPN chose. The connection
 * code calls only these ops and never names a protocol or a request.
 */
#ifndef PT_PROTO_H
#define PT_PROTO_H

#include "common/pt.h"
#include "worker/core/core.h"

struct pt_proto_s {
    const char *name;               /* its ALPN identifier: "http/1.1" */
    /* The connection is ready (accepted, or the TLS handshake is done):
     * take it over (set c->handler, the timer, read). */
    void (*init)(pt_conn_t *c);
    /* The worker is retiring: serve no further request on c (answer the
     * one in flight with Connection: close, or close an idle c). */
    void (*drain)(pt_conn_t *c);
    /* c is closing or starts lingering: free the protocol's state of c
     * (its request); no output any more. */
    void (*close)(pt_conn_t *c);
};

/* The compiled-in protocols, NULL-terminated, the default first (the one
 * list of them, worker/protocols.c). */
extern const pt_proto_t *const pt_protos[];

/* The protocol whose name is the len bytes at name (an ALPN identifier),
 * or NULL. */
const pt_proto_t *pt_proto_find(const char *name, size_t len);

#endif
