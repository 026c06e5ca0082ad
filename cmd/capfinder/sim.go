package main

import (
	"fmt"
	"net/http"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/capfinder/capfinder/probe/probetest"
)

// simCommand returns `capfinder sim` with its subcommands.
func simCommand() *cli.Command {
	return &cli.Command{
		Name:  "sim",
		Usage: "serve a simulated target with a known capacity, for demos and dry runs",
		Subcommands: []*cli.Command{
			simHTTPCommand(),
			simLLMCommand(),
		},
	}
}

func simHTTPCommand() *cli.Command {
	return &cli.Command{
		Name:  "http",
		Usage: "a queueing HTTP server: c workers, a service-time distribution, a bounded queue",
		UsageText: `capfinder sim http [options]

   capfinder sim http --workers 4 --service-time 10ms            # capacity 400 req/s
   capfinder sim http --rate-limit 300 --listen 127.0.0.1:9000   # 429 above 300 req/s`,
		Description: `Serves every path. Each request waits for the first free of --workers workers,
is served for a time drawn from --distribution with mean --service-time, and is
answered 200 (or 500 with probability --error-rate). A request arriving when
--queue requests already wait is answered 503 at once; with --rate-limit, one
beyond the rate is answered 429 at once. The queue is modelled in virtual time,
so its capacity is exactly workers / service-time (or the rate limit).`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Value: "127.0.0.1:8080", Usage: "address to serve on"},
			&cli.IntFlag{Name: "workers", Value: 4, Usage: "requests served at once"},
			&cli.DurationFlag{Name: "service-time", Value: 10 * time.Millisecond, Usage: "mean service time"},
			&cli.StringFlag{Name: "distribution", Value: "exponential", Usage: "service times: exponential, constant or lognormal"},
			&cli.Float64Flag{Name: "cv", Value: 1, Usage: "lognormal: coefficient of variation"},
			&cli.IntFlag{Name: "queue", Value: 1000, Usage: "requests that may wait before 503s; -1 for no limit"},
			&cli.Float64Flag{Name: "error-rate", Usage: "fraction of requests answered 500"},
			&cli.Float64Flag{Name: "rate-limit", Usage: "answer 429 beyond this many requests/s; 0 is off"},
			&cli.IntFlag{Name: "burst", Value: 1, Usage: "rate limit: requests allowed at once"},
			&cli.Uint64Flag{Name: "seed", Usage: "seed for service times and errors"},
		},
		Action: func(c *cli.Context) error {
			cfg := probetest.QueueConfig{
				Workers:      c.Int("workers"),
				ServiceTime:  c.Duration("service-time"),
				Distribution: probetest.Distribution(c.String("distribution")),
				CV:           c.Float64("cv"),
				QueueLimit:   c.Int("queue"),
				ErrorRate:    c.Float64("error-rate"),
				RateLimit:    c.Float64("rate-limit"),
				Burst:        c.Int("burst"),
				Seed:         c.Uint64("seed"),
			}
			switch {
			case cfg.Workers < 1:
				return usageError("sim http: --workers must be at least 1")
			case cfg.ServiceTime <= 0:
				return usageError("sim http: --service-time must be positive")
			case cfg.Distribution != probetest.Exponential && cfg.Distribution != probetest.Constant && cfg.Distribution != probetest.LogNormal:
				return usageError("sim http: unknown --distribution %q (want exponential, constant or lognormal)", cfg.Distribution)
			case cfg.ErrorRate < 0 || cfg.ErrorRate > 1:
				return usageError("sim http: --error-rate must be in [0,1]")
			case cfg.RateLimit < 0:
				return usageError("sim http: --rate-limit must not be negative")
			case cfg.QueueLimit == 0:
				return usageError("sim http: --queue must be positive, or -1 for no limit")
			}
			q := probetest.NewQueue(cfg)
			return serveSim(c, "sim http", q, fmt.Sprintf("capacity %.1f req/s: %d workers × %s %s", q.Capacity(), cfg.Workers, cfg.ServiceTime, cfg.Distribution),
				func() string {
					st := q.Stats()
					return fmt.Sprintf("served %d, 503 %d, 500 %d, 429 %d", st.Served, st.Rejected, st.Failed, st.Limited)
				})
		},
	}
}

