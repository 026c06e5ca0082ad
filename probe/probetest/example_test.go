package probetest_test

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/capfinder/capfinder/probe/probetest"
)

func ExampleQueue() {
	q := probetest.NewQueue(probetest.QueueConfig{Workers: 4, ServiceTime: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := probetest.Serve(ctx, "127.0.0.1:0", q)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp, err := http.Get(s.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Printf("status %d, capacity %.0f req/s\n", resp.StatusCode, q.Capacity())
	// Output: status 200, capacity 400 req/s
}
