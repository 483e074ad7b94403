#!/bin/sh
# Installs what a fresh Debian 12 machine lacks to build and test penny.
# Idempotent; run as root (or through sudo).
set -eu
PKGS="build-essential clang libclang-rt-14-dev python3 python3-numpy libpcre2-dev libutf8proc-dev libcjson-dev sentencepiece bible-kjv dict-gcide libcurl4-openssl-dev nettle-dev libmicrohttpd-dev libedit-dev xxd chromium chromium-driver openmpi-bin libopenmpi-dev gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user"
missing=""
# Node.js may come from elsewhere (e.g. NodeSource, which bundles npm): only
# install Debian's when there is no npm at all.
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
