#!/bin/sh
# check_layering.sh: fails if a lower layer includes a higher one.
#   common/ may include nothing from worker/ or master/;
#   worker/ may include nothing from master/; master/ may use both.
# Prints each offending file:line. Run by `make check` with PORTICO_SRCDIR
# set; by hand it defaults to the directory above this script.

srcdir=${PORTICO_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}

if [ ! -d "$srcdir/common" ]; then
    echo "check_layering: no common/ under $srcdir" >&2
    exit 1
fi

status=0

# check DIR FORBIDDEN-REGEX: lists #include lines in DIR's C files that name
# a forbidden directory ("../" prefixes included, <...> as well as "...").
check() {
    dir=$1
    forbidden=$2
    [ -d "$srcdir/$dir" ] || return 0
    # /dev/null as a second file makes grep print the file name on every hit.
    hits=$(cd "$srcdir" && find "$dir" -type f \( -name '*.c' -o -name '*.h' \) \
        -exec grep -n -E \
        "^[[:space:]]*#[[:space:]]*include[[:space:]]*[\"<](\\.\\./|\\./)*($forbidden)/" \
        /dev/null {} +)
    if [ -n "$hits" ]; then
        echo "$hits" | while IFS= read -r line; do
            echo "$line: $dir/ must not include $(echo "$forbidden" | sed 's#|#/ or #g')/"
        done
        status=1
    fi
}

check common 'worker|master'
check worker 'master'

if [ "$status" -eq 0 ]; then
    echo "layering: ok"
fi
exit "$status"
