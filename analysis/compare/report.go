package compare

import (
	"bytes"
	"encoding/json"
	"fmt"
	htmltemplate "html/template"
	"io"
	"path/filepath"

	"github.com/capfinder/capfinder/analysis"
	"github.com/capfinder/capfinder/probe/rundir"
)

// WriteReport writes compare.md, compare.html (self-contained: the
// figures embedded, nothing loaded from a network) and compare.json into
// dir. Figure paths are relative to dir.
func (c *Comparison) WriteReport(dir string, figs []analysis.Figure) error {
	uris, err := analysis.EmbedFigures(dir, figs)
	if err != nil {
		return err
	}
	md := func(w io.Writer) error {
		c.WriteMarkdown(w)
		fmt.Fprintln(w, "\n## Figures")
		for _, f := range figs {
			fmt.Fprintf(w, "\n![%s](%s)\n", f.Caption, f.Path)
		}
		return nil
	}
	type fig struct {
		analysis.Figure
		URI htmltemplate.URL
	}
	d := struct {
		C       *Comparison
		Answer  []string
		Legend  string
		Figures []fig
	}{C: c, Answer: c.answer(), Legend: c.legend()}
	for i, f := range figs {
		d.Figures = append(d.Figures, fig{f, uris[i]})
	}
	html := func(w io.Writer) error { return page.Execute(w, d) }
	if err := analysis.WritePages(dir, "compare", md, html); err != nil {
		return err
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(c); err != nil {
		return err
	}
	return rundir.WriteFileAtomic(filepath.Join(dir, "compare.json"), func(w io.Writer) error {
		_, err := b.WriteTo(w)
		return err
	})
}

var page = htmltemplate.Must(htmltemplate.New("compare").Funcs(htmltemplate.FuncMap{
	"change": change,
	"cell":   cell,
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>capfinder comparison against {{.C.Baseline}}</title>
<style>
body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em}
.answer li{font-size:1.1em;margin:.3em 0}
table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #ccc;padding:.25em .5em;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
.worse{color:#a00;font-weight:bold}.better{color:#070;font-weight:bold}
figure{margin:1.5em 0}figure img{max-width:100%;border:1px solid #ddd}figcaption{color:#555;font-size:.9em}
</style></head><body>
<h1>capfinder comparison against {{.C.Baseline}}</h1>
<ul class="answer">{{range .Answer}}<li>{{.}}</li>{{end}}</ul>
{{range .C.Candidates}}<h2>{{.Name}}</h2>
<table><tr><th>metric</th><th>baseline [range]</th><th>candidate [range]</th><th>change</th><th>verdict</th></tr>
{{range .Metrics}}<tr><td>{{.Name}}</td><td>{{cell .Base .BaseRange}}</td><td>{{cell .Value .Range}}</td><td>{{change .}}</td><td class="{{.Verdict}}">{{.Verdict}}</td></tr>
{{end}}</table>{{end}}
<p>{{.Legend}}</p>
<h2>Figures</h2>
{{range .Figures}}<figure><img src="{{.URI}}" alt="{{.Caption}}"><figcaption>{{.Caption}}</figcaption></figure>
{{end}}</body></html>
`))
