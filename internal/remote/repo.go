package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/oci"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry"
	orasremote "oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
)

// Repo is one repository of a Registry: a cas.Target with the optional
// abilities a registry has (delete, tag listing, ranged blob reads,
// cross-repository mount). Fetch returns the registry's stream unverified,
// as the cas contract allows: callers check it with cas.VerifyReader.
type Repo struct {
	reg  *Registry
	name string
}

var (
	_ cas.Target         = (*Repo)(nil)
	_ cas.Deleter        = (*Repo)(nil)
	_ cas.TagLister      = (*Repo)(nil)
	_ cas.RangeFetcher   = (*Repo)(nil)
	_ cas.Mounter        = (*Repo)(nil)
	_ cas.ReferrerLister = (*Repo)(nil)
)

const (
	manifests = "manifests"
	blobs     = "blobs"
)

// acceptManifests is the Accept header of manifest requests.
var acceptManifests = strings.Join(oci.ManifestMediaTypes, ", ")

// endpoints returns where content of desc's media type may live, in the order
// to try: a manifest type names the manifest endpoint, any other the blob
// endpoint; without a media type, blobs first, then manifests.
func endpoints(desc ocispec.Descriptor) []string {
	switch {
	case oci.IsManifest(desc.MediaType):
		return []string{manifests}
	case desc.MediaType == "":
		return []string{blobs, manifests}
	}
	return []string{blobs}
}

func (r *Repo) ref(reference string) string {
	sep := ":"
	if strings.Contains(reference, ":") {
		sep = "@"
	}
	return r.reg.host + "/" + r.name + sep + reference
}

// request builds a request for /v2/NAME/PATH whose context carries the auth
// scopes of actions on this repository.
func (r *Repo) request(ctx context.Context, method, path string, body io.Reader, actions ...string) (*http.Request, error) {
	base, err := r.reg.baseURL(ctx)
	if err != nil {
		return nil, err
	}
	ctx = auth.AppendRepositoryScope(ctx, registry.Reference{Registry: r.reg.host, Repository: r.name}, actions...)
	req, err := http.NewRequestWithContext(ctx, method, base+"/v2/"+r.name+"/"+path, body)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(path, manifests+"/") && (method == http.MethodGet || method == http.MethodHead) {
		req.Header.Set("Accept", acceptManifests)
	}
	return req, nil
}

// send sends req. When want names statuses, any other answer becomes the
// registry's error (its body read and closed) and no response is returned.
func (r *Repo) send(req *http.Request, want ...int) (*http.Response, error) {
	resp, err := r.reg.client.Do(req)
	if err != nil || len(want) == 0 || slices.Contains(want, resp.StatusCode) {
		return resp, err
	}
	return nil, responseError(resp)
}

// checkDigest fails when the registry names other content than asked for.
func checkDigest(resp *http.Response, want digest.Digest) error {
	got := resp.Header.Get("Docker-Content-Digest")
	if got == "" || got == want.String() {
		return nil
	}
	return fmt.Errorf("%s %s: the registry answered with Docker-Content-Digest %s, want %s: %w",
		resp.Request.Method, resp.Request.URL.Redacted(), got, want, cas.ErrDigestMismatch)
}

// head asks endpoint (manifests or blobs) about reference and describes what
// it found. The media type is the registry's Content-Type for manifests and
// left empty for blobs, whose type registries do not keep.
func (r *Repo) head(ctx context.Context, endpoint, reference string) (ocispec.Descriptor, error) {
	req, err := r.request(ctx, http.MethodHead, endpoint+"/"+reference, nil, auth.ActionPull)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	resp, err := r.send(req, http.StatusOK)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	resp.Body.Close()
	var desc ocispec.Descriptor
	if endpoint == manifests {
		desc.MediaType, _, _ = mime.ParseMediaType(resp.Header.Get("Content-Type"))
	}
	if d, err := digest.Parse(reference); err == nil {
		if err := checkDigest(resp, d); err != nil {
			return ocispec.Descriptor{}, err
		}
		desc.Digest = d
	} else if h := resp.Header.Get("Docker-Content-Digest"); h != "" {
		if desc.Digest, err = digest.Parse(h); err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("HEAD %s: bad Docker-Content-Digest %q: %v: %w", req.URL.Redacted(), h, err, cas.ErrInvalid)
		}
	}
	desc.Size = resp.ContentLength
	if endpoint == manifests && (desc.Digest == "" || desc.Size < 0) {
		// The registry did not say (allowed for HEAD): read the manifest.
		return r.getManifestDesc(ctx, reference)
	}
	if desc.Size < 0 {
		return ocispec.Descriptor{}, fmt.Errorf("HEAD %s: no Content-Length", req.URL.Redacted())
	}
	return desc, nil
}

