package e2e

import (
	"testing"

	"github.com/gantry-dev/gantry/internal/store/s3/s3test"
	"github.com/gantry-dev/gantry/internal/testenv"
)

// TestServeOCIConformance runs the OCI distribution-spec conformance suite
// against the real `gantry serve` binary: with its default settings (plus
// upload cancel and the tag parameter, which gantry implements), then with
// --allow-sparse and the suite's sparse-index tests, then on a store in an
// S3 bucket (MinIO, --s3), the bytes sent by gantry and then by MinIO
// through redirects to presigned URLs. Every row must pass.
func TestServeOCIConformance(t *testing.T) {
	tests := []struct {
		name  string
		flags []string
		env   map[string]string
		s3    string // serve a store in a MinIO bucket (--s3) with these location parameters
	}{
		{"default", nil, map[string]string{
			"OCI_API_BLOBS_UPLOAD_CANCEL": "true",
			"OCI_API_MANIFESTS_TAG_PARAM": "true",
		}, ""},
		{"allow-sparse", []string{"--allow-sparse"}, map[string]string{
			"OCI_DATA_SPARSE": "true",
		}, ""},
		{"s3", nil, map[string]string{
			"OCI_API_BLOBS_UPLOAD_CANCEL": "true",
			"OCI_API_MANIFESTS_TAG_PARAM": "true",
		}, "&path-style=true"},
		{"s3-presign", nil, map[string]string{
			"OCI_API_BLOBS_UPLOAD_CANCEL": "true",
		}, "&presign=5m"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			testenv.ConformanceBinary(t) // build (or skip) before starting a server
			root := t.TempDir()
			if tc.s3 != "" {
				root = s3test.Start(t).URL() + tc.s3
			}
			s := startServer(t, root, tc.flags...)
			res := testenv.Conformance(t, s.Addr, tc.env)
			t.Log(res.Summary())
			for _, row := range res.Failed() {
				t.Errorf("%s %s: %s %s", row.Kind, row.Name, row.Status, row.Detail)
			}
			if t.Failed() {
				t.Logf("full report: %s/report.html", res.Dir)
			}
		})
	}
}
