#!/usr/bin/env bash
# gpu-check.sh - build, test and report on a machine with an NVIDIA GPU, in one go.
#
# Used with the lent GPU machine (one call, to save device time): configures a Release build
# with CUDA, runs the whole ctest suite (the GPU tests run for real there instead of skipping),
# and prints sysinfo/selftest. Needs cmake, a C compiler, nvcc and libcjson (installed through
# scripts/deps.sh when missing). Output also goes to $OUT/gpu-check.log when OUT is set.
set -uo pipefail
cd "$(dirname "$0")/.."
log=${OUT:-/tmp}/gpu-check.log
{
    echo "== machine"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 | head -5
    lscpu | grep -E 'Model name|^CPU\(s\)|Flags' | cut -c1-200
    echo "== deps"
    # The GPU machine has no apt: Debian packages carried in .deps-gpu/ (apt-get download
    # libcjson-dev libcjson1 libpcre2-dev libpcre2-8-0 libopenblas0-pthread
    # libopenblas-pthread-dev libgfortran5 zlib1g zlib1g-dev libmicrohttpd-dev libmicrohttpd12)
    # are unpacked under /tmp/gpudeps
    # and found through explicit paths.
    prefix_args=()
    if ls .deps-gpu/*.deb >/dev/null 2>&1; then
        mkdir -p /tmp/gpudeps
        for deb in .deps-gpu/*.deb; do
            if command -v dpkg >/dev/null; then dpkg -x "$deb" /tmp/gpudeps
            else (cd /tmp/gpudeps && ar p "$OLDPWD/$deb" data.tar.xz | tar -xJ); fi
        done
        libdir=/tmp/gpudeps/usr/lib/x86_64-linux-gnu
        inc=/tmp/gpudeps/usr/include
        prefix_args=(-DCJSON_INCLUDE_DIR=$inc -DCJSON_LIBRARY=$libdir/libcjson.so
                     -DPCRE2_INCLUDE_DIR=$inc -DPCRE2_LIBRARY=$libdir/libpcre2-8.so
                     -DOPENBLAS_INCLUDE_DIR=$inc/x86_64-linux-gnu/openblas-pthread
                     -DOPENBLAS_LIBRARY=$libdir/openblas-pthread/libopenblas.so
                     -DZLIB_INCLUDE_DIR=$inc -DZLIB_LIBRARY=/tmp/gpudeps/lib/x86_64-linux-gnu/libz.so.1
                     -DMHD_INCLUDE_DIR=$inc -DMHD_LIBRARY=$libdir/libmicrohttpd.so)
        export LD_LIBRARY_PATH=$libdir:$libdir/openblas-pthread:/tmp/gpudeps/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
    else
        bash scripts/deps.sh
    fi
    echo "== build"
    export PATH=$PATH:/usr/local/cuda/bin
    cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release "${prefix_args[@]}" | grep -E 'BitNet-C|Error'
    cmake --build build-gpu -j "$(nproc)" 2>&1 | grep -E 'error|warning|Built target bitnet$' 
    if [ "${GPU_CHECK_TESTS:-1}" != 0 ]; then
        echo "== tests"
        (cd build-gpu && ctest --output-on-failure -j 4 -LE long)
    fi
    echo "== test_cuda verbose"
    ./build-gpu/bin/test_cuda
    echo "== test_cuda_forward verbose (the CUDA forward pass against the CPU's)"
    ./build-gpu/bin/test_cuda_forward
    if command -v compute-sanitizer >/dev/null || [ -x /usr/local/cuda/bin/compute-sanitizer ]; then
        echo "== compute-sanitizer memcheck of the CUDA tests"
        cs=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
        "$cs" --tool memcheck --error-exitcode 1 ./build-gpu/bin/test_cuda_forward | tail -3
        "$cs" --tool memcheck --error-exitcode 1 ./build-gpu/bin/test_cuda | tail -3
    fi
    echo "== the CUDA forward pass on the 2B-4T shape (bench model, GPU then host CPU)"
    ./build-gpu/bin/bitnet synth --shape bitnet-2b4t --type i2_s /tmp/2b4t-gpu.gguf >/dev/null
    ./build-gpu/bin/bitnet bench model -m /tmp/2b4t-gpu.gguf -p 128,512 -n 128 -r 3 --device cuda
    ./build-gpu/bin/bitnet bench model -m /tmp/2b4t-gpu.gguf -p 128 -n 128 -r 3 -t "$(nproc)"
    echo "== sysinfo"
    ./build-gpu/bin/bitnet sysinfo
    echo "== selftest"
    ./build-gpu/bin/bitnet selftest
    if [ -n "${GPU_CHECK_TRAIN:-}" ]; then
        # The host's CPU is a second machine to measure training on (bench/RESULTS.md).
        echo "== training speed (host CPU, 2 threads and all)"
        unset OPENBLAS_CORETYPE
        ./build-gpu/bin/bitnet bench train bench/train-shape.json -t 2 --json
        ./build-gpu/bin/bitnet bench train bench/train-shape.json --json
        if python3 -c 'import torch' 2>/dev/null; then
            python3 scripts/train_reference.py bench --config bench/train-shape.json --threads 2
        fi
    fi
    if [ -n "${GPU_CHECK_CPU_BENCH:-}" ]; then
        # The host's CPU (16 cores, AVX-512) as a second machine for inference: thread scaling
        # of `bench model` on the 2B-4T shape, and the kernels against its rooflines.
        echo "== CPU inference on the host (bench model -t 1..all, bench kernels)"
        ./build-gpu/bin/bitnet synth --shape bitnet-2b4t --type i2_s /tmp/2b4t.gguf
        for t in 1 2 4 8 $(nproc); do
            ./build-gpu/bin/bitnet bench model -m /tmp/2b4t.gguf -p 128 -n 64 -r 3 -t "$t"
        done
        ./build-gpu/bin/bitnet bench kernels -t 2 --quick
        ./build-gpu/bin/bitnet synth --shape bitnet-3b --type i2_s /tmp/3b.gguf
        ./build-gpu/bin/bitnet bench model -m /tmp/3b.gguf -p 128 -n 64 -r 3 -t "$(nproc)"
    fi
} 2>&1 | tee "$log"
