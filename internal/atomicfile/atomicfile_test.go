package atomicfile

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "index.json")
	for _, content := range []string{"first", "second, longer"} {
		if err := Write(p, []byte(content), Options{}); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(p)
		if err != nil || string(got) != content {
			t.Fatalf("read back %q, %v; want %q", got, err, content)
		}
	}
	fi, _ := os.Stat(p)
	if fi.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v, want 0644", fi.Mode().Perm())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("%d entries left in the directory, want only the file", len(entries))
	}
}

// Write holds data already: it takes no buffer of WriteFunc's size to
// copy it through. (On main every Write allocated and cleared 1 MiB, for
// files of a few hundred bytes: a blob's metadata beside each blob an
// agent keeps, each link the disk store writes.)
func TestWriteAllocatesLittle(t *testing.T) {
	p := filepath.Join(t.TempDir(), "meta.json")
	data := []byte(`{"size":1048576}`)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const writes = 20
	for range writes {
		if err := Write(p, data, Options{}); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / writes; per > 64<<10 {
		t.Errorf("Write of %d bytes allocated %d bytes, want at most 64 KiB", len(data), per)
	}
}

func TestWriteTempDirAndFailure(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	if err := os.Mkdir(state, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "f")
	if err := Write(p, []byte("x"), Options{TempDir: state, Perm: 0o600}); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	// A target that cannot be replaced (a directory) fails and leaves no
	// temporary file behind.
	if err := os.Mkdir(filepath.Join(dir, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "d", "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Write(filepath.Join(dir, "d"), []byte("y"), Options{TempDir: state}); err == nil {
		t.Fatal("replacing a non-empty directory succeeded")
	}
	if entries, _ := os.ReadDir(state); len(entries) != 0 {
		t.Fatalf("%d temporary files left", len(entries))
	}
}

func TestIsTemp(t *testing.T) {
	// A name as Write makes it, for the target index.json.
	f, err := os.CreateTemp(t.TempDir(), tempPrefix+"index.json.*"+tempSuffix)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	tests := []struct {
		name string
		want bool
	}{
		{filepath.Base(f.Name()), true},
		{".index.json.2846153.tmp", true},
		{".journal.99.tmp", true},
		{"index.json", false},
		{".tmp", false},
		{"..tmp", false},
		{"journal", false},
		{"journal.damaged-1700000000", false},
		{".gantry", false},
		{"x.tmp", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsTemp(tc.name); got != tc.want {
				t.Fatalf("IsTemp(%q) = %v, want %v", tc.name, got, tc.want)
			}
		})
	}
}
