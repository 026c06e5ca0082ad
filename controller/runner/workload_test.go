package runner

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sugarme/tokenizer/pretrained"
	"github.com/tiktoken-go/tokenizer"

	"github.com/capfinder/capfinder/probe/probetest"
	"github.com/capfinder/capfinder/probe/rundir"
	"github.com/capfinder/capfinder/probe/rundir/store"
)

// llm starts a simulated replica for the test and returns its URL.
func llm(t *testing.T, cfg probetest.LLMConfig) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	l := probetest.NewLLM(cfg)
	t.Cleanup(l.Close)
	srv, err := probetest.Serve(ctx, "127.0.0.1:0", l)
	if err != nil {
		t.Fatal(err)
	}
	return srv.URL
}

// cl100k splits text into cl100k tokens: a server that counts as GPT-4
// and Llama 3 do.
func cl100k(t *testing.T) probetest.Splitter {
	codec, err := tokenizer.Get(tokenizer.Cl100kBase)
	if err != nil {
		t.Fatal(err)
	}
	return func(text string, emit func(string)) {
		_, toks, _ := codec.Encode(text)
		for _, tok := range toks {
			emit(tok)
		}
	}
}

// sentences are the text of the test's ShareGPT conversations: prose,
// numbers, code and punctuation, which tokenizers count unlike words.
var sentences = []string{
	"How do I reverse a list in Python without modifying the original?",
	"Use slicing: `items[::-1]` returns a new list, and `list(reversed(items))` does the same.",
	"Plan a three-day trip to Kyoto in autumn; I like temples, gardens and food markets.",
	"The Fushimi Inari shrine opens at 6:00 and the crowds arrive after 9:30.",
	"Write a SQL query that returns the ten customers with the highest total order value.",
	"SELECT customer_id, SUM(total) AS value FROM orders GROUP BY customer_id ORDER BY value DESC LIMIT 10;",
	"Explain the difference between a mutex and a semaphore, with an example of each.",
	"A capacity planner sizes GPU replicas so that 99 % of requests see their first token within 500 ms.",
	"Summarise the plot of Moby-Dick in three sentences for a twelve-year-old.",
	"Error: ECONNREFUSED 127.0.0.1:5432 — is the database running?",
	"Thanks! Could you also show me how to do it in JavaScript (ES2022)?",
	"In 1851, Herman Melville published the novel; it sold only 3,215 copies in his lifetime.",
}

