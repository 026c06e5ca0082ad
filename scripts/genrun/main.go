// Command genrun writes a synthetic recorded run of N requests, for
// benchmarking `capfinder analyze` without sending them: ten steps of
// constant arrivals from 10 % to 100 % of N's share, M/M/1-like latencies,
// one failure in a thousand, run.json and steps.parquet as `run` writes
// them.
//
//	go run ./scripts/genrun -n 10000000 -out /tmp/big
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/capfinder/capfinder/probe"
)

func main() {
	n := flag.Int64("n", 10_000_000, "requests to write")
	out := flag.String("out", "", "run directory to create")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "genrun: -out is required")
		os.Exit(2)
	}
	if err := generate(*out, *n); err != nil {
		fmt.Fprintln(os.Stderr, "genrun:", err)
		os.Exit(1)
	}
}

func generate(dir string, n int64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	const steps, hold = 10, 60 * time.Second
	// Rates 1..10 × base, summing to n requests over the steps.
	base := float64(n) / hold.Seconds() / 55
	mu := 10.5 * base
	rec, err := probe.NewRecorder(dir, probe.RecorderOptions{Metadata: map[string]string{"run.mode": "rate"}})
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var rows []probe.StepRecord
	var at int64
	batch := make([]probe.Record, 0, 8192)
	for s := 1; s <= steps; s++ {
		rate := base * float64(s)
		count := int64(rate * hold.Seconds())
		for k := int64(0); k < count; k++ {
			sched := at + int64(float64(k)/rate*1e9)
			lat := rng.ExpFloat64() / (mu - rate)
			r := probe.Record{Step: int32(s), OfferedQPS: rate, ScheduledNs: sched, SentNs: sched + 2000,
				FirstByteNs: sched + int64(lat*0.9e9), EndNs: sched + int64(lat*1e9), Status: 200, BytesIn: 120, BytesOut: 60}
			if rng.IntN(1000) == 0 {
				r.Status, r.Error = 503, probe.ErrStatus
			}
			if batch = append(batch, r); len(batch) == cap(batch) {
				if err := rec.Write(batch); err != nil {
					return err
				}
				batch = batch[:0]
			}
		}
		rows = append(rows, probe.StepRecord{Step: int32(s), Phase: "fixed", OfferedQPS: rate, StartNs: at, EndNs: at + int64(hold),
			JudgedStartNs: at + int64(time.Second), JudgedEndNs: at + int64(hold)})
		at += int64(hold)
	}
	if err := rec.Write(batch); err != nil {
		return err
	}
	if err := rec.Close(); err != nil {
		return err
	}
	if err := probe.WriteParquet(filepath.Join(dir, "steps.parquet"), rows, nil); err != nil {
		return err
	}
	cfg := map[string]any{"config": map[string]any{
		"url": "http://127.0.0.1/", "mode": "rate", "min_qps": 1, "max_qps": math.Ceil(mu * 2), "qps_growth_delta": 1,
		"adjust_interval_ns": hold, "step_duration_ns": hold, "precision": 0.02, "duration_ns": hold * steps,
		"max_rt_ns": 0, "rt_quantile": 0.99, "fault_tolerate": 0.01, "fault_action": "revise",
		"rate": base, "concurrency": 4096, "arrival": "constant", "burstiness": 1, "timeout_ns": 20 * time.Second, "headroom": 0.3,
	}}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "run.json"), b, 0o644)
}
