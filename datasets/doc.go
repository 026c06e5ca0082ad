// Package datasets provides request payloads: a fixed body, request bodies
// from a JSONL file, prompts from ShareGPT conversations, and synthetic
// prompts of set token counts, with seeded sampling. It knows nothing of
// HTTP or of the load engine; a Source only says what the next request
// carries.
package datasets
