// Command client is the load generator of bench/registry/run.sh: plain
// net/http against any OCI Distribution registry on loopback, so gantry and
// CNCF Distribution see the same requests.
//
//	client gen SEED MIB FILE          write MIB MiB of pseudo-random bytes, print the digest
//	client push [-chunk MIB] URL REPO FILE DIGEST
//	                                  chunked push: POST, PATCH chunks of MIB (default 16)
//	                                  with Content-Range, PUT ?digest=; prints seconds
//	client tags [-n N] [-repos R] [-window W] URL
//	                                  N manifest PUTs (distinct manifests sharing one config
//	                                  and one layer) tagged round-robin over R repositories;
//	                                  prints the median and p99 latency of the first and of
//	                                  the last W PUTs
//
// Every loop is bounded in count and by -timeout; URL must be a loopback
// address (http://127.0.0.1:PORT).
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
	"slices"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/bench/internal/loadclient"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: client gen|push|tags [flags]")
	}
	switch args[0] {
	case "gen":
		return gen(args[1:])
	case "push":
		return push(args[1:])
	case "tags":
		return tags(args[1:])
	}
	return fmt.Errorf("unknown command %q (gen, push or tags)", args[0])
}

// gen writes a file of pseudo-random bytes (ChaCha8 seeded by SEED, so
// each seed gives a distinct blob) and prints its sha256 digest.
func gen(args []string) error {
	if len(args) != 3 {
		return errors.New("usage: client gen SEED MIB FILE")
	}
	var seed, mib uint64
	if _, err := fmt.Sscan(args[0], &seed); err != nil {
		return fmt.Errorf("seed %q: %v", args[0], err)
	}
	if _, err := fmt.Sscan(args[1], &mib); err != nil || mib == 0 || mib > 1<<16 {
		return fmt.Errorf("size %q: want 1 to 65536 MiB", args[1])
	}
	var key [32]byte
	key[0], key[1] = byte(seed), byte(seed>>8)
	rng := rand.NewChaCha8(key)
	f, err := os.Create(args[2])
	if err != nil {
		return err
	}
	h := sha256.New()
	buf := make([]byte, 1<<20)
	for range mib {
		_, _ = rng.Read(buf)
		h.Write(buf)
		if _, err := f.Write(buf); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Println("sha256:" + hex.EncodeToString(h.Sum(nil)))
	return nil
}

func newClient() *http.Client { return loadclient.New(16, 5*time.Minute) }

// do sends req and checks the status; it returns the response headers,
// with Location resolved against the request's URL.
func do(c *http.Client, req *http.Request, want int) (http.Header, error) {
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != want {
		return nil, fmt.Errorf("%s %s: %s (want %d): %s", req.Method, req.URL.Path, resp.Status, want, bytes.TrimSpace(body))
	}
	if loc := resp.Header.Get("Location"); loc != "" {
		l, err := url.Parse(loc)
		if err != nil {
			return nil, fmt.Errorf("%s %s: Location %q: %v", req.Method, req.URL.Path, loc, err)
		}
		resp.Header.Set("Location", req.URL.ResolveReference(l).String())
	}
	return resp.Header, nil
}

// withDigest adds digest=D to an upload location, which may carry a query
// of its own (Distribution's _state).
func withDigest(loc, d string) string {
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	return loc + sep + "digest=" + url.QueryEscape(d)
}

func push(args []string) error {
	fs := flag.NewFlagSet("push", flag.ContinueOnError)
	chunk := fs.Int64("chunk", 16, "chunk size in MiB")
	timeout := fs.Duration("timeout", 5*time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 4 || *chunk <= 0 {
		return errors.New("usage: client push [-chunk MIB] URL REPO FILE DIGEST")
	}
	base, err := loadclient.Loopback(fs.Arg(0))
	if err != nil {
		return err
	}
	repo, file, d := fs.Arg(1), fs.Arg(2), fs.Arg(3)
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	c := newClient()
	size, step := fi.Size(), *chunk<<20

	start := time.Now()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base.JoinPath("v2", repo, "blobs/uploads/").String(), nil)
	h, err := do(c, req, http.StatusAccepted)
	if err != nil {
		return err
	}
	loc := h.Get("Location")
	for off := int64(0); off < size; off += step { // at most size/step chunks
		n := min(step, size-off)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPatch, loc, io.NewSectionReader(f, off, n))
		req.ContentLength = n
		req.Header.Set("Content-Type", "application/octet-stream")
		req.Header.Set("Content-Range", fmt.Sprintf("%d-%d", off, off+n-1))
		if h, err = do(c, req, http.StatusAccepted); err != nil {
			return err
		}
		loc = h.Get("Location")
	}
	req, _ = http.NewRequestWithContext(ctx, http.MethodPut, withDigest(loc, d), nil)
	req.Header.Set("Content-Type", "application/octet-stream")
	if _, err := do(c, req, http.StatusCreated); err != nil {
		return err
	}
	fmt.Printf("%.3f\n", time.Since(start).Seconds())
	return nil
}

