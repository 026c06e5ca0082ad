package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/capfinder/capfinder/cmd/capfinder/dashboard"
	"github.com/capfinder/capfinder/controller/runner"
	"github.com/capfinder/capfinder/probe/rundir"
)

// lockFile marks a run directory whose run is under way: the process and
// its control address. A lock whose process is gone is a run that died.
const lockFile = "run.lock"

type lock struct {
	PID     int       `json:"pid"`
	Listen  string    `json:"listen,omitempty"`
	Started time.Time `json:"started"`
}

// errStoppedRemotely is the cause of a run stopped from its dashboard or
// by `capfinder stop`: it exits as Ctrl-C would.
var errStoppedRemotely = errors.New("stopped from the dashboard or by capfinder stop")

// dashboardServer serves a run's dashboard while it runs.
type dashboardServer struct {
	hub *dashboard.Hub
	srv *http.Server
	url string
}

// startDashboard listens on addr (loopback unless public) and serves the
// run's dashboard; stop ends the run as Ctrl-C would. A public address
// gets a random token, which every request must carry.
func startDashboard(c *cli.Context, r *runner.Runner, addr string, public bool, stop func()) (*dashboardServer, error) {
	token := ""
	if public {
		b := make([]byte, 16)
		rand.Read(b)
		token = hex.EncodeToString(b)
	}
	s := r.Spec()
	info := dashboard.Info{Dir: r.Dir(), URL: rundir.RedactURL(s.URL), Mode: string(s.Mode), Limits: describeLimits(s), Streams: s.Streams()}
	switch {
	case s.Mode == rundir.ModeRate:
		info.Steer = "rate"
	case s.Mode.Steerable():
		info.Steer = "concurrency"
	}
	hub := dashboard.New(info, token, dashboard.Control{SetLoad: r.SetLoad, Stop: stop})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, usageError("run: --listen: %v", err)
	}
	d := &dashboardServer{hub: hub, srv: &http.Server{Handler: hub.Handler(), ReadHeaderTimeout: 10 * time.Second}}
	d.url = "http://" + ln.Addr().String() + "/"
	if token != "" {
		d.url += "?token=" + token
	}
	go d.srv.Serve(ln)
	fmt.Fprintf(c.App.ErrWriter, "capfinder: dashboard at %s\n", d.url)
	return d, nil
}

// checkListen refuses a --listen address that is not loopback, unless
// public.
func checkListen(addr string, public bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return usageError("run: --listen %s: %v (want HOST:PORT, e.g. 127.0.0.1:7777)", addr, err)
	}
	if ip := net.ParseIP(host); !public && (host == "" || (ip == nil && host != "localhost") || (ip != nil && !ip.IsLoopback())) {
		return usageError("run: --listen %s is not a loopback address; add --listen-public to serve the dashboard and its controls beyond this machine (they then need a token)", addr)
	}
	return nil
}

// close ends the dashboard: the pages watching keep what they drew.
func (d *dashboardServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	d.srv.Shutdown(ctx)
	d.srv.Close()
}

// writeLock marks dir as running, with its control address.
func writeLock(dir, listen string) {
	rundir.WriteJSON(filepath.Join(dir, lockFile), lock{PID: os.Getpid(), Listen: listen, Started: time.Now().UTC()})
}

// controlFlags are those of update and stop: where the run listens.
func controlFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "listen", Required: true, Usage: "the run's --listen address (HOST:PORT), or the dashboard URL it printed"},
		&cli.StringFlag{Name: "token", Usage: "the dashboard's token, for a run listening beyond loopback (in the URL it printed)"},
	}
}

// controlURL is the run's endpoint path, from --listen and --token.
func controlURL(c *cli.Context, path string) (string, string, error) {
	addr := c.String("listen")
	token := c.String("token")
	if strings.Contains(addr, "://") {
		u, err := url.Parse(addr)
		if err != nil {
			return "", "", usageError("%s: --listen %s: %v", c.Command.Name, addr, err)
		}
		if token == "" {
			token = u.Query().Get("token")
		}
		addr = u.Host
	}
	return "http://" + addr + path, token, nil
}

// post sends a control request to a running run, as the command line.
func post(c *cli.Context, path string, body any) error {
	u, token, err := controlURL(c, path)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(c.Context, http.MethodPost, u, bytes.NewReader(b))
	if err != nil {
		return usageError("%s: %v", c.Command.Name, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Capfinder-By", "command")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return cli.Exit(fmt.Sprintf("%s: no run listens at %s: %v", c.Command.Name, c.String("listen"), err), exitFailed)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	if resp.StatusCode/100 != 2 {
		return usageError("%s: the run refused: %s", c.Command.Name, strings.TrimSpace(string(msg)))
	}
	return nil
}

func updateCommand() *cli.Command {
	return &cli.Command{
		Name:      "update",
		Usage:     "change the load of a running manual or rate run",
		UsageText: "capfinder update --listen ADDR --concurrency N|--rate R\n\n   capfinder update --listen 127.0.0.1:7777 --concurrency 32   # a manual run's workers\n   capfinder update --listen 127.0.0.1:7777 --rate 250         # a rate run's rate",
		Description: `The run must have been started with --listen ADDR. The step running ends at
once and is judged on what it saw; the next holds the new load, recorded in
steps.parquet and summary.json as asked by "command".`,
		Flags: append(controlFlags(),
			&cli.IntFlag{Name: "concurrency", Usage: "the new number of workers (manual, concurrency and throughput runs)"},
			&cli.Float64Flag{Name: "rate", Usage: "the new rate in requests per second (rate runs)"},
		),
		Action: func(c *cli.Context) error {
			if c.IsSet("concurrency") == c.IsSet("rate") {
				return usageError("update: give one of --concurrency or --rate")
			}
			if err := post(c, "/api/load", map[string]any{"concurrency": c.Int("concurrency"), "rate": c.Float64("rate")}); err != nil {
				return err
			}
			fmt.Fprintln(c.App.Writer, "capfinder: the run takes the new load from its next step")
			return nil
		},
	}
}

func stopCommand() *cli.Command {
	return &cli.Command{
		Name:      "stop",
		Usage:     "end a running run gracefully, as Ctrl-C would",
		UsageText: "capfinder stop --listen ADDR\n\n   capfinder stop --listen 127.0.0.1:7777",
		Description: `The run must have been started with --listen ADDR. It ends as on Ctrl-C: the
step running is cut short, what was recorded is written with its summary, and
the run exits 130.`,
		Flags: controlFlags(),
		Action: func(c *cli.Context) error {
			if err := post(c, "/api/stop", nil); err != nil {
				return err
			}
			fmt.Fprintln(c.App.Writer, "capfinder: the run is stopping")
			return nil
		},
	}
}
