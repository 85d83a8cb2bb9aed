#!/usr/bin/env bash
# One benchmark run of session-events on this machine, with the project's own load generator
# (target/release/loadgen): the database ceiling, the service's max sustained rate, its CPU per
# frame and memory, latency at half the max, and memory under overload, for FerretDB and for
# the embedded store; and the service in front of no store at all (the null store).
#
#   loadtest/bench.sh                 # ~8 minutes after the build on 2 cores; report on stdout
#
# Steps:
#   build   cargo build --release --bins --features bench-null-store (the feature only adds the
#           NULL_STORE option; every other step runs the same code as a default build);
#           FerretDB via scripts/mongo-server (temp dir)
#   (a)     loadgen --mode db-ceiling: documents built as the service builds them, written with
#           insert_many(ordered=false), batch 500, 4 writers (CEILING_FRAMES frames; FerretDB
#           takes ~100 frames/s here, the embedded store thousands: EMBEDDED_CEILING_FRAMES)
#   (b)     the release service on a fresh database; open-model steps of STEP_SECONDS each,
#           doubling from a start rate until p99 > P99_BOUND_MS or any error or dropped send,
#           then two bisection steps; the last good rate is the max sustained rate
#   (c)     service CPU µs/frame (/proc/<pid>/stat utime+stime delta over the max good step /
#           frames acknowledged in it), FerretDB's the same way, peak RSS (VmHWM)
#   (d)     a fresh service at 50% of max: p50/p99, then loadgen --verify. /metrics is scraped
#           before and after the step: the median of session_events_store_write_duration_seconds
#           over the step (bucket deltas, linear interpolation within the bucket, as Prometheus'
#           histogram_quantile) gives target (2): p99 <= BATCH_LINGER + 2 x median batch write
#   (o)     overload, target (3): a fresh service with a small queue (QUEUE_MAX_BYTES =
#           OVERLOAD_QUEUE_MIB, ~600 frames) whose store takes less than it is offered, for
#           OVERLOAD_SECONDS: 503s, accepted frames/s, latency of the refusals, the queue's
#           fill (its bytes gauge, sampled each second) and peak RSS against 2 x QUEUE_MAX_BYTES
#           + 64 MiB (+ EMBEDDED_CACHE_BYTES on the embedded store).
#           Frames the writers have taken into batches have left the queue's byte count, so the
#           queue fills only once the writers hold full batches: each store's overload settings
#           keep that small next to the queue.
#           FerretDB: OVERLOAD_FACTOR x its db-ceiling (or its max sustained rate if higher):
#           fed full batches it takes about its ceiling, 2-3 x the latency-bound max; with
#           BATCH_MAX_DOCS=50 (with 500, 4 writers hold ~2000 frames, 28 MB, outside the queue
#           and it would not fill within the step). The queue fills in 2-9 s and drains in
#           under 10 s, inside the 30 s SERVER_TIMEOUT (32 MiB would not fill within the step).
#           Embedded: its store takes ~3000 frames/s with batches, more than the HTTP path
#           decodes on 2 shared cores (a refusal costs a full decode too), so 3 x its max would
#           overload the CPU, not the store, and the queue would not fill. Its writers are
#           throttled instead (one writer, one frame per commit: ~350-1400 frames/s here,
#           depending on fsync latency and CPU) and it is offered its max sustained rate, what
#           the HTTP path takes here; the queue fills within ~7 s even when the throttled store
#           takes 90 % of that. The report gives offered / accepted, the overload factor
#           reached, and says when the queue never filled
#   (e)     (b)-(d) and (o) with the embedded store (no MONGO_URI, DATA_DIR in the temp dir)
#   (n)     (b)+(c) with NULL_STORE=true: a sink that acknowledges every frame and keeps none,
#           i.e. HTTP + decode + build + queue + batching + acknowledgement alone
#   (t)     transports side by side: on the embedded store and on the null store, one fresh
#           service each, loadgen --transport http, ws and batch (BATCH_FRAMES per POST) in
#           turn, TRANSPORT_ROUNDS rounds of TRANSPORT_SECONDS at TRANSPORT_RATE: frames/s,
#           service CPU µs per acknowledged frame (/proc ticks), load generator CPU µs per frame
#           sent; medians over the rounds. `BENCH_ONLY=transports loadtest/bench.sh` runs the
#           build and this step only (~2 minutes)
#   (v)     the null-store service beside the trivial server (src/bin/trivial_server.rs: reads
#           the body, scans it with serde's IgnoredAny, answers a constant 200), both up at once:
#           at each of VERSUS_RATES, VERSUS_ROUNDS rounds of VERSUS_SECONDS, service and trivial
#           interleaved, server CPU µs per acknowledged frame (/proc ticks), load generator CPU
#           µs per frame sent; medians; then the max-sustained search of (b) for each (from
#           NULL_START, steps of STEP_SECONDS), and one table: both rows, service / trivial.
#           Bodies repeat after VERSUS_DISTINCT frames per run (neither server keeps them), so
#           fast steps need no generation during the run.
#           `BENCH_ONLY=trivial loadtest/bench.sh` runs the build and this step only.
#           BENCH_BASELINE_BIN=<an older session-events binary> adds it as a third server,
#           interleaved round by round with the other two, and a "service / baseline" row: a
#           before/after measured in one run, under the same neighbours
# Frames: profile session (~10.7 KB protojson, ~14 KB once stored), JSON, no gzip.
# Knobs (environment, defaults): P99_BOUND_MS 500, STEP_SECONDS 10, CEILING_FRAMES 4000,
#   EMBEDDED_CEILING_FRAMES 20000, BATCH 500, WRITERS 4 and EMBEDDED_WRITERS 1 (the ceiling's,
#   as the service's defaults per store), MATCHES 10, NODES 4,
#   MAX_RATE 32000, BISECT 2, LINGER_MS 5 (the services' BATCH_LINGER), EMBEDDED_CACHE_MIB 64,
#   NULL_START 500, OVERLOAD_FACTOR 3, OVERLOAD_SECONDS 15, OVERLOAD_QUEUE_MIB 8,
#   OVERLOAD_FERRETDB_ENV "BATCH_MAX_DOCS=50",
#   OVERLOAD_EMBEDDED_ENV "WRITERS=1 BATCH_MAX_DOCS=1", OVERLOAD_IN_FLIGHT 20000,
#   TRANSPORT_RATE 1000, TRANSPORT_SECONDS 8, TRANSPORT_ROUNDS 3, BATCH_FRAMES 100,
#   VERSUS_RATES "1000 3000", VERSUS_SECONDS 8, VERSUS_ROUNDS 3, VERSUS_DISTINCT 20000.
# Binaries run from a copy in the temp dir: the target dir may be shared (CARGO_TARGET_DIR),
# and another build must not replace them mid-run. BENCH_BIN_DIR: take them from that
# directory instead of building.
# Everything started here is stopped by PID on exit (trap).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

