// Command tags100k is the load client of bench/store/tags100k.sh: plain
// net/http against any OCI Distribution registry on loopback, so gantry and
// zot see the same requests, and a writer of the seeded OCI layouts.
//
//	tags100k push URL REPO TAG        push a small image (config, 1 KiB layer, manifest);
//	                                  prints "DIGEST SIZE"
//	tags100k seed -layout gantry|zot -shape one|many -digest D -size N ROOT
//	                                  write index.json files tagging the pushed manifest
//	                                  100,000 times: one repository (big/app) or 1,000
//	                                  (team000/app .. team999/app, 100 tags each)
//	tags100k open [-timeout T] [-log FILE] URL -- CMD ARGS...
//	                                  start CMD, time until GET URL answers 200 with a
//	                                  non-empty list, then SIGTERM it and wait for the exit;
//	                                  prints "open_s=.. stop_s=.."
//	tags100k lat [-n N] [-want W] [-out FILE] URL
//	                                  N sequential GETs of a tag or catalog page, each
//	                                  checked to hold W names; appends each latency (ms) to
//	                                  FILE; prints p50, p99 and max
//	tags100k pageall [-n N] [-want W] URL REPO
//	                                  page through all tags of REPO, N per page, following
//	                                  last=; prints seconds and the number of tags
//	tags100k stall [-puts N] [-burst B] [-pause P] [-timeout T] [-watch FILE] URL REPO
//	                                  one client HEADs manifests of REPO by tag back to back
//	                                  while another PUTs N new manifests by new tags, in
//	                                  bursts of B separated by P of quiet (so a store that
//	                                  rewrites index.json after a quiet period does so);
//	                                  prints HEAD and PUT latencies and how often FILE
//	                                  (index.json) was replaced
//
// Every loop is bounded in count and by -timeout; URL must be a loopback
// address (http://127.0.0.1:PORT...).
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gantry-dev/gantry/bench/internal/loadclient"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "tags100k:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: tags100k push|seed|open|lat|pageall|stall [flags]")
	}
	cmds := map[string]func([]string) error{
		"push": push, "seed": seed, "open": open, "lat": lat, "pageall": pageAll, "stall": stall,
	}
	if f, ok := cmds[args[0]]; ok {
		return f(args[1:])
	}
	return fmt.Errorf("unknown command %q", args[0])
}

const (
	manifestType = "application/vnd.oci.image.manifest.v1+json"
	indexType    = "application/vnd.oci.image.index.v1+json"
	refName      = "org.opencontainers.image.ref.name"
	manyTags     = 100_000
	manyRepos    = 1_000
)

func newClient() *http.Client { return loadclient.New(4, 2*time.Minute) }

// do sends req, checks the status and returns the body (at most 64 MiB)
// and headers, with Location resolved against the request's URL.
func do(c *http.Client, req *http.Request, want int) ([]byte, http.Header, error) {
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	if resp.StatusCode != want {
		if len(body) > 512 {
			body = body[:512]
		}
		return nil, nil, fmt.Errorf("%s %s: %s (want %d): %s", req.Method, req.URL, resp.Status, want, bytes.TrimSpace(body))
	}
	if loc := resp.Header.Get("Location"); loc != "" {
		l, err := url.Parse(loc)
		if err != nil {
			return nil, nil, fmt.Errorf("%s %s: Location %q: %v", req.Method, req.URL.Path, loc, err)
		}
		resp.Header.Set("Location", req.URL.ResolveReference(l).String())
	}
	return body, resp.Header, nil
}

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int               `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type manifest struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	Config        descriptor        `json:"config"`
	Layers        []descriptor      `json:"layers"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

type index struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Manifests     []descriptor `json:"manifests"`
}

// uploadBlob pushes b to repo with POST then PUT ?digest=.
func uploadBlob(ctx context.Context, c *http.Client, base *url.URL, repo string, b []byte) (string, error) {
	sum := sha256.Sum256(b)
	d := "sha256:" + hex.EncodeToString(sum[:])
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base.JoinPath("v2", repo, "blobs/uploads/").String(), nil)
	_, h, err := do(c, req, http.StatusAccepted)
	if err != nil {
		return "", err
	}
	loc := h.Get("Location")
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	req, _ = http.NewRequestWithContext(ctx, http.MethodPut, loc+sep+"digest="+url.QueryEscape(d), bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/octet-stream")
	if _, _, err := do(c, req, http.StatusCreated); err != nil {
		return "", err
	}
	return d, nil
}

