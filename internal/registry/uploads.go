package registry

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/oci"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// parseContentRange reads the Content-Range of an upload chunk:
// "<start>-<end>", inclusive, as distribution-spec v1.1.1 writes it ("bytes
// <start>-<end>" and "bytes=<start>-<end>", which some clients send, are
// accepted too).
func parseContentRange(h string) (start, end int64, ok bool) {
	s := strings.TrimSpace(h)
	if rest, found := strings.CutPrefix(s, "bytes"); found {
		s = strings.TrimLeft(rest, " =")
	}
	if i := strings.IndexByte(s, '/'); i >= 0 { // "a-b/total": total is not needed
		s = s[:i]
	}
	a, b, found := strings.Cut(s, "-")
	if !found {
		return 0, 0, false
	}
	start, ok1 := parseUint(a)
	end, ok2 := parseUint(b)
	if !ok1 || !ok2 || end < start || end == math.MaxInt64 { // a chunk of 2^63 bytes is no chunk

		return 0, 0, false
	}
	return start, end, true
}

// uploadHeaders sets the headers every response about a session carries:
// where to send the next request and how many bytes the session holds.
func (rq *request) uploadHeaders(up cas.Upload) {
	h := rq.w.Header()
	h.Set("Location", "/v2/"+rq.name+"/blobs/uploads/"+up.ID())
	// "0-<last byte>", without a unit, as the spec writes it; an empty
	// session says 0-0 as Distribution does.
	h.Set("Range", fmt.Sprintf("0-%d", max(up.Size()-1, 0)))
	h.Set("Blob-Upload-Session-ID", up.ID())
	h.Set("Docker-Upload-UUID", up.ID())
}

// created answers 201 for a blob now present in the repository.
func (rq *request) created(d digest.Digest) {
	h := rq.w.Header()
	h.Set("Location", "/v2/"+rq.name+"/blobs/"+d.String())
	h.Set("Docker-Content-Digest", d.String())
	h.Set("Content-Length", "0")
	rq.w.WriteHeader(http.StatusCreated)
}

// body returns the request body under Options.MaxChunkSize and
// Options.BodyIdleTimeout.
func (rq *request) body() io.Reader {
	var r io.Reader = rq.r.Body
	if n := rq.reg.opts.MaxChunkSize; n > 0 {
		r = http.MaxBytesReader(rq.w, rq.r.Body, n)
	}
	return rq.newBodyReader(r)
}

// clientReadError is a failure to read what the client sent: its
// connection, not the server, failed.
type clientReadError struct{ err error }

func (e clientReadError) Error() string { return "reading the request body: " + e.err.Error() }
func (e clientReadError) Unwrap() error { return e.err }

// startUpload answers POST /v2/<name>/blobs/uploads/: a mount
// (?mount=D[&from=R]), a monolithic upload (?digest=D with the blob as
// body), or the start of a session.
func (rq *request) startUpload() {
	ctx := rq.r.Context()
	q := rq.r.URL.Query()
	if m := q.Get("mount"); m != "" && rq.mount(m, q.Get("from")) {
		return
	}
	ing, hasIngester := rq.repo.(cas.Ingester)
	if dg := q.Get("digest"); dg != "" {
		d, ae := parseDigest(dg)
		if ae != nil {
			rq.fail(ae, kindUpload)
			return
		}
		if !hasIngester {
			// Stores without sessions take a blob whose size is known.
			if rq.r.ContentLength < 0 {
				rq.fail(newError(CodeSizeInvalid, "this store needs a Content-Length for a monolithic upload"), kindUpload)
				return
			}
			err := rq.repo.Push(ctx, ocispec.Descriptor{Digest: d, Size: rq.r.ContentLength}, rq.body())
			if err != nil && !errors.Is(err, cas.ErrExists) {
				rq.fail(err, kindUpload)
				return
			}
			rq.created(d)
			return
		}
		up, err := ing.NewUpload(ctx)
		if err != nil {
			rq.fail(err, kindUpload)
			return
		}
		defer up.Close()
		rq.finish(up, d)
		return
	}
	if !hasIngester {
		rq.fail(newError(CodeUnsupported, "this store takes monolithic uploads only (POST ?digest=D with the blob as body)"), kindUpload)
		return
	}
	done, ok := rq.admitSession()
	if !ok {
		return
	}
	up, err := ing.NewUpload(ctx)
	done()
	if err != nil {
		rq.fail(err, kindUpload)
		return
	}
	defer up.Close()
	rq.uploadHeaders(up)
	rq.w.Header().Set("Content-Length", "0")
	rq.w.WriteHeader(http.StatusAccepted)
}

