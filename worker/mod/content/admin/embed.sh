#!/bin/sh
# embed.sh IN OUT: the status page as a C array (pt_admin_status_html),
# NUL-terminated; bytes, not a string literal, so no length limit applies.
set -e
{
    echo "/* Generated from status.html by embed.sh: do not edit. */"
    echo "#include <stddef.h>"
    echo "const char pt_admin_status_html[] = {"
    od -An -v -tx1 "$1" | sed -e 's/ *$//' -e 's/ \([0-9a-f][0-9a-f]\)/0x\1,/g' -e 's/^/    /'
    echo "    0x00 };"
    echo "const size_t pt_admin_status_html_len = sizeof(pt_admin_status_html) - 1;"
} > "$2.tmp"
mv "$2.tmp" "$2"