func push(args []string) error {
	if len(args) != 3 {
		return errors.New("usage: tags100k push URL REPO TAG")
	}
	base, err := loadclient.Loopback(args[0])
	if err != nil {
		return err
	}
	repo, tag := args[1], args[2]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := newClient()
	config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"config":{}}`)
	layer := make([]byte, 1024)
	rand.NewChaCha8([32]byte{'1', '0', '0', 'k'}).Read(layer)
	cd, err := uploadBlob(ctx, c, base, repo, config)
	if err != nil {
		return err
	}
	ld, err := uploadBlob(ctx, c, base, repo, layer)
	if err != nil {
		return err
	}
	m := manifest{SchemaVersion: 2, MediaType: manifestType,
		Config: descriptor{MediaType: "application/vnd.oci.image.config.v1+json", Digest: cd, Size: len(config)},
		Layers: []descriptor{{MediaType: "application/vnd.oci.image.layer.v1.tar+gzip", Digest: ld, Size: len(layer)}}}
	body, _ := json.Marshal(m)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPut, base.JoinPath("v2", repo, "manifests", tag).String(), bytes.NewReader(body))
	req.Header.Set("Content-Type", manifestType)
	if _, _, err := do(c, req, http.StatusCreated); err != nil {
		return err
	}
	sum := sha256.Sum256(body)
	fmt.Printf("sha256:%s %d\n", hex.EncodeToString(sum[:]), len(body))
	return nil
}

// seed writes the index.json files of one of the two shapes. gantry keeps
// one layout for all repositories, each tag an entry "REPO:TAG"; zot keeps
// one layout per repository under ROOT/REPO/, each tag an entry whose
// ref.name is the bare tag. For zot's 1,000 repositories, the blobs of
// ROOT/team000/app (where the image was pushed) are copied into each.
func seed(args []string) error {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	layout := fs.String("layout", "", "gantry or zot")
	shape := fs.String("shape", "", "one (big/app, 100,000 tags) or many (1,000 repositories x 100 tags)")
	dgst := fs.String("digest", "", "manifest digest")
	size := fs.Int("size", 0, "manifest size")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 || *dgst == "" || *size <= 0 || (*layout != "gantry" && *layout != "zot") || (*shape != "one" && *shape != "many") {
		return errors.New("usage: tags100k seed -layout gantry|zot -shape one|many -digest D -size N ROOT")
	}
	root := fs.Arg(0)
	repoOf := func(i int) string {
		if *shape == "one" {
			return "big/app"
		}
		return fmt.Sprintf("team%03d/app", i%manyRepos)
	}
	byRepo := map[string][]descriptor{}
	var repos []string
	for i := range manyTags {
		repo, tag := repoOf(i), fmt.Sprintf("v%06d", i)
		name := tag
		if *layout == "gantry" {
			repo, name = "", repo+":"+tag
		}
		if _, ok := byRepo[repo]; !ok {
			repos = append(repos, repo)
		}
		byRepo[repo] = append(byRepo[repo], descriptor{MediaType: manifestType, Digest: *dgst, Size: *size,
			Annotations: map[string]string{refName: name}})
	}
	src := filepath.Join(root, "team000/app")
	for _, repo := range repos {
		dir := filepath.Join(root, repo)
		if *layout == "zot" && *shape == "many" && repo != "team000/app" {
			if err := copyLayout(src, dir); err != nil {
				return err
			}
		}
		b, err := json.Marshal(index{SchemaVersion: 2, MediaType: indexType, Manifests: byRepo[repo]})
		if err != nil {
			return err
		}
		if err := writeAtomic(filepath.Join(dir, "index.json"), b); err != nil {
			return err
		}
	}
	fmt.Printf("%d tags in %d index.json files\n", manyTags, len(repos))
	return nil
}

// copyLayout copies oci-layout and blobs/sha256/* of src into dst.
func copyLayout(src, dst string) error {
	if err := os.MkdirAll(filepath.Join(dst, "blobs/sha256"), 0o755); err != nil {
		return err
	}
	blobs, err := os.ReadDir(filepath.Join(src, "blobs/sha256"))
	if err != nil {
		return err
	}
	files := []string{"oci-layout"}
	for _, b := range blobs {
		files = append(files, "blobs/sha256/"+b.Name())
	}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, f), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func writeAtomic(path string, b []byte) error {
	tmp := path + ".seed.tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// listed returns the number of names in a tags/list or _catalog answer.
func listed(body []byte) (int, string, error) {
	var l struct {
		Tags         []string `json:"tags"`
		Repositories []string `json:"repositories"`
	}
	if err := json.Unmarshal(body, &l); err != nil {
		return 0, "", fmt.Errorf("decoding a list: %w", err)
	}
	names := append(l.Tags, l.Repositories...)
	if len(names) == 0 {
		return 0, "", nil
	}
	return len(names), names[len(names)-1], nil
}

func open(args []string) error {
	fs := flag.NewFlagSet("open", flag.ContinueOnError)
	timeout := fs.Duration("timeout", 2*time.Minute, "give up after this long")
	logFile := fs.String("log", os.DevNull, "the server's output")
	if err := fs.Parse(args); err != nil {
		return err
	}
	argv := fs.Args()
	if len(argv) > 1 && argv[1] == "--" {
		argv = slices.Delete(argv, 1, 2)
	}
	if len(argv) < 2 {
		return errors.New("usage: tags100k open [-timeout T] [-log FILE] URL -- CMD ARGS")
	}
	u, err := loadclient.Loopback(argv[0])
	if err != nil {
		return err
	}
	lf, err := os.OpenFile(*logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer lf.Close()
	cmd := exec.Command(argv[1], argv[2:]...)
	cmd.Stdout, cmd.Stderr = lf, lf
	c := newClient()
	c.Timeout = *timeout
	deadline := time.Now().Add(*timeout)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() (time.Duration, error) {
		t0 := time.Now()
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			return time.Since(t0), err
		case <-time.After(2 * time.Minute):
			_ = cmd.Process.Kill()
			<-exited
			return time.Since(t0), errors.New("did not exit within 2 minutes of SIGTERM; killed")
		}
	}
	var opened time.Duration
	for { // bounded by the deadline
		if time.Now().After(deadline) {
			stop()
			return fmt.Errorf("%s: no list within %s", u, *timeout)
		}
		select {
		case err := <-exited:
			return fmt.Errorf("%s exited before answering: %v", argv[1], err)
		default:
		}
		resp, err := c.Get(u.String())
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				if n, _, err := listed(body); err == nil && n > 0 {
					opened = time.Since(start)
					break
				}
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	took, err := stop()
	if err != nil {
		return fmt.Errorf("stopping %s: %w", argv[1], err)
	}
	fmt.Printf("open_s=%.4f stop_s=%.4f\n", opened.Seconds(), took.Seconds())
	return nil
}

func lat(args []string) error {
	fs := flag.NewFlagSet("lat", flag.ContinueOnError)
	n := fs.Int("n", 100, "requests")
	want := fs.Int("want", 100, "names each answer must hold")
	out := fs.String("out", "", "append each latency (ms) to this file")
	timeout := fs.Duration("timeout", 5*time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 || *n < 1 {
		return errors.New("usage: tags100k lat [-n N] [-want W] [-out FILE] URL")
	}
	u, err := loadclient.Loopback(fs.Arg(0))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	c := newClient()
	var ls []time.Duration
	for i := range *n {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		t0 := time.Now()
		body, _, err := do(c, req, http.StatusOK)
		d := time.Since(t0)
		if err != nil {
			return fmt.Errorf("request %d of %d: %w", i+1, *n, err)
		}
		if got, _, err := listed(body); err != nil || got != *want {
			return fmt.Errorf("request %d of %d: %d names (want %d) %v", i+1, *n, got, *want, err)
		}
		ls = append(ls, d)
	}
	if *out != "" {
		var b strings.Builder
		for _, d := range ls {
			fmt.Fprintf(&b, "%.4f\n", ms(d))
		}
		f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		if _, err := f.WriteString(b.String()); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	s := quantiles(ls, 0.5, 0.99, 1)
	fmt.Printf("n=%d p50_ms=%.3f p99_ms=%.3f max_ms=%.3f\n", len(ls), s[0], s[1], s[2])
	return nil
}

func pageAll(args []string) error {
	fs := flag.NewFlagSet("pageall", flag.ContinueOnError)
	n := fs.Int("n", 1000, "tags per page")
	want := fs.Int("want", manyTags, "tags expected in all")
	timeout := fs.Duration("timeout", 5*time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 2 || *n < 1 {
		return errors.New("usage: tags100k pageall [-n N] [-want W] URL REPO")
	}
	base, err := loadclient.Loopback(fs.Arg(0))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	c := newClient()
	total, last, pages := 0, "", 0
	start := time.Now()
	for range *want / *n + 2 { // bounded: the pages there should be, and one empty
		u := base.JoinPath("v2", fs.Arg(1), "tags/list")
		q := url.Values{"n": {fmt.Sprint(*n)}}
		if last != "" {
			q.Set("last", last)
		}
		u.RawQuery = q.Encode()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		body, _, err := do(c, req, http.StatusOK)
		if err != nil {
			return fmt.Errorf("page %d: %w", pages+1, err)
		}
		pages++
		got, l, err := listed(body)
		if err != nil {
			return err
		}
		total += got
		if got < *n {
			break
		}
		last = l
	}
	secs := time.Since(start).Seconds()
	if total != *want {
		return fmt.Errorf("paged %d tags in %d pages, want %d", total, pages, *want)
	}
	fmt.Printf("pages=%d tags=%d total_s=%.3f\n", pages, total, secs)
	return nil
}

// Phases of a stall run, for its HEAD latencies.
const (
	phaseAlone = iota // the first second: HEADs only
	phaseBurst        // PUTs running
	phaseQuiet        // between bursts, when gantry rewrites index.json
	phases
)

func stall(args []string) error {
	fs := flag.NewFlagSet("stall", flag.ContinueOnError)
	puts := fs.Int("puts", 2000, "manifest PUTs in all")
	burst := fs.Int("burst", 500, "PUTs per burst")
	pause := fs.Duration("pause", 3*time.Second, "quiet after each burst (gantry rewrites index.json 2 s after the last tag)")
	timeout := fs.Duration("timeout", 2*time.Minute, "stop PUTting after this long (then one more pause)")
	watch := fs.String("watch", "", "count replacements of this file (index.json)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 2 || *puts < 1 || *burst < 1 {
		return errors.New("usage: tags100k stall [-puts N] [-burst B] [-pause P] [-timeout T] [-watch FILE] URL REPO")
	}
	base, err := loadclient.Loopback(fs.Arg(0))
	if err != nil {
		return err
	}
	repo := fs.Arg(1)
	ctx, cancel := context.WithTimeout(context.Background(), *timeout+*pause+2*time.Minute)
	defer cancel()

	// The seeded image's config and layer, shared by every new manifest.
	wc := newClient()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base.JoinPath("v2", repo, "manifests", "v000000").String(), nil)
	req.Header.Set("Accept", manifestType)
	body, _, err := do(wc, req, http.StatusOK)
	if err != nil {
		return err
	}
	var seedM manifest
	if err := json.Unmarshal(body, &seedM); err != nil {
		return err
	}

	var phase atomic.Int32
	var heads [phases][]time.Duration
	type slow struct {
		at, d time.Duration
		phase int32
	}
	var slowest []slow
	start := time.Now()
	stopRead := make(chan struct{})
	readErr := make(chan error, 1)
	go func() { // reader: back-to-back HEADs until told to stop
		c := newClient()
		for i := 0; ; i++ {
			select {
			case <-stopRead:
				readErr <- nil
				return
			default:
			}
			tag := fmt.Sprintf("v%06d", (i*7919)%manyTags)
			req, _ := http.NewRequestWithContext(ctx, http.MethodHead, base.JoinPath("v2", repo, "manifests", tag).String(), nil)
			req.Header.Set("Accept", manifestType)
			p := phase.Load()
			t0 := time.Now()
			if _, _, err := do(c, req, http.StatusOK); err != nil {
				readErr <- fmt.Errorf("HEAD %d: %w", i+1, err)
				return
			}
			d := time.Since(t0)
			heads[p] = append(heads[p], d)
			slowest = append(slowest, slow{t0.Sub(start), d, p})
			if len(slowest) > 64 {
				slices.SortFunc(slowest, func(a, b slow) int { return int(b.d - a.d) })
				slowest = slowest[:8]
			}
		}
	}()
	var rewrites atomic.Int64
	stopWatch := make(chan struct{})
	var wg sync.WaitGroup
	if *watch != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var last uint64
			if fi, err := os.Stat(*watch); err == nil {
				last = fi.Sys().(*syscall.Stat_t).Ino
			}
			t := time.NewTicker(10 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stopWatch:
					return
				case <-t.C:
				}
				if fi, err := os.Stat(*watch); err == nil {
					if ino := fi.Sys().(*syscall.Stat_t).Ino; ino != last {
						last = ino
						rewrites.Add(1)
					}
				}
			}
		}()
	}

	time.Sleep(time.Second)
	var putLat []time.Duration
	putDeadline := start.Add(*timeout)
	var werr error
writer:
	for i := 0; i < *puts; i++ {
		if time.Now().After(putDeadline) {
			break
		}
		if i > 0 && i%*burst == 0 {
			phase.Store(phaseQuiet)
			time.Sleep(*pause)
		}
		phase.Store(phaseBurst)
		m := seedM
		m.Annotations = map[string]string{"dev.gantry.bench.i": fmt.Sprint(i)}
		b, _ := json.Marshal(m)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPut, base.JoinPath("v2", repo, "manifests", fmt.Sprintf("w%05d", i)).String(), bytes.NewReader(b))
		req.Header.Set("Content-Type", manifestType)
		t0 := time.Now()
		if _, _, err := do(wc, req, http.StatusCreated); err != nil {
			werr = fmt.Errorf("PUT %d: %w", i+1, err)
			break writer
		}
		putLat = append(putLat, time.Since(t0))
	}
	phase.Store(phaseQuiet)
	time.Sleep(*pause)
	close(stopRead)
	rerr := <-readErr
	close(stopWatch)
	wg.Wait()
	if err := errors.Join(werr, rerr); err != nil {
		return err
	}
	total := time.Since(start)

	var all []time.Duration
	for _, h := range heads {
		all = append(all, h...)
	}
	h := quantiles(all, 0.5, 0.99, 0.999, 1)
	p := quantiles(putLat, 0.5, 0.99, 1)
	fmt.Printf("head_n=%d head_p50_ms=%.3f head_p99_ms=%.3f head_p999_ms=%.3f head_max_ms=%.3f put_n=%d put_p50_ms=%.3f put_p99_ms=%.3f put_max_ms=%.3f rewrites=%d total_s=%.1f\n",
		len(all), h[0], h[1], h[2], h[3], len(putLat), p[0], p[1], p[2], rewrites.Load(), total.Seconds())
	names := [phases]string{"alone", "PUT bursts", "quiet"}
	for i, hs := range heads {
		if len(hs) > 0 {
			q := quantiles(hs, 0.5, 0.99, 1)
			fmt.Fprintf(os.Stderr, "    HEAD %-10s n=%6d p50 %.3f ms, p99 %.3f ms, max %.3f ms\n", names[i], len(hs), q[0], q[1], q[2])
		}
	}
	slices.SortFunc(slowest, func(a, b slow) int { return int(b.d - a.d) })
	for _, s := range slowest[:min(5, len(slowest))] {
		fmt.Fprintf(os.Stderr, "    slow HEAD at %6.2f s (%s): %.1f ms\n", s.at.Seconds(), names[s.phase], ms(s.d))
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// quantiles returns the given quantiles of d in milliseconds (nearest
// rank; 1 is the maximum).
func quantiles(d []time.Duration, qs ...float64) []float64 {
	r := make([]float64, len(qs))
	if len(d) == 0 {
		return r
	}
	s := slices.Clone(d)
	slices.Sort(s)
	for i, q := range qs {
		r[i] = ms(s[min(len(s)-1, int(q*float64(len(s))))])
	}
	return r
}
