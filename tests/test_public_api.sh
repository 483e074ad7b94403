#!/bin/sh
# The penny CLI is built only on include/penny.h (issue 2), so every CLI
# feature is also a library feature. Two checks keep it so:
#  - sources: every #include in cli/ names penny.h, a header of cli/
#    itself, or a system header; never a module of src/ (by either quote
#    form, since -Isrc would find <serve/serve.h> too);
#  - objects: of the symbols libpenny defines, the CLI's objects use only
#    penny_* ones (catches declarations copied by hand past the header).
# Each check is first shown to catch a planted violation.
set -u
cd "$(dirname "$0")/.." || exit 1
B=${PENNY_BUILD:-build}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
ok() { echo "ok: $1"; }
bad() { echo "FAILED: $1"; fails=$((fails + 1)); }

# Prints the #include lines of the files in directory $1 that reach past
# it: anything but penny.h or a header of $1 in quotes, or a header of src/
# in angle brackets (-Isrc finds those too).
private_includes() {
    grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*["<]' "$1"/*.c "$1"/*.h 2>/dev/null |
        while IFS= read -r line; do
            inc=$(printf '%s\n' "$line" | sed -E 's/.*include[[:space:]]*["<]([^">]*)[">].*/\1/')
            [ "$inc" = penny.h ] && continue
            case "$inc" in */*) ;; *) [ -f "$1/$inc" ] && continue ;; esac
            case "$line" in
            *include*'"'*) echo "$line" ;;
            *) [ -f "src/$inc" ] && echo "$line" ;;
            esac
        done
}

mkdir -p "$T/plant"
printf '#include <stdio.h>\n#include "cli.h"\n#include "serve/serve.h"\n#include "tmpl.h"\n' \
    > "$T/plant/a.c"
printf '#include <base/log.h>\n#include <cjson/cJSON.h>\n' > "$T/plant/b.c"
touch "$T/plant/cli.h"
n=$(private_includes "$T/plant" | wc -l)
[ "$n" -eq 3 ] && ok "the include check catches planted private headers" ||
    bad "the include check found $n of 3 planted private headers"

found=$(private_includes cli)
[ -z "$found" ] && ok "cli/ includes only penny.h, its own headers and system headers" ||
    bad "cli/ includes private headers:
$found"

# Undefined symbols of the CLI objects that libpenny defines but penny.h
# does not name (not penny_*).
private_symbols() { # libpenny.a, objects...
    lib=$1
    shift
    nm -g --defined-only "$lib" 2>/dev/null | awk 'NF == 3 { print $3 }' | sort -u > "$T/lib.syms"
    nm -u "$@" 2>/dev/null | awk 'NF == 2 { print $2 }' | sort -u > "$T/used.syms"
    comm -12 "$T/lib.syms" "$T/used.syms" | grep -v '^penny_'
}

objs=$(ls "$B"/obj/cli/*.o 2>/dev/null)
if [ -f "$B/libpenny.a" ] && [ -n "$objs" ]; then
    printf 'int tok_n_vocab(const void *);\nint f(const void *t) { return tok_n_vocab(t); }\n' > "$T/p.c"
    if cc -c "$T/p.c" -o "$T/p.o" && [ "$(private_symbols "$B/libpenny.a" "$T/p.o")" = tok_n_vocab ]; then
        ok "the symbol check catches a planted private call"
    else
        bad "the symbol check missed a planted call of tok_n_vocab"
    fi
    # shellcheck disable=SC2086
    syms=$(private_symbols "$B/libpenny.a" $objs)
    [ -z "$syms" ] && ok "the CLI objects use only penny_* symbols of libpenny" ||
        bad "the CLI objects use libpenny internals: $(echo $syms)"
else
    echo "SKIP: the symbol check ($B/libpenny.a or $B/obj/cli/*.o not built)"
fi
[ "$fails" -eq 0 ]
