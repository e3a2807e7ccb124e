package disk

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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
		for j, p := range []struct {
			d ocispec.Descriptor
			b []byte
		}{{cdesc, cb}, {ldesc, lb}, {mdesc, mb}} {
			if j == 1 && i%2 == 1 { // every other layer through an upload session
				if err := uploadChunks(t, r.(*Repo), p.d, p.b); err != nil {
					fmt.Fprintln(os.Stderr, "upload:", err)
					os.Exit(3)
				}
				continue
			}
			if err := r.Push(t.Context(), p.d, bytes.NewReader(p.b)); err != nil {
				fmt.Fprintln(os.Stderr, "push:", err)
				os.Exit(3)
			}
		}
		// One write per line: a pipe keeps it whole.
		fmt.Printf("held %s %s %s %s\n", repo, cdesc.Digest, ldesc.Digest, mdesc.Digest)
		if i%11 == 10 { // a manifest deleted now and then: an unlink record
			// Said before and after: a kill between the two leaves either
			// state, both right.
			fmt.Printf("deleting %s %s\n", repo, mdesc.Digest)
			if err := r.(*Repo).Delete(t.Context(), mdesc); err != nil {
				fmt.Fprintln(os.Stderr, "delete:", err)
				os.Exit(3)
			}
			fmt.Printf("deleted %s %s\n", repo, mdesc.Digest)
			continue
		}
		if i%3 == 0 { // a session left unfinished, for a client to resume
			u, err := r.(*Repo).NewUpload(t.Context())
			if err != nil {
				os.Exit(3)
			}
			n := min(1000+i, len(lb))
			u.Write(lb[:n])
			u.Close()
			fmt.Printf("upload %s %s %d\n", repo, u.ID(), n)
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
		ref := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, ArtifactType: "application/x.sig", Digest: digest.FromString(tag), Size: 1}
		if err := r.(*Repo).AddReferrer(t.Context(), mdesc.Digest, ref); err != nil {
			fmt.Fprintln(os.Stderr, "referrer:", err)
			os.Exit(3)
		}
		fmt.Printf("ref %s %s %s\n", repo, mdesc.Digest, ref.Digest)
		if i%7 == 6 {
			fmt.Printf("unreffing %s %s %s\n", repo, mdesc.Digest, ref.Digest)
			if err := r.(*Repo).RemoveReferrer(t.Context(), mdesc.Digest, ref.Digest); err != nil {
				os.Exit(3)
			}
			fmt.Printf("unref %s %s %s\n", repo, mdesc.Digest, ref.Digest)
		}
	}
}

// uploadChunks stores b through an upload session, in a few writes and
// across a Close and ResumeUpload, as a chunked registry push does.
func uploadChunks(t *testing.T, r *Repo, desc ocispec.Descriptor, b []byte) error {
	u, err := r.NewUpload(t.Context())
	if err != nil {
		return err
	}
	half := len(b) / 2
	if _, err := u.Write(b[:half]); err != nil {
		return err
	}
	u.Close()
	if u, err = r.ResumeUpload(t.Context(), u.ID()); err != nil {
		return err
	}
	defer u.Close()
	if _, err := io.Copy(u, struct{ io.Reader }{bytes.NewReader(b[half:])}); err != nil {
		return err
	}
	return u.Commit(t.Context(), desc)
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
	type refKey struct {
		repo     string
		subject  digest.Digest
		referrer digest.Digest
	}
	refs := map[refKey]bool{} // referrer records the child saw committed; false = removed
	type heldKey struct {
		repo string
		d    digest.Digest
	}
	held := map[heldKey]bool{} // blobs the child's repositories held when it said so; false = deleted
	type pending struct {
		repo, id string
		size     int64
	}
	var uploads []pending // unfinished sessions the child left
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
			case len(f) == 5 && f[0] == "held":
				for _, d := range f[2:] {
					held[heldKey{f[1], digest.Digest(d)}] = true
				}
			case len(f) == 3 && f[0] == "deleting": // either state is right until "deleted"
				delete(held, heldKey{f[1], digest.Digest(f[2])})
			case len(f) == 3 && f[0] == "deleted":
				held[heldKey{f[1], digest.Digest(f[2])}] = false
			case len(f) == 4 && f[0] == "unreffing":
				delete(refs, refKey{f[1], digest.Digest(f[2]), digest.Digest(f[3])})
			case len(f) == 4 && (f[0] == "ref" || f[0] == "unref"):
				refs[refKey{f[1], digest.Digest(f[2]), digest.Digest(f[3])}] = f[0] == "ref"
			case len(f) == 4 && f[0] == "upload":
				var n int64
				fmt.Sscan(f[3], &n)
				uploads = append(uploads, pending{f[1], f[2], n})
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
		for k, want := range held {
			r, _ := s.Repository(t.Context(), k.repo)
			got, err := r.Exists(t.Context(), ocispec.Descriptor{Digest: k.d})
			if err != nil || got != want {
				t.Fatalf("round %d: %s in %s: held %v, %v after the kill; want %v", round, k.d, k.repo, got, err, want)
			}
		}
		for k, want := range refs {
			r, _ := s.Repository(t.Context(), k.repo)
			list, err := r.(*Repo).Referrers(t.Context(), k.subject)
			if err != nil {
				t.Fatal(err)
			}
			got := slices.ContainsFunc(list, func(d ocispec.Descriptor) bool { return d.Digest == k.referrer })
			if got != want {
				t.Fatalf("round %d: referrer %s of %s in %s: present %v after the kill, want %v", round, k.referrer, k.subject, k.repo, got, want)
			}
		}
		// Sessions left unfinished survive the kill and the reopen; the
		// older ones are resumed and cancelled, the last kept for the next
		// round.
		for i, p := range uploads {
			r, _ := s.Repository(t.Context(), p.repo)
			u, err := r.(*Repo).ResumeUpload(t.Context(), p.id)
			if err != nil {
				t.Fatalf("round %d: unfinished upload %s after the kill: %v", round, p.id, err)
			}
			if u.Size() != p.size {
				t.Fatalf("round %d: upload %s has %d bytes after the kill, want %d", round, p.id, u.Size(), p.size)
			}
			if i < len(uploads)-1 {
				if err := u.Cancel(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
			u.Close()
		}
		if len(uploads) > 0 {
			uploads = uploads[len(uploads)-1:]
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d rounds, %d committed tag changes, %d referrer records, %d blob links, in %v", rounds, len(committed), len(refs), len(held), time.Since(start).Round(time.Millisecond))
}
