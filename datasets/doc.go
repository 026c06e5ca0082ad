// Package datasets provides request payloads: a fixed body, a base64 one,
// bodies from files, http(s) URLs and zip archives (whole or line by line),
// request bodies from a JSONL file, prompts from ShareGPT conversations,
// and synthetic prompts of set token counts, with seeded sampling. It
// reads everything before a run starts and knows nothing of the load
// engine; a Source only says what the next request carries.
package datasets
