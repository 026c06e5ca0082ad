package servermetrics_test

import (
	"fmt"
	"strings"

	"github.com/capfinder/capfinder/probe/servermetrics"
)

// Reading a vLLM exposition: gauges and counters, keyed by name and labels.
func ExampleParse() {
	text := `# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{model_name="m"} 3
# TYPE vllm:num_preemptions_total counter
vllm:num_preemptions_total{model_name="m"} 12
`
	samples, _ := servermetrics.Parse(strings.NewReader(text))
	for _, s := range samples {
		fmt.Println(s.Key, s.Kind, s.Value)
	}
	// Output:
	// vllm:num_requests_waiting{model_name="m"} gauge 3
	// vllm:num_preemptions_total{model_name="m"} counter 12
}
