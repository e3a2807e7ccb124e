package disk

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// gcCrashEnv switches the test binary into the child of TestGCCrash.
const gcCrashEnv = "GANTRY_DISK_GC_CRASH_CHILD"

// TestGCCrashChild is the child process of TestGCCrash, not a test: it
// pushes, tags, deletes and collects garbage with no grace period until
// it is killed, and prints each tag once Tag has returned.
func TestGCCrashChild(t *testing.T) {
	dir := os.Getenv(gcCrashEnv)
	if dir == "" {
		t.Skip("helper process of TestGCCrash")
	}
	s, err := Open(dir, Options{FlushInterval: time.Millisecond, JournalLimit: 4096, OnlineGC: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(3)
	}
	for i := 0; ; i++ {
		r := repoT(t, s, fmt.Sprintf("gc/r%d", i%3))
		m, _, _ := pushImage(t, r)
		tag := fmt.Sprintf("t%d", i%5)
		if err := r.Tag(t.Context(), m, tag); err != nil {
			fmt.Fprintln(os.Stderr, "tag:", err)
			os.Exit(3)
		}
		fmt.Printf("tag %s:%s %s\n", r.Name(), tag, m.Digest)
		if _, err := s.Collect(t.Context(), GCOptions{Grace: NoGrace, Batch: 2, Retention: Retention{RemoveUntagged: true, KeepLast: 3}}); err != nil {
			fmt.Fprintln(os.Stderr, "collect:", err)
			os.Exit(3)
		}
	}
}

// TestGCCrash kills a child that collects garbage while it pushes, at
// random moments, and checks each time that the store opens, fsck finds
// it clean (no tag reaches a missing blob, nothing half-removed remains),
// and the trash is empty.
func TestGCCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	dir := t.TempDir()
	start := time.Now()
	for round := 0; round < 8 && time.Since(start) < 10*time.Second; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestGCCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), gcCrashEnv+"="+dir)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		if !sc.Scan() {
			cmd.Wait()
			t.Fatalf("child exited early: %s", stderr.String())
		}
		time.Sleep(time.Duration(20+rand.IntN(300)) * time.Millisecond)
		cmd.Process.Kill()
		for sc.Scan() {
		}
		cmd.Wait()
		if strings.Contains(stderr.String(), "collect:") || strings.Contains(stderr.String(), "tag:") {
			t.Fatalf("child failed: %s", stderr.String())
		}
		s, err := Open(dir, Options{})
		if err != nil {
			t.Fatalf("round %d: open after kill: %v", round, err)
		}
		rep, err := s.Fsck(t.Context(), FsckOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Clean() || len(rep.Incomplete) > 0 {
			t.Fatalf("round %d: fsck after a kill mid-GC: %+v", round, rep)
		}
		if ents, _ := os.ReadDir(filepath.Join(dir, stateDir, trashDir)); len(ents) > 0 {
			t.Fatalf("round %d: trash not emptied by Open: %d entries", round, len(ents))
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
