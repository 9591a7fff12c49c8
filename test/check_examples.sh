#!/bin/sh
# check_examples.sh: every etc/examples/*.conf (and etc/portico.conf) must
# pass `portico -t`. Prints the errors of each file that does not, and
# exits 1; exits 0 when all pass. Run by `make check` with PORTICO_BIN and
# PORTICO_SRCDIR set; by hand they default to ../portico and .. relative to
# this script (exit 77, skipped, when there is no binary to run).

srcdir=${PORTICO_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
bin=${PORTICO_BIN:-$srcdir/portico}

if [ ! -x "$bin" ]; then
    echo "check_examples: no portico binary at $bin (build it, or set PORTICO_BIN)" >&2
    exit 77
fi
if [ ! -d "$srcdir/etc/examples" ]; then
    echo "check_examples: no etc/examples under $srcdir" >&2
    exit 1
fi

status=0
n=0
for conf in "$srcdir"/etc/examples/*.conf "$srcdir/etc/portico.conf"; do
    [ -f "$conf" ] || continue
    n=$((n + 1))
    if out=$("$bin" -t -c "$conf" 2>&1); then
        echo "ok: ${conf#"$srcdir"/}"
    else
        echo "FAIL: ${conf#"$srcdir"/}"
        printf '%s\n' "$out" | sed 's/^/    /'
        status=1
    fi
done

if [ "$n" -lt 2 ]; then
    echo "check_examples: no example configurations found in $srcdir/etc/examples" >&2
    status=1
fi
exit "$status"
