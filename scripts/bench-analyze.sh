#!/usr/bin/env bash
# `capfinder analyze` on a recorded run of N requests (default ten
# million): wall time and peak memory. The run is synthetic (scripts/genrun)
# so that no request has to be sent to record it.
#
#   scripts/bench-analyze.sh [N [STEPS [HOLD]]]   e.g. 2000000 2000 1s
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000000}
STEPS=${2:-10}
HOLD=${3:-60s}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
[ -x bin/capfinder ] || make build >/dev/null
./scripts/install-debian.sh time:time
go run ./scripts/genrun -n "$N" -steps "$STEPS" -hold "$HOLD" -out "$WORK/run"
echo "analyze: $N requests in $STEPS steps, $(du -sh "$WORK/run/requests" | cut -f1) of Parquet"
/usr/bin/time -f "analyze: %e s wall, %M KiB peak resident" \
	bin/capfinder analyze --max-rt 20ms --out "$WORK/out" "$WORK/run" >/dev/null
