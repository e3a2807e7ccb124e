package disk_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/cas/castest"
	"github.com/gantry-dev/gantry/internal/store/disk"
)

func TestStats(t *testing.T) {
	tests := []struct {
		name  string
		sizes []int // blobs pushed, each to repositories a and b
		stray bool  // a file under blobs/sha256 not named by a digest
		want  disk.Stats
	}{
		{"empty", nil, false, disk.Stats{}},
		{"blobs shared by two repositories count once", []int{10, 1000, 0}, false, disk.Stats{Blobs: 3, Bytes: 1010}},
		{"a file not named by a digest is not a blob", []int{7}, true, disk.Stats{Blobs: 1, Bytes: 7}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := disk.Open(dir, disk.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for _, n := range tc.sizes {
				b, d := castest.Blob(t, n)
				for _, name := range []string{"a", "b"} {
					r, err := s.Repository(t.Context(), name)
					if err != nil {
						t.Fatal(err)
					}
					if err := r.Push(t.Context(), d, bytes.NewReader(b)); err != nil && !errors.Is(err, cas.ErrExists) {
						t.Fatal(err)
					}
				}
			}
			if tc.stray {
				if err := os.WriteFile(filepath.Join(dir, "blobs", "sha256", "left-over.tmp"), []byte("xx"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := s.Stats(t.Context())
			if err != nil || got != tc.want {
				t.Fatalf("Stats = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}