P99_BOUND_MS="${P99_BOUND_MS:-500}"
STEP_SECONDS="${STEP_SECONDS:-10}"
CEILING_FRAMES="${CEILING_FRAMES:-4000}"
EMBEDDED_CEILING_FRAMES="${EMBEDDED_CEILING_FRAMES:-20000}"
BATCH="${BATCH:-500}"
WRITERS="${WRITERS:-4}"
EMBEDDED_WRITERS="${EMBEDDED_WRITERS:-1}"
MATCHES="${MATCHES:-10}"
NODES="${NODES:-4}"
MAX_RATE="${MAX_RATE:-32000}"
BISECT="${BISECT:-2}"
LINGER_MS="${LINGER_MS:-5}"
EMBEDDED_CACHE_MIB="${EMBEDDED_CACHE_MIB:-64}"
NULL_START="${NULL_START:-500}"
OVERLOAD_FACTOR="${OVERLOAD_FACTOR:-3}"
OVERLOAD_SECONDS="${OVERLOAD_SECONDS:-15}"
OVERLOAD_QUEUE_MIB="${OVERLOAD_QUEUE_MIB:-8}"
OVERLOAD_FERRETDB_ENV="${OVERLOAD_FERRETDB_ENV:-BATCH_MAX_DOCS=50}"
OVERLOAD_EMBEDDED_ENV="${OVERLOAD_EMBEDDED_ENV:-WRITERS=1 BATCH_MAX_DOCS=1}"
# Durable acks: every queued frame is an outstanding request, so the generator must allow more
# in flight than the queue holds, or it would drop sends before the service refuses any.
OVERLOAD_IN_FLIGHT="${OVERLOAD_IN_FLIGHT:-20000}"
TRANSPORT_RATE="${TRANSPORT_RATE:-1000}"
TRANSPORT_SECONDS="${TRANSPORT_SECONDS:-8}"
TRANSPORT_ROUNDS="${TRANSPORT_ROUNDS:-3}"
BATCH_FRAMES="${BATCH_FRAMES:-100}"
VERSUS_RATES="${VERSUS_RATES:-1000 3000}"
VERSUS_SECONDS="${VERSUS_SECONDS:-8}"
VERSUS_ROUNDS="${VERSUS_ROUNDS:-3}"
VERSUS_DISTINCT="${VERSUS_DISTINCT:-20000}"

command -v jq >/dev/null || { echo "bench.sh: needs jq (apt-get install -y jq)" >&2; exit 1; }
command -v curl >/dev/null || { echo "bench.sh: needs curl" >&2; exit 1; }

