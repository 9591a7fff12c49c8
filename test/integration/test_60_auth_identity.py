"""Identity fields (issue 12): the upstream trusts X-Consumer and its
siblings because portico removes every client-sent copy on every route,
whatever their case, and names of its own choosing are removed as well."""
from backends import Backend, Response, get
from conftest import free_ports

CONF = """
portico = { workers = 1; };
listen = ( "127.0.0.1:%(port)d" );
upstreams = { b = { servers = [ "127.0.0.1:%(be)d" ]; }; };
routes = (
  { name = "own"; path = "/own/"; proxy = "b";
    consumer_header = "X-User"; consumer_plan_header = "X-Plan"; },
  { name = "off"; path = "/off/"; proxy = "b"; consumer_header = "";
    consumer_groups_header = ""; },
  { name = "plain"; path = "/"; proxy = "b"; }
);
"""

FORGED = [("X-Consumer", "admin"), ("x-consumer-groups", "root,ops"),
          ("X-User", "mallory"), ("X-Plan", "gold"), ("X-Other", "kept")]


def test_forged_identity_fields_never_reach_the_upstream(portico):
    be = Backend(lambda req: Response(200, [], b"x"))
    port = free_ports(1)[0]
    portico(CONF % dict(port=port, be=be.port), ports=[port])

    assert get(port, "/x", headers=FORGED).status == 200
    seen = be.requests[-1]
    assert seen.header("x-consumer") is None
    assert seen.header("x-consumer-groups") is None
    # Names this route does not use for identity pass untouched.
    assert seen.header("x-user") == "mallory" and seen.header("x-plan") == "gold"
    assert seen.header("x-other") == "kept"

    assert get(port, "/own/x", headers=FORGED).status == 200
    seen = be.requests[-1]
    assert seen.header("x-user") is None and seen.header("x-plan") is None
    assert seen.header("x-consumer-groups") is None
    # X-Consumer is not this route's consumer field: an ordinary field here.
    assert seen.header("x-consumer") == "admin"

    # With the names set to "", nothing is removed (and nothing is sent).
    assert get(port, "/off/x", headers=FORGED).status == 200
    seen = be.requests[-1]
    assert seen.header("x-consumer") == "admin"
    assert seen.header("x-consumer-groups") == "root,ops"
    be.close()


def test_a_consumer_field_name_must_be_a_token(tmp_path):
    from conftest import run_portico
    port, be = free_ports(2)
    conf = tmp_path / "p.conf"
    conf.write_text((CONF % dict(port=port, be=be)).replace('"X-User"', '"X User"'))
    r = run_portico("-t", "-c", str(conf))
    assert r.returncode != 0
    assert "is not a field name" in r.stderr and "\"own\"" in r.stderr


def test_underscore_spellings_of_identity_fields_are_removed_too(portico):
    # CGI, WSGI and PHP upstreams read X-Consumer and X_Consumer both as
    # HTTP_X_CONSUMER: the '_' spelling is the same field to them.
    be = Backend(lambda req: Response(200, [], b"x"))
    port = free_ports(1)[0]
    portico(CONF % dict(port=port, be=be.port), ports=[port])

    forged = [("X_Consumer", "admin"), ("x_consumer-groups", "root"),
              ("X-Consumer_Groups", "ops"), ("X_Other", "kept")]
    assert get(port, "/x", headers=forged).status == 200
    seen = be.requests[-1]
    names = [k.lower() for k, _ in seen.headers]
    assert "x_consumer" not in names
    assert "x_consumer-groups" not in names and "x-consumer_groups" not in names
    assert seen.header("x_other") == "kept"

    assert get(port, "/own/x", headers=[("x_user", "mallory"), ("X_PLAN", "gold")]).status == 200
    names = [k.lower() for k, _ in be.requests[-1].headers]
    assert "x_user" not in names and "x_plan" not in names
    be.close()


def test_identity_fields_in_a_request_trailer_never_reach_the_upstream(portico):
    from backends import Reader, connect, read_response
    be = Backend(lambda req: Response(200, [], b"x"))
    port = free_ports(1)[0]
    portico(CONF % dict(port=port, be=be.port), ports=[port])
    trailers = [("X-Consumer", "admin"), ("X_Consumer", "admin"),
                ("x-consumer-groups", "root"), ("X-Keep", "1")]
    body = (b"5\r\nhello\r\n0\r\n"
            + "".join("%s: %s\r\n" % kv for kv in trailers).encode() + b"\r\n")
    with connect(port) as s:
        s.sendall(b"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
        assert read_response(Reader(s, 5)).status == 200
    req = be.requests[-1]
    assert req.body == b"hello"
    assert req.trailers == [("X-Keep", "1")]
    assert req.header("x-consumer") is None and req.header("x-consumer-groups") is None
    be.close()
