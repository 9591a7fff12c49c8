#!/bin/sh
# check_docs.sh: fails when the man pages and the code disagree.
#
# What it checks, and the conventions of the man pages it relies on:
#
#  1. Every row of a directive table in the C sources under master/ and
#     worker/ (a row is `{ "name", PT_CONF_TYPE, PT_SCOPE_X | ..., field,
#     default, ...`) is documented in man/portico.conf.5 as an entry: a
#     `.TP` line followed by `.B name`, under a .SH/.SS heading whose title
#     names one of the row's scopes (PT_SCOPE_MAIN: "portico", PT_SCOPE_LISTEN:
#     "listen", PT_SCOPE_ROUTE: "route", PT_SCOPE_UPSTREAM: "upstream",
#     PT_SCOPE_TLS: "tls"; any other PT_SCOPE_FOO: "foo").
#  2. The entry states the row's default: a row whose default is a literal
#     ("\"10s\"", "4", "true") needs `Default: \fB"10s"\fR` (the value as
#     written in a config file) in the entry; a row without a default (NULL)
#     must not claim one (`Default: none ...` or no Default at all). Defaults
#     built from macros (the compiled-in pid file path) are not compared.
#  3. Every request variable is an entry: the names in worker/core/var.c's
#     pt_var_names, and the first string of each row of every pt_var_def_t
#     array under worker/ (the core's families and what modules register)
#     (`.B $name`; `$http_NAME` is written `.BI $http_ NAME`); the top-level
#     names of master/conf_load.c and the listen entry names of
#     worker/net/listen_conf.c are entries too.
#  4. Every command-line option of master/main.c is an entry in
#     man/portico.8 whose tag line starts `.BR \-c ", " \-\-config`, and every
#     `-s` signal name of master/daemon.c appears as a `.B name` line.
#  5. If groff is installed, `groff -man -ww -z` prints nothing for either
#     page (no warnings).
#  6. The DIRECTIVE INDEX section of portico.conf(5) is what
#     man/directive-index makes of the page (run it after adding an entry).
#
# Prints what is missing or wrong, one line each, and exits 1; exits 0 when
# everything agrees. Run by `make check` with PORTICO_SRCDIR set; by hand it
# defaults to the directory above this script.

