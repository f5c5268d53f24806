#!/usr/bin/env bash
# Puts MathJax 3 where the book serves it from (.cache/mathjax-static/mathjax), so pages render their
# maths with no internet. MathJax comes from the npm registry; nothing of it is committed.
set -euo pipefail
cd "$(dirname "$0")/.."
version=3.2.2
dest=.cache/mathjax-static/mathjax
if [ -f "$dest/tex-mml-chtml.js" ] && [ -f "$dest/.version-$version" ]; then
  exit 0
fi
command -v npm >/dev/null || { echo "npm is needed to fetch MathJax (apt-get install npm)" >&2; exit 1; }
npm install --silent --no-audit --no-fund --prefix .cache/npm "mathjax@$version"
src=.cache/npm/node_modules/mathjax/es5
rm -rf "$dest" && mkdir -p "$dest"
cp "$src/tex-mml-chtml.js" "$dest/"
cp -r "$src/output" "$src/input" "$src/a11y" "$src/ui" "$dest/"
touch "$dest/.version-$version"
echo "MathJax $version ready in $dest"
