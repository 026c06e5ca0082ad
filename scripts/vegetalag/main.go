// Command vegetalag reads vegeta's results as CSV (`vegeta encode --to
// csv`) and prints, for a constant rate, the requests, the rate achieved
// and the send lag's median and 99th percentile: how late each request
// left against the schedule first + seq/rate, the same measure capfinder
// records for itself, and like capfinder's, leaving out a warm-up (its
// default second; "-" when it sent nothing after it). Used by
// scripts/bench.sh.
//
//	vegeta encode --to csv results.bin | go run ./scripts/vegetalag -rate 1000
package main

import (
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"time"
)

func main() {
	rate := flag.Float64("rate", 0, "the constant rate the attack asked for, per second")
	warmup := flag.Duration("warmup", time.Second, "the start left out of the send lag")
	flag.Parse()
	if *rate <= 0 {
		fmt.Fprintln(os.Stderr, "vegetalag: -rate is required")
		os.Exit(2)
	}
	type hit struct{ at, seq int64 }
	var hits []hit
	r := csv.NewReader(os.Stdin)
	r.FieldsPerRecord = -1
	for {
		row, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "vegetalag:", err)
			os.Exit(1)
		}
		// timestamp (Unix ns), code, latency, bytes out, bytes in, error,
		// body, attack, seq, ...
		if len(row) < 9 {
			fmt.Fprintf(os.Stderr, "vegetalag: a row of %d columns; want vegeta's CSV\n", len(row))
			os.Exit(1)
		}
		at, err1 := strconv.ParseInt(row[0], 10, 64)
		seq, err2 := strconv.ParseInt(row[8], 10, 64)
		if err1 != nil || err2 != nil {
			fmt.Fprintf(os.Stderr, "vegetalag: bad row %q\n", row[:9])
			os.Exit(1)
		}
		hits = append(hits, hit{at, seq})
	}
	if len(hits) < 2 {
		fmt.Fprintln(os.Stderr, "vegetalag: fewer than two results")
		os.Exit(1)
	}
	slices.SortFunc(hits, func(a, b hit) int { return int(a.seq - b.seq) })
	first, last := hits[0], hits[len(hits)-1]
	var lags []float64
	for _, h := range hits {
		due := float64(first.at) + float64(h.seq-first.seq)*1e9 / *rate
		if due-float64(first.at) >= float64(*warmup) {
			lags = append(lags, max(0, float64(h.at)-due)/1e6)
		}
	}
	achieved := float64(len(hits)-1) / (float64(last.at-first.at) / 1e9)
	if len(lags) == 0 {
		// It sent nothing after its warm-up: no lag to measure.
		fmt.Printf("%d %.2f - -\n", len(hits), achieved)
		return
	}
	slices.Sort(lags)
	q := func(p float64) float64 { return lags[int(p*float64(len(lags)-1))] }
	fmt.Printf("%d %.2f %.3f %.3f\n", len(hits), achieved, q(0.5), q(0.99))
}
