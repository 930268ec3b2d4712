#!/usr/bin/env bash
# deps.sh - install the Debian packages the build and the tests need, only those missing.
#
# Idempotent: checks each package with dpkg first, runs `apt-get update` at most once and only
# when something is missing. Needs root (or sudo) only in that case.
set -euo pipefail

packages=(
    build-essential  # gcc, make, libc headers
    cmake            # the build system under the Makefile
    libcjson-dev     # JSON: sysinfo/selftest output now, safetensors headers and the server later
    python3          # CLI tests parse our JSON output with it
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

echo "deps.sh: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        sudo_cmd=(sudo)
    else
        echo "deps.sh: need root (or sudo) to install: ${missing[*]}" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