// shareGPTFile writes n conversations of two turns made of sentences.
func shareGPTFile(t *testing.T, n int) string {
	rng := rand.New(rand.NewPCG(9, 9))
	text := func(k int) string {
		var b strings.Builder
		for i := range k {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(sentences[rng.IntN(len(sentences))])
		}
		return b.String()
	}
	type turn struct {
		From  string `json:"from"`
		Value string `json:"value"`
	}
	var convs []map[string][]turn
	for range n {
		convs = append(convs, map[string][]turn{"conversations": {
			{"human", text(1 + rng.IntN(12))}, {"gpt", text(2 + rng.IntN(4))},
			{"human", text(1 + rng.IntN(3))}, {"gpt", text(2)},
		}})
	}
	b, _ := json.Marshal(convs)
	path := filepath.Join(t.TempDir(), "sharegpt.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// byteTokenizer writes a Hugging Face tokenizer.json: byte-level BPE
// whose only merge makes " the" one token, so most text is a token a
// byte, far from a token a word.
func byteTokenizer(t *testing.T) string {
	vocab := map[string]int{}
	n := 0
	for b := range 256 {
		r := rune(b)
		if !(b >= '!' && b <= '~') && !(b >= 0xA1 && b <= 0xAC) && !(b >= 0xAE) {
			r = rune(256 + n)
			n++
		}
		vocab[string(r)] = b
	}
	vocab["Ġt"], vocab["Ġth"], vocab["Ġthe"] = 256, 257, 258
	b, _ := json.Marshal(map[string]any{
		"version": "1.0", "added_tokens": []any{},
		"pre_tokenizer": map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
		"decoder":       map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
		"model":         map[string]any{"type": "BPE", "vocab": vocab, "merges": []string{"Ġ t", "Ġt h", "Ġth e"}},
	})
	path := filepath.Join(t.TempDir(), "tokenizer.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// The prompts a server receives are as long as asked, in its own tokens:
// calibration fits the tokens of a word (and of the chat template) before
// the load, for synthetic prompts and for real text, whichever way the
// server counts.
func TestPromptsOfTheAskedLength(t *testing.T) {
	real := cl100k(t)
	file := shareGPTFile(t, 200)
	tkFile := byteTokenizer(t)
	tk, err := pretrained.FromFile(tkFile)
	if err != nil {
		t.Fatal(err)
	}
	byFile := func(text string, emit func(string)) {
		enc, _ := tk.EncodeSingle(text, false)
		for _, tok := range enc.Tokens {
			emit(tok)
		}
	}
	for _, tc := range []struct {
		name      string
		cfg       probetest.LLMConfig
		api       rundir.API
		dataset   string
		calibrate rundir.Calibrate
		tokenizer string
		method    string
		// off is set when the prompts are not calibrated and the server
		// counts otherwise: the answer must warn.
		off bool
	}{
		{"cl100k synthetic", probetest.LLMConfig{Split: real}, rundir.APIOpenAIChat, "synthetic:input=normal(300,80,100-600),output=4", "", "", "usage", false},
		{"cl100k sharegpt", probetest.LLMConfig{Split: real}, rundir.APIOpenAIChat, "sharegpt:" + file, "", "", "usage", false},
		{"cl100k completions with a shared prefix", probetest.LLMConfig{Split: real}, rundir.APIOpenAICompletions, "synthetic:input=50-150,output=4,prefix=200,prefixes=3,share=0.5", "", "", "usage", false},
		{"bpe rule synthetic", probetest.LLMConfig{Tokens: probetest.TokensBPE}, rundir.APIOpenAIChat, "synthetic:input=lognormal(250,150,20-1500),output=4", "", "", "usage", false},
		{"bpe rule sharegpt", probetest.LLMConfig{Tokens: probetest.TokensBPE}, rundir.APIOpenAIChat, file, "", "", "usage", false},
		{"bpe rule by its tokenize endpoint", probetest.LLMConfig{Tokens: probetest.TokensBPE}, rundir.APIOpenAIChat, "synthetic:input=200-400,output=4", rundir.CalibrateTokenize, "", "tokenize", false},
		{"a tokenizer file, offline", probetest.LLMConfig{Split: byFile}, rundir.APIOpenAICompletions, "synthetic:input=200-400,output=4", "", tkFile, "tokenizer", false},
		{"bpe rule uncalibrated", probetest.LLMConfig{Tokens: probetest.TokensBPE}, rundir.APIOpenAIChat, "synthetic:input=300,output=4", rundir.CalibrateOff, "", "none", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := spec(t, llm(t, tc.cfg), rundir.ModeRate)
			s.API, s.Dataset, s.Calibrate, s.Tokenizer = tc.api, tc.dataset, tc.calibrate, tc.tokenizer
			// Short answers: the prompts are what is measured.
			s.MaxTokens = 4
			s.Rate, s.StepDuration, s.Duration, s.Warmup, s.MaxRT = 50, 2*time.Second, 2*time.Second, 0, 0
			sum := summaryOf(t, s, nil)
			p := sum.Prompts
			if p == nil || p.Requests < 50 {
				t.Fatalf("prompts %+v, want a comparison over the run's requests", p)
			}
			if cal := p.Calibration; cal == nil || cal.Method != tc.method || (tc.method != "none" && cal.Samples != CalibrationRequests) {
				t.Fatalf("calibration %+v, want %s of %d prompts", cal, tc.method, CalibrationRequests)
			}
			warned := strings.Contains(strings.Join(sum.Warnings, "\n"), "off the length asked")
			if tc.off {
				t.Logf("uncalibrated: %.1f asked, %.1f counted (%+.2f %%)", p.AskedMean, p.ReportedMean, 100*p.Error)
				if math.Abs(p.Error) < 0.1 || !warned {
					t.Errorf("uncalibrated prompts %.1f %% off the length asked, warned %v; want far off and a warning", 100*p.Error, warned)
				}
				return
			}
			if math.Abs(p.Error) > 0.03 || warned {
				t.Errorf("server counted %.1f tokens a prompt for %.1f asked (%+.2f %%), warned %v; want within 3 %%",
					p.ReportedMean, p.AskedMean, 100*p.Error, warned)
			}
			t.Logf("%.1f asked, %.1f counted (%+.2f %%), %.3g a word + %.3g", p.AskedMean, p.ReportedMean, 100*p.Error, p.Calibration.PerPiece, p.Calibration.Overhead)
			// Calibration by requests is a step of its own, counted and
			// never judged.
			rows, err := store.ReadParquet[rundir.StepRow](filepath.Join(s.Out, rundir.StepsFile))
			if err != nil {
				t.Fatal(err)
			}
			calibrated := tc.method == "usage"
			if got := rows[0].Phase == rundir.PhaseCalibrate; got != calibrated || (calibrated && rows[0].Sent != CalibrationRequests) {
				t.Errorf("first step %+v; a calibration step: %v", rows[0], calibrated)
			}
			if n := len(sum.Steps); n != 1 || sum.Steps[0].Verdict == rundir.PhaseCalibrate {
				t.Errorf("%d judged steps, the first %+v; want the load's one", n, sum.Steps[0])
			}
			var sent int64
			if calibrated {
				sent = CalibrationRequests
			}
			if sent += sum.Steps[0].Sent; sum.Requests.Sent != sent {
				t.Errorf("%d requests sent, want the load's and calibration's %d", sum.Requests.Sent, sent)
			}
		})
	}
}

// records reads every record of the run in dir.
func records(t *testing.T, dir string) []rundir.Record {
	t.Helper()
	src, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []rundir.Record
	if err := src.Records(func(b []rundir.Record) error { out = append(out, b...); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// A multi-turn run records its conversations turn by turn: each turn
// carries the history so far, so the server counts more prompt tokens at
// every turn, and the answer states its rate in conversations and in
// requests.
func TestConversationsTurnByTurn(t *testing.T) {
	for _, tc := range []struct {
		name, dataset string
		turns         int
		think         time.Duration
	}{
		{"synthetic", "synthetic:input=40,output=6,turns=3,think=100ms", 3, 100 * time.Millisecond},
		{"sharegpt", "sharegpt:" + shareGPTFile(t, 50) + ",turns=all,think=50ms", 2, 50 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := spec(t, llm(t, probetest.LLMConfig{Tokens: probetest.TokensBPE}), rundir.ModeRate)
			s.API, s.Dataset, s.MaxTokens = rundir.APIOpenAIChat, tc.dataset, 6
			s.Rate, s.StepDuration, s.Duration, s.Warmup, s.MaxRT = 10, 3*time.Second, 3*time.Second, 0, 0
			sum := summaryOf(t, s, nil)
			type turn struct {
				turn, prompt     int32
				scheduled, ended int64
			}
			convs := map[int64][]turn{}
			for _, rec := range records(t, s.Out) {
				if rec.Step == 0 {
					continue // calibration
				}
				if rec.Conversation == 0 {
					t.Fatalf("record %+v is not a turn of a conversation", rec)
				}
				if !rec.OK() {
					// A turn in flight at the end: its conversation counts
					// without it.
					convs[rec.Conversation] = convs[rec.Conversation]
					continue
				}
				convs[rec.Conversation] = append(convs[rec.Conversation], turn{rec.Turn, rec.PromptTokens, rec.ScheduledNs, rec.EndNs})
			}
			whole := 0
			for id, ts := range convs {
				for i, x := range ts {
					// Turns are recorded as they end, one after another, each
					// due its think time after the answer before it.
					if x.turn != int32(i) || (i > 0 && (x.prompt <= ts[i-1].prompt || x.scheduled != ts[i-1].ended+int64(tc.think))) {
						t.Fatalf("conversation %d: turns %+v; want 0, 1, ... with growing prompts, each %v after the last answer", id, ts, tc.think)
					}
				}
				if len(ts) == tc.turns {
					whole++
				}
			}
			// 30 conversations start in 3 s; those of the last second may
			// not finish.
			if len(convs) < 25 || whole < 15 {
				t.Errorf("%d conversations, %d with all %d turns", len(convs), whole, tc.turns)
			}
			cv := sum.Conversations
			if cv == nil || cv.Started != int64(len(convs)) || cv.TurnsMean <= 1.5 {
				t.Fatalf("summary conversations %+v; want %d started, more than one request each", cv, len(convs))
			}
			// The offer counts conversations; the requests come to more.
			if st := sum.Steps[0]; st.OfferedQPS != 10 || st.AchievedQPS < 15 || cv.CapacityRequestsQPS != st.AchievedQPS || sum.Capacity.QPS != 10 {
				t.Errorf("step %+v, capacity %+v, conversations %+v; want 10 conversations/s making more requests", st, sum.Capacity, cv)
			}
			if sum.Prompts == nil || math.Abs(sum.Prompts.Error) > 0.03 {
				t.Errorf("first turns' prompts %+v; want the length asked", sum.Prompts)
			}
		})
	}
}

// A workload of shared system prompts is what a prefix cache serves: the
// same replica with its cache on is found to take more load.
func TestPrefixCacheRaisesCapacity(t *testing.T) {
	capacity := map[bool]float64{}
	for _, cache := range []bool{false, true} {
		s := spec(t, llm(t, probetest.LLMConfig{PrefixCache: cache, Seed: 1}), rundir.ModeAuto)
		s.API, s.Dataset = rundir.APIOpenAIChat, "synthetic:input=32,output=8,prefix=2000,prefixes=2"
		s.MaxRT, s.MaxTTFT, s.RTQuantile = 0, 300*time.Millisecond, 0.9
		s.MinQPS, s.MaxQPS, s.StepDuration, s.Warmup, s.Duration, s.Precision = 5, 400, time.Second, 200*time.Millisecond, 40*time.Second, 0.1
		sum := summaryOf(t, s, nil)
		capacity[cache] = sum.Capacity.QPS
		t.Logf("prefix cache %v: capacity %.1f req/s, %.0f %% of prompt tokens cached", cache, sum.Capacity.QPS, 100*sum.Prompts.CachedShare)
		if cache != (sum.Prompts.CachedShare > 0.5) {
			t.Errorf("prefix cache %v, yet %.0f %% of prompt tokens cached", cache, 100*sum.Prompts.CachedShare)
		}
	}
	if !(capacity[false] > 0) || capacity[true] < 2*capacity[false] {
		t.Errorf("capacity %.1f req/s with the prefix cache, %.1f without; want it far higher with", capacity[true], capacity[false])
	}
}
