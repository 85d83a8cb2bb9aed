#!/usr/bin/env bash
# One benchmark run of session-events on this machine, with the project's own load generator
# (target/release/loadgen): the database ceiling, the service's max sustained rate, its CPU per
# frame and memory, and latency at half the max, for FerretDB and for the embedded store.
#
#   loadtest/bench.sh                 # ~5 minutes after the build on 2 cores; report on stdout
#
# Steps:
#   build   cargo build --release --bins; FerretDB via scripts/mongo-server (temp dir)
#   (a)     loadgen --mode db-ceiling: documents built as the service builds them, written with
#           insert_many(ordered=false), batch 500, 4 writers (CEILING_FRAMES frames; FerretDB
#           takes ~100 frames/s here, the embedded store thousands: EMBEDDED_CEILING_FRAMES)
#   (b)     the release service on a fresh database; open-model steps of STEP_SECONDS each,
#           doubling from a start rate until p99 > P99_BOUND_MS or any error or dropped send,
#           then two bisection steps; the last good rate is the max sustained rate
#   (c)     service CPU µs/frame (/proc/<pid>/stat utime+stime delta over the max good step /
#           frames acknowledged in it), FerretDB's the same way, peak RSS (VmHWM)
#   (d)     a fresh service at 50% of max: p50/p99, then loadgen --verify
#   (e)     (b)-(d) with the embedded store (no MONGO_URI, DATA_DIR in the temp dir)
# Frames: profile session (~10.6 KB protojson, ~12 KB once stored), JSON, no gzip.
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
MATCHES="${MATCHES:-10}"
NODES="${NODES:-4}"
MAX_RATE="${MAX_RATE:-32000}"
BISECT="${BISECT:-2}"

command -v jq >/dev/null || { echo "bench.sh: needs jq (apt-get install -y jq)" >&2; exit 1; }
command -v curl >/dev/null || { echo "bench.sh: needs curl" >&2; exit 1; }

