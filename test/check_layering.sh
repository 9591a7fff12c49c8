#!/bin/sh
# check_layering.sh: fails if a lower layer includes a higher one.
#   common/ may include nothing from worker/ or master/;
#   worker/ may include nothing from master/; master/ may use both;
#   no header in common/ names a type that worker/ declares;
#   nothing outside worker/mod/ (and the tests) includes a module's files
#   (the module table, worker/modules.c, names modules by their extern
#   symbol only);
#   worker/net/ and worker/http/ include nothing from worker/proxy/ or
#   worker/upstream/ (the protocol layers sit under the proxy);
#   worker/tls/ includes nothing from worker/upstream/ (upstream TLS is the
#   upstream layer's, worker/upstream/upstream_tls.c) nor worker/http/;
#   worker/net/ includes nothing from worker/http/ or worker/tls/, nor
#   worker/core/worker.h (transports and protocols sit on net/ through
#   ops structs, the worker lends its hooks through pt_conn_setup).
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

# check_file DIR HEADER-REGEX: the same for one header.
check_file() {
    dir=$1
    forbidden=$2
    [ -d "$srcdir/$dir" ] || return 0
    hits=$(cd "$srcdir" && find "$dir" -type f \( -name '*.c' -o -name '*.h' \) \
        -exec grep -n -E \
        "^[[:space:]]*#[[:space:]]*include[[:space:]]*[\"<](\\.\\./|\\./)*($forbidden)[\">]" \
        /dev/null {} +)
    if [ -n "$hits" ]; then
        echo "$hits" | while IFS= read -r line; do
            echo "$line: $dir/ must not include $(echo "$forbidden" | sed 's#\\##g')"
        done
        status=1
    fi
}

check common 'worker|master'
check worker 'master'
check worker/net 'worker/proxy|worker/upstream'
check worker/http 'worker/proxy|worker/upstream'
check worker/tls 'worker/proxy|worker/upstream|worker/http'
check worker/net 'worker/http|worker/tls'
check_file worker/net 'worker/core/worker\.h'
# (test/unit/ and test/fuzz/ may: a module's parser is fuzzed from its own
# files, as fuzz_jwt.c does with worker/mod/auth/jwt/.)
for d in common master worker/core worker/net worker/tls worker/http worker/router \
         worker/upstream worker/proxy; do
    check "$d" 'worker/mod'
done

# Types declared in worker/ headers (typedef names and struct tags) must
# not appear in common/ headers: common/ knows no worker object.
wtypes=$(cd "$srcdir" && find worker -name '*.h' -exec sed -n \
    -e 's/^typedef .*[[:space:]*]\(pt_[a-z0-9_]*_t\);$/\1/p' \
    -e 's/^} \(pt_[a-z0-9_]*_t\);$/\1/p' \
    -e 's/^struct \(pt_[a-z0-9_]*_s\) {$/\1/p' {} + | sort -u)
if [ -z "$wtypes" ]; then
    echo "check_layering: found no types in worker/ headers" >&2
    status=1
fi
for t in $wtypes; do
    hits=$(cd "$srcdir" && grep -n -w "$t" common/*.h /dev/null)
    if [ -n "$hits" ]; then
        echo "$hits" | sed "s/\$/: common\/ names the worker type $t/"
        status=1
    fi
done

if [ "$status" -eq 0 ]; then
    echo "layering: ok"
fi
exit "$status"
