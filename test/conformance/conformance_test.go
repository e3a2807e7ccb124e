// Package conformance runs the OCI distribution-spec conformance suite
// against gantry's registry handler over the disk store, the store
// `gantry serve` uses.
package conformance

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/registry"
	"github.com/gantry-dev/gantry/internal/store/disk"
	"github.com/gantry-dev/gantry/internal/testenv"
)

func TestOCIConformance(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  registry.Options
		extra map[string]string
	}{
		{name: "default"},
		{name: "sparse", opts: registry.Options{AllowSparse: true}, extra: map[string]string{"OCI_DATA_SPARSE": "true"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := disk.Open(t.TempDir(), disk.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			srv := httptest.NewServer(registry.New(s, tc.opts))
			t.Cleanup(srv.Close)
			res := testenv.Conformance(t, strings.TrimPrefix(srv.URL, "http://"), tc.extra)
			t.Log(res.Summary())
			for _, row := range res.Failed() {
				t.Errorf("%s %s: %s\n%s", row.Kind, row.Name, row.Status, row.Detail)
			}
			if t.Failed() {
				t.Logf("suite output:\n%s\nfull report with requests and responses: %s/report.html", res.Output, res.Dir)
			}
		})
	}
}
