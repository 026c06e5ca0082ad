// Package probetest provides simulated targets with a known capacity, in the
// manner of net/http/httptest:
//   - Queue, a queueing HTTP server with c workers, a service-time
//     distribution, a bounded queue that answers 503 when full, an optional
//     hard rate limit and injected faults;
//   - LLM, an OpenAI-compatible inference replica with continuous batching:
//     a batch of running sequences, a prefill cost per prompt token and a
//     decode step that slows as the batch grows, streaming its tokens as
//     server-sent events with a usage report;
//   - ServeRaw, a target that breaks HTTP itself (resets, garbled answers),
//     for fault tests.
//
// The targets are for tests, demos and dry runs; their capacity follows from
// their parameters, so a search can be checked against the truth.
package probetest
