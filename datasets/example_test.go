package datasets_test

import (
	"fmt"
	"strings"

	"github.com/capfinder/capfinder/datasets"
)

// A synthetic dataset gives LLM prompts of the asked length and output
// budget, the same for the same seed.
func ExampleOpen() {
	src, _, err := datasets.Open("synthetic:input=4,output=16", 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	for range 2 {
		p, _ := src.Next()
		fmt.Printf("row %d: %d words, up to %d tokens out\n", p.Index, len(strings.Fields(p.Prompt)), p.MaxTokens)
	}
	// Output:
	// row 0: 4 words, up to 16 tokens out
	// row 1: 4 words, up to 16 tokens out
}
