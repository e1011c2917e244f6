#!/bin/sh
# Fails unless the committed dist/ is exactly what `npm run build` makes from src/ and the
# locked dependencies: rebuilds into a temporary directory and compares byte for byte.
# Run after `npm ci`. (The ncc command is the build script's, with another output dir.)
set -eu
cd "$(dirname "$0")"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
./node_modules/.bin/ncc build src/main.js -o "$tmp/dist" --license licenses.txt >"$tmp/ncc.log" 2>&1 || {
  cat "$tmp/ncc.log" >&2
  exit 1
}
if ! diff -r dist "$tmp/dist" >"$tmp/diff.txt" 2>&1; then
  echo "check-dist: dist/ differs from a fresh build of src/; run 'npm run build' in action/ and commit dist/." >&2
  head -c 4000 "$tmp/diff.txt" >&2
  exit 1
fi
echo "check-dist: dist/ matches a fresh build ($(wc -c <dist/index.js | tr -d ' ') bytes in dist/index.js)"
