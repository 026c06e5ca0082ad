#!/usr/bin/env bash
# capfinder beside its peers, in one run (`make bench`): nginx serves a
# fixed 200 with a 3-byte body on cpu 1, and each generator in turn runs on
# cpu 0 with GOMAXPROCS=1 over HTTP/1.1 keep-alive to 127.0.0.1.
#
#   scripts/bench.sh [SECONDS]      each measurement's length, default 10 s
#
# It installs what it needs: nginx and wrk (Debian), vegeta v12.12.0 and
# hey v0.1.5 (Go modules, into bin/tools). It prints:
#   1. the most requests/s with every request recorded (capfinder in
#      Parquet, vegeta in its results file, hey as CSV), and the bytes each
#      keeps a request in; wrk, which records nothing, as the ceiling;
#   2. at 1k, 10k and 50k req/s: the rate achieved against the rate asked,
#      the send lag's median and 99th percentile after the first second
#      (capfinder's step warm-up; capfinder from its own record, vegeta
#      from its results' timestamps against its schedule)
#      and the CPU (user + system) spent per request: the peers' whole
#      process, capfinder's during its step (gen_cpu_ms, which leaves out
#      the report and plots it draws after the load);
#   3. what capfinder says when asked for more than one core can send: an
#      auto search up to 200k req/s;
#   4. `capfinder analyze` on ten million recorded requests: wall time and
#      peak memory (scripts/bench-analyze.sh).
# k6 is not among the peers: its licence (AGPL) keeps it out of this
# project's tool chain.
. "$(dirname "$0")/bench-lib.sh"
SECS=${1:-10}
CONC=64
bench_init peers
go build -o "$WORK/vegetalag" ./scripts/vegetalag
GEN="taskset -c 0 env GOMAXPROCS=1"

