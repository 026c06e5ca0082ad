package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// nginxPath finds Debian's nginx; `make tools` installs it. Without it the
// end-to-end tests skip locally and fail in CI, where it must be there.
func nginxPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"nginx", "/usr/sbin/nginx"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("nginx is not installed; `make tools` installs it")
	}
	t.Skip("nginx is not installed; run `make tools`")
	return ""
}

// freePort returns a loopback port nothing listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startNginx runs nginx in the foreground on 127.0.0.1 with a private
// configuration holding the given server locations, and stops it when the
// test ends (or dies with the test process). It serves a static file at
// /ok: limit_req acts in nginx's preaccess phase, which a `return`
// directive (rewrite phase) would skip. It returns the base URL.
func startNginx(t *testing.T, httpBlock, locations string) string {
	t.Helper()
	bin := nginxPath(t)
	dir := t.TempDir()
	port := freePort(t)
	conf := fmt.Sprintf(`worker_processes 1;
daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  keepalive_requests 1000000;
  %[2]s
  server {
    listen 127.0.0.1:%[3]d;
    server_name capfinder;
    root %[1]s/www;
    %[4]s
  }
}
`, dir, httpBlock, port, locations)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	// nginx started as root serves as nobody, and test directories are
	// private: open the way to the file.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "www"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "www", "ok"), []byte("ok\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, "-p", dir, "-c", path)
	cmd.Stdout, cmd.Stderr = &out, &out
	dieWithTest(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx did not start: %v\n%s", err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	base := "http://" + addr
	resp, err := http.Get(base + "/ok")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("nginx answers %s for /ok\n%s", resp.Status, out.String())
	}
	return base
}

// runCLI runs the CLI in-process as a user would and returns its exit
// code, stdout and stderr.
func runCLI(t *testing.T, ctx context.Context, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(ctx, &stdout, &stderr, append([]string{"capfinder"}, args...))
	code := exitCode(err, &stderr)
	return code, stdout.String(), stderr.String()
}

// nginxLimit is the rate nginx's limit_req enforces in the tests; it is
// well inside what one core of the generator sends.
const nginxLimit = 400

func TestRunAutoFindsNginxRateLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	// nodelay with a small burst: over the rate, nginx answers 503 at once,
	// so the run is error-limited at exactly the configured rate.
	base := startNginx(t,
		fmt.Sprintf("limit_req_zone $server_name zone=fixed:1m rate=%dr/s; limit_req_status 503;", nginxLimit),
		`location / { limit_req zone=fixed burst=20 nodelay; }`)
	checkCapacity(t, base+"/ok", nginxLimit, "fault", "--max-rt", "0")
}

func TestRunAutoFindsNginxDelayLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	// Without nodelay nginx queues what exceeds the rate, so above it
	// latency grows without errors until the burst queue is full: the run is
	// latency-limited at the configured rate.
	base := startNginx(t,
		fmt.Sprintf("limit_req_zone $server_name zone=slow:1m rate=%dr/s; limit_req_status 503;", nginxLimit),
		`location / { limit_req zone=slow burst=4000; }`)
	checkCapacity(t, base+"/ok", nginxLimit, "max_rt", "--max-rt", "50ms")
}

// checkCapacity runs `capfinder run --mode auto` from the built binary and checks the capacity
// it reports is within ±3 % of the truth and limited as expected. It
// returns the run directory.
func checkCapacity(t *testing.T, url string, truth float64, limitedBy string, extra ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "run")
	args := append([]string{"run", "--mode", "auto", "--min-qps", "50", "--max-qps", "5000",
		"--duration", "2m", "--out", out, "-q"}, extra...)
	args = append(args, url)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	code, stdout, stderr := runBin(t, ctx, args...)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	sum := readSummary(t, out)
	got := sum.Capacity.QPS
	var load float64
	for _, st := range sum.Steps {
		load += st.EndS - st.StartS
	}
	t.Logf("capacity %.1f req/s (truth %g) limited by %s, in %d steps and %.0f s of load", got, truth, sum.Capacity.LimitedBy, len(sum.Steps), load)
	if load > 121 {
		t.Errorf("%.0f s of load, want at most 2 minutes", load)
	}
	if got < 0.97*truth || got > 1.03*truth {
		t.Errorf("capacity %.1f req/s, want %.0f ± 3 %%\n%s", got, truth, stdout)
	}
	if sum.Capacity.LimitedBy != limitedBy {
		t.Errorf("limited by %q, want %q\n%s", sum.Capacity.LimitedBy, limitedBy, stdout)
	}
	if !strings.Contains(stdout, "capacity:") {
		t.Errorf("stdout does not state the capacity:\n%s", stdout)
	}
	checkRecorded(t, out, sum)
	return out
}
