#!/usr/bin/env bash
# The GET cross-check with an independent driver (BENCHMARKS.md, "Method"): wrk (Debian's
# package), one thread, 64 keep-alive connections, one access token, cycling over 200 process
# ids, against `selo serve` and against the bench's bare axum + rusqlite route; server CPU per
# request from /proc/<pid>/stat around each 10 s run (after a 2 s warm-up), three runs each.
#
#   cargo build --release -p selo -p selo-bench && crates/selo-bench/wrk/cross-check.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
selo=${SELO:-target/release/selo} bench=${BENCH:-target/release/selo-bench}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 2; }
lua="$PWD/crates/selo-bench/wrk/get.lua"
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

# selo: a demo sandbox without a rate limit, 200 processes.
port=$((20000 + RANDOM % 20000))
"$selo" serve --demo --data "$work/selo" --listen "127.0.0.1:$port" >"$work/selo.log" 2>&1 &
selo_pid=$!
for _ in $(seq 50); do [ -f "$work/selo/demo/credentials.json" ] && break; sleep 0.2; done
sleep 0.5
creds="$work/selo/demo/credentials.json"
tenant=$(python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['tenantId'])" "$creds")
export API_KEY=$(python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['apiKey'])" "$creds")
"$selo" admin tenant set-rate-limit --data "$work/selo" "$tenant" 0 >/dev/null
sleep 1.2
export ACCESS_TOKEN=$("$selo" token --data "$work/selo")
body="{\"subject\":{\"code\":\"00000000191\",\"name\":\"Maria Silva\"},\"imageBase64\":\"$(base64 -w0 "$work/selo/demo/selfie.jpg")\"}"
create() { # URL IDS: 200 creates, their ids one per line
  for _ in $(seq 200); do
    curl -sf -X POST "$1/processes/v1" -H "Authorization: Bearer $ACCESS_TOKEN" \
      -H "APIKEY: $API_KEY" -H 'content-type: application/json' -d "$body" |
      python3 -c "import json,sys;print(json.load(sys.stdin)['id'])"
  done >"$2"
}
create "http://127.0.0.1:$port" "$work/selo-ids"

# The bare route, with its own 200 processes.
openssl rsa -in "$work/selo/demo/private-key.pem" -pubout -out "$work/pub.pem" 2>/dev/null
mkdir -p "$work/bare"
"$bench" bare-server --dir "$work/bare" --audience bench --issuer bench \
  --public-key "$work/pub.pem" >"$work/bare.out" 2>/dev/null &
bare_pid=$!
for _ in $(seq 50); do [ -s "$work/bare.out" ] && break; sleep 0.1; done
bare_url=$(python3 -c "import json,sys;print(json.loads(open(sys.argv[1]).readline())['publicUrl'])" "$work/bare.out")
create "$bare_url" "$work/bare-ids"

cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
run() { # NAME PID URL IDS: warm-up, then a measured run; prints CPU µs per request
  export IDS_FILE=$4
  wrk -t1 -c64 -d2s -s "$lua" "$3" >/dev/null
  local c0 c1 out reqs bad
  c0=$(cpu "$2")
  out=$(wrk -t1 -c64 -d10s -s "$lua" "$3")
  c1=$(cpu "$2")
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  bad=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  [ -z "$bad" ] || { echo "$1: $bad non-2xx responses" >&2; exit 1; }
  python3 -c "import sys; print(f'{sys.argv[1]}: {sys.argv[2]} requests, server CPU {(float(sys.argv[4]) - float(sys.argv[3])) / float(sys.argv[5]) * 1e6 / float(sys.argv[2]):.1f} µs/request')" \
    "$1" "$reqs" "$c0" "$c1" "$(getconf CLK_TCK)"
}
for round in 1 2 3; do
  run "selo (round $round)" "$selo_pid" "http://127.0.0.1:$port" "$work/selo-ids"
  run "bare (round $round)" "$bare_pid" "$bare_url" "$work/bare-ids"
done