// getManifestDesc describes a manifest by reading it.
func (r *Repo) getManifestDesc(ctx context.Context, reference string) (ocispec.Descriptor, error) {
	req, err := r.request(ctx, http.MethodGet, manifests+"/"+reference, nil, auth.ActionPull)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	resp, err := r.send(req, http.StatusOK)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, oci.MaxManifestSize+1))
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if len(b) > oci.MaxManifestSize {
		return ocispec.Descriptor{}, fmt.Errorf("GET %s: manifest over the %d-byte limit: %w", req.URL.Redacted(), oci.MaxManifestSize, cas.ErrInvalid)
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	desc := ocispec.Descriptor{MediaType: mt, Digest: digest.FromBytes(b), Size: int64(len(b))}
	if d, err := digest.Parse(reference); err == nil {
		desc.Digest = d.Algorithm().FromBytes(b)
		if desc.Digest != d {
			return ocispec.Descriptor{}, fmt.Errorf("GET %s: content hashes to %s: %w", req.URL.Redacted(), desc.Digest, cas.ErrDigestMismatch)
		}
	}
	return desc, checkDigest(resp, desc.Digest)
}

// Exists implements cas.Exister with a HEAD request.
func (r *Repo) Exists(ctx context.Context, desc ocispec.Descriptor) (bool, error) {
	if err := cas.ValidateDescriptor(desc); err != nil {
		return false, err
	}
	ok, err := r.exists(ctx, desc)
	return ok, r.reg.wrap(r.ref(desc.Digest.String()), err)
}

func (r *Repo) exists(ctx context.Context, desc ocispec.Descriptor) (bool, error) {
	for _, ep := range endpoints(desc) {
		_, err := r.head(ctx, ep, desc.Digest.String())
		if err == nil {
			return true, nil
		}
		if !errors.Is(classify(err), cas.ErrNotFound) {
			return false, err
		}
	}
	return false, nil
}

// Fetch implements cas.Fetcher. A response whose Content-Length or
// Docker-Content-Digest disagrees with desc is an error (ErrSizeMismatch,
// ErrDigestMismatch) before any byte is read.
func (r *Repo) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	if err := cas.ValidateDescriptor(desc); err != nil {
		return nil, err
	}
	rc, err := r.fetch(ctx, desc)
	return rc, r.reg.wrap(r.ref(desc.Digest.String()), err)
}

func (r *Repo) fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	var err error
	for _, ep := range endpoints(desc) {
		var resp *http.Response
		resp, err = r.get(ctx, ep, desc, "")
		if err == nil {
			if resp.ContentLength >= 0 && resp.ContentLength != desc.Size {
				resp.Body.Close()
				return nil, fmt.Errorf("GET %s: Content-Length %d, want %d: %w", resp.Request.URL.Redacted(), resp.ContentLength, desc.Size, cas.ErrSizeMismatch)
			}
			return resp.Body, nil
		}
		if !errors.Is(classify(err), cas.ErrNotFound) {
			break
		}
	}
	return nil, err
}

// get sends a GET for desc at endpoint, with a Range header unless rng is
// empty, and returns a 200 or 206 response whose digest header agrees.
func (r *Repo) get(ctx context.Context, endpoint string, desc ocispec.Descriptor, rng string) (*http.Response, error) {
	req, err := r.request(ctx, http.MethodGet, endpoint+"/"+desc.Digest.String(), nil, auth.ActionPull)
	if err != nil {
		return nil, err
	}
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	resp, err := r.send(req, http.StatusOK, http.StatusPartialContent)
	if err != nil {
		return nil, err
	}
	if err := checkDigest(resp, desc.Digest); err != nil {
		resp.Body.Close()
		return nil, err
	}
	resp.Body = &transientBody{ReadCloser: resp.Body, what: "GET " + req.URL.Redacted()}
	return resp, nil
}