// mount tries to make blob m present without an upload and answers 201 if
// it did. It answers nothing and returns false when the mount cannot be
// done (bad arguments, content absent, store errors): the spec then falls
// back to a normal upload, which the caller starts.
//
// With from, the blob is taken from that repository, which must hold it
// (cas.Mounter, or a copy through the handler for stores without it).
// Without from (an anonymous mount, distribution-spec v1.1), the source is
// a repository that holds the blob, found through cas.HolderLister: the
// same mount as with from, so the blob becomes this repository's only
// because another repository the caller could name holds it. Either way
// the source must be a repository the caller may pull (Caller.Can), or
// the client uploads the blob like any other.
func (rq *request) mount(m, from string) bool {
	ctx := rq.r.Context()
	d, ae := parseDigest(m)
	if ae != nil {
		return false
	}
	if from == "" {
		if ok, err := rq.repo.Exists(ctx, ocispec.Descriptor{Digest: d}); err == nil && ok {
			rq.created(d)
			return true
		}
		hl, ok := rq.reg.store.(cas.HolderLister)
		if !ok {
			return false
		}
		holders, err := hl.Holders(ctx, d)
		if err != nil {
			return false
		}
		i := slices.IndexFunc(holders, func(h string) bool { return rq.caller.Can(h, actionPull) })
		if i < 0 {
			return false
		}
		from = holders[i]
	}
	if oci.ValidateRepository(from) != nil || !rq.caller.Can(from, actionPull) {
		return false
	}
	src, err := rq.reg.store.Repository(ctx, from)
	if err != nil {
		return false
	}
	desc, err := src.Resolve(ctx, d.String())
	if err != nil {
		return false
	}
	if mt, ok := rq.repo.(cas.Mounter); ok {
		err := mt.Mount(ctx, desc, from)
		if err == nil {
			rq.created(d)
			return true
		}
		if !errors.Is(err, cas.ErrUnsupported) {
			return false
		}
	}
	rc, err := src.Fetch(ctx, desc)
	if err != nil {
		return false
	}
	defer rc.Close()
	if err := rq.repo.Push(ctx, desc, rc); err != nil && !errors.Is(err, cas.ErrExists) {
		rq.reg.log.Error("registry mount by copy", "repository", rq.name, "from", from, "digest", d, "err", err)
		return false
	}
	rq.created(d)
	return true
}

// session answers the requests on /v2/<name>/blobs/uploads/<id>. The
// session's lock is held for the whole request, so chunks of one session
// are appended one request at a time.
func (rq *request) session(route string) {
	ctx := rq.r.Context()
	ing, ok := rq.repo.(cas.Ingester)
	if !ok {
		rq.fail(newError(CodeBlobUploadUnknown, "this store has no upload sessions"), kindUpload)
		return
	}
	unlock := rq.reg.lockSession(rq.ref)
	defer unlock()
	up, err := ing.ResumeUpload(ctx, rq.ref)
	if err != nil {
		rq.fail(err, kindUpload)
		return
	}
	defer up.Close()
	switch route {
	case routeUploadGet:
		rq.uploadHeaders(up)
		rq.w.WriteHeader(http.StatusNoContent)
	case routeUploadDelete:
		if err := up.Cancel(ctx); err != nil {
			rq.fail(err, kindUpload)
			return
		}
		rq.w.WriteHeader(http.StatusNoContent)
	case routeUploadPatch:
		if !rq.appendChunk(up) {
			return
		}
		rq.uploadHeaders(up)
		rq.w.Header().Set("Content-Length", "0")
		rq.w.WriteHeader(http.StatusAccepted)
	case routeUploadPut:
		digests := rq.r.URL.Query()["digest"]
		if len(digests) == 0 {
			rq.fail(newError(CodeDigestInvalid, "the final PUT of an upload needs ?digest="), kindUpload)
			return
		}
		d, ae := parseDigest(digests[0])
		if ae != nil {
			rq.fail(ae, kindUpload)
			return
		}
		rq.finish(up, d)
	}
}

// finish appends the request body to up and commits it as d. A digest
// that does not match cancels the session: after a 4xx the spec considers
// the upload failed, and its bytes would only wait for the purge.
func (rq *request) finish(up cas.Upload, d digest.Digest) {
	ctx := rq.r.Context()
	if !rq.appendChunk(up) {
		return
	}
	if err := up.Commit(ctx, ocispec.Descriptor{Digest: d, Size: up.Size()}); err != nil {
		if errors.Is(err, cas.ErrDigestMismatch) || errors.Is(err, cas.ErrSizeMismatch) {
			_ = up.Cancel(ctx)
			rq.fail(newError(CodeDigestInvalid, "%v", err).with(map[string]string{"digest": d.String()}), kindUpload)
			return
		}
		rq.fail(err, kindUpload)
		return
	}
	rq.created(d)
}

// appendChunk writes the request body to the session. With a
// Content-Range, the chunk must start where the session ends (else 416
// with the session's Range, and nothing is written) and be as long as the
// range says. It answers the request itself and returns false on failure.
func (rq *request) appendChunk(up cas.Upload) bool {
	body := rq.body()
	if cr := rq.r.Header.Get("Content-Range"); cr != "" {
		start, end, ok := parseContentRange(cr)
		if !ok || start != up.Size() {
			rq.uploadHeaders(up)
			// No error code, as for a blob Range: the headers say
			// where to resume.
			rq.w.Header().Set("Content-Length", "0")
			rq.w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return false
		}
		n := end - start + 1
		if rq.r.ContentLength >= 0 && rq.r.ContentLength != n {
			rq.fail(newError(CodeBlobUploadInvalid, "Content-Range %q is %d bytes, Content-Length %d", cr, n, rq.r.ContentLength), kindUpload)
			return false
		}
		written, err := io.Copy(up, io.LimitReader(body, n))
		if err != nil {
			rq.fail(err, kindUpload)
			return false
		}
		if written != n {
			rq.uploadHeaders(up)
			rq.fail(newError(CodeBlobUploadInvalid, "chunk ended after %d of the %d bytes of Content-Range %q", written, n, cr), kindUpload)
			return false
		}
		return true
	}
	if _, err := io.Copy(up, body); err != nil {
		rq.uploadHeaders(up)
		rq.fail(err, kindUpload)
		return false
	}
	return true
}