log() { echo "bench: $*" >&2; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/session-events-bench.XXXXXX")"
SVC_PID=""
FDB_PID=""
FDB_ACTIVE=""
cleanup() {
    local rc=$?
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

free_port() {
    local port
    while :; do
        port=$((20000 + RANDOM % 40000))
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
    done
}

# start_service NAME [ENV=VALUE...]: the release service on a free port, in the background.
start_service() {
    local name="$1"
    shift
    PORT="$(free_port)"
    env -u MONGO_URI "$@" SERVER_ADDRESS="127.0.0.1:$PORT" RUST_LOG=warn \
        target/release/session-events >"$WORK/$name.log" 2>&1 &
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
    target/release/loadgen --target "http://127.0.0.1:$PORT" --rate "$rate" \
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

# search NAME START: doubling steps from START, then BISECT bisections. Sets MAX_GOOD and, for
# that step, GOOD_SVC_US and GOOD_DB_US (CPU µs per acknowledged frame).
search() {
    local name="$1" rate="$2" bad=0 i mid
    MAX_GOOD=0 GOOD_SVC_US=0 GOOD_DB_US=0
    record_good() {
        MAX_GOOD="$1"
        local acked
        acked="$(jq .acknowledged "$STEP_JSON")"
        GOOD_SVC_US=$((STEP_SVC_TICKS * 10000 / acked))
        GOOD_DB_US=$((STEP_DB_TICKS * 10000 / acked))
    }
    while ((rate <= MAX_RATE)); do
        step "$name" "$rate"
        if [[ "$STEP_OK" == 1 ]]; then record_good "$rate"; else bad="$rate"; break; fi
        rate=$((rate * 2))
    done
    for ((i = 0; i < BISECT && bad > 0 && MAX_GOOD > 0; i++)); do
        mid=$(((MAX_GOOD + bad) / 2))
        ((mid > MAX_GOOD * 105 / 100)) || break
        step "$name" "$mid"
        if [[ "$STEP_OK" == 1 ]]; then record_good "$mid"; else bad="$mid"; fi
    done
}

# --- build and FerretDB -----------------------------------------------------------------------

log "building (cargo build --release --bins)"
cargo build --release --bins >&2
GIT_REV="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src Cargo.toml build.rs 2>/dev/null || echo '+dirty')"
FDB_ENV="$(scripts/mongo-server start "$WORK/ferretdb")"
FDB_PID="$(sed -n 's/^PID=//p' <<<"$FDB_ENV")"
FDB_URI="$(sed -n 's/^MONGO_URI=//p' <<<"$FDB_ENV")"
log "FerretDB pid $FDB_PID at $FDB_URI"
echo "| store | rate/s | acked/scheduled | errors | dropped | late | achieved/s | p50 ms | p99 ms | loadgen CPU µs/frame | service CPU ticks | FerretDB CPU ticks | machine idle % | |" >"$WORK/steps.md"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|" >>"$WORK/steps.md"

declare -A CEIL CEIL_DB_US MAXR SVC_US DB_US P50 P99 RSS VERIFY

# ceiling NAME ARGS...: loadgen --mode db-ceiling; sets CEIL[NAME] (frames/s).
ceiling() {
    local name="$1"
    shift
    local d0=0 d1=0 json="$WORK/ceiling-$name.json"
    [[ "$name" == ferretdb ]] && d0="$(cpu_ticks "$FDB_PID")"
    target/release/loadgen --mode db-ceiling --batch-size "$BATCH" --writers "$WRITERS" \
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
STEP_MATCHES=2 STEP_NODES=2 step ferretdb-50%+verify "$half" --verify
P50[ferretdb]="$(jq .latency_ms.p50 "$STEP_JSON")" P99[ferretdb]="$(jq .latency_ms.p99 "$STEP_JSON")"
VERIFY[ferretdb]="$(grep '^verify:' "$WORK/ferretdb-50%+verify-$half.txt" || echo 'verify: failed')"
stop_service
FDB_ACTIVE=""

# --- embedded ---------------------------------------------------------------------------------

log "(a) db-ceiling, embedded: $EMBEDDED_CEILING_FRAMES frames, batch $BATCH, $WRITERS writers"
ceiling embedded --data-dir "$WORK/ceiling-embedded" --frames "$EMBEDDED_CEILING_FRAMES"
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
step embedded-50%+verify "$half" --verify
P50[embedded]="$(jq .latency_ms.p50 "$STEP_JSON")" P99[embedded]="$(jq .latency_ms.p99 "$STEP_JSON")"
VERIFY[embedded]="$(grep '^verify:' "$WORK/embedded-50%+verify-$half.txt" || echo 'verify: failed')"
stop_service

# --- report -----------------------------------------------------------------------------------

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
echo
echo "## session-events benchmark ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, git $GIT_REV)"
echo
echo "Frames: profile session, JSON ($(jq .mean_body_bytes "$WORK/ceiling-embedded.json") B bodies," \
    "$(jq .mean_document_bytes "$WORK/ceiling-embedded.json") B stored); steps of ${STEP_SECONDS} s;" \
    "sustained = p99 <= ${P99_BOUND_MS} ms, no errors, no dropped sends; ceiling: batch $BATCH, $WRITERS writers."
echo
echo "| store | service max sustained frames/s | db-ceiling frames/s | service / ceiling | service CPU µs/frame | database CPU µs/frame (service run / ceiling run) | p50 / p99 ms at 50% of max | peak RSS MB |"
echo "|---|---|---|---|---|---|---|---|"
for s in ferretdb embedded; do
    label="$([[ $s == ferretdb ]] && echo "FerretDB 1.24 (SQLite)" || echo "embedded (redb)")"
    db="$([[ $s == ferretdb ]] && echo "${DB_US[$s]} / ${CEIL_DB_US[$s]}" || echo "in process")"
    echo "| $label | ${MAXR[$s]} | ${CEIL[$s]} | $(ratio "${MAXR[$s]}" "${CEIL[$s]}") | ${SVC_US[$s]} | $db | ${P50[$s]} / ${P99[$s]} | ${RSS[$s]} |"
done
echo
echo "- FerretDB 50% run: ${VERIFY[ferretdb]}"
echo "- embedded 50% run: ${VERIFY[embedded]}"
echo "- db-ceiling build cost (CPU, before timing): generate $(jq '.generate_us_per_frame|floor' "$WORK/ceiling-embedded.json") µs/frame," \
    "service decode + build $(jq '.decode_build_us_per_frame|floor' "$WORK/ceiling-embedded.json") µs/frame;" \
    "driver/store CPU in the ceiling process: FerretDB $(jq '.loadgen_cpu_us_per_frame|floor' "$WORK/ceiling-ferretdb.json")," \
    "embedded $(jq '.loadgen_cpu_us_per_frame|floor' "$WORK/ceiling-embedded.json") µs/frame"
echo
echo "### Steps"
echo
echo "CPU ticks are 10 ms, over the step (the 50%+verify rows include the read-back); machine idle is"
echo "the whole machine's idle share during the step (other work on a shared machine shows here)."
echo
cat "$WORK/steps.md"
