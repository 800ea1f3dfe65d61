#!/usr/bin/env bash
# What a request costs with sessions in Redis instead of memory.
#
# Runs the release binary in demo mode twice (SESSION_STORE=memory, then redis://), gives a
# browser a session (one pending flow), and loads `/` with that cookie with wrk: every request
# reads its session from the store and renders the landing page, with no call to Rememberizer.
# Traffic goes to 127.0.0.1 only; each run is bounded (5 s, 8 connections).
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in wrk redis-server curl; do
  command -v "$tool" >/dev/null || { echo "needs $tool: apt-get install -y wrk redis-server curl" >&2; exit 1; }
done
cargo build --release --quiet

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no >/dev/null &
pids+=($!)
until redis-cli -p "$redis_port" ping >/dev/null 2>&1; do sleep 0.05; done

run() {
  local store=$1 port
  port=$(free_port)
  SESSION_KEY=$(head -c 64 /dev/urandom | base64 -w0) SESSION_STORE=$store BIND_ADDR=127.0.0.1:$port RUST_LOG=warn ./target/release/talk-to-mementos &
  local pid=$!
  pids+=($pid)
  until curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; do sleep 0.05; done
  local cookie
  cookie=$(curl -s -o /dev/null -D - "http://127.0.0.1:$port/auth/rememberizer" | sed -n 's/^set-cookie: \(ttm_session=[^;]*\).*/\1/Ip')
  wrk -t1 -c8 -d5s --latency -H "Cookie: $cookie" "http://127.0.0.1:$port/" >"/tmp/wrk-$$.txt"
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' "/tmp/wrk-$$.txt")
  p50=$(awk '$1=="50%" {print $2}' "/tmp/wrk-$$.txt")
  p99=$(awk '$1=="99%" {print $2}' "/tmp/wrk-$$.txt")
  printf '| %s | %s | %s | %s |\n' "${store%%:*}" "$rps" "$p50" "$p99"
  kill "$pid"
}

echo "| session store | requests/s | p50 | p99 |"
echo "|---|---|---|---|"
run memory
run "redis://127.0.0.1:$redis_port"
rm -f "/tmp/wrk-$$.txt"