// uploadBlob pushes b to repo with POST then PUT ?digest=.
func uploadBlob(ctx context.Context, c *http.Client, base *url.URL, repo string, b []byte) (string, error) {
	sum := sha256.Sum256(b)
	d := "sha256:" + hex.EncodeToString(sum[:])
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base.JoinPath("v2", repo, "blobs/uploads/").String(), nil)
	h, err := do(c, req, http.StatusAccepted)
	if err != nil {
		return "", err
	}
	req, _ = http.NewRequestWithContext(ctx, http.MethodPut, withDigest(h.Get("Location"), d), bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/octet-stream")
	if _, err := do(c, req, http.StatusCreated); err != nil {
		return "", err
	}
	return d, nil
}

type descriptor struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Size      int    `json:"size"`
}

type manifest struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	Config        descriptor        `json:"config"`
	Layers        []descriptor      `json:"layers"`
	Annotations   map[string]string `json:"annotations"`
}

const manifestType = "application/vnd.oci.image.manifest.v1+json"

func tags(args []string) error {
	fs := flag.NewFlagSet("tags", flag.ContinueOnError)
	n := fs.Int("n", 20000, "manifest PUTs")
	repos := fs.Int("repos", 200, "repositories")
	window := fs.Int("window", 1000, "PUTs in the first and last windows")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 || *n < 1 || *repos < 1 || *window < 1 || *window > *n {
		return errors.New("usage: client tags [-n N] [-repos R] [-window W] URL")
	}
	base, err := loadclient.Loopback(fs.Arg(0))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	c := newClient()

	config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"config":{}}`)
	layer := make([]byte, 1024)
	rand.NewChaCha8([32]byte{'t', 'a', 'g'}).Read(layer)
	var cfgDesc, layerDesc descriptor
	for r := range *repos {
		repo := fmt.Sprintf("tags/r%d", r)
		cd, err := uploadBlob(ctx, c, base, repo, config)
		if err != nil {
			return err
		}
		ld, err := uploadBlob(ctx, c, base, repo, layer)
		if err != nil {
			return err
		}
		cfgDesc = descriptor{"application/vnd.oci.image.config.v1+json", cd, len(config)}
		layerDesc = descriptor{"application/vnd.oci.image.layer.v1.tar+gzip", ld, len(layer)}
	}

	lat := make([]time.Duration, 0, *n)
	start := time.Now()
	for i := range *n {
		m := manifest{
			SchemaVersion: 2, MediaType: manifestType, Config: cfgDesc, Layers: []descriptor{layerDesc},
			Annotations: map[string]string{"dev.gantry.bench.i": fmt.Sprint(i)},
		}
		body, _ := json.Marshal(m)
		u := base.JoinPath("v2", fmt.Sprintf("tags/r%d", i%*repos), "manifests", fmt.Sprintf("t%d", i))
		req, _ := http.NewRequestWithContext(ctx, http.MethodPut, u.String(), bytes.NewReader(body))
		req.Header.Set("Content-Type", manifestType)
		t0 := time.Now()
		if _, err := do(c, req, http.StatusCreated); err != nil {
			return fmt.Errorf("PUT %d of %d: %w", i+1, *n, err)
		}
		lat = append(lat, time.Since(t0))
	}
	total := time.Since(start)
	first, last := stats(lat[:*window]), stats(lat[len(lat)-*window:])
	// Growth curve to stderr: the median of each tenth of the run.
	for k := range 10 {
		part := lat[k*len(lat)/10 : (k+1)*len(lat)/10]
		if len(part) > 0 {
			p := stats(part)
			fmt.Fprintf(os.Stderr, "  tags %6d-%6d: p50 %.3f ms\n", k*len(lat)/10+1, (k+1)*len(lat)/10, p[0])
		}
	}
	fmt.Printf("first_p50_ms=%.3f first_p99_ms=%.3f last_p50_ms=%.3f last_p99_ms=%.3f total_s=%.2f\n",
		first[0], first[1], last[0], last[1], total.Seconds())
	return nil
}

// stats returns the median and the 99th percentile of d in milliseconds.
func stats(d []time.Duration) (r [2]float64) {
	s := slices.Clone(d)
	slices.Sort(s)
	ms := func(x time.Duration) float64 { return float64(x) / float64(time.Millisecond) }
	r[0] = ms(s[len(s)/2])
	r[1] = ms(s[min(len(s)-1, len(s)*99/100)])
	return r
}