log() { echo "bench: $*" >&2; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/session-events-bench.XXXXXX")"
SVC_PID=""
FDB_PID=""
FDB_ACTIVE=""
SAMPLER_PID=""
# Servers of step (v) beyond SVC_PID (both run at once), stopped on exit.
EXTRA_PIDS=""
BIN="$WORK/bin"
cleanup() {
    local rc=$?
    if [[ -n "$SAMPLER_PID" ]]; then kill "$SAMPLER_PID" 2>/dev/null || true; fi
    local p
    for p in $EXTRA_PIDS; do
        [[ "$p" == "$SVC_PID" ]] || { kill -TERM "$p" 2>/dev/null || true; }
    done
    if [[ -n "$SVC_PID" ]]; then stop_service; fi
    if [[ -n "$FDB_PID" ]]; then scripts/mongo-server stop "$FDB_PID" || true; fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- helpers ----------------------------------------------------------------------------------

# utime + stime of a process, in clock ticks (USER_HZ = 100).
cpu_ticks() { sed -e 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
# Busy and total ticks of the whole machine (/proc/stat), for the idle share during a step.
machine_ticks() { awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t; exit }' /proc/stat; }
vm_hwm_mb() { awk '/^VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# scrape FILE: the running service's /metrics.
scrape() { curl -fsS "http://127.0.0.1:$PORT/metrics" >"$1"; }

# hist_quantile Q BEFORE AFTER NAME: quantile Q of histogram NAME over the interval between two
# scrapes, as Prometheus' histogram_quantile computes it on the bucket deltas: the first bucket
# whose count reaches Q x total, linearly interpolated between its bounds (the first bucket's
# lower bound is 0; a quantile in the +Inf bucket is the highest finite bound). Prints seconds,
# or "-" when nothing was observed. The exporter lists buckets in ascending order.
hist_quantile() {
    awk -v q="$1" -v m="$4_bucket{" '
        index($0, m) != 1 { next }
        {
            match($0, /le="[^"]*"/)
            le = substr($0, RSTART + 4, RLENGTH - 5)
            if (FILENAME == ARGV[1]) { before[le] = $NF; next }
            after[le] = $NF
            les[++n] = le
        }
        END {
            total = after["+Inf"] - before["+Inf"]
            if (total <= 0) { print "-"; exit }
            rank = q * total
            lower = 0; below = 0
            for (i = 1; i <= n; i++) {
                c = after[les[i]] - before[les[i]]
                if (c >= rank) {
                    if (les[i] == "+Inf") printf "%.6f", lower
                    else printf "%.6f", lower + (les[i] - lower) * (rank - below) / (c - below)
                    exit
                }
                lower = les[i]; below = c
            }
        }' "$2" "$3"
}
# counter_value FILE NAME_WITH_LABELS: a sample's value in a scrape (0 when absent).
counter_value() { awk -v m="$2" '$1 == m { v = $NF } END { print v + 0 }' "$1"; }

# A port nobody listens on, below the kernel's ephemeral range: the overload steps leave
# thousands of client connections whose local ports a listener could not bind.
free_port() {
    local port low
    low="$(awk '{ print $1 }' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)"
    ((low > 12000)) || low=32768
    while :; do
        port=$((10000 + RANDOM % (low - 10000)))
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
    done
}

# start_service NAME [ENV=VALUE...]: the release service (or SERVER_BIN) on a free port, in
# the background.
start_service() {
    local name="$1"
    shift
    PORT="$(free_port)"
    env -u MONGO_URI BATCH_LINGER="${LINGER_MS}ms" EMBEDDED_CACHE_BYTES="$((EMBEDDED_CACHE_MIB << 20))" \
        "$@" SERVER_ADDRESS="127.0.0.1:$PORT" RUST_LOG=warn \
        "${SERVER_BIN:-$BIN/session-events}" >"$WORK/$name.log" 2>&1 &
    SVC_PID=$!
    local i
    for ((i = 0; i < 300; i++)); do
        if curl -fsS "http://127.0.0.1:$PORT/health" >/dev/null 2>&1; then
            log "service $name up (pid $SVC_PID, port $PORT)"
            return
        fi
        kill -0 "$SVC_PID" 2>/dev/null || break
        sleep 0.1
    done
    tail -n 20 "$WORK/$name.log" >&2
    echo "bench.sh: the service ($name) did not come up" >&2
    exit 1
}

stop_service() {
    local i
    kill -TERM "$SVC_PID" 2>/dev/null || true
    for ((i = 0; i < 400; i++)); do
        kill -0 "$SVC_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$SVC_PID" 2>/dev/null || true
    wait "$SVC_PID" 2>/dev/null || true
    SVC_PID=""
}

# step NAME RATE [loadgen args...]: one open-model step against the running service. Sets
# STEP_OK (1 when p99 <= bound, no errors, no drops), STEP_JSON, STEP_SVC_TICKS, STEP_DB_TICKS.
step() {
    local name="$1" rate="$2"
    shift 2
    STEP_JSON="$WORK/$name-$rate.json"
    local s0 d0=0 s1 d1=0 m0 m1 idle
    s0="$(cpu_ticks "$SVC_PID")"
    m0="$(machine_ticks)"
    [[ -n "$FDB_ACTIVE" ]] && d0="$(cpu_ticks "$FDB_PID")"
    "$BIN/loadgen" --target "http://127.0.0.1:$PORT" --rate "$rate" \
        --duration "${STEP_SECONDS}s" --matches "${STEP_MATCHES:-$MATCHES}" \
        --nodes "${STEP_NODES:-$NODES}" --quiet \
        --summary-json "$STEP_JSON" "$@" >"$WORK/$name-$rate.txt" 2>&1 || {
        cat "$WORK/$name-$rate.txt" >&2
        [[ -s "$STEP_JSON" ]] || exit 1
    }
    s1="$(cpu_ticks "$SVC_PID")"
    m1="$(machine_ticks)"
    idle="$(awk -v a="$m0" -v b="$m1" 'BEGIN { split(a, x, " "); split(b, y, " ");
        t = y[2] - x[2]; if (t > 0) printf "%.0f", 100 * (1 - (y[1] - x[1]) / t); else print "-" }')"
    [[ -n "$FDB_ACTIVE" ]] && d1="$(cpu_ticks "$FDB_PID")"
    STEP_SVC_TICKS=$((s1 - s0))
    STEP_DB_TICKS=$((d1 - d0))
    STEP_OK="$(jq --argjson b "$P99_BOUND_MS" -r \
        'if .errors == 0 and .dropped == 0 and .latency_ms.p99 <= $b then 1 else 0 end' "$STEP_JSON")"
    log "$(jq -r --arg ok "$STEP_OK" --arg s "$STEP_SVC_TICKS" --arg d "$STEP_DB_TICKS" \
        '"  \(.rate)/s: ok \(.acknowledged)/\(.scheduled) err \(.errors) drop \(.dropped) late \(.late) achieved \(.achieved_rate|floor)/s p50 \(.latency_ms.p50) p99 \(.latency_ms.p99) ms; cpu svc \($s) db \($d) ticks -> \(if $ok == "1" then "good" else "over" end)"' \
        "$STEP_JSON")"
    echo "| $name | $rate | $(jq -r '"\(.acknowledged)/\(.scheduled) | \(.errors) | \(.dropped) | \(.late) | \(.achieved_rate|floor) | \(.latency_ms.p50) | \(.latency_ms.p99) | \(if .sent > 0 then (.loadgen_cpu_s * 1e6 / .sent | floor) else 0 end)"' "$STEP_JSON") | $STEP_SVC_TICKS | $STEP_DB_TICKS | $idle | $([[ $STEP_OK == 1 ]] && echo good || echo over) |" >>"$WORK/steps.md"
    sleep 1
}

# search NAME START [loadgen args...]: doubling steps from START, then BISECT bisections. Sets
# MAX_GOOD and, for that step, GOOD_SVC_US and GOOD_DB_US (CPU µs per acknowledged frame) and
# GOOD_GEN_US (the load generator's CPU µs per frame sent).
search() {
    local name="$1" rate="$2" bad=0 i mid
    shift 2
    MAX_GOOD=0 GOOD_SVC_US=0 GOOD_DB_US=0 GOOD_GEN_US=0
    record_good() {
        MAX_GOOD="$1"
        local acked
        acked="$(jq .acknowledged "$STEP_JSON")"
        GOOD_SVC_US=$((STEP_SVC_TICKS * 10000 / acked))
        GOOD_DB_US=$((STEP_DB_TICKS * 10000 / acked))
        GOOD_GEN_US="$(jq '.loadgen_cpu_us_per_frame | floor' "$STEP_JSON")"
    }
    while ((rate <= MAX_RATE)); do
        step "$name" "$rate" "$@"
        if [[ "$STEP_OK" == 1 ]]; then record_good "$rate"; else bad="$rate"; break; fi
        rate=$((rate * 2))
    done
    for ((i = 0; i < BISECT && bad > 0 && MAX_GOOD > 0; i++)); do
        mid=$(((MAX_GOOD + bad) / 2))
        ((mid > MAX_GOOD * 105 / 100)) || break
        step "$name" "$mid" "$@"
        if [[ "$STEP_OK" == 1 ]]; then record_good "$mid"; else bad="$mid"; fi
    done
}

# write_median STORE: the median batch write over the 50% step, from its two scrapes.
write_median() {
    local a="$WORK/metrics-$1-0.txt" b="$WORK/metrics-$1-1.txt" m=session_events_store_write_duration_seconds
    local med
    med="$(hist_quantile 0.5 "$a" "$b" "$m")"
    WRITE_MEDIAN_MS[$1]="$(awk -v s="$med" 'BEGIN { if (s == "-") print "-"; else printf "%.1f", s * 1000 }')"
    WRITE_BATCHES[$1]=$(($(counter_value "$b" "${m}_count") - $(counter_value "$a" "${m}_count")))
    log "(d) $1: median batch write ${WRITE_MEDIAN_MS[$1]} ms over ${WRITE_BATCHES[$1]} batches"
    # The service's own ack latency (enqueue to durable write), which the target names; the
    # load generator's p99 also holds HTTP, decoding and its own scheduling.
    med="$(hist_quantile 0.99 "$a" "$b" session_events_ack_latency_seconds)"
    ACK_P99_MS[$1]="$(awk -v s="$med" 'BEGIN { if (s == "-") print "-"; else printf "%.1f", s * 1000 }')"
}

# sample_queue FILE: every second, the running service's RSS (MiB) and queue bytes (MiB), until
# killed (by PID, from overload or the EXIT trap).
sample_queue() {
    local pid="$SVC_PID" port="$PORT"
    while kill -0 "$pid" 2>/dev/null; do
        echo "$(awk '/^VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$pid/status" 2>/dev/null)" \
            "$(curl -fsS "http://127.0.0.1:$port/metrics" 2>/dev/null |
                awk '$1 == "session_events_queue_bytes" { printf "%.1f", $2 / 1048576 }')" >>"$1"
        sleep 1
    done
}

# overload STORE QUEUE_MIB CACHE_MIB RATE SETTINGS [ENV=VALUE...]: a fresh service with
# QUEUE_MAX_BYTES = QUEUE_MIB offered RATE for OVERLOAD_SECONDS; records the summary, the
# queue_full count, the queue's peak fill, peak RSS and its bound (2 x queue + cache + 64 MiB).
overload() {
    local store="$1" queue_mib="$2" cache_mib="$3" rate="$4"
    OVL_ENV[$store]="$5"
    shift 5
    ((rate > 0)) || rate=1
    OVL_RATE[$store]="$rate" OVL_QUEUE_MIB[$store]="$queue_mib"
    log "(o) overload, $store: $rate/s for ${OVERLOAD_SECONDS} s, QUEUE_MAX_BYTES $queue_mib MiB, ${OVL_ENV[$store]}"
    start_service "svc-$store-overload" "$@" QUEUE_MAX_BYTES="$((queue_mib << 20))"
    local samples="$WORK/samples-$store-overload.txt"
    : >"$samples"
    sample_queue "$samples" &
    SAMPLER_PID=$!
    STEP_SECONDS="$OVERLOAD_SECONDS" step "$store-overload" "$rate" --max-in-flight "$OVERLOAD_IN_FLIGHT"
    kill "$SAMPLER_PID" 2>/dev/null || true
    wait "$SAMPLER_PID" 2>/dev/null || true
    SAMPLER_PID=""
    OVL_JSON[$store]="$STEP_JSON"
    OVL_QUEUE_PEAK[$store]="$(awk 'NF == 2 && $2 > m { m = $2 } END { printf "%.1f", m }' "$samples")"
    scrape "$WORK/metrics-$store-overload.txt"
    OVL_QUEUE_FULL[$store]="$(counter_value "$WORK/metrics-$store-overload.txt" \
        'session_events_frames_rejected_total{reason="queue_full"}')"
    OVL_RSS[$store]="$(vm_hwm_mb "$SVC_PID")"
    OVL_BOUND[$store]=$((2 * queue_mib + cache_mib + 64))
    log "(o) $store: peak RSS ${OVL_RSS[$store]} MiB (bound ${OVL_BOUND[$store]}), queue peak ${OVL_QUEUE_PEAK[$store]} MiB, queue_full refusals ${OVL_QUEUE_FULL[$store]}"
    log "(o) $store: RSS MiB / queue MiB each second: $(tr '\n' ',' <"$samples")"
    stop_service
}

# --- build and FerretDB -----------------------------------------------------------------------

if [[ -n "${BENCH_BIN_DIR:-}" ]]; then
    # Binaries built (and checked) beforehand, e.g. while another build holds a shared target dir.
    log "using the binaries in $BENCH_BIN_DIR (no build)"
else
    log "building (cargo build --release --bins --features bench-null-store)"
    cargo build --release --bins --features bench-null-store >&2
fi
mkdir -p "$BIN"
for b in session-events loadgen trivial_server; do
    cp "${BENCH_BIN_DIR:-${CARGO_TARGET_DIR:-target}/release}/$b" "$BIN/$b"
done
if [[ -n "${BENCH_BASELINE_BIN:-}" ]]; then
    cp "$BENCH_BASELINE_BIN" "$BIN/session-events-baseline"
fi
GIT_REV="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src Cargo.toml build.rs 2>/dev/null || echo '+dirty')"

# --- (t) transports ---------------------------------------------------------------------------

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# transports: fills $WORK/transports.md with the table of step (t).
transports() {
    local store t r json svc_us gen_us
    local -A RATE_OF SVC_OF GEN_OF P99_OF
    echo "| store | transport | rate/s offered | acknowledged/s | service CPU µs/frame | load generator CPU µs/frame | p99 ms | errors |" >"$WORK/transports.md"
    echo "|---|---|---|---|---|---|---|---|" >>"$WORK/transports.md"
    for store in embedded null; do
        if [[ $store == null ]]; then
            start_service svc-t-null NULL_STORE=true
        else
            start_service svc-t-embedded DATA_DIR="$WORK/data-transports"
        fi
        for ((r = 1; r <= TRANSPORT_ROUNDS; r++)); do
            for t in http ws batch; do
                STEP_SECONDS="$TRANSPORT_SECONDS" step "t-$store-$t-r$r" "$TRANSPORT_RATE" \
                    --transport "$t" --batch-frames "$BATCH_FRAMES" --service-pid "$SVC_PID"
                json="$STEP_JSON"
                svc_us="$(jq -r --argjson ticks "$STEP_SVC_TICKS" 'if .acknowledged > 0 then ($ticks * 10000 / .acknowledged | floor) else "-" end' "$json")"
                gen_us="$(jq '.loadgen_cpu_us_per_frame | floor' "$json")"
                RATE_OF[$t]+="$(jq '.achieved_rate | floor' "$json") "
                SVC_OF[$t]+="$svc_us "
                GEN_OF[$t]+="$gen_us "
                P99_OF[$t]+="$(jq .latency_ms.p99 "$json") "
                echo "| $store | $t (round $r) | $TRANSPORT_RATE | $(jq '.achieved_rate | floor' "$json") | $svc_us | $gen_us | $(jq .latency_ms.p99 "$json") | $(jq .errors "$json") |" >>"$WORK/transports-rounds.md"
            done
        done
        for t in http ws batch; do
            echo "| $store | **$t** (median of $TRANSPORT_ROUNDS) | $TRANSPORT_RATE | $(tr ' ' '\n' <<<"${RATE_OF[$t]}" | grep . | median) | $(tr ' ' '\n' <<<"${SVC_OF[$t]}" | grep -v '^-$' | grep . | median) | $(tr ' ' '\n' <<<"${GEN_OF[$t]}" | grep . | median) | $(tr ' ' '\n' <<<"${P99_OF[$t]}" | grep . | median) | |" >>"$WORK/transports.md"
            RATE_OF[$t]="" SVC_OF[$t]="" GEN_OF[$t]="" P99_OF[$t]=""
        done
        stop_service
        rm -rf "$WORK/data-transports"
    done
    cat "$WORK/transports-rounds.md" >>"$WORK/transports.md"
}

# --- (v) the null-store service beside the trivial server -----------------------------------

# versus: fills $WORK/versus.md with step (v)'s table (and $WORK/versus-rounds.md, its rounds).
versus() {
    local r rate who json us gen
    local -A CPU_OF GEN_OF ACK_OF P99_OF PID_OF PORT_OF MAX_OF MAXCPU_OF MAXGEN_OF
    # All servers up at once (an idle one costs nothing), so the rounds interleave them.
    start_service v-null NULL_STORE=true
    grep -q 'NONE IS KEPT' "$WORK/v-null.log" || { echo "bench.sh: the service did not report the null store" >&2; exit 1; }
    PID_OF[null]="$SVC_PID" PORT_OF[null]="$PORT" EXTRA_PIDS+=" $SVC_PID"
    SERVER_BIN="$BIN/trivial_server" start_service v-trivial
    PID_OF[trivial]="$SVC_PID" PORT_OF[trivial]="$PORT" EXTRA_PIDS+=" $SVC_PID"
    local servers="null trivial"
    if [[ -n "${BENCH_BASELINE_BIN:-}" ]]; then
        SERVER_BIN="$BIN/session-events-baseline" start_service v-baseline NULL_STORE=true
        grep -q 'NONE IS KEPT' "$WORK/v-baseline.log" || { echo "bench.sh: the baseline did not report the null store" >&2; exit 1; }
        PID_OF[baseline]="$SVC_PID" PORT_OF[baseline]="$PORT" EXTRA_PIDS+=" $SVC_PID"
        servers="null baseline trivial"
    fi
    echo "| server | rate/s offered | round | acknowledged/s | server CPU µs/frame | load generator CPU µs/frame | p99 ms | errors | dropped |" >"$WORK/versus-rounds.md"
    echo "|---|---|---|---|---|---|---|---|---|" >>"$WORK/versus-rounds.md"
    for rate in $VERSUS_RATES; do
        for ((r = 1; r <= VERSUS_ROUNDS; r++)); do
            for who in $servers; do
                SVC_PID="${PID_OF[$who]}" PORT="${PORT_OF[$who]}"
                STEP_SECONDS="$VERSUS_SECONDS" step "v-$who-r$r" "$rate" \
                    --service-pid "$SVC_PID" --distinct-frames "$VERSUS_DISTINCT"
                json="$STEP_JSON"
                us="$(jq -r --argjson ticks "$STEP_SVC_TICKS" 'if .acknowledged > 0 then ($ticks * 10000 / .acknowledged | floor) else "-" end' "$json")"
                gen="$(jq '.loadgen_cpu_us_per_frame | floor' "$json")"
                CPU_OF[$who-$rate]+="$us " GEN_OF[$who-$rate]+="$gen "
                ACK_OF[$who-$rate]+="$(jq '.achieved_rate | floor' "$json") "
                P99_OF[$who-$rate]+="$(jq .latency_ms.p99 "$json") "
                echo "| $who | $rate | $r | $(jq '.achieved_rate | floor' "$json") | $us | $gen | $(jq .latency_ms.p99 "$json") | $(jq .errors "$json") | $(jq .dropped "$json") |" >>"$WORK/versus-rounds.md"
            done
        done
    done
    for who in $servers; do
        SVC_PID="${PID_OF[$who]}" PORT="${PORT_OF[$who]}"
        log "(v) max sustained rate, $who, from $NULL_START/s"
        search "v-$who-max" "$NULL_START" --service-pid "$SVC_PID" --distinct-frames "$VERSUS_DISTINCT"
        MAX_OF[$who]="$MAX_GOOD" MAXCPU_OF[$who]="$GOOD_SVC_US" MAXGEN_OF[$who]="$GOOD_GEN_US"
    done
    for who in $servers; do
        SVC_PID="${PID_OF[$who]}"
        stop_service
    done
    EXTRA_PIDS=""
    local head="| server |" rule="|---|" row
    for rate in $VERSUS_RATES; do
        head+=" CPU µs/frame at $rate/s | load generator µs/frame at $rate/s | p99 ms at $rate/s |"
        rule+="---|---|---|"
    done
    head+=" max sustained frames/s | CPU µs/frame at max | load generator µs/frame at max |"
    rule+="---|---|---|"
    { echo "$head"; echo "$rule"; } >"$WORK/versus.md"
    local -A MED
    for who in $servers; do
        case "$who" in
            null) row="| null-store service (NULL_STORE=true) |" ;;
            trivial) row="| trivial server (read body, IgnoredAny scan, constant 200) |" ;;
            baseline) row="| baseline service (BENCH_BASELINE_BIN, NULL_STORE=true) |" ;;
        esac
        for rate in $VERSUS_RATES; do
            MED[$who-$rate]="$(tr ' ' '\n' <<<"${CPU_OF[$who-$rate]}" | grep -v '^-$' | grep . | median)"
            row+=" ${MED[$who-$rate]} | $(tr ' ' '\n' <<<"${GEN_OF[$who-$rate]}" | grep . | median) | $(tr ' ' '\n' <<<"${P99_OF[$who-$rate]}" | grep . | median) |"
        done
        row+=" ${MAX_OF[$who]} | ${MAXCPU_OF[$who]} | ${MAXGEN_OF[$who]} |"
        echo "$row" >>"$WORK/versus.md"
    done
    row="| **service / trivial** |"
    for rate in $VERSUS_RATES; do
        row+=" **$(ratio "${MED[null-$rate]}" "${MED[trivial-$rate]}")** | | |"
    done
    if ((MAX_OF[null] > 0 && MAX_OF[trivial] > 0)); then
        row+=" $(ratio "${MAX_OF[null]}" "${MAX_OF[trivial]}") | $(ratio "${MAXCPU_OF[null]}" "${MAXCPU_OF[trivial]}") | |"
    else
        row+=" - (none sustained) | - | |"
    fi
    echo "$row" >>"$WORK/versus.md"
    if [[ -n "${PID_OF[baseline]:-}" ]]; then
        row="| **service / baseline** |"
        for rate in $VERSUS_RATES; do
            row+=" **$(ratio "${MED[null-$rate]}" "${MED[baseline-$rate]}")** | | |"
        done
        if ((MAX_OF[null] > 0 && MAX_OF[baseline] > 0)); then
            row+=" $(ratio "${MAX_OF[null]}" "${MAX_OF[baseline]}") | $(ratio "${MAXCPU_OF[null]}" "${MAXCPU_OF[baseline]}") | |"
        else
            row+=" - (none sustained) | - | |"
        fi
        echo "$row" >>"$WORK/versus.md"
    fi
}

