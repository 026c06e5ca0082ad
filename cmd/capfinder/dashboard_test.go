package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/capfinder/capfinder/probe/probetest"
)

// The dashboard in headless Chromium, during a manual run: its charts
// gain points as the run goes (read from the DOM), a concurrency set from
// the page takes effect in the recorded steps, and a screenshot shows the
// charts drawn. CAPFINDER_SCREENSHOT=FILE keeps the screenshot (the
// README's).
func TestDashboardInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	browser := chromiumPath(t)
	url := serveQueue(t, probetest.QueueConfig{Workers: 4, ServiceTime: 5 * time.Millisecond, Seed: 1})
	dir := filepath.Join(t.TempDir(), "run")
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	done := make(chan int, 1)
	go func() {
		code, _, _ := runCLI(t, ctx, "run", "--mode", "manual", "--concurrency", "2", "--step-duration", "3s",
			"--duration", "2m", "--listen", addr, "--out", dir, "-q", url)
		done <- code
	}()
	waitListening(t, addr)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox,
		chromedp.WindowSize(1100, 2600), chromedp.UserDataDir(t.TempDir()))
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()

	points := func() int {
		n, err := chromedp.Run(bctx, chromedp.Evaluate[int](`+(document.querySelector("figure.chart canvas")?.dataset.points ?? 0)`))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if err := chromedp.Do(bctx, chromedp.Navigate("http://"+addr+"/")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, func() bool { return points() >= 2 }, "the latency chart to gain points")
	before := points()
	time.Sleep(2500 * time.Millisecond)
	if after := points(); after <= before {
		t.Errorf("the latency chart held %d points, then %d: it does not grow during the run", before, after)
	}
	if charts, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll("figure.chart").length`)); err != nil || charts < 5 {
		t.Errorf("%d charts on the page (%v), want latency, load, status, traffic and steps", charts, err)
	}

	// Set the concurrency from the page.
	// The page's own controls, as a user works them.
	if _, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`document.getElementById("load").value = "5"; document.getElementById("apply").click(); !document.getElementById("control").hidden`)); err != nil {
		t.Fatal(err)
	}
	said := func() string {
		s, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`document.getElementById("said").textContent`))
		return s
	}
	waitFor(t, 10*time.Second, func() bool { return said() != "" }, "the page to say the run took the load")
	if s := said(); s != "asked" {
		t.Fatalf("the run refused the page's load: %q", s)
	}
	// Once a step at the new load is judged, the page shows it too: as it
	// streams in, or else, on a machine too loaded for the page to keep
	// up with its stream, once the page is opened again, from the run's
	// snapshot (the server must have it by then).
	shown := func() bool {
		state, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`JSON.stringify(all)`))
		return strings.Contains(state, `"asked_by":"page"`)
	}
	if !within(40*time.Second, shown) {
		state, err := apiState(addr)
		if err != nil || !strings.Contains(state, `"asked_by":"page"`) {
			t.Fatalf("40 s after the page's load was taken, the run has no step asked for by the page: %v\n%.2000s", err, state)
		}
		t.Log("the page did not show the step as it streamed in; opening it again")
		if err := chromedp.Do(bctx, chromedp.Navigate("http://"+addr+"/")); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 30*time.Second, shown, "the page opened again to show the step asked for by the page")
	}

	shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if keep := os.Getenv("CAPFINDER_SCREENSHOT"); keep != "" {
		os.WriteFile(keep, shot, 0o644)
	}
	page := filepath.Join(t.TempDir(), "dashboard.png")
	os.WriteFile(page, shot, 0o644)
	if n := framedFigures(t, page); n < 5 {
		t.Errorf("the screenshot shows %d drawn charts, want at least 5", n)
	}

	// Stop from the page: the run exits as on Ctrl-C, and the page says so.
	if _, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`document.getElementById("stop").click(); true`)); err != nil {
		t.Fatal(err)
	}
	if code := <-done; code != exitInterrupted {
		t.Errorf("the run stopped from the page exited %d, want 130", code)
	}
	sum := readSummary(t, dir)
	asked := false
	for _, st := range sum.Steps {
		asked = asked || (st.AskedBy == "page" && st.Concurrency == 5)
	}
	if !asked {
		t.Errorf("no step at concurrency 5 asked for by the page: %+v", sum.Steps)
	}
	waitFor(t, 10*time.Second, func() bool {
		shown, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`document.getElementById("answer").textContent`))
		return strings.Contains(shown, "capfinder analyze")
	}, "the page to show how to draw the report")
}

// waitFor polls cond until it holds, or fails the test after d.
func waitFor(t *testing.T, d time.Duration, cond func() bool, what string) {
	t.Helper()
	if !within(d, cond) {
		t.Fatalf("waited %s for %s", d, what)
	}
}

// apiState reads the dashboard's snapshot of the run at addr.
func apiState(addr string) (string, error) {
	resp, err := http.Get("http://" + addr + "/api/state")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// within polls cond until it holds, for at most d, and says whether it
// did.
func within(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(200 * time.Millisecond)
	}
	return true
}
