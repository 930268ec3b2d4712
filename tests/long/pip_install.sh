#!/usr/bin/env bash
# pip_install.sh - `pip install ./python` into a fresh virtual environment, as a user would
# (scikit-build-core comes from PyPI, CMake compiles libbitnet into the wheel), then the
# installed package, found without BITNET_LIB, generates the same greedy text as the CLI.
set -eu
bin="$1"
root="$(cd "$(dirname "$0")/../.." && pwd)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install -q --disable-pip-version-check "$root/python"
cd "$tmp"
env -u BITNET_LIB "$tmp/venv/bin/python" - "$root/models/default.gguf" >"$tmp/py" <<'PY'
import sys, bitnet
m = bitnet.Model(sys.argv[1], head_type=None)
assert bitnet.__version__ == "0.3.0", bitnet.__version__
assert m._h is not None and bitnet._lib._find_library().startswith(bitnet.__path__[0])
sys.stdout.write(m.generate("It was a fine morning, and", max_tokens=24, temperature=0))
PY
"$bin" run -m "$root/models/default.gguf" -p "It was a fine morning, and" -n 24 --temp 0 \
    --head-type file 2>/dev/null | head -c "$(stat -c %s "$tmp/py")" >"$tmp/cli"
cmp "$tmp/py" "$tmp/cli" && echo "ok: pip install ./python, then the installed package = bitnet run"
