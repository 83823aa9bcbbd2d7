#!/usr/bin/env bash
# Installs the Debian packages the build, tests and demo need, and only those that are missing.
# Runs 'apt-get update' at most once and never prompts.
set -euo pipefail

pkgs=(build-essential cmake pkg-config libssl-dev libjansson-dev libcurl4-openssl-dev libcmocka-dev
      python3 python3-cryptography clang-format faketime
      libsqlite3-dev libpq-dev libmicrohttpd-dev libgnutls28-dev postgresql wrk nginx-light curl
      libzstd-dev liblzma-dev libdivsufsort-dev bsdiff xdelta3 zstd xz-utils time squashfs-tools npm
      grub-common libubootenv-tool libwebsockets-dev libseccomp-dev mosquitto mosquitto-clients
      libmosquitto-dev zlib1g-dev python3-websockets)
if [ "${1:-}" = "--with-test-tools" ]; then
    pkgs+=(clang libclang-rt-14-dev)
fi

missing=()
for p in "${pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
# A python3 that already imports 'cryptography' (a pyenv interpreter, say) makes the Debian one unnecessary.
if python3 -c 'import cryptography' 2>/dev/null; then
    missing=("${missing[@]/python3-cryptography/}")
fi
# An npm that is already on the PATH (Node.js from NodeSource, say) makes the Debian one unnecessary.
if command -v npm >/dev/null 2>&1; then
    missing=("${missing[@]/npm/}")
fi
want=()
for p in "${missing[@]}"; do [ -n "$p" ] && want+=("$p"); done
[ "${#want[@]}" -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "install-deps: installing ${want[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq </dev/null
$sudo apt-get install -y -qq --no-install-recommends "${want[@]}" </dev/null