// FetchRange implements cas.RangeFetcher with a Range request on the blob
// endpoint. A registry that ignores Range (answers 200) still gives the right
// bytes: the client skips up to offset. Manifests are read whole and cut.
func (r *Repo) FetchRange(ctx context.Context, desc ocispec.Descriptor, offset, length int64) (io.ReadCloser, error) {
	if err := cas.ValidateDescriptor(desc); err != nil {
		return nil, err
	}
	what := r.ref(desc.Digest.String())
	if offset < 0 || offset > desc.Size {
		return nil, fmt.Errorf("%s: offset %d outside 0..%d: %w", what, offset, desc.Size, cas.ErrInvalid)
	}
	if length < 0 || offset+length > desc.Size {
		length = desc.Size - offset
	}
	if length == 0 {
		// Nothing to read, and a Range past the end would be refused (416):
		// only check that the content is there.
		ok, err := r.exists(ctx, desc)
		if err != nil {
			return nil, r.reg.wrap(what, err)
		}
		if !ok {
			return nil, fmt.Errorf("%s: %w", what, cas.ErrNotFound)
		}
		return io.NopCloser(bytes.NewReader(nil)), nil
	}
	if endpoints(desc)[0] == manifests {
		rc, err := r.fetch(ctx, desc)
		if err != nil {
			return nil, r.reg.wrap(what, err)
		}
		return cut(rc, offset, length)
	}
	resp, err := r.get(ctx, blobs, desc, fmt.Sprintf("bytes=%d-%d", offset, offset+length-1))
	if err != nil {
		return nil, r.reg.wrap(what, err)
	}
	if resp.StatusCode == http.StatusOK {
		return cut(resp.Body, offset, length)
	}
	if cr := resp.Header.Get("Content-Range"); !strings.HasPrefix(cr, fmt.Sprintf("bytes %d-", offset)) {
		resp.Body.Close()
		return nil, fmt.Errorf("%s: asked for bytes %d-%d, the registry sent Content-Range %q", what, offset, offset+length-1, cr)
	}
	return readCloser{io.LimitReader(resp.Body, length), resp.Body}, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

// cut skips offset bytes of rc and returns the next length bytes.
func cut(rc io.ReadCloser, offset, length int64) (io.ReadCloser, error) {
	if _, err := io.CopyN(io.Discard, rc, offset); err != nil {
		rc.Close()
		return nil, fmt.Errorf("skipping %d bytes: %w", offset, err)
	}
	return readCloser{io.LimitReader(rc, length), rc}, nil
}

// Push implements cas.Pusher. A manifest is read whole, checked with
// oci.ParseManifest (size, media type, well-formed descriptors) and PUT by
// digest. A blob is uploaded monolithically (POST, then PUT with the digest)
// through a reader that holds back the last byte until size and digest are
// verified: wrong, short or over-long content makes gantry abort the request
// before the registry has all the bytes, so nothing becomes visible even on a
// registry that would not check. A failed upload is cancelled.
func (r *Repo) Push(ctx context.Context, expected ocispec.Descriptor, content io.Reader) error {
	if err := cas.ValidateDescriptor(expected); err != nil {
		return err
	}
	what := r.ref(expected.Digest.String())
	isManifest := oci.IsManifest(expected.MediaType)
	if isManifest && expected.Size > oci.MaxManifestSize {
		return fmt.Errorf("%s: manifest of %d bytes is over the %d-byte limit: %w", what, expected.Size, oci.MaxManifestSize, cas.ErrInvalid)
	}
	ok, err := r.exists(ctx, expected)
	if err != nil {
		return r.reg.wrap(what, err)
	}
	if ok {
		return fmt.Errorf("%s: %w", what, cas.ErrExists)
	}
	if isManifest {
		err = r.pushManifest(ctx, expected, content)
	} else {
		err = r.pushBlob(ctx, expected, content)
	}
	return r.reg.wrap(what, err)
}

func (r *Repo) pushManifest(ctx context.Context, desc ocispec.Descriptor, content io.Reader) error {
	b := make([]byte, desc.Size)
	v := cas.VerifyReader(content, desc)
	if _, err := io.ReadFull(v, b); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = fmt.Errorf("%s: got %d of %d bytes: %w", desc.Digest, v.Count(), desc.Size, cas.ErrSizeMismatch)
		}
		return err
	}
	if err := v.Verify(); err != nil {
		return err
	}
	m, err := oci.ParseManifest(desc, b)
	if err != nil {
		return err
	}
	return r.putManifest(ctx, desc.Digest.String(), m.MediaType, desc.Digest, b)
}

// putManifest PUTs b under reference (a digest or a tag).
func (r *Repo) putManifest(ctx context.Context, reference, mediaType string, d digest.Digest, b []byte) error {
	req, err := r.request(ctx, http.MethodPut, manifests+"/"+reference, bytes.NewReader(b), auth.ActionPull, auth.ActionPush)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", mediaType)
	resp, err := r.send(req, http.StatusCreated)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return checkDigest(resp, d)
}