if [[ "${BENCH_ONLY:-}" == trivial ]]; then
    echo "| server | rate/s | acked/scheduled | errors | dropped | late | achieved/s | p50 ms | p99 ms | loadgen CPU µs/frame | server CPU ticks | FerretDB CPU ticks | machine idle % | |" >"$WORK/steps.md"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|" >>"$WORK/steps.md"
    LOAD_START="$(loadavg)"
    log "(v) null-store service beside the trivial server at $VERSUS_RATES/s, $VERSUS_ROUNDS rounds of $VERSUS_SECONDS s, then max sustained"
    versus
    echo
    echo "## Null-store service beside the trivial server ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, git $GIT_REV, load average $LOAD_START -> $(loadavg))"
    echo
    echo "Frames: profile session, JSON; $MATCHES matches x $NODES nodes, bodies repeating after $VERSUS_DISTINCT frames;"
    echo "one POST per frame. CPU per frame: /proc ticks of the server over the step ÷ frames acknowledged"
    echo "(medians of $VERSUS_ROUNDS interleaved rounds of $VERSUS_SECONDS s); load generator: its own CPU ÷ frames sent."
    echo "Max sustained: doubling from $NULL_START/s and $BISECT bisections, steps of $STEP_SECONDS s, p99 <= $P99_BOUND_MS ms, no errors, no drops."
    echo
    cat "$WORK/versus.md"
    echo
    echo "### Rounds"
    echo
    cat "$WORK/versus-rounds.md"
    echo
    echo "### Steps"
    echo
    cat "$WORK/steps.md"
    exit 0
