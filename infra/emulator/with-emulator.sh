#!/usr/bin/env bash
# Runs a command with one emulator (moto behind our serializing wrapper) shared by every test
# process, exported as KUPE_EMULATOR_URL (and its pid as KUPE_EMULATOR_PID, for the benchmarks'
# RSS figures); stops the emulator afterwards, whatever happens. KUPE_EMULATOR_SCRIPT runs another
# wrapper script (to measure an older serve.py against this one).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
log="$(mktemp)"
"$root/.venv/bin/python" "${KUPE_EMULATOR_SCRIPT:-$here/serve.py}" --port 0 --parent-pid $$ >"$log" 2>"$log.err" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$log" "$log.err"' EXIT
for _ in $(seq 1 200); do
  if grep -q '^READY ' "$log"; then break; fi
  if ! kill -0 $pid 2>/dev/null; then cat "$log.err" >&2; echo "emulator failed to start" >&2; exit 1; fi
  sleep 0.1
done
port="$(awk '/^READY /{print $2}' "$log")"
[ -n "$port" ] || { echo "emulator did not become ready" >&2; exit 1; }
export KUPE_EMULATOR_URL="http://127.0.0.1:$port"
export KUPE_EMULATOR_PID="$pid"
"$@"
