package rundir

import "time"

// ms converts a duration to float milliseconds, the unit of summary.json.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Row is the step as steps.parquet records it, with the verdict, the
// limit it was judged by and whether its evidence was conclusive.
func (s *StepStats) Row(verdict, limitedBy string, conclusive bool) StepRow {
	return StepRow{
		Step: int32(s.Step), Phase: s.Phase, AskedBy: s.AskedBy, OfferedQPS: s.Offered, Concurrency: int32(s.Concurrency),
		StartNs: int64(s.Start), EndNs: int64(s.End),
		JudgedStartNs: int64(s.JudgedStart), JudgedEndNs: int64(s.JudgedEnd), JudgedMidNs: int64(s.Mid),
		Saturated: s.Saturated, ScheduleLagNs: int64(s.ScheduleLag),
		Sent: s.Sent, Samples: s.Samples, Failures: s.Failed, AchievedQPS: s.Achieved(),
		P50Ms: ms(Quantile(s.Latency, 0.50)), P90Ms: ms(Quantile(s.Latency, 0.90)),
		P99Ms: ms(Quantile(s.Latency, 0.99)), P999Ms: ms(Quantile(s.Latency, 0.999)),
		MaxMs: ms(Max(s.Latency)), MeanMs: ms(Mean(s.Latency)),
		ErrorRate: s.ErrorRate(), SendLagP99Ms: ms(Quantile(s.SendLag, 0.99)),
		Verdict: verdict, LimitedBy: limitedBy, Conclusive: conclusive,
		RateEndQPS: s.RateEnd, InFlightStart: s.InFlightStart, InFlightEnd: s.InFlightEnd,
		GenCPUNs: int64(s.GenCPU), Goroutines: int32(s.Goroutines),
	}
}

// Bounds are the times of a recorded step. A row without a judged
// stretch is judged whole.
func (row *StepRow) Bounds() Bounds {
	b := Bounds{Start: row.StartNs, End: row.EndNs, JudgedStart: row.JudgedStartNs, JudgedEnd: row.JudgedEndNs, Mid: row.JudgedMidNs}
	if b.JudgedEnd <= b.JudgedStart {
		b.JudgedStart, b.JudgedEnd, b.Mid = b.Start, b.End, 0
	}
	return b
}

// SetFacts copies onto s what the run knew of the step beyond its
// records: the load, and how the generator and the target fared.
func (row *StepRow) SetFacts(s *StepStats) {
	s.Phase, s.AskedBy, s.Offered, s.RateEnd, s.Concurrency = row.Phase, row.AskedBy, row.OfferedQPS, row.RateEndQPS, int(row.Concurrency)
	s.Saturated, s.ScheduleLag = row.Saturated, time.Duration(row.ScheduleLagNs)
	s.InFlightStart, s.InFlightEnd = row.InFlightStart, row.InFlightEnd
	s.GenCPU, s.Goroutines = time.Duration(row.GenCPUNs), int(row.Goroutines)
}

// Summary is the step as summary.json shows it, with its verdict, the
// limit it was judged by and whether its evidence was conclusive.
func (s *StepStats) Summary(verdict, limitedBy string, conclusive bool) SummaryStep {
	st := SummaryStep{
		Step: s.Step, Phase: s.Phase, AskedBy: s.AskedBy, OfferedQPS: s.Offered, Concurrency: s.Concurrency,
		AchievedQPS: s.Achieved(), StartS: s.Start.Seconds(), EndS: s.End.Seconds(),
		JudgedStartS: s.JudgedStart.Seconds(), JudgedEndS: s.JudgedEnd.Seconds(), Saturated: s.Saturated,
		ScheduleLagMs: ms(s.ScheduleLag),
		Sent:          s.Sent, Samples: s.Samples, Failures: s.Failed,
		RateEndQPS: s.RateEnd, InFlightStart: s.InFlightStart, InFlightEnd: s.InFlightEnd,
		P50Ms:      ms(Quantile(s.Latency, 0.50)),
		P90Ms:      ms(Quantile(s.Latency, 0.90)),
		P99Ms:      ms(Quantile(s.Latency, 0.99)),
		P999Ms:     ms(Quantile(s.Latency, 0.999)),
		MaxMs:      ms(Max(s.Latency)),
		MeanMs:     ms(Mean(s.Latency)),
		ErrorRate:  s.ErrorRate(),
		SendLagP50: ms(Quantile(s.SendLag, 0.50)),
		SendLagP99: ms(Quantile(s.SendLag, 0.99)),
		InFlight:   s.InFlight(),
		BytesOut:   s.BytesOut, BytesIn: s.BytesIn,
		GoodputQPS: s.Goodput(),
		Events:     s.Events,
		Verdict:    verdict, LimitedBy: limitedBy, Conclusive: conclusive,
	}
	if len(s.Errors) > 0 {
		st.Errors = s.Errors
	}
	if len(s.Server) > 0 {
		st.Server = s.Server
	}
	if d := s.Duration().Seconds(); d > 0 {
		st.NewConnsPS = float64(s.NewConns) / d
		st.EventsPS = float64(s.Events) / d
		st.GenCPUShare = s.GenCPU.Seconds() / d
	}
	st.GenCPUMs, st.Goroutines = ms(s.GenCPU), s.Goroutines
	st.TTFTP50Ms, st.TTFTP99Ms = ms(Quantile(s.TTFT, 0.5)), ms(Quantile(s.TTFT, 0.99))
	st.TPOTP50Ms, st.TPOTP99Ms = ms(Quantile(s.TPOT, 0.5)), ms(Quantile(s.TPOT, 0.99))
	st.ITLMaxP99Ms = ms(Quantile(s.ITL, 0.99))
	st.PromptTokens, st.OutputTokens, st.OutputTokensPS = s.PromptTokens, s.OutputTokens, s.OutputRate()
	return st
}
