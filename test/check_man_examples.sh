#!/bin/sh
# check_man_examples.sh: every configuration example of portico.conf(5)
# loads with portico -t (the work is in check_man_examples.py).
srcdir=${PORTICO_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
for py in /usr/bin/python3 python3; do
    if command -v "$py" >/dev/null 2>&1; then
        exec "$py" "$srcdir/test/man_examples.py"
    fi
done
echo "check_man_examples: no python3" >&2
exit 77
