"""A strict parser of the Prometheus text exposition format 0.0.4, for the
metrics tests (neither promtool nor prometheus_client is installed here,
and the tests install nothing). It rejects what the format and the naming
guide forbid: malformed lines, bad names, escapes other than \\\\ \\" \\n,
a TYPE after a family's samples, a family split in two, duplicate series,
counters not ending in _total, histograms whose buckets are not cumulative
or whose +Inf bucket differs from _count. If promtool is on PATH the text
is also given to `promtool check metrics`.

parse(text) -> {family: {"type", "help", "samples": {(name, labels): value}}}
where labels is a tuple of (name, value) pairs in order."""
import math
import re
import shutil
import subprocess

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


class FormatError(AssertionError):
    pass


def _value(s, where):
    if s in ("+Inf", "Inf"):
        return math.inf
    if s == "-Inf":
        return -math.inf
    if s == "NaN":
        return math.nan
    if not re.fullmatch(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?", s):
        raise FormatError("%s: bad value %r" % (where, s))
    return float(s)


def _labels(s, i, where):
    """Parse {a="x",...} from s[i] == '{'; returns (labels, index after '}')."""
    labels = []
    i += 1
    while True:
        if i < len(s) and s[i] == "}":
            return tuple(labels), i + 1
        m = LABEL.match(s, i)
        if not m:
            raise FormatError("%s: bad label name at %d" % (where, i))
        name = m.group(0)
        i = m.end()
        if s[i:i + 2] != '="':
            raise FormatError("%s: want =\" after label %s" % (where, name))
        i += 2
        out = []
        while True:
            if i >= len(s):
                raise FormatError("%s: unterminated label value" % where)
            c = s[i]
            if c == "\\":
                e = s[i + 1:i + 2]
                if e not in ("\\", '"', "n"):
                    raise FormatError("%s: bad escape \\%s" % (where, e))
                out.append("\n" if e == "n" else e)
                i += 2
            elif c == '"':
                i += 1
                break
            elif c == "\n":
                raise FormatError("%s: raw newline in a label value" % where)
            else:
                out.append(c)
                i += 1
        if name in [n for n, _ in labels]:
            raise FormatError("%s: label %s twice" % (where, name))
        labels.append((name, "".join(out)))
        if i < len(s) and s[i] == ",":
            i += 1
            continue
        if i < len(s) and s[i] == "}":
            return tuple(labels), i + 1
        raise FormatError("%s: want , or } at %d" % (where, i))


def _family_of(name, families):
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix):
            base = name[:-len(suffix)]
            if families.get(base, {}).get("type") in ("histogram", "summary"):
                return base
    return name


