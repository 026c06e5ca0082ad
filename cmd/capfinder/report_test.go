package main

import (
	"context"
	"image"
	"image/draw"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/capfinder/capfinder/probe/probetest"
)

// chromiumPath finds Debian's chromium; `make tools` installs it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"chromium", "chromium-browser", "chromium-headless-shell"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed; `make tools` installs it")
	}
	t.Skip("chromium is not installed; run `make tools`")
	return ""
}

func TestReportRendersInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	browser := chromiumPath(t)
	url := serveQueue(t, probetest.QueueConfig{Workers: 2, ServiceTime: 2 * time.Millisecond, Seed: 1})
	out := filepath.Join(t.TempDir(), "run")
	code, stdout, stderr := runCLI(t, context.Background(), "run", "--mode", "scan", "--min-qps", "100", "--qps-growth-delta", "200",
		"--adjust-interval", "2s", "--warmup", "200ms", "--max-qps", "900", "--max-rt", "20ms", "--duration", "10s", "-q", "--out", out, url)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if n := renderedFigures(t, browser, filepath.Join(out, "report.html")); n != 5 {
		t.Errorf("found %d charts drawn in the screenshot, want 5", n)
	}
}

// renderedFigures opens page in headless chromium and counts the figures
// drawn in its screenshot.
func renderedFigures(t *testing.T, browser, page string) int {
	t.Helper()
	shot := filepath.Join(t.TempDir(), "page.png")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
		"--window-size=1100,7000", "--screenshot="+shot, "file://"+page)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	dieWithTest(cmd)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, b)
	}
	if keep := os.Getenv("CAPFINDER_REPORT_SCREENSHOT"); keep != "" && filepath.Base(page) == "report.html" {
		keepCropped(t, shot, keep)
	}
	return framedFigures(t, shot)
}

// keepCropped writes the screenshot shot to keep without the blank page
// below its content (the README's picture).
func keepCropped(t *testing.T, shot, keep string) {
	t.Helper()
	img := readPNG(t, shot)
	b := img.Bounds()
	last := b.Min.Y
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			if r, g, bl, _ := img.At(x, y).RGBA(); r>>8 < 250 || g>>8 < 250 || bl>>8 < 250 {
				last = y
				break
			}
		}
	}
	cut := image.NewRGBA(image.Rect(0, 0, b.Dx(), min(b.Dy(), last-b.Min.Y+20)))
	draw.Draw(cut, cut.Bounds(), img, b.Min, draw.Src)
	out, err := os.Create(keep)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if err := png.Encode(out, cut); err != nil {
		t.Fatal(err)
	}
}

// framedFigures counts the figures drawn in a screenshot: each is framed
// in #ddd, so it finds the frames' top and bottom edges and checks what
// lies between is a drawing, not blank.
func framedFigures(t *testing.T, shot string) int {
	t.Helper()
	img := readPNG(t, shot)
	var edges []int
	for y := 0; y < img.Bounds().Dy(); y++ {
		if run := frameRun(img, y); run > 600 {
			edges = append(edges, y)
		}
	}
	frames := 0
	for i := 0; i+1 < len(edges); i++ {
		top, bottom := edges[i], edges[i+1]
		if bottom-top < 300 {
			continue // the edges of one border line
		}
		if colours(img, top+1, bottom) < 8 {
			t.Errorf("%s: the figure between y=%d and y=%d is blank", filepath.Base(shot), top, bottom)
		}
		frames++
		i++
	}
	return frames
}

// frameRun is the longest run of #ddd pixels on row y.
func frameRun(img image.Image, y int) int {
	best, run := 0, 0
	for x := 0; x < img.Bounds().Dx(); x++ {
		r, g, b, _ := img.At(x, y).RGBA()
		if r>>8 == 0xdd && g>>8 == 0xdd && b>>8 == 0xdd {
			run++
			best = max(best, run)
		} else {
			run = 0
		}
	}
	return best
}

// colours counts the distinct colours in rows [y0, y1).
func colours(img image.Image, y0, y1 int) int {
	seen := map[uint32]bool{}
	for y := y0; y < y1; y += 3 {
		for x := 0; x < img.Bounds().Dx(); x += 3 {
			r, g, b, _ := img.At(x, y).RGBA()
			seen[r>>8<<16|g>>8<<8|b>>8] = true
		}
	}
	return len(seen)
}

// readPNG decodes the PNG file at path.
func readPNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}
