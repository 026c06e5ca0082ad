#!/usr/bin/env bash
# Two agents against one process (`make bench` runs it last): the most
# requests/s with every request recorded, against nginx serving a fixed
# 200 with a 3-byte body on cpu 1 over HTTP/1.1 keep-alive to 127.0.0.1,
# 64 in flight in all (shared 32/32 by two agents).
#
#   scripts/bench-fleet.sh [SECONDS]      each measurement's length, default 10 s
#
# Rows: the generators on cpu 0 alone (one process with GOMAXPROCS=1, then
# two agents spawned by a coordinator, each with GOMAXPROCS=1: what the
# coordination costs on the same core), then on both cpus, beside nginx
# (one process with GOMAXPROCS=2, then two agents of one core each).
. "$(dirname "$0")/bench-lib.sh"
SECS=${1:-10}
bench_init

summary() { grep "\"$1\":" "$SUM" | sed -n "${2:-1}p" | sed 's/.*: *//; s/,$//'; }

# measure NAME CPUS PROCS [ARGS...] runs capfinder's throughput mode and
# prints its row.
measure() {
	local name=$1 cpus=$2 procs=$3
	shift 3
	taskset -c "$cpus" env GOMAXPROCS="$procs" bin/capfinder run --mode throughput --concurrency 64 \
		--duration "${SECS}s" --step-duration "${SECS}s" --out "$WORK/$name" -q "$@" "$URL" >/dev/null
	SUM=$WORK/$name/summary.json
	local sent rps
	sent=$(summary sent)
	[ "$sent" = "$(summary recorded)" ] || { echo "$name: recorded $(summary recorded) of $sent" >&2; exit 1; }
	rps=$(awk -v n="$sent" -v a="$(summary start_s)" -v b="$(summary end_s)" 'BEGIN { printf "%.0f", n / (b - a) }')
	printf "%-34s %10s %16.2f\n" "$name" "$rps" "$(summary gen_cpu_cores)"
}

echo "== 5. Two agents against one process ($SECS s each, 64 in flight)"
printf "%-34s %10s %16s\n" generators "req/s" "generator cores"
measure "one-process-cpu0" 0 1
measure "two-agents-cpu0" 0 1 --agents 2 --spawn
measure "one-process-both-cpus" 0,1 2
measure "two-agents-both-cpus" 0,1 1 --agents 2 --spawn
