package catalog

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// The markers around the generated section of docs/rules.md.
const (
	BeginMarker = "<!-- BEGIN heavy component catalogue: generated from internal/analyze/catalog/heavy.yaml by go generate; do not edit -->"
	EndMarker   = "<!-- END heavy component catalogue -->"
)

// Markdown returns the catalogue as the table docs/rules.md shows, one
// row per entry in the file's order.
func (c *Catalog) Markdown() string {
	var b strings.Builder
	b.WriteString("| component | kind | typical size | packages | downloads and commands | COPY --from, base images | installed files (`gantry check`) | instead |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, e := range c.Entries {
		var fetch []string
		fetch = append(fetch, codes(e.URLs)...)
		fetch = append(fetch, codes(e.Commands)...)
		var other []string
		other = append(other, codes(e.Copy)...)
		for _, im := range e.Images {
			if rest, ok := strings.CutPrefix(im, "!"); ok {
				other = append(other, "not `FROM "+rest+"`")
			} else {
				other = append(other, "`FROM "+im+"`")
			}
		}
		what := e.What + " (`" + e.ID + "`)"
		var notes []string
		if len(e.UnlessEnv) > 0 {
			notes = append(notes, "not when "+strings.Join(codes(e.UnlessEnv), " or ")+" is set")
		}
		if len(e.UnlessRuns) > 0 {
			notes = append(notes, "not when ENTRYPOINT/CMD runs "+strings.Join(codes(e.UnlessRuns), ", "))
		}
		if len(notes) > 0 {
			what += "; " + strings.Join(notes, "; ")
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", what, e.Kind, e.Size,
			cell(codes(e.Packages)), cell(fetch), cell(other), cell(codes(e.Files)), e.Instead)
	}
	return b.String()
}

// codes writes patterns as code, an excluding one as "not `pattern`".
func codes(list []string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		if rest, ok := strings.CutPrefix(s, "!"); ok {
			out[i] = "not `" + rest + "`"
			continue
		}
		out[i] = "`" + s + "`"
	}
	return out
}

func cell(list []string) string {
	if len(list) == 0 {
		return "—"
	}
	return strings.Join(list, ", ")
}

// Splice returns doc with the text between BeginMarker and EndMarker
// replaced by section. The markers must each be there once, in order.
func Splice(doc []byte, section string) ([]byte, error) {
	begin := bytes.Index(doc, []byte(BeginMarker))
	end := bytes.Index(doc, []byte(EndMarker))
	switch {
	case begin < 0 || end < 0:
		return nil, errors.New("the heavy component catalogue markers are missing")
	case bytes.Count(doc, []byte(BeginMarker)) > 1 || bytes.Count(doc, []byte(EndMarker)) > 1:
		return nil, errors.New("the heavy component catalogue markers appear more than once")
	case end < begin:
		return nil, errors.New("the heavy component catalogue's end marker comes before its begin marker")
	}
	var out bytes.Buffer
	out.Write(doc[:begin+len(BeginMarker)])
	out.WriteString("\n")
	out.WriteString(section)
	out.Write(doc[end:])
	return out.Bytes(), nil
}