def parse(text, promtool=True):
    if not text.endswith("\n"):
        raise FormatError("the text must end with a newline")
    families = {}
    done = set()            # families whose samples ended
    current = None
    for n, line in enumerate(text[:-1].split("\n"), 1):
        where = "line %d (%r)" % (n, line[:80])
        if line == "":
            raise FormatError("%s: empty line" % where)
        if line.startswith("#"):
            m = re.fullmatch(r"# (HELP|TYPE) (\S+) ?(.*)", line)
            if not m:
                if line.startswith("# HELP") or line.startswith("# TYPE"):
                    raise FormatError("%s: malformed" % where)
                continue            # a plain comment
            kind, name, rest = m.groups()
            if not NAME.fullmatch(name):
                raise FormatError("%s: bad metric name" % where)
            if name in done or (current and current != name and name in families
                                and families[name].get("samples")):
                raise FormatError("%s: %s after its samples" % (where, kind))
            f = families.setdefault(name, {"samples": {}})
            if kind == "TYPE":
                if "type" in f or rest not in TYPES:
                    raise FormatError("%s: TYPE twice or unknown" % where)
                if f["samples"]:
                    raise FormatError("%s: TYPE after samples" % where)
                f["type"] = rest
            else:
                if "help" in f:
                    raise FormatError("%s: HELP twice" % where)
                if re.search(r"\\[^\\n]", rest.replace("\\\\", "")):
                    raise FormatError("%s: bad escape in HELP" % where)
                f["help"] = rest.replace("\\n", "\n").replace("\\\\", "\\")
            if current and current != name:
                done.add(current)
            current = name
            continue
        m = NAME.match(line)
        if not m:
            raise FormatError("%s: bad metric name" % where)
        name = m.group(0)
        i = m.end()
        labels = ()
        if i < len(line) and line[i] == "{":
            labels, i = _labels(line, i, where)
        if line[i:i + 1] != " ":
            raise FormatError("%s: want a space before the value" % where)
        parts = line[i + 1:].split(" ")
        if not 1 <= len(parts) <= 2:
            raise FormatError("%s: want a value and an optional timestamp" % where)
        value = _value(parts[0], where)
        if len(parts) == 2 and not re.fullmatch(r"-?\d+", parts[1]):
            raise FormatError("%s: bad timestamp" % where)
        fam = _family_of(name, families)
        if fam in done:
            raise FormatError("%s: family %s split in two" % (where, fam))
        if current and current != fam:
            done.add(current)
        current = fam
        f = families.setdefault(fam, {"samples": {}})
        if (name, labels) in f["samples"]:
            raise FormatError("%s: duplicate series" % where)
        f["samples"][(name, labels)] = value
    for name, f in families.items():
        t = f.get("type", "untyped")
        if t == "counter" and not name.endswith("_total"):
            raise FormatError("counter %s does not end in _total" % name)
        if t == "counter":
            for v in f["samples"].values():
                if v < 0:
                    raise FormatError("counter %s below zero" % name)
        if t == "histogram":
            _check_histogram(name, f)
    if promtool and shutil.which("promtool"):
        r = subprocess.run(["promtool", "check", "metrics"], input=text, text=True,
                           capture_output=True, timeout=30)
        if r.returncode != 0:
            raise FormatError("promtool: " + r.stdout + r.stderr)
    return families


def _check_histogram(name, f):
    series = {}
    for (n, labels), v in f["samples"].items():
        if n == name + "_bucket":
            d = dict(labels)
            if "le" not in d:
                raise FormatError("%s: a bucket without le" % name)
            key = tuple((k, x) for k, x in labels if k != "le")
            series.setdefault(key, {"buckets": []})["buckets"].append(
                (_value(d["le"], name), v))
        elif n in (name + "_sum", name + "_count"):
            series.setdefault(labels, {"buckets": []})[n[len(name) + 1:]] = v
        else:
            raise FormatError("%s: stray sample %s" % (name, n))
    for key, s in series.items():
        b = s["buckets"]
        if "count" not in s or "sum" not in s:
            raise FormatError("%s%s: _sum or _count missing" % (name, key))
        if not b or b[-1][0] != math.inf:
            raise FormatError("%s%s: the last bucket is not +Inf" % (name, key))
        for (le0, c0), (le1, c1) in zip(b, b[1:]):
            if le1 <= le0 or c1 < c0:
                raise FormatError("%s%s: buckets not ascending and cumulative" % (name, key))
        if b[-1][1] != s["count"]:
            raise FormatError("%s%s: +Inf %s != _count %s" % (name, key, b[-1][1], s["count"]))


def value(families, family, **labels):
    """The value of the sample of family (its own name) with exactly labels; None if absent."""
    f = families.get(family)
    if f is None:
        return None
    want = tuple(sorted(labels.items()))
    for (n, ls), v in f["samples"].items():
        if n == family and tuple(sorted(ls)) == want:
            return v
    return None


def histogram(families, family, **labels):
    """{"buckets": [(le, cumulative)], "sum", "count"} of one histogram series."""
    f = families[family]
    want = tuple(sorted(labels.items()))
    out = {"buckets": []}
    for (n, ls), v in f["samples"].items():
        d = dict(ls)
        le = d.pop("le", None)
        if tuple(sorted(d.items())) != want:
            continue
        if n == family + "_bucket":
            out["buckets"].append((_value(le, family), v))
        elif n == family + "_sum":
            out["sum"] = v
        elif n == family + "_count":
            out["count"] = v
    return out