# summary VALUE [N] reads the Nth "VALUE": line of a run's summary.json
# (indented, one key per line); the file is $SUM.
summary() { grep "\"$1\":" "$SUM" | sed -n "${2:-1}p" | sed 's/.*: *//; s/,$//'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
cpu() { awk '{ printf "%.3f", $1 + $2 }' "$1"; }

echo "== 1. Most requests/s on one core, every request recorded ($SECS s, $CONC in flight)"
$GEN bin/capfinder run --mode throughput --concurrency "$CONC" --duration "${SECS}s" \
	--step-duration "${SECS}s" --out "$WORK/max" -q "$URL" >/dev/null
SUM=$WORK/max/summary.json
CF_SENT=$(summary sent)
[ "$CF_SENT" = "$(summary recorded)" ] || { echo "capfinder recorded $(summary recorded) of $CF_SENT" >&2; exit 1; }
CF_RPS=$(awk -v n="$CF_SENT" -v a="$(summary start_s)" -v b="$(summary end_s '$')" 'BEGIN { printf "%.0f", n / (b - a) }')
CF_BYTES=$(du -sb "$WORK/max/requests" | cut -f1)

$GEN sh -c "echo 'GET $URL' | '$TOOLS/vegeta' attack -rate=0 -max-workers=$CONC -workers=$CONC -duration=${SECS}s -output '$WORK/vegeta.bin'"
# "Requests [total, rate, throughput]  N, R, T"
read -r VG_N VG_RPS <<<"$("$TOOLS/vegeta" report "$WORK/vegeta.bin" | awk -F'  +' '/^Requests/ { split($3, v, ", "); printf "%d %.0f", v[1], v[3] }')"
VG_BYTES=$(stat -c %s "$WORK/vegeta.bin")

$GEN "$TOOLS/hey" -z "${SECS}s" -c "$CONC" -o csv "$URL" >"$WORK/hey.csv"
HEY_N=$(($(wc -l <"$WORK/hey.csv") - 1))
HEY_RPS=$(awk -v n="$HEY_N" -v s="$SECS" 'BEGIN { printf "%.0f", n / s }')
HEY_BYTES=$(stat -c %s "$WORK/hey.csv")

WRK_RPS=$(taskset -c 0 wrk -t1 -c"$CONC" -d"${SECS}s" "$URL" | awk '/^Requests\/sec/ { printf "%.0f", $2 }')

printf "%-10s %10s %14s %22s\n" tool "req/s" "bytes/request" "capfinder / tool"
row() { printf "%-10s %10s %14s %22s\n" "$1" "$2" "$3" "$(ratio "$CF_RPS" "$2")"; }
printf "%-10s %10s %14s %22s\n" capfinder "$CF_RPS" "$(awk -v b="$CF_BYTES" -v n="$CF_SENT" 'BEGIN { printf "%.1f", b / n }')" ""
row vegeta "$VG_RPS" "$(awk -v b="$VG_BYTES" -v n="$VG_N" 'BEGIN { printf "%.1f", b / n }')"
row hey "$HEY_RPS" "$(awk -v b="$HEY_BYTES" -v n="$HEY_N" 'BEGIN { printf "%.1f", b / n }')"
row wrk "$WRK_RPS" "(none kept)"

echo
echo "== 2. Pacing and CPU at fixed rates ($SECS s each)"
printf "%-8s %-10s %12s %9s %16s %14s\n" rate tool achieved "off by" "lag p50/p99 ms" "CPU µs/request"
for RATE in 1000 10000 50000; do
	$GEN bin/capfinder run --mode rate --rate "$RATE" \
		--duration "${SECS}s" --step-duration "${SECS}s" --out "$WORK/rate$RATE" -q "$URL" >/dev/null
	SUM=$WORK/rate$RATE/summary.json
	N=$(summary sent)
	GOT=$(awk -v n="$N" -v a="$(summary start_s)" -v b="$(summary end_s)" 'BEGIN { printf "%.1f", n / (b - a) }')
	printf "%-8s %-10s %12s %8s%% %16s %14s\n" "$RATE" capfinder "$GOT" \
		"$(awk -v g="$GOT" -v r="$RATE" 'BEGIN { printf "%+.2f", 100 * (g - r) / r }')" \
		"$(summary send_lag_p50_ms)/$(summary send_lag_p99_ms)" \
		"$(awk -v c="$(summary gen_cpu_ms)" -v n="$N" 'BEGIN { printf "%.1f", 1e3 * c / n }')"
	if [ "$RATE" = 50000 ]; then
		echo "         capfinder's own verdict on its step: $(summary verdict) $(summary limited_by)"
	fi

	$GEN /usr/bin/time -f "%U %S" -o "$WORK/vg.time" sh -c \
		"echo 'GET $URL' | '$TOOLS/vegeta' attack -rate=$RATE -duration=${SECS}s -output '$WORK/vg$RATE.bin'"
	read -r N GOT P50 P99 <<<"$("$TOOLS/vegeta" encode --to csv "$WORK/vg$RATE.bin" | "$WORK/vegetalag" -rate "$RATE")"
	printf "%-8s %-10s %12s %8s%% %16s %14s\n" "$RATE" vegeta "$GOT" \
		"$(awk -v g="$GOT" -v r="$RATE" 'BEGIN { printf "%+.2f", 100 * (g - r) / r }')" "$P50/$P99" \
		"$(awk -v c="$(cpu "$WORK/vg.time")" -v n="$N" 'BEGIN { printf "%.1f", 1e6 * c / n }')"

	# hey paces each of its workers with a ticker (-q per worker) and has
	# no schedule to be late against: its CPU only.
	if [ "$RATE" -le 10000 ]; then
		$GEN /usr/bin/time -f "%U %S" -o "$WORK/hey.time" "$TOOLS/hey" -z "${SECS}s" -c 50 -q $((RATE / 50)) \
			-o csv "$URL" >"$WORK/hey$RATE.csv"
		N=$(($(wc -l <"$WORK/hey$RATE.csv") - 1))
		printf "%-8s %-10s %12s %9s %16s %14s\n" "$RATE" hey "$(awk -v n="$N" -v s="$SECS" 'BEGIN { printf "%.1f", n / s }')" "" "" \
			"$(awk -v c="$(cpu "$WORK/hey.time")" -v n="$N" 'BEGIN { printf "%.1f", 1e6 * c / n }')"
	fi
done

echo
echo "== 3. Asked for more than one core sends: auto up to 200k req/s on one core"
$GEN bin/capfinder run --max-qps 200000 --min-qps 10000 --duration 40s --out "$WORK/auto" "$URL" | sed -n '/^capacity:/,/^run:/p'

echo
echo "== 4. analyze on ten million recorded requests"
./scripts/bench-analyze.sh
