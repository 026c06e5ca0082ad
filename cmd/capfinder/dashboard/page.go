package dashboard

import (
	_ "embed"
	"net/http"

	"github.com/capfinder/capfinder/plots/chartjs"
)

//go:embed index.html
var index []byte

// page serves the dashboard.
func (h *Hub) page(w http.ResponseWriter, r *http.Request) {
	serve(w, "text/html; charset=utf-8", index)
}

// script serves the charts.
func (h *Hub) script(w http.ResponseWriter, r *http.Request) {
	serve(w, "text/javascript", []byte(chartjs.Script))
}

func serve(w http.ResponseWriter, kind string, b []byte) {
	w.Header().Set("Content-Type", kind)
	w.Header().Set("Cache-Control", "no-store")
	w.Write(b)
}
