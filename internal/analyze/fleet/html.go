package fleet

import (
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"strings"

	"github.com/gantry-dev/gantry/internal/analyze/report"
)

// WriteJSON writes the report as indented JSON.
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the report for a terminal.
func WriteText(w io.Writer, r *Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s pulled one by one, %s for one node running them all (%s shared, %s unique)\n",
		report.Count(len(r.Images), "image"), report.Bytes(r.Total), report.Bytes(r.Node), report.Bytes(r.Shared), report.Bytes(r.Unique))
	for _, s := range r.Images {
		fmt.Fprintf(&b, "  %s  %s, %s (%s unique), base: first %s, family %s\n", s.Name, report.Count(s.Layers, "layer"), report.Bytes(s.Bytes), report.Bytes(s.Unique), report.Count(s.BaseLayers, "layer"), s.Family)
	}
	b.WriteString("layer-sharing tree:\n")
	var rec func(n *Node, indent string)
	rec = func(n *Node, indent string) {
		if len(n.Layers) > 0 {
			fmt.Fprintf(&b, "%s%s, %s, %s%s\n", indent, report.Count(len(n.Layers), "layer"), report.Bytes(n.Bytes), report.Count(n.Count, "image"), imagesSuffix(n.Images))
			indent += "  "
		}
		for _, c := range n.Children {
			rec(c, indent)
		}
	}
	rec(r.Tree, "  ")
	for _, rec := range r.Recommendations {
		fmt.Fprintf(&b, "recommendation: %s\n", rec.Message)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func imagesSuffix(imgs []string) string {
	if len(imgs) == 0 {
		return ""
	}
	return ": " + strings.Join(imgs, ", ")
}

// svg draws the tree: one row per image, nodes at their depth.
func svg(r *Report) template.HTML {
	const colW, rowH, boxW = 230, 26, 200
	var b strings.Builder
	row := 0
	var body strings.Builder
	var rec func(n *Node, depth int) (float64, float64)
	rec = func(n *Node, depth int) (float64, float64) {
		first := row
		x := float64(depth*colW + 10)
		row += len(n.Images)
		// A node sits in the middle of the rows of its images and children.
		childPos := make([][2]float64, len(n.Children))
		for i, c := range n.Children {
			cx, cy := rec(c, depth+1)
			childPos[i] = [2]float64{cx, cy}
		}
		last := row - 1
		if last < first {
			last = first
			row++
		}
		y := float64(first+last)/2*rowH + 20
		if depth > 0 {
			fmt.Fprintf(&body, `<rect x="%.0f" y="%.0f" width="%d" height="20" rx="4" fill="#e8f0fe" stroke="#4a6fa5"/>`, x, y-14, boxW)
			fmt.Fprintf(&body, `<text x="%.0f" y="%.0f" font-size="11">%s, %s, %s</text>`, x+6, y, report.Count(len(n.Layers), "layer"), template.HTMLEscapeString(report.Bytes(n.Bytes)), report.Count(n.Count, "image"))
		}
		for i, img := range n.Images {
			iy := float64(first+i)*rowH + 20
			fmt.Fprintf(&body, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="#999"/>`, x+boxW, y-4, x+boxW+20, iy-4)
			fmt.Fprintf(&body, `<text x="%.0f" y="%.0f" font-size="12" font-weight="bold">%s</text>`, x+boxW+24, iy, template.HTMLEscapeString(img))
		}
		for _, c := range childPos {
			if depth > 0 {
				fmt.Fprintf(&body, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="#4a6fa5"/>`, x+boxW, y-4, c[0], c[1]-4)
			}
		}
		return x, y
	}
	rec(r.Tree, 0)
	depth := maxDepth(r.Tree)
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif">`, (depth+1)*colW+400, row*rowH+30)
	b.WriteString(body.String())
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func maxDepth(n *Node) int {
	d := 0
	for _, c := range n.Children {
		d = max(d, 1+maxDepth(c))
	}
	return d
}

var page = template.Must(template.New("fleet").Funcs(template.FuncMap{"bytes": report.Bytes, "count": report.Count[int]}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>gantry fleet report</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}td.n{text-align:right}</style>
</head><body>
<h1>Fleet: {{len .R.Images}} images</h1>
<p>Pulled one by one: <b>{{bytes .R.Total}}</b>. One node running them all pulls <b>{{bytes .R.Node}}</b> ({{bytes .R.Shared}} in shared layers, {{bytes .R.Unique}} unique).</p>
{{if .R.Recommendations}}<h2>Recommendations</h2><ul>{{range .R.Recommendations}}<li>{{.Message}}</li>{{end}}</ul>{{end}}
<h2>Layer-sharing tree</h2>
{{.SVG}}
<h2>Images</h2>
<table><tr><th>image</th><th>layers</th><th>bytes</th><th>unique</th><th>shared</th><th>base layers</th><th>family</th></tr>
{{range .R.Images}}<tr><td>{{.Name}}</td><td class="n">{{.Layers}}</td><td class="n">{{bytes .Bytes}}</td><td class="n">{{bytes .Unique}}</td><td class="n">{{bytes .Shared}}</td><td class="n">{{.BaseLayers}}</td><td>{{.Family}}</td></tr>
{{end}}</table>
<h2>Base families</h2>
<ul>{{range .R.Families}}<li>{{.Name}}: {{count (len .Images) "image"}} on {{count (len .Bases) "base"}}{{range .Bases}}<br>&nbsp;&nbsp;{{count .Layers "layer"}}, {{bytes .Bytes}}: {{range $i, $n := .Images}}{{if $i}}, {{end}}{{$n}}{{end}}{{end}}</li>{{end}}</ul>
</body></html>
`))

// WriteHTML writes a self-contained HTML page (no external assets) with
// the figures, the recommendations and an inline SVG of the layer-sharing
// tree.
func WriteHTML(w io.Writer, r *Report) error {
	return page.Execute(w, struct {
		R   *Report
		SVG template.HTML
	}{r, svg(r)})
}

// SVG returns the picture of r's layer-sharing tree as inline SVG, the one
// WriteHTML draws, for pages that embed it (gantry serve's web view).
func SVG(r *Report) template.HTML { return svg(r) }
