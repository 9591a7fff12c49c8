/*
 * test_proto.c: the protocol registry by ALPN name: "http/1.1" is the
 * default and is found by its exact name only.
 */
#include "common/pt.h"

#include "worker/net/proto.h"
#include "test/unit/tap.h"

int main(void)
{
    const pt_proto_t *h1 = pt_proto_find("http/1.1", 8);

    ok(h1 != NULL, "http/1.1 is registered");
    ok(pt_protos[0] == h1, "and is the default, first in the list");
    ok(h1->init && h1->drain && h1->close, "with all of its ops");
    is_str(h1->name, "http/1.1", "named by its ALPN identifier");
    ok(pt_proto_find("http/1.10", 8) == h1, "the length given is what counts");
    ok(pt_proto_find("http/1.", 7) == NULL, "a prefix is no match");
    ok(pt_proto_find("h2", 2) == NULL, "h2 is not compiled in");
    ok(pt_proto_find("", 0) == NULL, "nor is the empty name");
    return done_testing();
}