srcdir=${PORTICO_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
man5=$srcdir/man/portico.conf.5
man8=$srcdir/man/portico.8

for f in "$man5" "$man8" "$srcdir/master/main.c" "$srcdir/worker/core/var.c"; do
    if [ ! -f "$f" ]; then
        echo "check_docs: $f is missing" >&2
        exit 1
    fi
done

status=0

# ---- 1. directive rows: name <TAB> scope keywords <TAB> default <TAB> file
# mod_skeleton.c is a template no config can reach (not in worker/modules.c).
c_files=$(cd "$srcdir" && find master worker -type f -name '*.c' ! -name mod_skeleton.c \
    | LC_ALL=C sort)
rows=$(cd "$srcdir" && awk '
function trim(s) {
    sub(/^[ \t\n]+/, "", s)
    sub(/[ \t\n]+$/, "", s)
    return s
}
# The fields of the row starting with "{" at text[pos], split on commas
# outside strings, character literals and brackets; returns the index
# just past the closing "}".
function fields(text, pos,    n, i, c, depth, instr, inchr, cur) {
    n = 0; depth = 0; instr = 0; inchr = 0; cur = ""
    for (i = pos + 1; i <= length(text); i++) {
        c = substr(text, i, 1)
        if (instr || inchr) {
            cur = cur c
            if (c == "\\") {
                i++
                cur = cur substr(text, i, 1)
            } else if ((instr && c == "\"") || (inchr && c == "\047")) {
                instr = 0; inchr = 0
            }
            continue
        }
        if (c == "\"") { instr = 1; cur = cur c; continue }
        if (c == "\047") { inchr = 1; cur = cur c; continue }
        if (c == "(" || c == "{" || c == "[") depth++
        if ((c == ")" || c == "]") && depth > 0) depth--
        if (c == "}") {
            if (depth == 0) {
                f[++n] = trim(cur)
                nf = n
                return i + 1
            }
            depth--
        }
        if (c == "," && depth == 0) {
            f[++n] = trim(cur)
            cur = ""
            continue
        }
        cur = cur c
    }
    nf = n
    return length(text) + 1
}
function scopes(s,    n, parts, i, p, out) {
    n = split(s, parts, "|")
    out = ""
    for (i = 1; i <= n; i++) {
        p = trim(parts[i])
        if (p !~ /^PT_SCOPE_[A-Z_]+$/)
            return "*"
        p = tolower(substr(p, 10))
        if (p == "main")
            p = "portico"
        out = out (out == "" ? "" : " ") p
    }
    return out == "" ? "*" : out
}
# The default as it would be written in a config file: "" for NULL, "?"
# for anything that is not one string literal.
function defval(s) {
    if (s == "NULL")
        return ""
    if (s !~ /^"([^"\\]|\\.)*"$/)
        return "?"
    s = substr(s, 2, length(s) - 2)
    gsub(/\\"/, "\"", s)
    gsub(/\\\\/, "\\", s)
    return s
}
function scan(text, file,    p, name) {
    while (match(text, /\{[ \t\n]*"[A-Za-z0-9_]+"[ \t\n]*,[ \t\n]*PT_CONF_[A-Z_]+/)) {
        p = fields(text, RSTART)
        name = f[1]
        gsub(/"/, "", name)
        printf "%s\t%s\t%s\t%s\n", name, (nf >= 3 ? scopes(f[3]) : "*"),
               (nf >= 5 ? defval(f[5]) : "?"), file
        text = substr(text, p)
    }
}
FNR == 1 && NR > 1 { scan(text, file); text = "" }
# Rows may sit in a macro: drop the line continuations.
{ file = FILENAME; line = $0; sub(/\\$/, "", line); text = text line "\n" }
END { if (NR) scan(text, file) }
' $c_files)

if [ -z "$rows" ]; then
    echo "check_docs: found no directive rows under $srcdir/master and $srcdir/worker" >&2
    exit 1
fi

# ---- entries of a man page: name <TAB> section <TAB> has-default <TAB> default
entries() {
    awk '
    function unroff(s) {
        gsub(/\\\(dq/, "\"", s)
        gsub(/\\-/, "-", s)
        gsub(/\\e/, "\\", s)
        gsub(/\\&/, "", s)
        gsub(/\\:/, "", s)
        return s
    }
    function flush() {
        if (cur != "")
            printf "%s\t%s\t%d\t%s\n", cur, sect, hasdef, def
        cur = ""
    }
    /^\.SH/ { flush(); sh = tolower($0); ss = ""; tp = 0; next }
    /^\.SS/ { flush(); ss = tolower($0); tp = 0; next }
    /^\.TP/ { flush(); tp = 1; next }
    tp {
        tp = 0
        if ($0 ~ /^\.B[IR]? /) {
            name = $0
            sub(/^\.B[IR]? /, "", name)
            gsub(/["[:space:]]/, "", name)
            cur = name; sect = sh " " ss; hasdef = 0; def = ""; seen = 0
        }
        next
    }
    cur != "" && !seen && /Default:/ {
        seen = 1
        if (match($0, /Default: \\fB.*\\fR/)) {
            hasdef = 1
            def = substr($0, RSTART + 12)
            sub(/\\fR.*/, "", def)
            def = unroff(def)
        }
    }
    END { flush() }
    ' "$1"
}
entries5=$(entries "$man5")

missing=$({ printf '%s\n' "$entries5"; echo '@@rows'; printf '%s\n' "$rows"; } | awk -F '\t' '
$0 == "@@rows" { rows = 1; next }
!rows { n[$1]++; sect[$1, n[$1]] = $2; hasdef[$1, n[$1]] = $3; def[$1, n[$1]] = $4; next }
{
    name = $1; kw = $2; want = $3; file = $4
    if (!(name in n)) {
        printf "%s: directive \"%s\" is not documented in man/portico.conf.5\n", file, name
        next
    }
    nk = split(kw, k, " ")
    placed = 0; got = ""
    for (i = 1; i <= n[name]; i++) {
        inscope = (kw == "*")
        for (j = 1; j <= nk && !inscope; j++)
            inscope = index(sect[name, i], k[j]) > 0
        if (!inscope)
            continue
        placed = 1
        if (want == "?" || (want == "" && !hasdef[name, i]) \
            || (want != "" && hasdef[name, i] && def[name, i] == want))
            next
        got = hasdef[name, i] ? def[name, i] : "none"
    }
    if (!placed)
        printf "%s: directive \"%s\" (%s) is not documented under a heading for %s\n",
               file, name, kw, kw
    else
        printf "%s: directive \"%s\": the default is %s in the code, %s in the man page\n",
               file, name, want == "" ? "none" : want, got
}')
if [ -n "$missing" ]; then
    printf '%s\n' "$missing"
    status=1
fi

# ---- string arrays: the quoted names between "NAME[] = {" and "};"
names_of() {
    awk -v arr="$2" '
    index($0, arr "[] = {") { on = 1 }
    on {
        line = $0
        while (match(line, /"[^"]*"/)) {
            print substr(line, RSTART + 1, RLENGTH - 2)
            line = substr(line, RSTART + RLENGTH)
        }
        if ($0 ~ /};/) exit
    }' "$srcdir/$1"
}

# need_names LIST WHAT: an array that yields no names was renamed or
# reformatted, and this script must be taught the new form.
need_names() {
    if [ -z "$1" ]; then
        echo "check_docs: found no $2" >&2
        status=1
    fi
}

# need_entry NAME SECTION-KEYWORD WHAT
need_entry() {
    if ! printf '%s\n' "$entries5" | awk -F '\t' -v n="$1" -v s="$2" '
        $1 == n && index($2, s) { found = 1 } END { exit !found }'; then
        echo "man/portico.conf.5: $3 \"$1\" is not documented under a heading for $2"
        status=1
    fi
}

# The first string of each row of every pt_var_def_t array under worker/
# (the variables modules register, and the core's families such as
# http_NAME), one name a line.
var_defs() {
    (cd "$srcdir" && find worker -type f -name '*.c' ! -name mod_skeleton.c | LC_ALL=C sort | xargs awk '
    /pt_var_def_t[ \t]+[A-Za-z0-9_]+\[\][ \t]*=[ \t]*\{/ { on = 1; next }
    on && /^[ \t]*};/ { on = 0; next }
    on && match($0, /^[ \t]*\{[ \t]*"[^"]+"/) {
        row = substr($0, RSTART, RLENGTH)
        sub(/^[^"]*"/, "", row)
        sub(/"$/, "", row)
        print row
    }')
}

nvars=0
vars=$(names_of worker/core/var.c pt_var_names)
need_names "$vars" "pt_var_names in worker/core/var.c"
defs=$(var_defs)
need_names "$defs" "pt_var_def_t arrays under worker/"
for v in $vars $defs; do
    need_entry "\$$v" "variables" "variable"
    nvars=$((nvars + 1))
done
tops=$(names_of master/conf_load.c pt_conf_top_names)
need_names "$tops" "pt_conf_top_names in master/conf_load.c"
for t in $tops; do
    need_entry "$t" "top level" "top-level setting"
done
lnames=$(names_of worker/net/listen_conf.c pt_listen_entry_names)
need_names "$lnames" "pt_listen_entry_names in worker/net/listen_conf.c"
for t in $lnames; do
    need_entry "$t" "listen" "listen entry setting"
done

# ---- 4. portico.8: options and -s signal names
opts=$(awk '
index($0, "pt_main_options[] = {") { on = 1; next }
on && /};/ { exit }
on {
    line = $0
    while (match(line, /\{ *"[a-z-]+", *[a-z_]+, *NULL, *\047.\047 *\}/)) {
        row = substr(line, RSTART, RLENGTH)
        line = substr(line, RSTART + RLENGTH)
        long = row; sub(/^\{ *"/, "", long); sub(/".*/, "", long)
        short = substr(row, index(row, "\047") + 1, 1)
        print short " " long
    }
}' "$srcdir/master/main.c")
if [ -z "$opts" ]; then
    echo "check_docs: found no options in master/main.c" >&2
    status=1
fi
nopts=0
while read -r short long; do
    [ -n "$long" ] || continue
    nopts=$((nopts + 1))
    tag=".BR \\-$short \", \" \\-\\-$long"
    if ! grep -F -q -e "$tag" "$man8"; then
        echo "man/portico.8: option -$short, --$long is not documented (want a line starting: $tag)"
        status=1
    fi
done <<EOF
$opts
EOF

signames=$(names_of master/daemon.c pt_signal_names)
need_names "$signames" "pt_signal_names in master/daemon.c"
for s in $signames; do
    if ! grep -q -x "\\.B $s" "$man8"; then
        echo "man/portico.8: signal name \"$s\" of -s is not documented (want a line: .B $s)"
        status=1
    fi
done

# ---- 5. groff warnings
if command -v groff >/dev/null 2>&1; then
    for page in "$man8" "$man5"; do
        out=$(groff -man -ww -z "$page" 2>&1)
        if [ -n "$out" ]; then
            printf '%s\n' "$out" | sed "s|^|$(basename "$page"): groff: |"
            status=1
        fi
    done
else
    echo "check_docs: groff not installed, rendering not checked"
fi

# ---- 6. the alphabetical directive index at the end of portico.conf(5)
if command -v python3 >/dev/null 2>&1; then
    python3 "$srcdir/man/directive-index" --check "$man5" || status=1
fi

if [ "$status" -eq 0 ]; then
    ndir=$(printf '%s\n' "$rows" | wc -l | tr -d ' ')
    echo "docs: ok ($ndir directive rows, $nvars variables, $nopts options)"
fi
exit "$status"