fi

if [[ "${BENCH_ONLY:-}" == transports ]]; then
    echo "| store | rate/s | acked/scheduled | errors | dropped | late | achieved/s | p50 ms | p99 ms | loadgen CPU µs/frame | service CPU ticks | FerretDB CPU ticks | machine idle % | |" >"$WORK/steps.md"
    LOAD_START="$(loadavg)"
    log "(t) transports side by side at $TRANSPORT_RATE/s, $TRANSPORT_ROUNDS rounds of $TRANSPORT_SECONDS s"
    transports
    echo
    echo "## Transports ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, git $GIT_REV, load average $LOAD_START -> $(loadavg))"
    echo
    echo "Frames: profile session, JSON; $MATCHES matches x $NODES nodes (ws: one stream per match; batch: $BATCH_FRAMES frames per POST per node)."
    echo
    cat "$WORK/transports.md"
    exit 0
fi
FDB_ENV="$(scripts/mongo-server start "$WORK/ferretdb")"
FDB_PID="$(sed -n 's/^PID=//p' <<<"$FDB_ENV")"
FDB_URI="$(sed -n 's/^MONGO_URI=//p' <<<"$FDB_ENV")"
log "FerretDB pid $FDB_PID at $FDB_URI"
echo "| store | rate/s | acked/scheduled | errors | dropped | late | achieved/s | p50 ms | p99 ms | loadgen CPU µs/frame | service CPU ticks | FerretDB CPU ticks | machine idle % | |" >"$WORK/steps.md"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|" >>"$WORK/steps.md"

