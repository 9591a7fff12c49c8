#!/usr/bin/env python3
"""man_examples.py (run by check_man_examples.sh): every configuration example of portico.conf(5)
loads (issue 15).

Each .EX/.EE block of the page that is configuration text (not a log line,
a shell command or an HTTP exchange; a block is configuration when every
line is a setting, a bracket or a comment) is put where such a fragment
lives: as it is at the top level, inside defaults { }, inside a route, a
listen entry, an upstream or portico { }. It passes when one of these
loads with `portico -t`, given a listener, a route and an upstream named
after the names the fragment uses. Files it names (certificates, pages) are
not there, so an error about a missing file still counts as loading. Prints
each failing block with its line and the error; exits 1 if any failed.
"""
import os
import re
import subprocess
import sys
import tempfile

SRC = os.environ.get("PORTICO_SRCDIR") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("PORTICO_BIN") or os.path.join(SRC, "portico")
PAGE = os.path.join(SRC, "man", "portico.conf.5")

# Missing files and such are the environment's, not the example's fault.
ENVIRONMENT = re.compile(r"cannot open|cannot read|No such file|not found|cannot listen|"
                         r"does not resolve|cannot resolve|Name or service|certificate|"
                         r"key file|is not a directory|unknown user|unknown group|"
                         r"environment variable|does not exist|no such (user|group)|no (user|group) named", re.I)


def unroff(line):
    line = re.sub(r"\\f[BIRP]", "", line)
    line = line.replace("\\(dq", '"').replace("\\-", "-").replace("\\e", "\\")
    line = line.replace("\\&", "").replace("\\(aq", "'")
    return line


def blocks(text):
    """(line, body, group): group is the nested setting a section of the
    form "Title: upstream health_check" or "Title: routes jwt" documents
    the members of, else None."""
    lines = text.split("\n")
    i = 0
    group = None
    while i < len(lines):
        if lines[i].startswith(".SS ") or lines[i].startswith(".SH "):
            title = lines[i][4:].strip().strip('"')
            m = re.search(r":\s*(?:upstream|upstreams|route|routes|portico|listen)\s+([a-z_]+)$",
                          title)
            group = m.group(1) if m and m.group(1) not in ("entries", "and") else None
            if re.search(r":\s*limits$", title):
                group = "limits"
        if lines[i] == ".EX":
            start = i + 1
            j = start
            while j < len(lines) and lines[j] != ".EE":
                j += 1
            yield start + 1, [unroff(l) for l in lines[start:j]], group
            i = j
        i += 1


CONFIG_LINE = re.compile(r"""^\s*(
    $ | [#/].* | [})\]][;,)\s]* | @include\s+".*" |
    [A-Za-z_][\w-]*\s*=.* | \{.* | "[^"]*"\s*[,;]?\s*.* | \(.* )$""", re.X)


def is_config(body):
    text = [l for l in body if l.strip()]
    if not text or not any("=" in l for l in text):
        return False
    return all(CONFIG_LINE.match(l) for l in text)


def wraps(frag, port, be):
    listen = ('listen = ( { name = "public"; address = "127.0.0.1:%d"; }, { name = "admin"; '
              'address = "127.0.0.1:%d"; }, { name = "internal"; address = "127.0.0.1:%d"; } );'
              % (port, port + 10, port + 11))
    ups = 'upstreams = { %s };' % " ".join(
        '%s = { servers = [ "127.0.0.1:%d" ]; };' % (n, be)
        for n in sorted({"api", "b", "app", "backend", "billing", "legacy", "v2", "users", "auth"}
                        | set(re.findall(r'proxy\s*=\s*"([\w.-]+)"', frag))))
    route = '{ name = "all"; path = "/"; proxy = "api"; }'
    yield frag + "\n" + ("" if re.search(r"^\s*listen\s*=", frag, re.M) else listen)
    yield "%s\n%s\ndefaults = { %s };\nroutes = ( %s );" % (listen, ups, frag, route)
    yield "%s\n%s\nroutes = ( { name = \"x\"; path = \"/x/\"; %s }, %s );" % (
        listen, ups, frag, route)
    yield "%s\n%s\nroutes = ( { name = \"x\"; path = \"/x/\"; proxy = \"api\"; %s }, %s );" % (
        listen, ups, frag, route)
    yield "%s\n%s\nroutes = ( { name = \"x\"; %s }, %s );" % (listen, ups, frag, route)
    yield "%s\n%s\nroutes = ( { name = \"x\"; proxy = \"api\"; %s }, %s );" % (
        listen, ups, frag, route)
    yield "%s\n%s\nroutes = ( { name = \"x\"; path_regex = \"^/(.*)$\"; proxy = \"api\"; %s }, %s );" % (
        listen, ups, frag, route)
    yield "portico = { %s };\n%s\n%s\nroutes = ( %s );" % (frag, listen, ups, route)
    yield ('listen = ( { address = "127.0.0.1:%d"; %s } );\n%s\nroutes = ( %s );'
           % (port, frag, ups, route))
    yield ('%s\nupstreams = { api = { servers = [ "127.0.0.1:%d" ]; %s }; };\nroutes = ( %s );'
           % (listen, be, frag, route))
    yield '%s\nupstreams = { api = { %s }; };\nroutes = ( %s );' % (listen, frag, route)
    # Route entries shown one per line: the routes list of them.
    entries = [l.strip().rstrip(",") for l in frag.split("\n") if l.strip().startswith("{")]
    if entries:
        yield "%s\n%s\nroutes = ( %s );" % (listen, ups, ",\n".join(entries))
    # Route settings that need a limit on the route.
    yield ('%s\n%s\nroutes = ( { name = "x"; path = "/x/"; proxy = "api"; limits = ( { name = "ex"; '
           'zone = "ex:1M"; rate = "10r/s"; } ); %s }, %s );' % (listen, ups, frag, route))
    # TLS blocks: of a listener (its certificate is not there: only that
    # error may remain) and of an upstream.
    yield ('listen = ( { address = "127.0.0.1:%d"; tls = { certificates = ( { cert = '
           '"/nonexistent/c.pem"; key = "/nonexistent/c.key"; } ); %s }; } );\n%s\nroutes = ( %s );'
           % (port, frag, ups, route))
    yield ('%s\nupstreams = { api = { servers = [ "127.0.0.1:%d" ]; tls = { %s }; }; };\n'
           'routes = ( %s );' % (listen, be, frag, route))
    if not re.search(r"^\s*(upstreams|routes)\s*=", frag, re.M):
        yield "%s\n%s\n%s\nroutes = ( %s );" % (
            frag, "" if re.search(r"^\s*listen\s*=", frag, re.M) else listen, ups, route)
    else:
        yield "%s\n%s\n%s" % (frag, listen if "listen" not in frag else "",
                              ups if "upstreams" not in frag else "")
        yield "%s\n%s\n%s\nroutes = ( %s );" % (frag, "" if "listen" in frag else listen,
                                                "" if "upstreams" in frag else ups, route)
        if "routes" not in frag:
            yield "%s\n%s\nroutes = ( { name = \"all\"; path = \"/\"; return = 204; } );" % (
                frag, "" if "listen" in frag else listen)