func (r *Repo) pushBlob(ctx context.Context, desc ocispec.Descriptor, content io.Reader) error {
	var body io.Reader = http.NoBody
	if desc.Size == 0 {
		if err := cas.VerifyReader(content, desc).Verify(); err != nil {
			return err
		}
	} else {
		body = &holdback{v: cas.VerifyReader(content, desc), left: desc.Size}
	}
	req, err := r.request(ctx, http.MethodPost, blobs+"/uploads/", nil, auth.ActionPull, auth.ActionPush)
	if err != nil {
		return err
	}
	resp, err := r.send(req, http.StatusAccepted)
	if err != nil {
		return err
	}
	resp.Body.Close()
	up, err := r.uploadRequest(resp, http.MethodPut, body)
	if err != nil {
		return err
	}
	done := false
	defer func() {
		if !done {
			r.cancelUpload(resp)
		}
	}()
	q := up.URL.Query()
	q.Set("digest", desc.Digest.String())
	up.URL.RawQuery = q.Encode()
	up.ContentLength = desc.Size
	up.Header.Set("Content-Type", "application/octet-stream")
	presp, err := r.send(up, http.StatusCreated)
	if err != nil {
		return err
	}
	presp.Body.Close()
	done = true
	return checkDigest(presp, desc.Digest)
}

// uploadRequest builds a request to the upload session that resp (a 202 to
// a POST) opened. The session's Location may be relative or on another host
// (a storage front); the credentials of the POST go along only to the same
// host and never from HTTPS to HTTP.
func (r *Repo) uploadRequest(resp *http.Response, method string, body io.Reader) (*http.Request, error) {
	loc, err := resp.Location()
	if err != nil {
		return nil, fmt.Errorf("%s %s: upload session without a usable Location: %v", resp.Request.Method, resp.Request.URL.Redacted(), err)
	}
	if resp.Request.URL.Scheme == "https" && loc.Scheme != "https" {
		return nil, fmt.Errorf("%s %s: upload Location %s downgrades from HTTPS", resp.Request.Method, resp.Request.URL.Redacted(), loc.Redacted())
	}
	req, err := http.NewRequestWithContext(resp.Request.Context(), method, loc.String(), body)
	if err != nil {
		return nil, err
	}
	if sameHost(loc, resp.Request.URL) {
		if a := resp.Request.Header.Get("Authorization"); a != "" {
			req.Header.Set("Authorization", a)
		}
	}
	return req, nil
}

func sameHost(a, b *url.URL) bool {
	port := func(u *url.URL) string {
		if p := u.Port(); p != "" {
			return p
		}
		if u.Scheme == "https" {
			return "443"
		}
		return "80"
	}
	return strings.EqualFold(a.Hostname(), b.Hostname()) && port(a) == port(b)
}

// cancelUpload deletes the upload session resp opened, best effort: the
// registry expires it anyway. It runs even when the caller's context is
// cancelled.
func (r *Repo) cancelUpload(resp *http.Response) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(resp.Request.Context()), 10*time.Second)
	defer cancel()
	req, err := r.uploadRequest(resp, http.MethodDelete, nil)
	if err != nil {
		return
	}
	if dresp, err := r.send(req.WithContext(ctx)); err == nil {
		dresp.Body.Close()
	}
}

// holdback passes content through a cas.Verifier but keeps its last byte
// until the verifier has seen the end of the content and found size and
// digest right. HTTP sends Content-Length bytes and then stops reading, so
// without it an over-long body would upload its first Size bytes intact; with
// it, any mismatch or read error aborts the request one byte short and the
// registry commits nothing.
type holdback struct {
	v    *cas.Verifier
	left int64
	err  error
}

