// Command genrun writes a synthetic recorded run of N requests, for
// benchmarking `capfinder analyze` without sending them and for the
// golden tests of its answers: ten steps of constant arrivals from 10 % to
// 100 % of N's share, M/M/1-like latencies, one failure in a thousand,
// run.json and steps.parquet as `run` writes them. The same flags give the
// same run.
//
//	go run ./scripts/genrun -n 10000000 -out /tmp/big
//	go run ./scripts/genrun -n 6000 -mode auto -max-rt 1s -out cmd/capfinder/testdata/run
//	go run ./scripts/genrun -n 2000000 -steps 2000 -hold 1s -out /tmp/steps
package main

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/capfinder/capfinder/probe/rundir"
	"github.com/capfinder/capfinder/probe/rundir/store"
)

func main() {
	n := flag.Int64("n", 10_000_000, "requests to write")
	out := flag.String("out", "", "run directory to create")
	mode := flag.String("mode", "rate", "the mode run.json records: rate (a sustained load) or auto (a search)")
	maxRT := flag.Duration("max-rt", 0, "the latency limit run.json records")
	steps := flag.Int("steps", 10, "steps, at 10 %, 20 %, … 100 % of the top rate and round again")
	hold := flag.Duration("hold", time.Minute, "the length of a step")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "genrun: -out is required")
		os.Exit(2)
	}
	if *steps < 1 || *hold < 100*time.Millisecond {
		fmt.Fprintln(os.Stderr, "genrun: -steps must be at least 1 and -hold at least 100ms")
		os.Exit(2)
	}
	if err := generate(*out, *n, *steps, *hold, rundir.Mode(*mode), *maxRT); err != nil {
		fmt.Fprintln(os.Stderr, "genrun:", err)
		os.Exit(1)
	}
}

func generate(dir string, n int64, steps int, hold time.Duration, mode rundir.Mode, maxRT time.Duration) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// Rates 1..10 × base, over and over, summing to n requests.
	level := func(s int) float64 { return float64(1 + (s-1)%10) }
	sum := 0.0
	for s := 1; s <= steps; s++ {
		sum += level(s)
	}
	base := float64(n) / hold.Seconds() / sum
	mu := 10.5 * base
	warmup := min(time.Second, hold/5)
	rec, err := store.NewRecorder(dir, store.RecorderOptions{Metadata: map[string]string{
		rundir.MetaMode: string(mode), rundir.MetaSchema: rundir.RecordSchema, rundir.MetaStreams: "false",
	}})
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var rows []rundir.StepRow
	var at, seq int64
	batch := make([]rundir.Record, 0, 8192)
	for s := 1; s <= steps; s++ {
		rate := base * level(s)
		count := int64(rate * hold.Seconds())
		for k := int64(0); k < count; k++ {
			sched := at + int64(float64(k)/rate*1e9)
			seq++
			lat := rng.ExpFloat64() / (mu - rate)
			r := rundir.Record{Step: int32(s), OfferedQPS: rate, ScheduledNs: sched, SentNs: sched + 2000,
				FirstByteNs: sched + int64(lat*0.9e9), EndNs: sched + int64(lat*1e9), Status: 200, BytesIn: 120, BytesOut: 60, Seq: seq}
			if rng.IntN(1000) == 0 {
				r.Status, r.Error = 503, rundir.ErrStatus
			}
			if batch = append(batch, r); len(batch) == cap(batch) {
				if err := rec.Write(batch); err != nil {
					return err
				}
				batch = batch[:0]
			}
		}
		rows = append(rows, rundir.StepRow{Step: int32(s), Phase: "fixed", OfferedQPS: rate, StartNs: at, EndNs: at + int64(hold),
			JudgedStartNs: at + int64(warmup), JudgedEndNs: at + int64(hold)})
		at += int64(hold)
	}
	if err := rec.Write(batch); err != nil {
		return err
	}
	if err := rec.Close(); err != nil {
		return err
	}
	if err := store.WriteParquet(filepath.Join(dir, rundir.StepsFile), rows, nil); err != nil {
		return err
	}
	info := rundir.RunInfo{Version: "genrun", Start: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Spec: rundir.Spec{
		URL: "http://127.0.0.1/", Mode: mode, MaxRT: maxRT, MinQPS: 1, MaxQPS: math.Ceil(mu * 2), QPSGrowthDelta: 1,
		AdjustInterval: hold, StepDuration: hold, Precision: 0.02, Duration: hold * time.Duration(steps), Warmup: warmup,
		RTQuantile: 0.99, FaultTolerate: 0.01, FaultAction: rundir.FaultRevise, API: rundir.APIHTTP,
		Rate: base, Concurrency: 4096, Arrival: rundir.ArrivalConstant, Burstiness: 1, Timeout: 20 * time.Second, Headroom: 0.3,
	}}
	return rundir.WriteJSON(filepath.Join(dir, rundir.RunJSON), info)
}
