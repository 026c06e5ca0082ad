// Package probetest provides simulated targets with a known capacity, in the
// manner of net/http/httptest: a queueing HTTP server with c workers, a
// service-time distribution, a bounded queue that answers 503 when full, an
// optional hard rate limit and injected faults.
//
// The targets are for tests, demos and dry runs; their capacity follows from
// their parameters, so a search can be checked against the truth.
package probetest
