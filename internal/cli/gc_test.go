package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/cas/castest"
	"github.com/gantry-dev/gantry/internal/store/disk"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
)

// deletedImageStore makes a store holding app:keep and, deleted, the
// manifest of another image whose three blobs are garbage.
func deletedImageStore(t *testing.T) (dir string, garbage int64) {
	t.Helper()
	dir = t.TempDir()
	s, err := disk.Open(dir, disk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := s.Repository(t.Context(), "app")
	for i, tag := range []string{"keep", "gone"} {
		cb, cdesc := castest.Blob(t, 50)
		cdesc.MediaType = ocispec.MediaTypeImageConfig
		lb, ldesc := castest.Blob(t, 3000+i)
		mb, mdesc := castest.Manifest(t, cdesc, ldesc)
		for _, p := range []struct {
			d ocispec.Descriptor
			b []byte
		}{{cdesc, cb}, {ldesc, lb}, {mdesc, mb}} {
			if err := r.Push(t.Context(), p.d, bytes.NewReader(p.b)); err != nil {
				t.Fatal(err)
			}
		}
		if err := r.Tag(t.Context(), mdesc, tag); err != nil {
			t.Fatal(err)
		}
		if tag == "gone" {
			if err := r.(*disk.Repo).Delete(t.Context(), mdesc); err != nil {
				t.Fatal(err)
			}
			garbage = cdesc.Size + ldesc.Size + mdesc.Size
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, garbage
}

// TestGCCommand: --dry-run reports the bytes and changes nothing; the
// real run reclaims them and leaves a store fsck finds clean.
func TestGCCommand(t *testing.T) {
	dir, garbage := deletedImageStore(t)
	code, out, stderr := runMain(t, "gc", "--root", dir, "--grace", "0", "--dry-run", "--json")
	if code != 0 {
		t.Fatalf("gc --dry-run: exit %d: %s", code, stderr)
	}
	var rep disk.GCReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("json: %v\n%s", err, out)
	}
	if !rep.DryRun || rep.BlobsReclaimed != 3 || rep.BytesReclaimed != garbage {
		t.Fatalf("dry run report %+v, want 3 blobs, %d bytes", rep, garbage)
	}
	code, out, stderr = runMain(t, "gc", "--root", dir, "--dry-run")
	if code != 0 || !strings.Contains(out, "would remove 0 tags") {
		t.Fatalf("tty dry run with the default grace: exit %d: %s%s", code, out, stderr)
	}
	code, out, stderr = runMain(t, "gc", "--root", dir, "--grace", "0")
	if code != 0 || !strings.Contains(out, "3 blob files") {
		t.Fatalf("gc: exit %d: %s%s", code, out, stderr)
	}
	if code, out, stderr := runMain(t, "fsck", dir); code != 0 {
		t.Fatalf("fsck after gc: exit %d: %s%s", code, out, stderr)
	}
	if code, _, stderr := runMain(t, "gc", "--root", dir, "--keep-last", "-1"); code != 2 {
		t.Fatalf("--keep-last -1: exit %d, want 2: %s", code, stderr)
	}
	if code, _, stderr := runMain(t, "gc", "--root", dir, "--protect", "("); code != 2 || !strings.Contains(stderr, "protect") {
		t.Fatalf("--protect '(': exit %d, want 2: %s", code, stderr)
	}
}

// TestConfigFlagGroups: serve: {gc: {interval: 5m}} sets --gc-interval
// of serve; a key of the group that is no flag is refused by name.
func TestConfigFlagGroups(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	run := func(yaml string) (string, string) {
		cfg := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		e := &env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr}
		root := newRoot(e)
		var interval string
		probe := &cobra.Command{Use: "probe", RunE: func(*cobra.Command, []string) error { return nil }}
		probe.Flags().StringVar(&interval, "gc-interval", "0", "")
		root.AddCommand(probe)
		root.SetArgs([]string{"--config", cfg, "probe"})
		root.SetOut(&stdout)
		root.SetErr(&stderr)
		if err := root.ExecuteContext(context.Background()); err != nil {
			return interval, err.Error()
		}
		return interval, ""
	}
	if got, err := run("probe:\n  gc:\n    interval: 5m\n"); got != "5m" || err != "" {
		t.Fatalf("grouped key: %q, %s", got, err)
	}
	if got, err := run("probe:\n  gc-interval: 7m\n"); got != "7m" || err != "" {
		t.Fatalf("flat key: %q, %s", got, err)
	}
	if _, err := run("probe:\n  gc:\n    intervall: 5m\n"); !strings.Contains(err, `unknown key "intervall" in "gc"`) {
		t.Fatalf("misspelt grouped key: %s", err)
	}
}
