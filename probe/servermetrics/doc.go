// Package servermetrics reads a target's own metrics during a run: it
// scrapes a Prometheus text endpoint (vLLM's, SGLang's, TGI's /metrics)
// and keeps every gauge and counter it finds, keyed by name and labels.
// It knows nothing of steps or limits; analysis aggregates the series per
// step and explains a limit from them.
package servermetrics
