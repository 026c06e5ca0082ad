// Package datasets provides request payloads: an inline body, base64
// content, files, and later conversation and synthetic token datasets, with
// seeded sampling. It knows nothing of HTTP or of the load engine; a Source
// only says what the next request carries.
package datasets
