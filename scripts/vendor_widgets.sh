#!/usr/bin/env bash
# Copy the Jupyter widgets HTML manager (npm @jupyter-widgets/html-manager, BSD-3-Clause) into _vendor/widgets,
# which the site serves as <site>/widgets (html_extra_path in _config.yml), so that the pages with widgets
# (chapters 2, 5, 6, 7) draw their saved widget state without loading anything from a CDN.
# myst-nb's default loads require.js from cdnjs and embed-amd.js from jsdelivr; _config.yml's nb_ipywidgets_js
# points it at this copy of embed.js instead (the standalone build: the built-in widgets, no require.js).
# Not under _static/: Jupyter Book adds a <script> tag for every .js file there, on every page.
# Run once when upgrading; the copied files are committed. Needs npm.
set -euo pipefail
VERSION=1.0.15   # the html-manager of ipywidgets 8.1 (widget protocol 2)
SHA1=3d82fba512edcab82512e679be25c917f1b83fd1   # npm's dist.shasum of jupyter-widgets-html-manager-$VERSION.tgz
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
(cd "$TMP" && npm pack --silent "@jupyter-widgets/html-manager@$VERSION" >/dev/null)
TGZ="$TMP/jupyter-widgets-html-manager-$VERSION.tgz"
echo "$SHA1  $TGZ" | sha1sum -c -
tar xzf "$TGZ" -C "$TMP"
SRC="$TMP/package/dist"
OUT="$ROOT/_vendor/widgets"
rm -rf "$OUT"
mkdir -p "$OUT"
cp "$SRC/embed.js" "$SRC/embed.js.LICENSE.txt" "$OUT/"
# Font Awesome's web fonts, which embed.js's CSS loads relative to the script. Browsers take the first format
# they support (woff2, else woff), so the .eot, .svg and .ttf copies (2.5 MB) are left out.
cp "$SRC"/*.woff2 "$SRC"/*.woff "$OUT/"
if grep -qP "(?<!/\* )@import url\(['\"]?(https?:)?//" "$OUT/embed.js"; then   # (one is commented out)
  echo "embed.js imports a stylesheet from another host: remove it here before committing" >&2; exit 1
fi
cat > "$OUT/README.txt" <<TXT
@jupyter-widgets/html-manager $VERSION (npm; BSD-3-Clause, bundled licences in embed.js.LICENSE.txt;
Font Awesome Free fonts: SIL OFL 1.1). Copied by scripts/vendor_widgets.sh; loaded only by pages that hold
saved widget state (myst-nb's nb_ipywidgets_js in _config.yml).
TXT
du -sh "$OUT"
