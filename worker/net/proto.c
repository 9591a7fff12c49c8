/*
 * proto.c: finding a protocol by its ALPN name (see proto.h).
 */
#include "common/pt.h"
#include "worker/net/proto.h"

const pt_proto_t *pt_proto_find(const char *name, size_t len)
{
    for (size_t i = 0; pt_protos[i]; i++)
        if (strlen(pt_protos[i]->name) == len && memcmp(pt_protos[i]->name, name, len) == 0)
            return pt_protos[i];
    return NULL;
}
