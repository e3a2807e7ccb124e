package disk

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/cas/castest"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// crashEnv switches the test binary into the child of TestCrashSafety: it
// writes into the store named by the variable until it is killed.
const crashEnv = "GANTRY_DISK_CRASH_CHILD"

// TestCrashChild is the child process of TestCrashSafety, not a test.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		t.Skip("helper process of TestCrashSafety")
	}
	round := os.Getenv(crashEnv + "_ROUND")
	// Flush often, so kills also land in index.json rewrites and journal
	// trims.
	s, err := Open(dir, Options{FlushInterval: time.Millisecond, JournalLimit: 2048})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(3)
	}
	for i := 0; ; i++ {
		repo := fmt.Sprintf("crash/r%d", i%4)
		r, err := s.Repository(t.Context(), repo)
		if err != nil {
			os.Exit(3)
		}
		cb, cdesc := castest.Blob(t, 100)
		cdesc.MediaType = ocispec.MediaTypeImageConfig
		n := 3000
		if i%8 == 0 {
			n = 1 << 20
		}
		lb, ldesc := castest.Blob(t, n)
		mb, mdesc := castest.Manifest(t, cdesc, ldesc)
		for _, p := range []struct {
			d ocispec.Descriptor
			b []byte
		}{{cdesc, cb}, {ldesc, lb}, {mdesc, mb}} {
			if err := r.Push(t.Context(), p.d, bytes.NewReader(p.b)); err != nil {
				fmt.Fprintln(os.Stderr, "push:", err)
				os.Exit(3)
			}
		}
		tag := fmt.Sprintf("r%s-%d", round, i)
		if err := r.Tag(t.Context(), mdesc, tag); err != nil {
			fmt.Fprintln(os.Stderr, "tag:", err)
			os.Exit(3)
		}
		if i%5 == 4 { // untag now and then, through the journal as well
			if err := r.(*Repo).Untag(t.Context(), tag); err != nil {
				os.Exit(3)
			}
			fmt.Printf("untag %s:%s\n", repo, tag)
			continue
		}
		fmt.Printf("tag %s:%s %s\n", repo, tag, mdesc.Digest) // one write: a pipe keeps it whole
	}
}

// TestCrashSafety kills a writing child with SIGKILL at random moments and
// checks, each time, what a restart must find: no partial blob, a valid
// index.json, a clean fsck, and every tag the child saw committed.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	dir := t.TempDir()
	committed := map[string]digest.Digest{} // ref -> digest; "" = untagged
	start := time.Now()
	rounds := 0
	for round := 0; round < 12 && time.Since(start) < 12*time.Second; round++ {
		rounds++
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnv+"="+dir, fmt.Sprintf("%s_ROUND=%d", crashEnv, round))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1024)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		var got []string
		select { // let the child get going, then kill it at a random moment
		case l, ok := <-lines:
			if !ok {
				cmd.Wait()
				t.Fatalf("child exited early: %s", stderr.String())
			}
			got = append(got, l)
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			t.Fatal("child wrote nothing in 20s")
		}
		time.Sleep(time.Duration(rand.IntN(400)) * time.Millisecond)
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		for l := range lines {
			got = append(got, l)
		}
		cmd.Wait()
		for _, l := range got {
			f := strings.Fields(l)
			switch {
			case len(f) == 3 && f[0] == "tag":
				committed[f[1]] = digest.Digest(f[2])
			case len(f) == 2 && f[0] == "untag":
				committed[f[1]] = ""
			}
		}

		// Before any reopen, index.json must be whole (atomic rewrites).
		b, err := os.ReadFile(filepath.Join(dir, "index.json"))
		if err != nil || !json.Valid(b) {
			t.Fatalf("round %d: index.json after the kill is not valid JSON (%v):\n%s", round, err, b)
		}
		s, err := Open(dir, Options{})
		if err != nil {
			t.Fatalf("round %d: Open after kill: %v", round, err)
		}
		rep, err := s.Fsck(t.Context(), FsckOptions{})
		if err != nil {
			t.Fatalf("round %d: Fsck: %v", round, err)
		}
		if !rep.Clean() || len(rep.Damaged) > 0 {
			t.Fatalf("round %d: Fsck after kill: damaged %v, incomplete %v", round, rep.Damaged, rep.Incomplete)
		}
		onDisk := map[string]bool{}
		for _, n := range refNames(readIndex(t, dir)) {
			onDisk[n] = true
		}
		for ref, want := range committed {
			repo, tag, _ := splitRefName(ref)
			r, _ := s.Repository(t.Context(), repo)
			d, err := r.Resolve(t.Context(), tag)
			switch {
			case want == "" && err == nil:
				t.Fatalf("round %d: %s was untagged before the kill but resolves", round, ref)
			case want != "" && (err != nil || d.Digest != want):
				t.Fatalf("round %d: committed tag %s resolves to %s, %v; want %s", round, ref, d.Digest, err, want)
			case want != "" && !onDisk[ref]:
				t.Fatalf("round %d: committed tag %s is not in index.json after reopen", round, ref)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d rounds, %d committed tag changes, in %v", rounds, len(committed), time.Since(start).Round(time.Millisecond))
}
