package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/cas/castest"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"
)

func TestClassify(t *testing.T) {
	resp := func(status int, codes ...string) error {
		e := &errcode.ErrorResponse{Method: "GET", URL: &url.URL{Path: "/v2/x"}, StatusCode: status}
		for _, c := range codes {
			e.Errors = append(e.Errors, errcode.Error{Code: c, Message: "registry says " + c})
		}
		return e
	}
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"404 without body", resp(404), cas.ErrNotFound},
		{"BLOB_UNKNOWN", resp(404, "BLOB_UNKNOWN"), cas.ErrNotFound},
		{"MANIFEST_UNKNOWN", resp(404, "MANIFEST_UNKNOWN"), cas.ErrNotFound},
		{"NAME_UNKNOWN", resp(404, "NAME_UNKNOWN"), cas.ErrNotFound},
		{"MANIFEST_BLOB_UNKNOWN", resp(400, "MANIFEST_BLOB_UNKNOWN"), cas.ErrNotFound},
		{"DIGEST_INVALID", resp(400, "DIGEST_INVALID"), cas.ErrDigestMismatch},
		{"SIZE_INVALID", resp(400, "SIZE_INVALID"), cas.ErrSizeMismatch},
		{"NAME_INVALID", resp(400, "NAME_INVALID"), cas.ErrInvalid},
		{"TAG_INVALID", resp(400, "TAG_INVALID"), cas.ErrInvalid},
		{"MANIFEST_INVALID", resp(400, "MANIFEST_INVALID"), cas.ErrInvalid},
		{"BLOB_UPLOAD_INVALID", resp(400, "BLOB_UPLOAD_INVALID"), cas.ErrInvalid},
		{"UNSUPPORTED", resp(400, "UNSUPPORTED"), cas.ErrUnsupported},
		{"405", resp(405), cas.ErrUnsupported},
		{"416", resp(416), cas.ErrInvalid},
		{"401", resp(401), ErrUnauthorized},
		{"403 DENIED", resp(403, "DENIED"), ErrUnauthorized},
		{"code beats status", resp(404, "DIGEST_INVALID"), cas.ErrDigestMismatch},
		{"unknown code falls back to status", resp(404, "SOMETHING_NEW"), cas.ErrNotFound},
		{"basic credential missing", fmt.Errorf("GET x: %w", auth.ErrBasicCredentialNotFound), ErrUnauthorized},
		{"500", resp(500), cas.ErrTransient},
		{"500 UNKNOWN", resp(500, "UNKNOWN"), cas.ErrTransient},
		{"502", resp(502), cas.ErrTransient},
		{"503", resp(503), cas.ErrTransient},
		{"504", resp(504), cas.ErrTransient},
		{"429", resp(429), cas.ErrTransient},
		{"TOOMANYREQUESTS", resp(429, "TOOMANYREQUESTS"), cas.ErrTransient},
		{"501 is not transient", resp(501), nil},
		{"connection reset", &url.Error{Op: "Get", URL: "http://x/v2/", Err: syscall.ECONNRESET}, cas.ErrTransient},
		{"connection refused", &url.Error{Op: "Get", URL: "http://x/v2/", Err: syscall.ECONNREFUSED}, cas.ErrTransient},
		{"closed before the response", &url.Error{Op: "Get", URL: "http://x/v2/", Err: io.EOF}, cas.ErrTransient},
		{"body cut short", fmt.Errorf("reading: %w", io.ErrUnexpectedEOF), cas.ErrTransient},
		{"caller cancelled", &url.Error{Op: "Get", URL: "http://x/v2/", Err: context.Canceled}, nil},
		{"caller's deadline", &url.Error{Op: "Get", URL: "http://x/v2/", Err: context.DeadlineExceeded}, nil},
		{"certificate", &url.Error{Op: "Get", URL: "https://x/v2/", Err: errors.New("tls: failed to verify certificate")}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := classify(tc.err); got != tc.want {
				t.Fatalf("classify = %v, want %v", got, tc.want)
			}
			reg := &Registry{host: "reg.example", configPath: "/x/config.json"}
			wrapped := reg.wrap("reg.example/x@sha256:00", tc.err)
			if tc.want != nil && !errors.Is(wrapped, tc.want) {
				t.Errorf("wrap = %v, not errors.Is %v", wrapped, tc.want)
			}
			if !strings.Contains(wrapped.Error(), tc.err.Error()) {
				t.Errorf("wrap lost the registry's message: %v", wrapped)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		header string
		want   time.Duration
		ok     bool
	}{
		{"", 0, false},
		{"7", 7 * time.Second, true},
		{"0", 0, true},
		{"-3", 0, true},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"soon", 0, false},
	} {
		t.Run(tc.header, func(t *testing.T) {
			got, ok := parseRetryAfter(tc.header, now)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("parseRetryAfter(%q) = %v, %v; want %v, %v", tc.header, got, ok, tc.want, tc.ok)
			}
		})
	}
	// Over the wire: a 429 with Retry-After is transient and says how long.
	host := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "2")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(w, `{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}`)
	}))
	reg, err := New(host, Options{DockerConfig: t.TempDir() + "/absent.json", HTTPClient: &http.Client{}})
	if err != nil {
		t.Fatal(err)
	}
	_, desc := castest.Blob(t, 10)
	_, err = repoOf(t, reg, "r").Fetch(t.Context(), desc)
	var ra interface{ RetryAfter() time.Duration }
	if !errors.Is(err, cas.ErrTransient) || !errors.As(err, &ra) || ra.RetryAfter() != 2*time.Second || !strings.Contains(err.Error(), "slow down") {
		t.Fatalf("Fetch from a registry answering 429: %v; want cas.ErrTransient with RetryAfter 2s and the registry's message", err)
	}
}

