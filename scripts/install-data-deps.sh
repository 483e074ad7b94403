#!/bin/sh
# Installs the Debian packages that `make model` (data/build.sh,
# data/make_chat.py) reads: the texts behind penny's built-in assistant,
# about 60 MB of dictionaries, fortunes and quiz files. Only model builders
# need them; CI does not (scripts/install-deps.sh), because the tests use
# the model shipped in models/. npm datasets are installed by
# data/build.sh itself. Idempotent; run as root (or through sudo).
set -eu
PKGS="bible-kjv bible-kjv-text dict-gcide dict-wn wordnet-base dict-foldoc dict-jargon dict-devil fortunes fortunes-min bsdgames wamerican python3"
missing=""
command -v npm >/dev/null 2>&1 || missing="nodejs npm"
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing
fi
