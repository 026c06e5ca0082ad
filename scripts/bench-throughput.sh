#!/usr/bin/env bash
# The most requests/s one core of capfinder sends and records, side by side
# with vegeta in the same run: nginx serves a fixed 200 on core 1, the
# generator runs on core 0 with GOMAXPROCS=1, both generators keep every
# request (capfinder in Parquet, vegeta in its results file).
#
#   scripts/bench-throughput.sh [SECONDS] [CONCURRENCY]
#
# Installs nginx (Debian) and vegeta (Go module) if missing. Traffic goes
# to 127.0.0.1 only. Prints one line per tool and the ratio.
. "$(dirname "$0")/bench-lib.sh"
SECS=${1:-15}
CONC=${2:-64}
bench_init vegeta

echo "one core each: generator on cpu 0 (GOMAXPROCS=1), nginx on cpu 1; $SECS s at $CONC in flight"

GOMAXPROCS=1 taskset -c 0 bin/capfinder run --mode throughput --concurrency "$CONC" \
	--duration "${SECS}s" --step-duration "${SECS}s" --out "$WORK/run" -q "$URL" >/dev/null
# summary.json is indented, one key per line.
num() { grep "\"$1\":" "$WORK/run/summary.json" | sed -n "${2:-1}p" | sed 's/.*: *//; s/,$//'; }
CF_SENT=$(num sent)
CF_REC=$(num recorded)
CF_FAILED=$(num failed)
START=$(num start_s)
END=$(num end_s '$')
[ "$CF_SENT" = "$CF_REC" ] || { echo "capfinder recorded $CF_REC of $CF_SENT" >&2; exit 1; }
CF_RPS=$(awk -v n="$CF_SENT" -v a="$START" -v b="$END" 'BEGIN { printf "%.0f", n / (b - a) }')
echo "capfinder  $CF_RPS req/s  ($CF_SENT sent, all recorded, $CF_FAILED failed)"

GOMAXPROCS=1 taskset -c 0 sh -c "echo 'GET $URL' | '$TOOLS/vegeta' attack -rate=0 -max-workers=$CONC -workers=$CONC -duration=${SECS}s -output '$WORK/vegeta.bin'"
# "Requests [total, rate, throughput]  N, R, T" and "Success [ratio] P%"
REPORT=$("$TOOLS/vegeta" report "$WORK/vegeta.bin")
read -r VG_REQS VG_RPS <<<"$(awk -F'  +' '/^Requests/ { split($3, v, ", "); printf "%d %.0f", v[1], v[3] }' <<<"$REPORT")"
VG_OK=$(awk '/^Success/ { print $NF }' <<<"$REPORT")
echo "vegeta     $VG_RPS req/s  ($VG_REQS sent, all in its results file, success $VG_OK)"
awk -v a="$CF_RPS" -v b="$VG_RPS" 'BEGIN { printf "ratio capfinder/vegeta: %.2f\n", a / b }'
# For reference, where present: wrk (C, Debian) keeps no per-request
# record, so it bounds what any recording generator could reach here.
if command -v wrk >/dev/null 2>&1; then
	WRK=$(taskset -c 0 wrk -t1 -c"$CONC" -d"${SECS}s" "$URL" | awk '/^Requests\/sec/ { printf "%.0f", $2 }')
	echo "wrk        $WRK req/s  (reference: nothing recorded per request)"
fi
