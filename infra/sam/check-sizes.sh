#!/usr/bin/env bash
# Every bootstrap under DIR (default .aws-sam/build, where `sam build` puts one directory per
# function) against the size goals of issue 13: the bootstrap at most MAX_BOOTSTRAP bytes
# (7,000,000), its `zip -9` at most MAX_ZIP bytes (3,000,000); MB here is 1,000,000 bytes.
# Prints a table (function, bootstrap bytes, zip bytes) and exits 1 when any is over or when
# there is no bootstrap at all. Used by infra/sam/check.sh; runs alone on any directory of
# `<function>/bootstrap` files.
set -euo pipefail
dir="${1:-.aws-sam/build}"
max_bootstrap="${MAX_BOOTSTRAP:-7000000}"
max_zip="${MAX_ZIP:-3000000}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

over=0
count=0
printf '%-40s %12s %12s\n' function bootstrap zip
for bin in "$dir"/*/bootstrap; do
  [ -f "$bin" ] || continue
  name="$(basename "$(dirname "$bin")")"
  size="$(stat -c %s "$bin")"
  (cd "$(dirname "$bin")" && zip -q -9 "$tmp/$name.zip" bootstrap)
  zipped="$(stat -c %s "$tmp/$name.zip")"
  verdict=""
  if [ "$size" -gt "$max_bootstrap" ] || [ "$zipped" -gt "$max_zip" ]; then
    verdict="  OVER"
    over=$((over + 1))
  fi
  printf '%-40s %12d %12d%s\n' "$name" "$size" "$zipped" "$verdict"
  count=$((count + 1))
done
if [ "$count" = 0 ]; then
  echo "no bootstrap under $dir"
  exit 1
fi
echo "$count bootstraps, $over over the limits (bootstrap ≤ $max_bootstrap bytes, zip -9 ≤ $max_zip bytes)"
[ "$over" = 0 ]
