package analysis

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/capfinder/capfinder/controller"
	"github.com/capfinder/capfinder/probe/rundir"
)

// serverStats aggregates the server series over [start, end] (a step,
// which a scrape a second samples even when it is short): a gauge's
// samples in it, a counter's rates between successive samples whose later
// one is in it (a counter that went down was reset and is passed over).
// rows are sorted by time.
func serverStats(rows []rundir.ServerRow, start, end int64) map[string]rundir.ServerStat {
	type acc struct {
		kind          string
		sum, max, n   float64
		lastT         int64
		lastV, dv, dt float64
		seen, hasRate bool
	}
	by := map[string]*acc{}
	for _, r := range rows {
		if r.TimeNs > end {
			break
		}
		a := by[r.Series]
		if a == nil {
			a = &acc{kind: r.Kind, max: math.Inf(-1)}
			by[r.Series] = a
		}
		if r.Kind == "counter" {
			if a.seen && r.TimeNs >= start && r.TimeNs > a.lastT && r.Value >= a.lastV {
				dv, dt := r.Value-a.lastV, float64(r.TimeNs-a.lastT)/1e9
				a.dv, a.dt, a.hasRate = a.dv+dv, a.dt+dt, true
				a.max = max(a.max, dv/dt)
			}
			a.seen, a.lastT, a.lastV = true, r.TimeNs, r.Value
			continue
		}
		if r.TimeNs >= start {
			a.sum, a.n = a.sum+r.Value, a.n+1
			a.max = max(a.max, r.Value)
		}
	}
	out := map[string]rundir.ServerStat{}
	for k, a := range by {
		switch {
		case a.kind == "counter" && a.hasRate:
			out[k] = rundir.ServerStat{Kind: a.kind, Mean: a.dv / a.dt, Max: a.max}
		case a.kind != "counter" && a.n > 0:
			out[k] = rundir.ServerStat{Kind: a.kind, Mean: a.sum / a.n, Max: a.max}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// A Role is what a series tells of an inference engine, under the names
// vLLM, SGLang and TGI give it, in that order.
type Role []string

// The roles the explanation reads: requests waiting and running, KV-cache
// use (a fraction: vLLM's gpu_cache_usage_perc, despite its name, and
// SGLang's token_usage) and preemptions (a counter).
var (
	Waiting     = Role{"vllm:num_requests_waiting", "sglang:num_queue_reqs", "tgi_queue_size"}
	Running     = Role{"vllm:num_requests_running", "sglang:num_running_reqs", "tgi_batch_current_size"}
	KVCache     = Role{"vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc", "sglang:token_usage"}
	Preemptions = Role{"vllm:num_preemptions_total", "sglang:num_retracted_reqs_total"}
)

// Value is a role's mean and largest value over a step, summed over the
// series (label sets) of the first of its names the step has; false when
// none.
func (r Role) Value(stats map[string]rundir.ServerStat) (mean, top float64, ok bool) {
	for _, name := range r {
		for key, st := range stats {
			if key == name || strings.HasPrefix(key, name+"{") {
				mean, top, ok = mean+st.Mean, top+st.Max, true
			}
		}
		if ok {
			return mean, top, true
		}
	}
	return 0, 0, false
}

// Thresholds of the explanation's rules.
const (
	// kvFull is the KV-cache use at which the cache counts as full.
	kvFull = 0.9
	// waitingQueue is the most requests waiting at a scrape that makes a
	// queue: one seen waiting, as a scrape a second may see a short queue
	// once.
	waitingQueue = 1.0
)

// explainServer says what the server ran out of at the limit the run
// found, from its metrics at the first step beyond it, against the last
// step that held. It returns the sentence and the rule that gave it;
// empty when the run has no server metrics.
func (a *Analysis) explainServer(sum *rundir.Summary) (text, rule string) {
	var fail, pass *rundir.StepStats
	for i, s := range a.Run.Steps {
		if s.Server == nil {
			continue
		}
		switch v := a.Steps[i].Verdict; {
		case v == controller.Fail && (fail == nil || s.Load() < fail.Load()):
			fail = s
		case v == controller.Pass && (pass == nil || s.Load() > pass.Load()):
			pass = s
		}
	}
	if fail == nil {
		if pass == nil {
			return "", ""
		}
		return "no step broke a limit, so the server's metrics have no limit to explain", "none"
	}
	m := fail.Server
	waiting, waitingTop, hasWaiting := Waiting.Value(m)
	running, runningTop, hasRunning := Running.Value(m)
	_, kv, hasKV := KVCache.Value(m)
	preempt, _, hasPreempt := Preemptions.Value(m)
	if !hasWaiting && !hasRunning && !hasKV {
		return fmt.Sprintf("the server's metrics do not explain the limit: none of the series the rules read (vLLM's, SGLang's, TGI's) was found among its %d", len(m)), "unknown"
	}
	what := fmt.Sprintf("%s broke at %s", limitName(sum.Capacity.LimitedBy), loadString(fail))
	var facts []string
	if hasKV {
		facts = append(facts, fmt.Sprintf("KV cache at %.0f %%", 100*kv))
	}
	if hasPreempt && preempt > 0 {
		facts = append(facts, fmt.Sprintf("%.2g preemptions/s", preempt))
	}
	if hasRunning {
		facts = append(facts, fmt.Sprintf("%.0f running (at most %.0f)", running, runningTop))
	}
	detail := strings.Join(facts, ", ")
	// The largest batch the run saw: a batch that stopped growing is full.
	batch := 0.0
	for _, s := range a.Run.Steps {
		if _, top, ok := Running.Value(s.Server); ok {
			batch = max(batch, top)
		}
	}
	queue := hasWaiting && waitingTop >= waitingQueue
	wait := fmt.Sprintf("%.1f waiting on average, %.0f at most", waiting, waitingTop)
	switch {
	case queue && ((hasKV && kv >= kvFull) || (hasPreempt && preempt > 0)):
		return fmt.Sprintf("%s when requests began to wait (%s): %s. The replica ran out of KV cache: more memory per replica, or shorter prompts and answers, would raise its capacity; more replicas share the load", what, wait, detail), "kv-cache"
	case queue && hasRunning && runningTop >= batch:
		return fmt.Sprintf("%s when requests began to wait (%s) with the batch full: %s. The replica ran out of batch slots (vLLM's max-num-seqs, SGLang's max-running-requests, TGI's max-batch-size): a larger batch raises capacity if the KV cache and the latency limits allow", what, wait, detail), "batch"
	case queue:
		return fmt.Sprintf("%s when requests began to wait (%s) with room in the batch and the KV cache: %s. The server held them for a reason its metrics do not show", what, wait, detail), "waiting"
	case hasWaiting:
		return fmt.Sprintf("%s with no queue at the server (no request seen waiting): %s. The requests were served as they came and each was slow: the replica ran out of compute, and only more or faster replicas help", what, detail), "compute"
	}
	return fmt.Sprintf("%s: %s; the server reports no waiting queue, so its metrics do not say what ran out", what, detail), "unknown"
}

// sortRows orders server rows by time.
func sortRows(rows []rundir.ServerRow) {
	slices.SortStableFunc(rows, func(a, b rundir.ServerRow) int { return cmp.Compare(a.TimeNs, b.TimeNs) })
}

// cost prices the safe load: per million output tokens and per thousand
// requests, for a replica costing perHour; nil without a price or a load.
func cost(perHour float64, sum *rundir.Summary) *rundir.Cost {
	q := sum.Recommendation.PerReplicaQPS
	if perHour <= 0 || q <= 0 {
		return nil
	}
	c := &rundir.Cost{ReplicaHour: perHour, AtQPS: q, PerThousandRequests: perHour / (q * 3600) * 1000}
	if t := sum.Tokens; t != nil && t.MeanOutput > 0 {
		c.PerMillionOutputTokens = perHour / (q * t.MeanOutput * 3600) * 1e6
	}
	return c
}