declare -A CEIL CEIL_DB_US MAXR SVC_US DB_US P50 P99 RSS VERIFY WRITE_MEDIAN_MS WRITE_BATCHES ACK_P99_MS
declare -A OVL_RATE OVL_JSON OVL_QUEUE_MIB OVL_RSS OVL_BOUND OVL_QUEUE_FULL OVL_ENV OVL_QUEUE_PEAK
LOAD_START="$(loadavg)"

# ceiling NAME ARGS...: loadgen --mode db-ceiling; sets CEIL[NAME] (frames/s).
ceiling() {
    local name="$1"
    shift
    local d0=0 d1=0 json="$WORK/ceiling-$name.json"
    [[ "$name" == ferretdb ]] && d0="$(cpu_ticks "$FDB_PID")"
    "$BIN/loadgen" --mode db-ceiling --batch-size "$BATCH" --writers "${CEIL_WRITERS:-$WRITERS}" \
        --summary-json "$json" "$@" >&2
    [[ "$name" == ferretdb ]] && d1="$(cpu_ticks "$FDB_PID")"
    CEIL[$name]="$(jq '.frames_per_s|floor' "$json")"
    CEIL_DB_US[$name]=$(((d1 - d0) * 10000 / $(jq .stored "$json")))
    log "(a) db-ceiling $name: ${CEIL[$name]} frames/s; database CPU ${CEIL_DB_US[$name]} µs/frame"
}

# --- FerretDB ---------------------------------------------------------------------------------

log "(a) db-ceiling, FerretDB: $CEILING_FRAMES frames, batch $BATCH, $WRITERS writers"
ceiling ferretdb --mongo-uri "$FDB_URI" --frames "$CEILING_FRAMES" --database "bench_ceiling"

FDB_ACTIVE=1
# Start at a quarter of the ceiling (at least 10/s), rounded to a multiple of 5.
start=$((CEIL[ferretdb] / 4 / 5 * 5))
((start >= 10)) || start=10
log "(b) max sustained rate, service on FerretDB, from $start/s"
start_service svc-ferretdb MONGO_URI="$FDB_URI" DATABASE_NAME="bench_search"
search ferretdb "$start"
MAXR[ferretdb]="$MAX_GOOD" SVC_US[ferretdb]="$GOOD_SVC_US" DB_US[ferretdb]="$GOOD_DB_US"
RSS[ferretdb]="$(vm_hwm_mb "$SVC_PID")"
stop_service

half=$((MAXR[ferretdb] / 2))
((half > 0)) || half=1
log "(d) 50% of max ($half/s), fresh service and database, with --verify"
start_service svc-ferretdb-half MONGO_URI="$FDB_URI" DATABASE_NAME="bench_half"
# Few streams: FerretDB answers every read by scanning the collection, so the read-back costs
# streams x documents.
scrape "$WORK/metrics-ferretdb-0.txt"
STEP_MATCHES=2 STEP_NODES=2 step ferretdb-50%+verify "$half" --verify
scrape "$WORK/metrics-ferretdb-1.txt"
write_median ferretdb
P50[ferretdb]="$(jq .latency_ms.p50 "$STEP_JSON")" P99[ferretdb]="$(jq .latency_ms.p99 "$STEP_JSON")"
VERIFY[ferretdb]="$(grep '^verify:' "$WORK/ferretdb-50%+verify-$half.txt" || echo 'verify: failed')"
stop_service