func simLLMCommand() *cli.Command {
	return &cli.Command{
		Name:  "llm",
		Usage: "an OpenAI-compatible inference replica with continuous batching",
		UsageText: `capfinder sim llm [options]

   capfinder sim llm --listen 127.0.0.1:8000
   capfinder run --api openai-chat --max-ttft 1s --dataset synthetic:input=256,output=64 http://127.0.0.1:8000
   capfinder sim llm --tokens bpe --prefix-cache   # counts as a tokenizer would, caches shared prefixes`,
		Description: `Serves /v1/chat/completions, /v1/completions, /v1/models and /tokenize, as vLLM
does. One scheduler runs decode steps back to back: each step admits waiting
requests first come, first served while fewer than --max-running run and their
prompts and output budgets fit in --kv-tokens, lasts --decode-time plus
--decode-per-seq for every running sequence plus --prefill-per-token for every
prompt token admitted, and gives each running sequence one token. Every request
generates exactly its max_tokens (default --default-max-tokens). With
B = min(max-running, kv-tokens / (input + output)) and
T = decode-time + B × decode-per-seq, the replica completes at most
B / (output × T + B × input × prefill-per-token) requests per second.

--tokens says how prompt tokens are counted. With bytes, a token is four bytes
of the prompt or of the messages' contents joined. With bpe, as a tokenizer
roughly would: a run of letters with the space before it is a token per four
letters (" the" 1, " house" 2), a run of digits a token per three, a run of
white space or any other character one; a chat adds 4 tokens per message (its
role header and end marker) and 3 for the assistant's generation prompt.
/tokenize counts a prompt or messages as the prompt_tokens of their request.

--prefix-cache caches prompts as vLLM's automatic prefix caching does: blocks of
16 tokens, up to --kv-tokens of them, least recently used out first. A request
prefills only the tokens past its longest cached prefix; its prompt is cached
when it starts and its prompt and answer when it ends, so a conversation's next
turn finds its history. Usage then reports prompt_tokens_details.cached_tokens.
The capacity above assumes no hits.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Value: "127.0.0.1:8000", Usage: "address to serve on"},
			&cli.StringFlag{Name: "model", Value: "sim", Usage: "model name served"},
			&cli.IntFlag{Name: "max-running", Value: 64, Usage: "sequences decoded together"},
			&cli.IntFlag{Name: "kv-tokens", Value: 131072, Usage: "KV-cache budget in tokens"},
			&cli.DurationFlag{Name: "decode-time", Value: 10 * time.Millisecond, Usage: "decode step time with one sequence"},
			&cli.DurationFlag{Name: "decode-per-seq", Value: 250 * time.Microsecond, Usage: "decode step time added by each running sequence"},
			&cli.DurationFlag{Name: "prefill-per-token", Value: 20 * time.Microsecond, Usage: "prefill time per prompt token"},
			&cli.IntFlag{Name: "default-max-tokens", Value: 256, Usage: "output length of a request that names none"},
			&cli.IntFlag{Name: "input", Value: 256, Usage: "prompt tokens assumed for the capacity printed at start"},
			&cli.IntFlag{Name: "output", Value: 128, Usage: "output tokens assumed for the capacity printed at start"},
			&cli.Float64Flag{Name: "error-rate", Usage: "fraction of streams given an error object halfway"},
			&cli.Uint64Flag{Name: "seed", Usage: "seed for injected errors"},
			&cli.StringFlag{Name: "tokens", Value: probetest.TokensBytes, Usage: "how prompt tokens are counted: bytes or bpe"},
			&cli.BoolFlag{Name: "prefix-cache", Usage: "cache prompt prefixes in blocks of 16 tokens, as vLLM does"},
		},
		Action: func(c *cli.Context) error {
			cfg := probetest.LLMConfig{
				Model:            c.String("model"),
				MaxRunning:       c.Int("max-running"),
				KVTokens:         c.Int("kv-tokens"),
				DecodeTime:       c.Duration("decode-time"),
				DecodePerSeq:     c.Duration("decode-per-seq"),
				PrefillPerToken:  c.Duration("prefill-per-token"),
				DefaultMaxTokens: c.Int("default-max-tokens"),
				ErrorRate:        c.Float64("error-rate"),
				Seed:             c.Uint64("seed"),
				Tokens:           c.String("tokens"),
				PrefixCache:      c.Bool("prefix-cache"),
			}
			switch {
			case cfg.MaxRunning < 1 || cfg.KVTokens < 1 || cfg.DefaultMaxTokens < 1:
				return usageError("sim llm: --max-running, --kv-tokens and --default-max-tokens must be at least 1")
			case cfg.DecodeTime <= 0 || cfg.DecodePerSeq < 0 || cfg.PrefillPerToken < 0:
				return usageError("sim llm: --decode-time must be positive, --decode-per-seq and --prefill-per-token not negative")
			case cfg.ErrorRate < 0 || cfg.ErrorRate > 1:
				return usageError("sim llm: --error-rate must be in [0,1]")
			case c.Int("input") < 0 || c.Int("output") < 1:
				return usageError("sim llm: --input must not be negative and --output must be at least 1")
			case cfg.Tokens != probetest.TokensBytes && cfg.Tokens != probetest.TokensBPE:
				return usageError("sim llm: unknown --tokens %q (want bytes or bpe)", cfg.Tokens)
			}
			l := probetest.NewLLM(cfg)
			defer l.Close()
			what := fmt.Sprintf("model %q; capacity %.2f req/s for %d input and %d output tokens; tokens counted as %s",
				cfg.Model, l.Config().Capacity(c.Int("input"), c.Int("output")), c.Int("input"), c.Int("output"), cfg.Tokens)
			if cfg.PrefixCache {
				what += fmt.Sprintf("; prefix cache of %d tokens (the capacity assumes no hits)", l.Config().PrefixCacheTokens)
			}
			return serveSim(c, "sim llm", l, what, func() string {
				st := l.Stats()
				served := fmt.Sprintf("served %d, failed %d, aborted %d", st.Served, st.Failed, st.Aborted)
				if cfg.PrefixCache {
					served += fmt.Sprintf("; %d of %d prompt tokens cached", st.CachedTokens, st.PromptTokens)
				}
				return served
			})
		},
	}
}

// serveSim serves a simulated target h on --listen until Ctrl-C, saying
// where and what it is, and at the end what it served.
func serveSim(c *cli.Context, name string, h http.Handler, what string, served func() string) error {
	if c.NArg() > 0 {
		return usageError("%s: unexpected argument %q", name, c.Args().First())
	}
	s, err := probetest.Serve(c.Context, c.String("listen"), h)
	if err != nil {
		return usageError("%s: %v", name, err)
	}
	fmt.Fprintf(c.App.Writer, "%s: listening on %s (%s)\n", name, s.URL, what)
	err = s.Wait()
	fmt.Fprintf(c.App.Writer, "%s: stopped; %s\n", name, served())
	return err
}
