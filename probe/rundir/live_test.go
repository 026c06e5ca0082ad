package rundir

import (
	"testing"
	"time"
)

// A second counts the requests that ended in it, by status and error
// class, with their latency quantiles; the next starts empty.
func TestLiveCutsSeconds(t *testing.T) {
	l := NewLive()
	for i := range 100 {
		r := Record{ScheduledNs: 0, EndNs: int64(i+1) * int64(time.Millisecond), Status: 200, BytesIn: 10, BytesOut: 5}
		if i >= 98 {
			r.Status, r.Error = 503, ErrStatus
		}
		if i < 10 {
			r.FirstTokenNs, r.OutputTokens = int64(time.Millisecond)/2, 3
		}
		l.Add(&r)
	}
	s := l.Cut(int64(time.Second), 120, 7)
	if s.T != 1 || s.Sent != 120 || s.InFlight != 7 || s.Done != 100 || s.Failed != 2 || s.Status["200"] != 98 || s.Status["503"] != 2 || s.Errors["status 503"] != 2 {
		t.Errorf("second %+v", s)
	}
	if s.BytesIn != 1000 || s.BytesOut != 500 || s.OutputTokens != 30 {
		t.Errorf("bytes %d in, %d out, %d tokens", s.BytesIn, s.BytesOut, s.OutputTokens)
	}
	if s.P50Ms < 49.5 || s.P50Ms > 50.5 || s.P99Ms < 98.5 || s.MaxMs < 99.9 || s.MeanMs < 50 || s.MeanMs > 51 {
		t.Errorf("latency p50 %v p99 %v max %v mean %v ms, want 50, 99, 100, 50.5", s.P50Ms, s.P99Ms, s.MaxMs, s.MeanMs)
	}
	if s.TTFTP50Ms != 0.5 || s.TPOTP99Ms <= 0 {
		t.Errorf("ttft p50 %v ms, tpot p99 %v ms", s.TTFTP50Ms, s.TPOTP99Ms)
	}
	next := l.Cut(int64(2*time.Second), 0, 0)
	if next.T != 2 || next.Done != 0 || next.P99Ms != 0 || len(next.Status) != 0 {
		t.Errorf("the next second is not empty: %+v", next)
	}
}

// The same second of several generators, merged, is the second one Live
// of all their records gives: every count, every quantile.
func TestMergeSecondsEqualsOneLive(t *testing.T) {
	all := NewLive()
	parts := []*Live{NewLive(), NewLive(), NewLive()}
	for _, l := range parts {
		l.Keep = true
	}
	for i := range 600 {
		r := Record{EndNs: int64(i%997+1) * int64(time.Millisecond) * 3 / 2, Status: 200, BytesIn: int64(i % 7), OutputTokens: 2}
		if i%5 == 0 {
			r.FirstTokenNs = r.EndNs / 3
		}
		if i%50 == 0 {
			r.Status, r.Error = 503, ErrStatus
		}
		all.Add(&r)
		parts[i%3].Add(&r)
	}
	want := all.Cut(int64(time.Second), 600, 9)
	var ss []Second
	for _, l := range parts {
		ss = append(ss, l.Cut(int64(time.Second), 200, 3))
	}
	got, err := MergeSeconds(ss)
	if err != nil {
		t.Fatal(err)
	}
	got.Hists = nil
	if got.T != want.T || got.Sent != want.Sent || got.InFlight != want.InFlight || got.Done != want.Done || got.Failed != want.Failed ||
		got.BytesIn != want.BytesIn || got.OutputTokens != want.OutputTokens || got.Status["503"] != want.Status["503"] || got.Errors["status 503"] != want.Errors["status 503"] {
		t.Errorf("merged counts %+v, one Live's %+v", got, want)
	}
	if got.P50Ms != want.P50Ms || got.P90Ms != want.P90Ms || got.P99Ms != want.P99Ms || got.MaxMs != want.MaxMs || got.MeanMs != want.MeanMs ||
		got.TTFTP50Ms != want.TTFTP50Ms || got.TTFTP99Ms != want.TTFTP99Ms || want.TTFTP99Ms == 0 {
		t.Errorf("merged quantiles %+v, one Live's %+v", got, want)
	}
	// A Live that keeps its histograms starts each second afresh too.
	if next := parts[0].Cut(int64(2*time.Second), 0, 0); next.Done != 0 || next.Hists[0].TotalCount() != 0 {
		t.Errorf("the next second is not empty: %+v", next)
	}
	if _, err := MergeSeconds([]Second{{T: 1}}); err == nil {
		t.Error("a second without its histograms was merged")
	}
}