func (h *holdback) Read(p []byte) (int, error) {
	if h.err != nil {
		return 0, h.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if h.left > 1 {
		if int64(len(p)) > h.left-1 {
			p = p[:h.left-1]
		}
		n, err := h.v.Read(p)
		h.left -= int64(n)
		if err != nil {
			h.err = err
		}
		return n, err
	}
	var last [1]byte
	if _, err := io.ReadFull(h.v, last[:]); err != nil {
		h.err = err
		return 0, err
	}
	if err := h.v.Verify(); err != nil {
		h.err = err
		return 0, err
	}
	p[0] = last[0]
	h.left, h.err = 0, io.EOF
	return 1, nil
}

// Resolve implements cas.Resolver. A tag or digest is first looked up on the
// manifest endpoint (HEAD, accepting every manifest type gantry knows); a
// digest that is not a manifest is then looked up as a blob, so Resolve gives
// the size of blobs too (without a media type: registries do not keep one).
func (r *Repo) Resolve(ctx context.Context, reference string) (ocispec.Descriptor, error) {
	if strings.Contains(reference, ":") {
		d := digest.Digest(reference)
		if err := cas.ValidateDigest(d); err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("%s/%s: %w", r.reg.host, r.name, err)
		}
		desc, err := r.head(ctx, manifests, reference)
		if err == nil {
			return desc, nil
		}
		if s := classify(err); s == ErrUnauthorized || s == cas.ErrTransient || ctx.Err() != nil {
			return ocispec.Descriptor{}, r.reg.wrap(r.ref(reference), err)
		}
		// Some registries answer a manifest request for a blob with an error
		// other than 404 (Distribution 2.8 fails to parse it): any failure
		// sends us to the blob endpoint, whose answer is the one returned.
		desc, err = r.head(ctx, blobs, reference)
		return desc, r.reg.wrap(r.ref(reference), err)
	}
	if err := oci.ValidateTag(reference); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("%s/%s: %w", r.reg.host, r.name, err)
	}
	desc, err := r.head(ctx, manifests, reference)
	return desc, r.reg.wrap(r.ref(reference), err)
}

// Tag implements cas.Tagger: it reads the manifest by digest and PUTs the same
// bytes under the tag, as the distribution API has no other way to tag. Only
// manifests can be tagged.
func (r *Repo) Tag(ctx context.Context, desc ocispec.Descriptor, tag string) error {
	if err := oci.ValidateTag(tag); err != nil {
		return fmt.Errorf("%s/%s: %w", r.reg.host, r.name, err)
	}
	if err := cas.ValidateDescriptor(desc); err != nil {
		return err
	}
	what := r.ref(tag)
	if desc.MediaType != "" && !oci.IsManifest(desc.MediaType) {
		return fmt.Errorf("%s: %s has media type %q: a registry tags only manifests: %w", what, desc.Digest, desc.MediaType, cas.ErrInvalid)
	}
	if desc.MediaType == "" {
		d, err := r.head(ctx, manifests, desc.Digest.String())
		if err != nil {
			return r.reg.wrap(what, err)
		}
		desc.MediaType = d.MediaType
	}
	b, err := cas.FetchAll(ctx, fetcherFunc(r.fetch), desc, oci.MaxManifestSize)
	if err != nil {
		return r.reg.wrap(what+" -> "+desc.Digest.String(), err)
	}
	m, err := oci.ParseManifest(desc, b)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return r.reg.wrap(what, r.putManifest(ctx, tag, m.MediaType, desc.Digest, b))
}

type fetcherFunc func(context.Context, ocispec.Descriptor) (io.ReadCloser, error)

func (f fetcherFunc) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	return f(ctx, desc)
}

// Delete implements cas.Deleter: DELETE on the manifest or blob endpoint,
// chosen by media type. Registries refuse deletes unless configured to allow
// them (Distribution: storage.delete.enabled); that refusal wraps
// cas.ErrUnsupported.
func (r *Repo) Delete(ctx context.Context, desc ocispec.Descriptor) error {
	if err := cas.ValidateDescriptor(desc); err != nil {
		return err
	}
	ep := endpoints(desc)[0]
	req, err := r.request(ctx, http.MethodDelete, ep+"/"+desc.Digest.String(), nil, auth.ActionDelete)
	if err == nil {
		var resp *http.Response
		if resp, err = r.send(req, http.StatusAccepted); err == nil {
			resp.Body.Close()
			return nil
		}
	}
	return r.reg.wrap(r.ref(desc.Digest.String()), err)
}

// Tags implements cas.TagLister with the tag list API, following its Link
// pagination. A repository that does not exist has no tags. Each page is
// filtered to tags after last and sorted, since not every registry honours
// last or sorts.
func (r *Repo) Tags(ctx context.Context, last string, fn func([]string) error) error {
	base, err := r.reg.baseURL(ctx)
	if err != nil {
		return err
	}
	repo := &orasremote.Repository{
		Client:    r.reg.client,
		Reference: registry.Reference{Registry: r.reg.host, Repository: r.name},
		PlainHTTP: strings.HasPrefix(base, "http:"),
	}
	err, fnFailed := listAfter(ctx, repo.Tags, last, fn)
	switch {
	case err == nil || fnFailed:
		return err
	case errors.Is(classify(err), cas.ErrNotFound):
		return nil
	}
	return r.reg.wrap(r.reg.host+"/"+r.name+" tags", err)
}

