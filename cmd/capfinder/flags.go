package main

import (
	"github.com/capfinder/capfinder/controller"
	"github.com/capfinder/capfinder/controller/runner"
	"github.com/urfave/cli/v2"
)

// Flag categories group the run help into what a user looks for.
const (
	catSearch = "Search"
	catLimits = "Limits"
	catLoad   = "Load"
	catReq    = "Request"
	catOut    = "Output"
)

// runFlags are the `run` options, named after the EAS bench_desc fields in
// kebab-case (DESIGN.md fixes them).
func runFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "mode", Value: "auto", Category: catSearch,
			Usage: "auto (find capacity), scan (EAS ramp), manual, rate, concurrency or throughput"},
		&cli.Float64Flag{Name: "min-qps", Value: 100, Category: catSearch, Usage: "first rate of a scan or auto search (1 for an LLM API)"},
		&cli.Float64Flag{Name: "max-qps", Value: 10000, Category: catSearch, Usage: "ceiling the search never exceeds"},
		&cli.Float64Flag{Name: "qps-growth-delta", Value: 50, Category: catSearch, Usage: "scan: rate added every adjust interval"},
		&cli.DurationFlag{Name: "adjust-interval", Value: minute, Category: catSearch, Usage: "scan: how long each rate is held"},
		&cli.DurationFlag{Name: "step-duration", Value: 5 * second, Category: catSearch, Usage: "auto and fixed modes: how long each step is held (15s for an LLM API)"},
		&cli.Float64Flag{Name: "precision", Value: 0.02, Category: catSearch, Usage: "auto: stop when the bracket around the limit is this narrow (relative)"},
		&cli.DurationFlag{Name: "hold", Category: catSearch, Usage: "auto: once converged, hold the load at the capacity this long, tracking the limit (a soak at capacity; counts against --duration)"},
		&cli.DurationFlag{Name: "warmup", Value: second, Category: catSearch, Usage: "start of each step left out of its verdict, at most a fifth of the step (3s for an LLM API)"},
		&cli.DurationFlag{Name: "duration", Value: 10 * minute, Category: catSearch, Usage: "the most load time the run may take"},

		&cli.DurationFlag{Name: "max-rt", Category: catLimits, Usage: "latency limit at --rt-quantile (e.g. 200ms); 0 = none"},
		&cli.Float64Flag{Name: "rt-quantile", Value: controller.DefaultQuantile, Category: catLimits, Usage: "quantile --max-rt applies to, in (0,1)"},
		&cli.Float64Flag{Name: "confidence", Value: controller.DefaultConfidence, Category: catLimits, Usage: "how sure a step's verdict must be before the step ends on it, in (0,1)"},
		&cli.Float64Flag{Name: "fault-tolerate", Value: 0.001, Category: catLimits, Usage: "error budget: the largest failing fraction a step may have"},
		&cli.StringFlag{Name: "fault-action", Value: "revise", Category: catLimits, Usage: "after a limit breaks: revise (back off and track) or stop (hold the last passing rate)"},
		&cli.DurationFlag{Name: "max-ttft", Category: catLimits, Usage: "LLM: time-to-first-token limit at --rt-quantile; 0 = none"},
		&cli.DurationFlag{Name: "max-tpot", Category: catLimits, Usage: "LLM: time-per-output-token limit at --rt-quantile; 0 = none"},
		&cli.Float64Flag{Name: "fail-below", Category: catLimits, Usage: "exit 1 when the capacity found is under this many requests/s"},

		&cli.Float64Flag{Name: "rate", Category: catLoad, Usage: "requests per second of a fixed rate (implies --mode rate)"},
		&cli.IntFlag{Name: "concurrency", Category: catLoad, Usage: "requests in flight: the load in concurrency, manual and throughput modes, the bound otherwise (default by mode: 8, 2, 64, 4096)"},
		&cli.Int64Flag{Name: "requests", Category: catLoad, Usage: "stop after this many requests, once they are answered; 0 = no bound"},
		&cli.StringFlag{Name: "arrival", Value: "constant", Category: catLoad, Usage: "arrival process: constant, poisson or gamma"},
		&cli.Float64Flag{Name: "burstiness", Value: 1, Category: catLoad, Usage: "gamma arrivals: shape (1 = Poisson, smaller is burstier)"},
		&cli.StringFlag{Name: "profile", Category: catLoad, Usage: "a JSON load profile: stages of constant rate, linear ramp or steps, run open loop"},
		&cli.Uint64Flag{Name: "seed", Category: catLoad, Usage: "seed for arrivals and sampling"},
		&cli.IntFlag{Name: "agents", Category: catLoad, Usage: "send the load from this many agents (capfinder agent), each taking its share of one schedule; this process coordinates"},
		&cli.StringFlag{Name: "agent-listen", Category: catLoad, Usage: "with --agents: the address agents connect to (e.g. :7070; default 127.0.0.1 on a free port with --spawn)"},
		&cli.BoolFlag{Name: "spawn", Category: catLoad, Usage: "with --agents: start the agents as processes on this machine"},
		&cli.StringFlag{Name: "spec", Category: catReq, Usage: "a run's whole spec as JSON (run.json's config, or what capfinder kube puts in its ConfigMap); the URL may be left out"},

		&cli.StringFlag{Name: "api", Value: "http", Category: catReq, Usage: "http, openai-chat, openai-completions (token metrics) or sse (event streams)"},
		&cli.StringFlag{Name: "dataset", Category: catReq, Usage: "requests from synthetic:input=LENGTHS,output=LENGTHS[,prefix=P,prefixes=N,share=F,turns=LENGTHS,think=D], sharegpt:FILE[,turns=all], jsonl:FILE or a .json/.jsonl file; LENGTHS is N, LO-HI, normal(MEAN,SD[,LO-HI]), lognormal(MEAN,SD[,LO-HI]) or sharegpt(FILE) (LLM default " + runner.DefaultDataset + ")"},
		&cli.StringFlag{Name: "calibrate", Value: "auto", Category: catReq, Usage: "LLM: size prompts in the server's tokens from its usage.prompt_tokens, its tokenize endpoint, either (auto), or not (off)"},
		&cli.StringFlag{Name: "tokenizer", Category: catReq, Usage: "LLM: a Hugging Face tokenizer.json to count prompt tokens with, offline, instead of asking the server"},
		&cli.StringFlag{Name: "model", Category: catReq, Usage: "LLM: model to name in every request"},
		&cli.IntFlag{Name: "max-tokens", Category: catReq, Usage: "LLM: output budget of every request (default: the dataset's)"},
		&cli.BoolFlag{Name: "ignore-eos", Category: catReq, Usage: "LLM: ask for the whole output budget"},
		&cli.BoolFlag{Name: "stream", Value: true, Category: catReq, Usage: "LLM: stream answers (--stream=false for whole answers, without TTFT)"},
		&cli.StringFlag{Name: "method", Category: catReq, Usage: "HTTP method (default POST with a body, GET without)"},
		&cli.StringSliceFlag{Name: "header", Aliases: []string{"H"}, Category: catReq, Usage: `request header "K: V" (repeatable)`},
		&cli.StringFlag{Name: "body", Category: catReq, Usage: "request body, or @FILE for a file's contents"},
		&cli.StringFlag{Name: "data-base64", Category: catReq, Usage: "request body in base64 (EAS data.content)"},
		&cli.StringFlag{Name: "data-file", Category: catReq, Usage: "request bodies from files or http(s) URLs, comma-separated; a zip gives each file it holds (EAS data.path)"},
		&cli.BoolFlag{Name: "multi-line", Category: catReq, Usage: "with --data-file: each line is one request body"},
		&cli.StringFlag{Name: "data-order", Value: "round-robin", Category: catReq, Usage: "order of several bodies: round-robin or random (seeded by --seed)"},
		&cli.StringFlag{Name: "config", Category: catReq, Usage: "an EAS bench_desc JSON file (with service.url); flags given override it"},
		&cli.DurationFlag{Name: "timeout", Value: 20 * second, Category: catReq, Usage: "per-request timeout; a timed-out request is recorded with status 512"},
		&cli.BoolFlag{Name: "insecure", Category: catReq, Usage: "skip TLS certificate verification (the answer and the report say so)"},
		&cli.StringFlag{Name: "max-body", Value: "16MiB", Category: catReq, Usage: "largest answer read (e.g. 512KiB, 64MiB); a larger one fails as too_large"},

		&cli.Float64Flag{Name: "target-qps", Category: catOut, Usage: "load to size replicas for"},
		&cli.Float64Flag{Name: "replica-cost", Category: catOut, Usage: "price of a replica-hour: the answer gives the cost per million output tokens and per thousand requests at the safe load"},
		&cli.StringFlag{Name: "server-metrics", Category: catOut, Usage: "the target's Prometheus endpoint (e.g. http://host:8000/metrics), scraped every second: its queue, batch and KV cache per step, and what ran out at the limit"},
		&cli.Float64Flag{Name: "headroom", Value: 0.3, Category: catOut, Usage: "fraction of a replica's capacity kept spare"},
		&cli.StringFlag{Name: "out", Category: catOut, Usage: "run directory (default runs/<date>-<time>)"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Category: catOut, Usage: "no progress lines"},
		&cli.StringFlag{Name: "listen", Category: catOut, Usage: "serve a live dashboard, its controls and /metrics on this address (loopback, e.g. 127.0.0.1:7777)"},
		&cli.BoolFlag{Name: "listen-public", Category: catOut, Usage: "allow --listen beyond loopback; every request then needs the random token in the URL printed"},
	}
}
