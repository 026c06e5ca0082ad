#!/usr/bin/env bash
# Soak: capfinder holds a steady rate against nginx on loopback for a long
# time, and this script watches that nothing grows. Not part of CI.
#
#   scripts/soak.sh [MINUTES [RATE [STEP]]]     default 20 minutes, 1000 req/s, 5s steps
#
# It prints the resident memory of the whole process every 30 s, then the
# goroutines at the end of every tenth step (steps.parquet records them),
# and checks that every request sent is a row in the run's Parquet parts
# (counted again by `capfinder analyze`). nginx runs on cpu 1, capfinder on
# cpu 0.
. "$(dirname "$0")/bench-lib.sh"
MINUTES=${1:-20}
RATE=${2:-1000}
STEP=${3:-5s}
bench_init

echo "soak: $MINUTES min at $RATE req/s in $STEP steps against $URL"
taskset -c 0 bin/capfinder run --mode rate --rate "$RATE" --duration "${MINUTES}m" \
	--step-duration "$STEP" --out "$WORK/run" -q "$URL" >"$WORK/run.log" 2>&1 &
CF_PID=$!
START=$(date +%s)
echo "elapsed_s rss_mib threads"
while kill -0 "$CF_PID" 2>/dev/null; do
	if [ -r "/proc/$CF_PID/status" ]; then
		awk -v t=$(($(date +%s) - START)) '/^VmRSS/ { rss = $2 } /^Threads/ { th = $2 }
			END { if (rss) printf "%9d %7.1f %7d\n", t, rss / 1024, th }' "/proc/$CF_PID/status"
	fi
	sleep 30
done
wait "$CF_PID" || { cat "$WORK/run.log"; exit 1; }

# summary.json is indented, one key per line.
SENT=$(grep -m1 '"sent":' "$WORK/run/summary.json" | sed 's/.*: *//; s/,$//')
echo "goroutines at the end of every tenth step:"
grep '"goroutines":' "$WORK/run/summary.json" | sed 's/.*: *//; s/,$//' | awk 'NR % 10 == 1 { printf "%s ", $1 } END { print "" }'
/usr/bin/time -f "%M" -o "$WORK/analyze.rss" bin/capfinder analyze --out "$WORK/analysis" "$WORK/run" >/dev/null
ROWS=$(grep -m1 '"recorded":' "$WORK/analysis/summary.json" | sed 's/.*: *//; s/,$//')
echo "requests sent $SENT, rows in the Parquet parts $ROWS; analyze peak $(($(cat "$WORK/analyze.rss") / 1024)) MiB"
[ "$SENT" = "$ROWS" ] || { echo "rows differ from requests" >&2; exit 1; }