// Mount implements cas.Mounter with a cross-repository mount (POST
// ?mount=DIGEST&from=REPO). A registry that refuses answers 202 and opens an
// upload instead: the upload is cancelled and, unless the content turns out
// to be here already (registries that share blobs), Mount returns an error
// wrapping cas.ErrNotFound when from lacks the content and cas.ErrUnsupported
// otherwise, so the caller copies.
func (r *Repo) Mount(ctx context.Context, desc ocispec.Descriptor, from string) error {
	if err := cas.ValidateDescriptor(desc); err != nil {
		return err
	}
	if err := oci.ValidateRepository(from); err != nil {
		return err
	}
	what := fmt.Sprintf("mount %s from %s", r.ref(desc.Digest.String()), from)
	mctx := auth.AppendRepositoryScope(ctx, registry.Reference{Registry: r.reg.host, Repository: from}, auth.ActionPull)
	q := url.Values{"mount": {desc.Digest.String()}, "from": {from}}
	req, err := r.request(mctx, http.MethodPost, blobs+"/uploads/?"+q.Encode(), nil, auth.ActionPull, auth.ActionPush)
	if err != nil {
		return r.reg.wrap(what, err)
	}
	resp, err := r.send(req)
	if err != nil {
		return r.reg.wrap(what, err)
	}
	switch resp.StatusCode {
	case http.StatusCreated:
		resp.Body.Close()
		return r.reg.wrap(what, checkDigest(resp, desc.Digest))
	case http.StatusAccepted:
		resp.Body.Close()
		r.cancelUpload(resp)
	default:
		return r.reg.wrap(what, responseError(resp))
	}
	if ok, err := r.exists(ctx, desc); err != nil || ok {
		return r.reg.wrap(what, err)
	}
	src := &Repo{reg: r.reg, name: from}
	ok, err := src.exists(ctx, desc)
	if err != nil {
		return r.reg.wrap(what, err)
	}
	if !ok {
		return fmt.Errorf("%s: %s has no %s: %w", what, from, desc.Digest, cas.ErrNotFound)
	}
	return fmt.Errorf("%s: the registry answered 202 (mount refused, upload cancelled): %w", what, cas.ErrUnsupported)
}

// Referrers implements cas.ReferrerLister with the referrers API (GET
// /v2/NAME/referrers/DIGEST), following its Link pagination, or, from a
// registry without the API, with the referrers tag schema
// ("sha256-HEX" tagged index) that distribution-spec v1.1 defines for
// such registries. An unknown subject has no referrers, and neither has a
// registry that refuses the route (405).
func (r *Repo) Referrers(ctx context.Context, subject digest.Digest) ([]ocispec.Descriptor, error) {
	if err := cas.ValidateDigest(subject); err != nil {
		return nil, err
	}
	base, err := r.reg.baseURL(ctx)
	if err != nil {
		return nil, err
	}
	repo := &orasremote.Repository{
		Client:    r.reg.client,
		Reference: registry.Reference{Registry: r.reg.host, Repository: r.name},
		PlainHTTP: strings.HasPrefix(base, "http:"),
	}
	out := []ocispec.Descriptor{}
	// The subject's media type and size do not matter to the listing.
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: subject}
	err = repo.Referrers(ctx, desc, "", func(page []ocispec.Descriptor) error {
		out = append(out, page...)
		if len(out) > maxReferrers {
			return fmt.Errorf("%s@%s has more than %d referrers: %w", r.reg.host+"/"+r.name, subject, maxReferrers, cas.ErrInvalid)
		}
		return nil
	})
	switch {
	case err == nil:
		return out, nil
	case errors.Is(err, cas.ErrInvalid):
		return nil, err
	case errors.Is(classify(err), cas.ErrNotFound), errors.Is(classify(err), cas.ErrUnsupported):
		// Not found: an unknown subject, or neither the API nor its tag
		// schema. Unsupported (405, UNSUPPORTED): a registry that refuses
		// the route rather than answering 404 has no referrers to give.
		return []ocispec.Descriptor{}, nil
	}
	return nil, r.reg.wrap(r.ref(subject.String())+" referrers", err)
}

// maxReferrers bounds the referrers listed for one subject, so that a
// hostile registry cannot make a client allocate without limit.
const maxReferrers = 10000