takes=$((CEIL[ferretdb] > MAXR[ferretdb] ? CEIL[ferretdb] : MAXR[ferretdb]))
# shellcheck disable=SC2086 # OVERLOAD_FERRETDB_ENV is a list of ENV=VALUE words
overload ferretdb "$OVERLOAD_QUEUE_MIB" 0 $((takes * OVERLOAD_FACTOR)) \
    "$OVERLOAD_FERRETDB_ENV" MONGO_URI="$FDB_URI" DATABASE_NAME="bench_overload" $OVERLOAD_FERRETDB_ENV
FDB_ACTIVE=""

# --- embedded ---------------------------------------------------------------------------------

log "(a) db-ceiling, embedded: $EMBEDDED_CEILING_FRAMES frames, batch $BATCH, $EMBEDDED_WRITERS writers"
CEIL_WRITERS="$EMBEDDED_WRITERS" ceiling embedded --data-dir "$WORK/ceiling-embedded" --frames "$EMBEDDED_CEILING_FRAMES"
rm -rf "$WORK/ceiling-embedded"

log "(e) max sustained rate, service on the embedded store"
start_service svc-embedded DATA_DIR="$WORK/data-search"
search embedded 250
MAXR[embedded]="$MAX_GOOD" SVC_US[embedded]="$GOOD_SVC_US" DB_US[embedded]="-"
RSS[embedded]="$(vm_hwm_mb "$SVC_PID")"
stop_service
rm -rf "$WORK/data-search"

half=$((MAXR[embedded] / 2))
((half > 0)) || half=1
log "(d) 50% of max ($half/s), fresh service and data directory, with --verify"
start_service svc-embedded-half DATA_DIR="$WORK/data-half"
scrape "$WORK/metrics-embedded-0.txt"
step embedded-50%+verify "$half" --verify
scrape "$WORK/metrics-embedded-1.txt"
write_median embedded
P50[embedded]="$(jq .latency_ms.p50 "$STEP_JSON")" P99[embedded]="$(jq .latency_ms.p99 "$STEP_JSON")"
VERIFY[embedded]="$(grep '^verify:' "$WORK/embedded-50%+verify-$half.txt" || echo 'verify: failed')"
stop_service
rm -rf "$WORK/data-half"

# shellcheck disable=SC2086 # OVERLOAD_EMBEDDED_ENV is a list of ENV=VALUE words
overload embedded "$OVERLOAD_QUEUE_MIB" "$EMBEDDED_CACHE_MIB" "${MAXR[embedded]}" \
    "$OVERLOAD_EMBEDDED_ENV" DATA_DIR="$WORK/data-overload" $OVERLOAD_EMBEDDED_ENV
rm -rf "$WORK/data-overload"

# --- null store -------------------------------------------------------------------------------

log "(n) max sustained rate, service on the null store (keeps nothing), from $NULL_START/s"
start_service svc-null NULL_STORE=true
grep -q 'NONE IS KEPT' "$WORK/svc-null.log" || { echo "bench.sh: the service did not report the null store" >&2; exit 1; }
search null "$NULL_START"
MAXR[null]="$MAX_GOOD" SVC_US[null]="$GOOD_SVC_US"
RSS[null]="$(vm_hwm_mb "$SVC_PID")"
stop_service

log "(t) transports side by side at $TRANSPORT_RATE/s, $TRANSPORT_ROUNDS rounds of $TRANSPORT_SECONDS s"
transports
log "(v) null-store service beside the trivial server at $VERSUS_RATES/s, $VERSUS_ROUNDS rounds of $VERSUS_SECONDS s, then max sustained"
versus
LOAD_END="$(loadavg)"

# --- report -----------------------------------------------------------------------------------

# verdict A OP B (OP is >= or <=): met or missed; "-" when a figure is missing.
verdict() {
    awk -v a="$1" -v op="$2" -v b="$3" 'BEGIN {
        if (a == "-" || b == "-" || a == "" || b == "") { print "-"; exit }
        ok = op == ">=" ? a + 0 >= b + 0 : a + 0 <= b + 0
        print ok ? "met" : "missed" }'
}
label() {
    case "$1" in
        ferretdb) echo "FerretDB 1.24 (SQLite)" ;;
        embedded) echo "embedded (redb)" ;;
        null) echo "null store (keeps nothing; feature bench-null-store)" ;;
    esac
}
echo
echo "## session-events benchmark ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, git $GIT_REV)"
echo
echo "Frames: profile session, JSON ($(jq .mean_body_bytes "$WORK/ceiling-embedded.json") B bodies," \
    "$(jq .mean_document_bytes "$WORK/ceiling-embedded.json") B stored); steps of ${STEP_SECONDS} s;" \
    "sustained = p99 <= ${P99_BOUND_MS} ms, no errors, no dropped sends; ceiling: batch $BATCH, $WRITERS writers (embedded $EMBEDDED_WRITERS);" \
    "service: BATCH_LINGER ${LINGER_MS} ms, other settings default. Load average (1/5/15 min):" \
    "$LOAD_START when the measurements started, $LOAD_END when they ended."
echo
echo "| store | service max sustained frames/s | db-ceiling frames/s | service / ceiling | service CPU µs/frame | database CPU µs/frame (service run / ceiling run) | p50 / p99 ms at 50% of max | peak RSS MB |"
echo "|---|---|---|---|---|---|---|---|"
for s in ferretdb embedded null; do
    case "$s" in
        ferretdb) db="${DB_US[$s]} / ${CEIL_DB_US[$s]}" ;;
        embedded) db="in process" ;;
        null) db="none" ;;
    esac
    if [[ $s == null ]]; then
        echo "| $(label $s) | ${MAXR[$s]} | - | - | ${SVC_US[$s]} | $db | - | ${RSS[$s]} |"
    else
        echo "| $(label $s) | ${MAXR[$s]} | ${CEIL[$s]} | $(ratio "${MAXR[$s]}" "${CEIL[$s]}") | ${SVC_US[$s]} | $db | ${P50[$s]} / ${P99[$s]} | ${RSS[$s]} |"
    fi
done
echo
echo "- FerretDB 50% run: ${VERIFY[ferretdb]}"
echo "- embedded 50% run: ${VERIFY[embedded]}"
echo "- db-ceiling build cost (CPU, before timing): generate $(jq '.generate_us_per_frame|floor' "$WORK/ceiling-embedded.json") µs/frame," \
    "service decode + build $(jq '.decode_build_us_per_frame|floor' "$WORK/ceiling-embedded.json") µs/frame;" \
    "driver/store CPU in the ceiling process: FerretDB $(jq '.loadgen_cpu_us_per_frame|floor' "$WORK/ceiling-ferretdb.json")," \
    "embedded $(jq '.loadgen_cpu_us_per_frame|floor' "$WORK/ceiling-embedded.json") µs/frame"
