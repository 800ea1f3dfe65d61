#!/usr/bin/env bash
# The benchmark: the app's cost next to the provider's own, in one run.
#
#   bash bench/run.sh                   (after the release build, about three minutes)
#   BENCH_PROFILE=1 bash bench/run.sh   (also: where the app's time goes, with perf)
#
# Starts the simulator alone and the app in real mode against it, connects users through the
# real OAuth flow (bench/connect.rs, a cookie-jar HTTP client), and measures with wrk. Then the
# same app binary against a fast upstream (bench/upstream.rs: the simulator's answers, canned and
# served from memory), which is where the app's own cost shows: pages/s, share of the upstream
# bound, and the app's CPU per page (user + system, all threads, from /proc/PID/stat). Every
# request goes to 127.0.0.1; every run is bounded in time. Prints two tables and writes
# bench/results.md.
set -euo pipefail
cd "$(dirname "$0")/.."

USERS=${BENCH_USERS:-200}
LIVE_SESSIONS=${BENCH_LIVE_SESSIONS:-10000}
DURATION=${BENCH_DURATION:-5s}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
STREAMS=${BENCH_STREAMS:-64}
STREAM_SECONDS=${BENCH_STREAM_SECONDS:-10}

sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
install() { echo "bench: installing $1" >&2; $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$1"; }
command -v wrk >/dev/null || install wrk
PROFILE=${BENCH_PROFILE:-0}
target=target
if [ "$PROFILE" = 1 ]; then
  command -v perf >/dev/null || install linux-perf
  # Line tables for perf's symbols, in a separate target directory so the plain build stays as is.
  export CARGO_PROFILE_RELEASE_DEBUG=line-tables-only
  target=target/bench-profile
fi
cargo build --release --quiet --workspace --bins --example bench-connect --example bench-upstream --example bench-stages --example bench-stream --target-dir "$target"
bin=$target/release
client="$bin/examples/bench-connect"
fast_upstream="$bin/examples/bench-upstream"

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}" $(cat "$work"/*.pid 2>/dev/null); do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now_ms() { date +%s%3N; }
rss_mb() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
# CPU time of a process so far (user + system, all threads), in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
tick_us=$(( 1000000 / $(getconf CLK_TCK) ))
hwm_mb() { awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
# Polls URL until it answers (any HTTP status); gives up after 10 s or when process PID exits.
wait_up() {
  local url=$1 pid=$2 deadline=$(( $(date +%s) + 10 ))
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "$url")" != 000 ]; do
    if ! kill -0 "$pid" 2>/dev/null || [ "$(date +%s)" -ge "$deadline" ]; then
      echo "bench: $url did not come up" >&2; cat "$work"/*.log >&2 2>/dev/null || true; exit 1
    fi
  done
}

# wrk → "requests/s p50_ms p99_ms"
measure() {
  local out=$work/wrk.txt
  wrk --latency "$@" >"$out" 2>&1 || { cat "$out" >&2; exit 1; }
  awk '
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    /Requests\/sec/ {rps=$2}
    / requests in / {total=$1}
    $1=="50%" {p50=ms($2)}
    $1=="99%" {p99=ms($2)}
    /Non-2xx/ {bad=$NF}
    END {printf "%.0f %.3f %.3f %s %d\n", rps, p50, p99, (bad==""?0:bad), total}' "$out"
}

# measure_cpu PID wrk-args… → "requests/s p50_ms p99_ms non2xx cpu_us_per_request" for PID
measure_cpu() {
  local pid=$1; shift
  local before after rps p50 p99 bad total
  before=$(cpu_ticks "$pid")
  read -r rps p50 p99 bad total < <(measure "$@")
  after=$(cpu_ticks "$pid")
  awk -v r="$rps" -v a="$p50" -v b="$p99" -v x="$bad" -v t="$total" -v c=$(( (after - before) * tick_us )) \
    'BEGIN {printf "%s %s %s %s %.0f\n", r, a, b, x, (t > 0 ? c / t : 0)}'
}

sim_port=$(free_port); app_port=$(free_port)
sim=http://127.0.0.1:$sim_port; app=http://127.0.0.1:$app_port
redirect=$app/auth/rememberizer/callback

SIMULATOR_BIND=127.0.0.1:$sim_port SIMULATOR_CLIENT_ID=bench-client SIMULATOR_CLIENT_SECRET=bench-secret \
SIMULATOR_REDIRECT_URIS=$redirect SIMULATOR_WORKERS=1 "$bin/rememberizer-simulator" >"$work/simulator.log" 2>&1 &
pids+=($!)
wait_up "$sim/api/v1/account/" "$!"

start=$(now_ms)
# The cache off: every dashboard makes its three calls, as the bound below assumes.
REMEMBERIZER_CACHE_SECS=0 REMEMBERIZER_CLIENT_ID=bench-client REMEMBERIZER_CLIENT_SECRET=bench-secret REMEMBERIZER_BASE_URL=$sim \
APP_BASE_URL=$app BIND_ADDR=127.0.0.1:$app_port SESSION_KEY=$(head -c 64 /dev/urandom | base64 -w0) \
TRUSTED_PROXIES=127.0.0.1 RUST_LOG=warn "$bin/talk-to-mementos" >"$work/app.log" 2>&1 &
app_pid=$!; pids+=($app_pid)
wait_up "$app/healthz" "$app_pid"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$app/healthz")" = 200 ] || { echo "bench: /healthz is not 200" >&2; exit 1; }
startup_ms=$(( $(now_ms) - start ))
sleep 1
rss_idle=$(rss_mb "$app_pid")

read -r _ cookie_bytes < <("$client" connect "$app" "$USERS" 16 "$work/cookies.txt")
token=$("$client" token "$sim" bench-client bench-secret "$redirect")

echo "bench: measuring (${DURATION} per run, ${CONNECTIONS} connections)…" >&2
read -r up_rps up_p50 up_p99 up_bad _ < <(BENCH_TOKEN=$token measure -t2 -c"$CONNECTIONS" -d"$DURATION" -s bench/lua/upstream.lua "$sim")
read -r dash_rps dash_p50 dash_p99 dash_bad _ < <(BENCH_COOKIES=$work/cookies.txt measure -t2 -c"$CONNECTIONS" -d"$DURATION" -s bench/lua/dashboard.lua "$app")
if [ "$PROFILE" = 1 ]; then
  # A separate dashboard run under perf, so that perf's own cost stays out of the figures above.
  perf record --quiet -F 999 --call-graph dwarf -p "$app_pid" -o "$work/perf.data" -- sleep 3 2>/dev/null &
  perf_pid=$!
  BENCH_COOKIES=$work/cookies.txt measure -t2 -c"$CONNECTIONS" -d4s -s bench/lua/dashboard.lua "$app" >/dev/null
  wait "$perf_pid"
fi
rss_load=$(hwm_mb "$app_pid")
# Latency one request at a time: what the app adds on top of the calls it makes.
read -r _ up1_p50 up1_p99 _ < <(BENCH_TOKEN=$token measure -t1 -c1 -d"$DURATION" -s bench/lua/upstream.lua "$sim")
read -r _ dash1_p50 dash1_p99 _ < <(BENCH_COOKIES=$work/cookies.txt measure -t1 -c1 -d"$DURATION" -s bench/lua/dashboard.lua "$app")
read -r home_rps home_p50 home_p99 _ < <(measure -t2 -c"$CONNECTIONS" -d"$DURATION" "$app/")
read -r css_rps css_p50 css_p99 _ < <(measure -t2 -c"$CONNECTIONS" -d"$DURATION" "$app/static/style.css")

# 10 000 live sessions, each connected through the real flow (tokens stored server-side).
# The full flow per second is measured on these connections: start → consent → callback → exchange.
more=$(( LIVE_SESSIONS > USERS ? LIVE_SESSIONS - USERS : 1 ))
read -r flows_per_s _ < <("$client" connect "$app" "$more" 32 "$work/more.txt")
sleep 1
rss_sessions=$(rss_mb "$app_pid")
read -r start_rps start_p50 start_p99 _ < <(measure -t2 -c"$CONNECTIONS" -d"$DURATION" "$app/auth/rememberizer")

# --- Against a fast upstream: the simulator's answers, canned (bench/upstream.rs).
canned=$work/canned; mkdir -p "$canned"
save() { curl -sf -H "Authorization: Bearer $token" "$sim$1" >"$canned/$2.json" || { echo "bench: cannot save $1" >&2; exit 1; }; }
save "/api/v1/account/" account
save "/api/v1/documents/?page=1&page_size=20" documents
save "/api/v1/integrations/" integrations
save "/api/v1/documents/search/?q=deploy&n=10" search
doc=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(next(x["pk"] for x in d["results"] if x["integration_type"] not in ("slack", "discord")))' "$canned/documents.json")
save "/api/v1/documents/$doc/contents/?start_chunk=0" contents
fast_port=$(free_port); fast=http://127.0.0.1:$fast_port
"$fast_upstream" "127.0.0.1:$fast_port" "$canned" >"$work/fast-upstream.log" 2>&1 &
fast_pid=$!; pids+=($fast_pid)
wait_up "$fast/api/v1/account/" "$fast_pid"
# start_fast_app NAME [VAR=value…] → "PID URL": the app against the fast upstream, 200 users
# connected (cookies in $work/NAME-cookies.txt).
start_fast_app() {
  local name=$1; shift
  local port; port=$(free_port)
  env "$@" REMEMBERIZER_CLIENT_ID=bench-client REMEMBERIZER_CLIENT_SECRET=bench-secret REMEMBERIZER_BASE_URL=$fast \
    APP_BASE_URL=http://127.0.0.1:$port BIND_ADDR=127.0.0.1:$port SESSION_KEY=$(head -c 64 /dev/urandom | base64 -w0) \
    TRUSTED_PROXIES=127.0.0.1 RUST_LOG=warn "$bin/talk-to-mementos" >"$work/$name.log" 2>&1 &
  local pid=$!
  # Known to `cleanup` even if this function (run in a subshell) stops half-way.
  echo "$pid" >"$work/$name.pid"
  wait_up "http://127.0.0.1:$port/healthz" "$pid"
  "$client" connect "http://127.0.0.1:$port" "$USERS" 16 "$work/$name-cookies.txt" >/dev/null
  echo "$pid http://127.0.0.1:$port"
}
# page PID URL COOKIES PATH → measure_cpu's figures for PATH through the app at URL.
page() { BENCH_PATH=$4 BENCH_COOKIES=$3 measure_cpu "$1" -t2 -c"$CONNECTIONS" -d"$DURATION" -s bench/lua/dashboard.lua "$2"; }
# profile PID URL COOKIES PATH [LABEL] → where the app's CPU goes on PATH (perf, bucketed by
# bench/profile.py), as a table titled LABEL (default PATH).
profile() {
  perf record --quiet -F 999 --call-graph dwarf -p "$1" -o "$work/perf-page.data" -- sleep 3 2>/dev/null &
  local perf_pid=$!
  BENCH_PATH=$4 BENCH_COOKIES=$3 measure -t2 -c"$CONNECTIONS" -d4s -s bench/lua/dashboard.lua "$2" >/dev/null
  wait "$perf_pid"
  perf script -i "$work/perf-page.data" -F ip,sym 2>/dev/null | python3 bench/profile.py "${5:-$4}"
}

# The app as shipped (the dashboard keeps account and integrations a minute, REMEMBERIZER_CACHE_SECS),
# and the same binary with that cache off: every dashboard view makes its 3 calls.
read -r fast_app_pid fast_app < <(start_fast_app fast-app REMEMBERIZER_CACHE_SECS=60); pids+=($fast_app_pid)
read -r cold_app_pid cold_app < <(start_fast_app cold-app REMEMBERIZER_CACHE_SECS=0); pids+=($cold_app_pid)
cookies=$work/fast-app-cookies.txt
echo "bench: measuring against the fast upstream…" >&2
read -r f_up_rps f_up_p50 f_up_p99 f_up_bad f_up_cpu < <(BENCH_TOKEN=x measure_cpu "$fast_pid" -t2 -c"$CONNECTIONS" -d"$DURATION" -s bench/lua/upstream.lua "$fast")
read -r f_dash_rps f_dash_p50 f_dash_p99 f_dash_bad f_dash_cpu < <(page "$fast_app_pid" "$fast_app" "$cookies" /dashboard)
read -r f_cold_rps f_cold_p50 f_cold_p99 f_cold_bad f_cold_cpu < <(page "$cold_app_pid" "$cold_app" "$work/cold-app-cookies.txt" /dashboard)
read -r f_ask_rps f_ask_p50 f_ask_p99 f_ask_bad f_ask_cpu < <(page "$fast_app_pid" "$fast_app" "$cookies" "/ask?q=deploy")
read -r f_doc_rps f_doc_p50 f_doc_p99 f_doc_bad f_doc_cpu < <(page "$fast_app_pid" "$fast_app" "$cookies" "/documents/$doc")
# The least a request costs here: no session, no upstream, no template.
read -r f_hz_rps f_hz_p50 f_hz_p99 f_hz_bad f_hz_cpu < <(measure_cpu "$fast_app_pid" -t2 -c"$CONNECTIONS" -d"$DURATION" "$fast_app/healthz")
# Streamed answers: /ask with a model that writes 40 pieces over 2 s (bench/upstream.rs), read
# chunk by chunk as a browser reads them (bench/stream.rs), STREAMS pages in flight at once.
read -r stream_app_pid stream_app < <(start_fast_app stream-app LLM_BASE_URL=$fast/v1 LLM_API_KEY=bench LLM_MODEL=bench); pids+=($stream_app_pid)
before=$(cpu_ticks "$stream_app_pid")
"$bin/examples/bench-stream" "$stream_app" "$work/stream-app-cookies.txt" "$STREAMS" "$STREAM_SECONDS" "/ask?q=deploy" >"$work/stream.txt"
read -r s_answers s_pass_p50 s_pass_p99 s_first_p50 s_first_p99 s_whole_p50 s_whole_p99 <"$work/stream.txt"
s_cpu=$(awk -v t=$(( ($(cpu_ticks "$stream_app_pid") - before) * tick_us )) -v n="$s_answers" 'BEGIN {printf "%.0f", (n > 0 ? t / n : 0)}')
# The dashboard's stages alone, on one thread with nothing else running (bench/stages.rs).
stages=$("$bin/examples/bench-stages" "$canned" "$fast")
f_rss=$(hwm_mb "$fast_app_pid")
f_bound=$(awk -v r="$f_up_rps" 'BEGIN {printf "%.0f", r/3}')
f_ratio=$(awk -v d="$f_dash_rps" -v b="$f_bound" 'BEGIN {printf "%.0f", 100*d/b}')
f_cold_ratio=$(awk -v d="$f_cold_rps" -v b="$f_bound" 'BEGIN {printf "%.0f", 100*d/b}')
profiles=""
if [ "$PROFILE" = 1 ]; then
  for path in /dashboard "/ask?q=deploy" "/documents/$doc"; do
    profiles+=$'\n\n'$(profile "$fast_app_pid" "$fast_app" "$cookies" "$path")
  done
  profiles+=$'\n\n'$(profile "$cold_app_pid" "$cold_app" "$work/cold-app-cookies.txt" /dashboard "/dashboard, cache off")
fi

fast_table=$(cat <<TABLE
| against a fast upstream (canned answers) | requests/s | p50 (ms) | p99 (ms) | CPU per request (µs) |
|---|---|---|---|---|
| upstream alone: the dashboard's 3 API calls, round robin | $f_up_rps | $f_up_p50 | $f_up_p99 | $f_up_cpu (upstream's) |
| \`/dashboard\` (documents call; account and integrations kept) | $f_dash_rps | $f_dash_p50 | $f_dash_p99 | $f_dash_cpu |
| \`/dashboard\`, cache off (\`REMEMBERIZER_CACHE_SECS=0\`: 3 API calls) | $f_cold_rps | $f_cold_p50 | $f_cold_p99 | $f_cold_cpu |
| \`/ask?q=deploy\` (search, 10 passages) | $f_ask_rps | $f_ask_p50 | $f_ask_p99 | $f_ask_cpu |
| \`/documents/$doc\` (2 contents calls + 1 documents call) | $f_doc_rps | $f_doc_p50 | $f_doc_p99 | $f_doc_cpu |
| \`/healthz\` (no session, no upstream, no template: the floor of a request) | $f_hz_rps | $f_hz_p50 | $f_hz_p99 | $f_hz_cpu |

| figure | value | target |
|---|---|---|
| dashboard rate ÷ three-call bound (${f_bound} /s) | ${f_ratio}% (cache off: ${f_cold_ratio}%) | ≥ 35% |
| app CPU per dashboard | ${f_dash_cpu} µs (cache off: ${f_cold_cpu} µs) | ≤ 150 µs |
| RSS peak of the app under these loads | ${f_rss} MB | |
| non-2xx answers | upstream ${f_up_bad}, dashboard ${f_dash_bad} (cache off ${f_cold_bad}), ask ${f_ask_bad}, document ${f_doc_bad} | 0 |

| streamed answers: \`/ask?q=deploy\`, a model writing 40 pieces over 2 s, ${STREAMS} pages in flight | p50 (ms) | p99 (ms) |
|---|---|---|
| the passages reach the browser (the page up to the answer) | $s_pass_p50 | $s_pass_p99 |
| the first piece of the answer reaches the browser | $s_first_p50 | $s_first_p99 |
| the page ends, answer complete | $s_whole_p50 | $s_whole_p99 |

${s_answers} answers in ${STREAM_SECONDS} s, every one complete; app CPU per streamed answer (searches, page, 40 pieces): ${s_cpu} µs.

$stages
TABLE
)

bound=$(awk -v r="$up_rps" 'BEGIN {printf "%.0f", r/3}')
ratio=$(awk -v d="$dash_rps" -v b="$bound" 'BEGIN {printf "%.0f", 100*d/b}')
add_p50=$(awk -v d="$dash1_p50" -v u="$up1_p50" 'BEGIN {printf "%.3f", d-u}')
cores=$(nproc)

table=$(cat <<TABLE
| measurement | requests/s | p50 (ms) | p99 (ms) |
|---|---|---|---|
| 1. upstream alone: the dashboard's 3 API calls, round robin (${CONNECTIONS} conn.) | $up_rps | $up_p50 | $up_p99 |
| 2. \`/dashboard\` through the app (cache off: 3 calls per view), ${USERS} users (${CONNECTIONS} conn.) | $dash_rps | $dash_p50 | $dash_p99 |
| 3a. landing page \`/\` | $home_rps | $home_p50 | $home_p99 |
| 3b. static file \`/static/style.css\` | $css_rps | $css_p50 | $css_p99 |
| 4a. connect redirect \`/auth/rememberizer\` | $start_rps | $start_p50 | $start_p99 |
| 4b. full flow (start → consent → callback → token exchange), $more users, 32 at a time | $flows_per_s flows/s | | |

| figure | value | target |
|---|---|---|
| upstream bound for dashboards (upstream rate ÷ 3 calls) | $bound /s | |
| dashboard rate ÷ upstream bound | ${ratio}% | ≥ 50% |
| latency the app adds, one request at a time (dashboard − one API call) | p50 ${add_p50} ms (p99, from two separate runs: dashboard ${dash1_p99} ms, one call ${up1_p99} ms) | p50 < 1 ms |
| RSS idle | ${rss_idle} MB | < 30 MB |
| RSS peak under the dashboard load | ${rss_load} MB | |
| RSS with ${LIVE_SESSIONS} live connected sessions (tokens of 1 600 bytes each) | ${rss_sessions} MB | < 80 MB |
| startup to first 200 on \`/healthz\` | ${startup_ms} ms | < 100 ms |
| session cookie (\`ttm_session=…\`) | ${cookie_bytes} bytes | |
| non-2xx answers during the load runs | upstream ${up_bad}, dashboard ${dash_bad} | 0 |
TABLE
)
if [ "$PROFILE" = 1 ]; then
  table+=$'\n\n'$(perf script -i "$work/perf.data" -F ip,sym 2>/dev/null | python3 bench/profile.py)
  fast_table+=$'\n\nWhere the app\'s CPU goes per page, against the fast upstream:'"$profiles"
fi
table="$fast_table"$'\n\n'"Against the simulator (it shares the cores and costs more than the app):"$'\n\n'"$table"
echo "$table"
{
  echo "# Benchmark results"
  echo
  echo "$(date -u +%Y-%m-%d), ${cores} cores ($(uname -m)); wrk, the simulator (1 worker) and the app (${cores} workers) on the same cores; ${DURATION} per run. Produced by \`$( [ "$PROFILE" = 1 ] && printf 'BENCH_PROFILE=1 ')bash bench/run.sh\`."
  echo
  echo "$table"
} > bench/results.md
echo "bench: written to bench/results.md" >&2
