#!/usr/bin/env bash
# Copy MathJax 3 (Apache-2.0) into _vendor/mathjax, which the site serves as <site>/mathjax (see _config.yml),
# so the site renders formulas without a third-party CDN
# (offline, in classrooms with poor internet, and in CI's headless-browser check).
# Run once when upgrading MathJax; the copied files are committed. Needs npm.
set -euo pipefail
VERSION=3.2.2
SHA1=c754d7b46a679d7f3fa03543d6b8bf124ddf9f6b   # npm's dist.shasum of mathjax-$VERSION.tgz
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
(cd "$TMP" && npm pack --silent "mathjax@$VERSION" >/dev/null)
echo "$SHA1  $TMP/mathjax-$VERSION.tgz" | sha1sum -c -
tar xzf "$TMP/mathjax-$VERSION.tgz" -C "$TMP"
SRC="$TMP/package/es5"
OUT="$ROOT/_vendor/mathjax"
rm -rf "$OUT"
mkdir -p "$OUT/output/chtml/fonts" "$OUT/input/tex"
cp "$SRC/tex-mml-chtml.js" "$OUT/"
cp -r "$SRC/output/chtml/fonts/woff-v2" "$OUT/output/chtml/fonts/"
cp -r "$SRC/input/tex/extensions" "$OUT/input/tex/"
rm -f "$OUT/input/tex/extensions/all-packages.js" "$OUT/input/tex/extensions/mhchem.js" \
      "$OUT/input/tex/extensions/bussproofs.js"
cp "$TMP/package/LICENSE" "$OUT/LICENSE"
echo "MathJax $VERSION (npm package mathjax, es5 build; Apache-2.0). Copied by scripts/vendor_mathjax.sh." > "$OUT/README.txt"
du -sh "$OUT"