func repoOf(t *testing.T, reg *Registry, name string) *Repo {
	t.Helper()
	r, err := reg.Repository(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	return r.(*Repo)
}

// TestErrorsAcrossTheWire checks that Distribution's answers come back as
// the cas sentinels.
func TestErrorsAcrossTheWire(t *testing.T) {
	reg := newRegistry(t, startDistribution(t, true), "")
	r := repoOf(t, reg, "errors/test")
	ctx := t.Context()
	b, desc := castest.Blob(t, 2000)
	_, mdesc := castest.Manifest(t, desc)

	t.Run("not found", func(t *testing.T) {
		_, err := r.Fetch(ctx, desc)
		wantIs(t, "Fetch(absent blob)", err, cas.ErrNotFound)
		_, err = r.Fetch(ctx, mdesc)
		wantIs(t, "Fetch(absent manifest)", err, cas.ErrNotFound)
		_, err = r.Resolve(ctx, "nosuchtag")
		wantIs(t, "Resolve(absent tag)", err, cas.ErrNotFound)
		_, err = r.FetchRange(ctx, desc, 10, 10)
		wantIs(t, "FetchRange(absent)", err, cas.ErrNotFound)
		wantIs(t, "Delete(absent)", r.Delete(ctx, desc), cas.ErrNotFound)
		wantIs(t, "Tag(absent)", r.Tag(ctx, mdesc, "v1"), cas.ErrNotFound)
		var tags []string
		if err := r.Tags(ctx, "", func(p []string) error { tags = append(tags, p...); return nil }); err != nil || len(tags) != 0 {
			t.Errorf("Tags of a repository that does not exist = %v, %v; want none, nil", tags, err)
		}
	})

	t.Run("manifest blob unknown", func(t *testing.T) {
		// Distribution checks that a manifest's blobs are present.
		mb, mdesc := castest.Manifest(t, desc)
		err := r.Push(ctx, mdesc, bytes.NewReader(mb))
		wantIs(t, "Push(manifest before its blobs)", err, cas.ErrNotFound)
		if !strings.Contains(err.Error(), "blob unknown") {
			t.Errorf("the registry's message is lost: %v", err)
		}
	})

	t.Run("digest mismatch from the registry", func(t *testing.T) {
		// Upload wrong bytes without the client-side guard, as a buggy or
		// hostile client would, to see the registry's DIGEST_INVALID.
		bad := append([]byte(nil), b...)
		bad[0] ^= 0xff
		err := rawUpload(t, r, desc.Digest, bad)
		wantIs(t, "raw upload of altered bytes", err, cas.ErrDigestMismatch)
		if ok, err := r.Exists(ctx, desc); ok || err != nil {
			t.Fatalf("Exists after a refused upload = %v, %v", ok, err)
		}
	})

	t.Run("digest mismatch caught by the client", func(t *testing.T) {
		bad := append([]byte(nil), b...)
		bad[len(bad)-1] ^= 0xff
		wantIs(t, "Push(altered bytes)", r.Push(ctx, desc, bytes.NewReader(bad)), cas.ErrDigestMismatch)
	})

	t.Run("invalid", func(t *testing.T) {
		_, err := reg.Repository(ctx, "Not/Valid")
		wantIs(t, "Repository(upper case)", err, cas.ErrInvalid)
		_, err = r.Resolve(ctx, "bad tag")
		wantIs(t, "Resolve(bad tag)", err, cas.ErrInvalid)
		_, err = r.Resolve(ctx, "sha256:abc")
		wantIs(t, "Resolve(bad digest)", err, cas.ErrInvalid)
		wantIs(t, "Tag(bad tag)", r.Tag(ctx, mdesc, "-x"), cas.ErrInvalid)
		_, err = New("http://reg.example", Options{})
		wantIs(t, "New(URL)", err, cas.ErrInvalid)
		// A manifest whose document contradicts its descriptor is refused
		// before anything is sent.
		idx := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`)
		d := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(idx), Size: int64(len(idx))}
		wantIs(t, "Push(manifest with the wrong media type)", r.Push(ctx, d, bytes.NewReader(idx)), cas.ErrInvalid)
		big := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("x"), Size: 5 << 20}
		wantIs(t, "Push(5 MiB manifest)", r.Push(ctx, big, bytes.NewReader(nil)), cas.ErrInvalid)
		cfg := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromString("x"), Size: 1}
		wantIs(t, "Tag(a config blob)", r.Tag(ctx, cfg, "v1"), cas.ErrInvalid)
	})
}

// rawUpload uploads body under d with a plain POST and PUT.
func rawUpload(t *testing.T, r *Repo, d digest.Digest, body []byte) error {
	t.Helper()
	req, err := r.request(t.Context(), http.MethodPost, "blobs/uploads/", nil, auth.ActionPull, auth.ActionPush)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := r.send(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	put, err := r.uploadRequest(resp, http.MethodPut, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	put.URL.RawQuery += "&digest=" + url.QueryEscape(d.String())
	presp, err := r.send(put)
	if err != nil {
		t.Fatal(err)
	}
	if presp.StatusCode == http.StatusCreated {
		presp.Body.Close()
		return nil
	}
	return r.reg.wrap(r.ref(d.String()), responseError(presp))
}

func wantIs(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: got %v, want an error wrapping %q", what, err, target)
	}
}

func TestDeleteDisabled(t *testing.T) {
	r := repoOf(t, newRegistry(t, startDistribution(t, false), ""), "nodelete/test")
	b, desc := castest.Blob(t, 100)
	if err := r.Push(t.Context(), desc, bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	wantIs(t, "Delete on a registry that does not allow it", r.Delete(t.Context(), desc), cas.ErrUnsupported)
}

// TestWrongContentDigest puts a proxy that lies in Docker-Content-Digest in
// front of a real registry.
func TestWrongContentDigest(t *testing.T) {
	up := serve(t, newGGCR())
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(&url.URL{Scheme: "http", Host: up}) }}
	proxy.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.Method == http.MethodGet && strings.Contains(resp.Request.URL.Path, "/blobs/sha256:") {
			resp.Header.Set("Docker-Content-Digest", digest.FromString("something else").String())
		}
		return nil
	}
	lying := serve(t, proxy)
	b, desc := castest.Blob(t, 100)
	if err := repoOf(t, newRegistry(t, up, ""), "lie/test").Push(t.Context(), desc, bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	r := repoOf(t, newRegistry(t, lying, ""), "lie/test")
	_, err := r.Fetch(t.Context(), desc)
	wantIs(t, "Fetch with a lying Docker-Content-Digest", err, cas.ErrDigestMismatch)
	_, err = r.FetchRange(t.Context(), desc, 0, 10)
	wantIs(t, "FetchRange with a lying Docker-Content-Digest", err, cas.ErrDigestMismatch)
}

// TestMountRefused puts a proxy that strips the mount parameters in front of
// Distribution, which then answers 202 like a registry that cannot mount.
func TestMountRefused(t *testing.T) {
	up := startDistribution(t, true)
	var mounts, cancels atomic.Int64
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(&url.URL{Scheme: "http", Host: up})
		pr.Out.Host = pr.In.Host // so that upload Locations point back here
		if pr.Out.URL.Query().Has("mount") {
			mounts.Add(1)
			pr.Out.URL.RawQuery = ""
		}
		if pr.Out.Method == http.MethodDelete && strings.Contains(pr.Out.URL.Path, "/uploads/") {
			cancels.Add(1)
		}
	}}
	reg := newRegistry(t, serve(t, proxy), "")
	a, b := repoOf(t, reg, "mount/a"), repoOf(t, reg, "mount/b")
	blob, desc := castest.Blob(t, 100)
	if err := a.Push(t.Context(), desc, bytes.NewReader(blob)); err != nil {
		t.Fatal(err)
	}
	wantIs(t, "refused Mount", b.Mount(t.Context(), desc, "mount/a"), cas.ErrUnsupported)
	_, absent := castest.Blob(t, 10)
	wantIs(t, "refused Mount of absent content", b.Mount(t.Context(), absent, "mount/a"), cas.ErrNotFound)
	if mounts.Load() != 2 || cancels.Load() != 2 {
		t.Errorf("%d mount requests, %d upload cancels; want 2 and 2", mounts.Load(), cancels.Load())
	}
	if ok, err := b.Exists(t.Context(), desc); ok || err != nil {
		t.Errorf("Exists after a refused mount = %v, %v", ok, err)
	}
}