echo "- null store: the service with a sink that acknowledges every frame and keeps none, i.e." \
    "HTTP + decode + build + queue + batching + acknowledgement alone; a benchmarking build only"
echo
echo "### Targets"
echo
echo "| target | store | measured | bound | |"
echo "|---|---|---|---|---|"
for s in ferretdb embedded; do
    r="$(ratio "${MAXR[$s]}" "${CEIL[$s]}")"
    echo "| (1) service ≥ 0.90 × db-ceiling | $(label $s) | ${MAXR[$s]} / ${CEIL[$s]} = $r | ≥ 0.90 | $(verdict "$r" '>=' 0.90) |"
done
for s in ferretdb embedded; do
    b="$(awk -v l="$LINGER_MS" -v m="${WRITE_MEDIAN_MS[$s]}" 'BEGIN { if (m == "-") print "-"; else printf "%.1f", l + 2 * m }')"
    echo "| (2) p99 ack latency at 50% of max ≤ BATCH_LINGER + 2 × median batch write | $(label $s) | ack p99 ${ACK_P99_MS[$s]} ms (service histogram; end to end at the load generator ${P99[$s]} ms) | $LINGER_MS + 2 × ${WRITE_MEDIAN_MS[$s]} = $b ms (median of ${WRITE_BATCHES[$s]} batch writes in the step) | $(verdict "${ACK_P99_MS[$s]}" '<=' "$b") (end to end: $(verdict "${P99[$s]}" '<=' "$b")) |"
done
for s in ferretdb embedded; do
    cache="$([[ $s == embedded ]] && echo " + $EMBEDDED_CACHE_MIB (EMBEDDED_CACHE_BYTES)" || true)"
    v="$(verdict "${OVL_RSS[$s]}" '<=' "${OVL_BOUND[$s]}")"
    ((OVL_QUEUE_FULL[$s] > 0)) || v="$v, but the queue never filled (no queue_full refusal): not tested at the bound"
    echo "| (3) peak RSS under overload ≤ 2 × QUEUE_MAX_BYTES + 64 MiB (+ page cache) | $(label $s) | ${OVL_RSS[$s]} MiB | 2 × ${OVL_QUEUE_MIB[$s]}$cache + 64 = ${OVL_BOUND[$s]} MiB | $v |"
done
echo
echo "Target (2)'s median comes from session_events_store_write_duration_seconds and the ack p99 from"
echo "session_events_ack_latency_seconds, both scraped before and"
echo "after the 50% step (bucket deltas, linear interpolation within the bucket, as histogram_quantile;"
echo "buckets at 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250 ms, so it is approximate)."
echo
echo "### Overload (target 3)"
echo
echo "A fresh service with a small queue and a store that takes less than it is offered, for ${OVERLOAD_SECONDS} s," \
    "up to ${OVERLOAD_IN_FLIGHT} requests in flight. FerretDB: offered ${OVERLOAD_FACTOR} × its db-ceiling (or max sustained rate if higher)." \
    "Embedded: its store outruns the HTTP path here, so its writers are throttled ($OVERLOAD_EMBEDDED_ENV)" \
    "and it is offered its max sustained rate. Accepted = acknowledged ÷ time to the last answer;" \
    "refusals = every non-2xx answer, timed from the scheduled send; queue peak = the largest" \
    "session_events_queue_bytes of one-second samples."
echo
echo "| store | settings | offered/s | sent/s | late sends | accepted/s | offered / accepted | accepted / max sustained | accepted / db-ceiling | 503s (queue_full in /metrics) | 503s without Retry-After | other errors | refusals p50 / p99 ms | acknowledged p50 / p99 ms | queue peak MiB | peak RSS MiB | bound MiB |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for s in ferretdb embedded; do
    j="${OVL_JSON[$s]}"
    accepted="$(jq '.achieved_rate|floor' "$j")"
    vs_ceiling="$([[ $s == embedded ]] && echo "- (throttled)" || ratio "$accepted" "${CEIL[$s]}")"
    echo "| $(label $s) | ${OVL_ENV[$s]}, QUEUE_MAX_BYTES ${OVL_QUEUE_MIB[$s]} MiB | ${OVL_RATE[$s]} | $(jq '.sent_rate|floor' "$j") | $(jq .late "$j") | $accepted | $(ratio "${OVL_RATE[$s]}" "$accepted") | $(ratio "$accepted" "${MAXR[$s]}") | $vs_ceiling | $(jq '.errors_by_status["503"] // 0' "$j") (${OVL_QUEUE_FULL[$s]}) | $(jq .unavailable_without_retry_after "$j") | $(jq -r '(.errors - (.errors_by_status["503"] // 0)) as $n | if $n == 0 then "0" else "\($n): \(.errors_by_status), transport \(.transport_errors_by_kind)" end' "$j") | $(jq -r '"\(.rejected_latency_ms.p50) / \(.rejected_latency_ms.p99)"' "$j") | $(jq -r '"\(.latency_ms.p50) / \(.latency_ms.p99)"' "$j") | ${OVL_QUEUE_PEAK[$s]} | ${OVL_RSS[$s]} | ${OVL_BOUND[$s]} |"
done
echo
echo "### Transports (t)"
echo
echo "The same frames over one POST each, a WebSocket stream per match, and batch POSTs of $BATCH_FRAMES per node,"
echo "at $TRANSPORT_RATE/s for $TRANSPORT_SECONDS s, $TRANSPORT_ROUNDS rounds interleaved; service CPU from /proc ticks"
echo "over the step ÷ frames acknowledged, load generator CPU ÷ frames sent."
echo
cat "$WORK/transports.md"
echo
echo "### The null-store service beside the trivial server (v)"
echo
echo "Both up at once; at each rate $VERSUS_ROUNDS interleaved rounds of $VERSUS_SECONDS s (medians), then the"
echo "max-sustained search of (b) for each; bodies repeat after $VERSUS_DISTINCT frames. The trivial server"
echo "(src/bin/trivial_server.rs) reads the body, scans it with IgnoredAny and answers a constant 200."
echo
cat "$WORK/versus.md"
echo
cat "$WORK/versus-rounds.md"
echo
echo "### Steps"
echo
echo "CPU ticks are 10 ms, over the step (the 50%+verify rows include the read-back); machine idle is"
echo "the whole machine's idle share during the step (other work on a shared machine shows here)."
echo "The overload rows are \"over\" by design (refusals are errors to the step's test)."
echo
cat "$WORK/steps.md"