def statements(body):
    """The block's settings one by one: an example often shows the same
    setting written several ways, one after the other."""
    out, cur, depth = [], [], 0
    for line in body:
        if not line.strip() or line.strip().startswith("#"):
            continue
        cur.append(line)
        depth += line.count("{") + line.count("(") + line.count("[")
        depth -= line.count("}") + line.count(")") + line.count("]")
        if depth <= 0 and line.rstrip().endswith((";", ",", "}", ")")):
            out.append("\n".join(cur))
            cur, depth = [], 0
    if cur:
        out.append("\n".join(cur))
    return out


def loads(d, frag, group=None):
    """(True, None) when one wrapping of frag loads, else (False, errors)."""
    errors = []
    candidates = list(wraps(frag, 18080, 18081))
    if group == "limits":
        # A rate-limit entry needs a zone and one kind (rate, concurrency,
        # quota): the example gives what it documents, the rest is made up.
        for extra in ("", 'zone = "ex:1M"; ', 'zone = "ex:1M"; rate = "10r/s"; ',
                      'rate = "10r/s"; ', 'zone = "ex:1M"; rate = "10r/s"; burst = 10; ',
                      'zone = "ex:1M"; period = "day"; ', 'zone = "ex:1M"; quota = 100; '):
            entry = "limits = ( { name = \"ex\"; %s%s } );" % (extra, frag)
            candidates = list(wraps(entry, 18080, 18081)) + candidates
    elif group:
        candidates = list(wraps("%s = { %s };" % (group, frag), 18080, 18081)) + candidates
    for conf in candidates:
        path = os.path.join(d, "ex.conf")
        with open(path, "w") as f:
            f.write(conf + "\n")
        r = subprocess.run([BIN, "-t", "-c", path, "-p", os.path.join(d, "p.pid")],
                           capture_output=True, text=True, timeout=30,
                           env=dict(os.environ, API_BACKEND="127.0.0.1:18081"))
        if r.returncode == 0:
            return True, None
        errs = [l for l in r.stderr.splitlines() if "test failed" not in l]
        if errs and all(ENVIRONMENT.search(l) for l in errs):
            return True, None
        errors.append(errs[:2])
    return False, min(errors, key=len) if errors else []


def main():
    if not os.access(BIN, os.X_OK):
        print("check_man_examples: no portico binary at %s" % BIN)
        return 77
    with open(PAGE) as f:
        text = f.read()
    d = tempfile.mkdtemp(prefix="portico-manex-")
    failed = checked = 0
    for line, body, group in blocks(text):
        if not is_config(body):
            continue
        checked += 1
        frag = "\n".join(body)
        ok, best = loads(d, frag, group)
        if not ok:
            parts = statements(body)
            if len(parts) > 1:
                results = [loads(d, part, group) for part in parts]
                ok = all(r[0] for r in results)
                best = next((r[1] for r in results if not r[0]), best)
        if not ok:
            failed += 1
            print("FAIL: portico.conf.5 line %d:\n    %s" % (line, "\n    ".join(body)))
            print("  error: %s" % ("; ".join(best or []) or "?"))
    print("man examples: %d configuration blocks, %d failed" % (checked, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
