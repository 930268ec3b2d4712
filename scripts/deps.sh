#!/usr/bin/env bash
# deps.sh - install what the build and the tests need, only what is missing:
#   1. Debian packages (checked with dpkg; `apt-get update` at most once, only when needed);
#   2. a project-local Python virtual environment .venv with scripts/requirements.txt
#      (PyPI: gguf, safetensors, numpy) for the interoperability tests. Never system-wide.
# Idempotent: a second run does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
    build-essential  # gcc, make, libc headers
    cmake            # the build system under the Makefile
    libcjson-dev     # JSON: safetensors headers, config.json, CLI --json output
    libpcre2-dev     # PCRE2: the tokenizers' pre-tokenizer regexes (Unicode properties, JIT)
    libopenblas-dev  # OpenBLAS: the float GEMMs of training (cblas_sgemm), multithreaded
    zlib1g-dev       # zlib: CRC-32 of training checkpoints
    libmicrohttpd-dev  # libmicrohttpd: the HTTP server of bitnet serve
    chromium         # headless browser: the test of serve's chat page (tests/cli/serve_page.sh)
    python3          # CLI tests parse our JSON output with it
    python3-venv     # the project-local .venv for the Python-side tests
    clang            # libFuzzer harnesses (make fuzz)
    libclang-rt-dev  # the fuzzer and sanitizer runtimes clang links
    gcc-aarch64-linux-gnu  # cross compiler: the NEON kernel tested under qemu (make test-neon)
    libc6-dev-arm64-cross  # its libc headers and static libc (only recommended by the compiler)
    qemu-user        # qemu-aarch64 runs those static aarch64 test binaries
)

install_debian_packages() {
    local missing=()
    for p in "${packages[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$p")
        fi
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "deps.sh: installing ${missing[*]}"
    local sudo_cmd=()
    if [ "$(id -u)" -ne 0 ]; then
        if ! command -v sudo >/dev/null 2>&1; then
            echo "deps.sh: need root (or sudo) to install: ${missing[*]}" >&2
            exit 1
        fi
        sudo_cmd=(sudo)
    fi
    export DEBIAN_FRONTEND=noninteractive
    "${sudo_cmd[@]}" apt-get update -qq
    "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The venv is rebuilt when requirements.txt changes (its copy inside .venv is the stamp).
make_venv() {
    local req=scripts/requirements.txt stamp=.venv/requirements.txt
    if [ -x .venv/bin/python ] && cmp -s "$req" "$stamp"; then
        return 0
    fi
    echo "deps.sh: creating .venv from $req"
    rm -rf .venv
    /usr/bin/python3 -m venv .venv
    .venv/bin/python -m pip install -q --disable-pip-version-check -r "$req"
    cp "$req" "$stamp"
}

install_debian_packages
make_venv
