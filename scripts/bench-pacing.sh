#!/usr/bin/env bash
# CPU and pacing of a fixed rate, capfinder beside vegeta in one run:
# nginx serves a fixed 200 on cpu 1, each generator runs on cpu 0 in turn
# and holds RATE requests/s for SECONDS, every request recorded.
#
#   scripts/bench-pacing.sh [RATE [SECONDS]]     default 700 req/s for 20 s
#
# Prints each tool's CPU time (user + system), capfinder's achieved rate
# against the rate asked and its send lag (p50, p99), and the CPU ratio.
# GEN_CPUS=0,1 lets capfinder use both cores (nginx stays on cpu 1).
# Traffic goes to 127.0.0.1 only.
. "$(dirname "$0")/bench-lib.sh"
RATE=${1:-700}
SECS=${2:-20}
bench_init vegeta

echo "$RATE req/s for $SECS s; generator on cpu 0, nginx on cpu 1"
taskset -c "${GEN_CPUS:-0}" /usr/bin/time -f "%U %S" -o "$WORK/cf.time" bin/capfinder run --mode rate --rate "$RATE" \
	--duration "${SECS}s" --step-duration "${SECS}s" --out "$WORK/run" -q "$URL" >/dev/null
taskset -c 0 /usr/bin/time -f "%U %S" -o "$WORK/vg.time" sh -c \
	"echo 'GET $URL' | '$TOOLS/vegeta' attack -rate=$RATE -duration=${SECS}s -output '$WORK/vegeta.bin'"

cpu() { awk '{ printf "%.2f", $1 + $2 }' "$1"; }
CF=$(cpu "$WORK/cf.time")
VG=$(cpu "$WORK/vg.time")
# summary.json is indented, one key per line; the run has one step.
num() { grep -m1 "\"$1\":" "$WORK/run/summary.json" | sed 's/.*: *//; s/,$//'; }
SENT=$(num sent)
START=$(num start_s)
END=$(num end_s)
LAG="p50 $(num send_lag_p50_ms) ms, p99 $(num send_lag_p99_ms) ms"
awk -v n="$SENT" -v a="$START" -v b="$END" -v r="$RATE" -v c="$CF" -v lag="$LAG" 'BEGIN {
	got = n / (b - a)
	printf "capfinder  CPU %s s   sent %d in %.2f s: %.2f req/s, %+.2f %% of the rate; send lag %s\n", c, n, b - a, got, 100 * (got - r) / r, lag
}'
REPORT=$("$TOOLS/vegeta" report "$WORK/vegeta.bin")
VG_RATE=$(awk -F'  +' '/^Requests/ { split($3, v, ", "); printf "%.2f", v[2] }' <<<"$REPORT")
echo "vegeta     CPU $VG s   rate $VG_RATE req/s (its own report)"
awk -v a="$CF" -v b="$VG" 'BEGIN { printf "CPU ratio capfinder/vegeta: %.2f\n", a / b }'
