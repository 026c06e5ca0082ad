package servermetrics

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A vLLM exposition as prometheus_client writes it, with a histogram and
// _created series, and SGLang's and TGI's shapes.
const exposition = `# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="llama",engine="0"} 12.0
# TYPE vllm:num_preemptions_total counter
vllm:num_preemptions_total{model_name="llama"} 3.0
# TYPE vllm:num_preemptions_created gauge
vllm:num_preemptions_created{model_name="llama"} 1.7e+09
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{le="0.1",model_name="llama"} 4.0
vllm:time_to_first_token_seconds_bucket{le="+Inf",model_name="llama"} 9.0
vllm:time_to_first_token_seconds_count{model_name="llama"} 9.0
vllm:time_to_first_token_seconds_sum{model_name="llama"} 1.5
# TYPE sglang:token_usage gauge
sglang:token_usage{name="a \"b\" \\ c\nd"} 0.5 1700000000000
# TYPE tgi_request_count counter
tgi_request_count_total 7
tgi_queue_size NaN
tgi_batch_current_size +Inf

process_open_fds 42
`

func TestParse(t *testing.T) {
	got, err := Parse(strings.NewReader(exposition))
	if err != nil {
		t.Fatal(err)
	}
	want := []Sample{
		{`vllm:num_requests_running{engine="0",model_name="llama"}`, "vllm:num_requests_running", Gauge, 12},
		{`vllm:num_preemptions_total{model_name="llama"}`, "vllm:num_preemptions_total", Counter, 3},
		{`sglang:token_usage{name="a \"b\" \\ c\nd"}`, "sglang:token_usage", Gauge, 0.5},
		{`tgi_request_count_total`, "tgi_request_count_total", Counter, 7},
		{`tgi_batch_current_size`, "tgi_batch_current_size", Untyped, math.Inf(1)},
		{`process_open_fds`, "process_open_fds", Untyped, 42},
	}
	if len(got) != len(want) || !reflect.DeepEqual(got, want) {
		t.Fatalf("Parse gave\n%+v\nwant\n%+v", got, want)
	}
	for _, bad := range []string{"x{a=\"1\" 2", "x{a=1} 2", "x", "x abc", "{a=\"1\"} 2", "x 1 2 3", "x{\v,=\"\"} 1", "x{1a=\"\"} 1"} {
		if _, err := Parse(strings.NewReader(bad)); err == nil {
			t.Errorf("Parse(%q) gave no error", bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(exposition)
	f.Add("x{a=\"\\\"\"} 1\n# TYPE x counter\n")
	// A label whose name is blank once trimmed is malformed.
	f.Add("0{ =\"\"} 1")
	f.Add("0{\f=\"\"}0")
	// So is one that is not a name of the text format.
	f.Add("0{\v,=\"\"} 1")
	f.Fuzz(func(t *testing.T, text string) {
		samples, err := Parse(strings.NewReader(text))
		if err != nil {
			return
		}
		for _, s := range samples {
			// A key parses back to itself.
			again, err := Parse(strings.NewReader(s.Key + " 1"))
			if err != nil || len(again) != 1 || again[0].Key != s.Key {
				t.Fatalf("key %q parses back as %+v, %v", s.Key, again, err)
			}
		}
	})
}

// A scraper reads at once and then every interval, and reports a failing
// endpoint without stopping.
func TestScraper(t *testing.T) {
	var fail atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fail.Load() {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(exposition))
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var scrapes int
	var errs []error
	sc := &Scraper{URL: srv.URL, Interval: 20 * time.Millisecond}
	sc.Run(ctx, func() int64 { return 0 }, func(_ int64, s []Sample) {
		if len(s) != 6 {
			t.Errorf("a scrape of %d samples, want 6", len(s))
		}
		if scrapes++; scrapes == 3 {
			fail.Store(true)
		}
	}, func(err error) {
		if errs = append(errs, err); len(errs) == 2 {
			cancel()
		}
	})
	if scrapes != 3 || len(errs) != 2 || !strings.Contains(errs[0].Error(), "404") {
		t.Errorf("%d scrapes, errors %v; want 3 and then two 404s", scrapes, errs)
	}
	if _, err := (&Scraper{URL: "http://127.0.0.1:1/metrics"}).Scrape(context.Background(), http.DefaultClient); err == nil || errors.Is(err, context.Canceled) {
		t.Errorf("a closed port gave %v", err)
	}
}
