#!/usr/bin/env bash
# Builds the exbert-lit LIT client bundle into exbert_lit/client/ (main.js + static/, no source map).
#
# LIT's client sources are not on npm or PyPI: they are vendored read-only in ../shared/vendor (LIT v1.3 client
# and the megaplot tarball). This script copies them to a temporary tree, adds our modules (src/, lib/),
# installs the client's npm dependencies, compiles LIT's app with every stock module plus ours through LIT's own
# webpack config (webpack.exbert.js keeps only our entry), and copies the result into the Python package with
# fonts served locally. It records the digest of the sources in exbert_lit/client/BUILD_INFO.json;
# tests/test_client_bundle.py fails when the sources change without a rebuild.
#
#   lit_modules/build.sh                      # about a minute on 2 cores
#   EXBERT_BUILD_DIR=/tmp/exbert-build lit_modules/build.sh   # keep the tree: later builds skip npm install
#   EXBERT_VENDOR=/path/to/vendor lit_modules/build.sh        # vendor folder elsewhere
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
vendor="${EXBERT_VENDOR:-$repo/../shared/vendor}"
vendor="$(cd "$vendor" && pwd)"
out="$repo/exbert_lit/client"
lit_src="$vendor/lit-client-v1.3/lit_nlp"
[ -f "$lit_src/package.json" ] || { echo "build.sh: LIT client sources not found in $vendor" >&2; exit 1; }
[ -d "$here/node_modules/@fontsource/roboto" ] || npm ci --prefix "$here" --no-audit --no-fund --silent

if [ -n "${EXBERT_BUILD_DIR:-}" ]; then work="$EXBERT_BUILD_DIR"; mkdir -p "$work"; else
  work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT; fi
tree="$work/lit_nlp"
mkdir -p "$tree"
# LIT's sources, fresh each time (node_modules is kept when the build dir is reused).
rm -rf "$tree/client" "$tree/exbert_lit_client"
cp -r "$lit_src/client" "$tree/"
cp "$lit_src/tsconfig.json" "$lit_src/yarn.lock" "$tree/"
chmod -R u+w "$tree"
sed "s#\"github:PAIR-code/megaplot\#ca8210d\"#\"file:$vendor/megaplot-0.1.2.tgz\"#" "$lit_src/package.json" > "$tree/package.json.new"
if ! cmp -s "$tree/package.json.new" "$tree/package.json" || [ ! -d "$tree/node_modules/webpack" ]; then
  mv "$tree/package.json.new" "$tree/package.json"
  echo "build.sh: installing LIT client dependencies (npm)"
  (cd "$tree" && npm install --no-audit --no-fund --loglevel=error)
else
  rm "$tree/package.json.new"
fi

# Our modules inside the tree, so their imports of lit, mobx and LIT's client resolve.
mkdir -p "$tree/exbert_lit_client"
cp -r "$here/src" "$tree/exbert_lit_client/src"
mkdir -p "$tree/exbert_lit_client/lib"
find "$here/lib" -maxdepth 1 -name '*.ts' ! -name '*_test.ts' -exec cp {} "$tree/exbert_lit_client/lib/" \;
cp "$here/webpack.exbert.js" "$tree/client/webpack/exbert.config.js"

echo "build.sh: compiling LIT's client with the exBERT modules (webpack)"
(cd "$tree" && node_modules/.bin/webpack --config client/webpack/exbert.config.js)
built="$tree/exbert_lit_client/build"
[ -s "$built/main.js" ] || { echo "build.sh: webpack produced no main.js" >&2; exit 1; }

# Into the package: main.js (+ its license notices), LIT's static files (incl. the onboarding GIFs its help
# pages load at start-up), our index.html (no font CDN) and the fonts.
rm -rf "$out"
mkdir -p "$out/static/fonts"
cp "$built/main.js" "$out/"
[ -f "$built/main.js.LICENSE.txt" ] && cp "$built/main.js.LICENSE.txt" "$out/"
find "$lit_src/client/static" -maxdepth 1 -type f ! -name index.html -exec cp {} "$out/static/" \;
cp "$here/static/index.html" "$out/static/index.html"
cp "$here/static/fonts/fonts.css" "$out/static/fonts/"
for w in 400 500 700; do
  cp "$here/node_modules/@fontsource/roboto/files/roboto-latin-$w-normal.woff2" "$out/static/fonts/"
done
cp "$here/node_modules/material-icons/iconfont/material-icons.woff2" \
   "$here/node_modules/material-icons/iconfont/material-icons-outlined.woff2" "$out/static/fonts/"
cp "$here/node_modules/@fontsource/roboto/LICENSE" "$out/static/fonts/LICENSE-roboto" 2>/dev/null || true
cp "$here/node_modules/material-icons/LICENSE" "$out/static/fonts/LICENSE-material-icons" 2>/dev/null || true

digest="$(cd "$repo" && python3 -c 'import pathlib, sys; sys.path.insert(0, "."); from exbert_lit.lit.client import sources_digest; print(sources_digest(pathlib.Path("lit_modules")))')"
cat > "$out/BUILD_INFO.json" <<JSON
{
  "sources_sha256": "$digest",
  "lit_client": "PAIR-code/lit v1.3 (cfcb4395c5531806f1c7474a5c97530cf0efc72a)",
  "node": "$(node --version)"
}
JSON
echo "build.sh: wrote $out ($(du -sh "$out" | cut -f1); main.js $(du -h "$out/main.js" | cut -f1))"
