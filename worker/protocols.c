/*
 * protocols.c: the one list of compiled-in protocols a client connection
 * may speak (net/proto.h), the default first; ALPN picks among them by
 * name. Apart from modules.c so that what links the connection code does
 * not pull in every module.
 */
#include "common/pt.h"
#include "worker/net/proto.h"

extern const pt_proto_t pt_h1_conn_proto;

const pt_proto_t *const pt_protos[] = {
    &pt_h1_conn_proto,
    NULL
};
