package registry

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/gantry-dev/gantry/internal/cas"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// byteRange is the outcome of a Range header against a blob of known size.
type byteRange struct {
	// partial is true when the header asks for one satisfiable range:
	// answer 206 with bytes [start, start+length).
	partial       bool
	start, length int64
	// unsatisfiable is true when the header cannot be served: 416.
	unsatisfiable bool
}

// parseRange reads a Range header (RFC 9110, section 14.1.2) for a
// representation of size bytes. Only single byte ranges are served; a
// header in another unit or with several ranges is ignored (the whole blob
// is sent, as RFC 9110 allows). A malformed byte range, or one whose last
// position is before its first ("bytes=500-0", which the OCI conformance
// suite expects a 416 for), is unsatisfiable.
func parseRange(h string, size int64) byteRange {
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return byteRange{}
	}
	spec = strings.TrimSpace(spec)
	first, last, ok := strings.Cut(spec, "-")
	if !ok {
		return byteRange{unsatisfiable: true}
	}
	if first == "" { // suffix: the last N bytes
		n, ok := parseUint(last)
		if !ok || n == 0 || size == 0 {
			return byteRange{unsatisfiable: true}
		}
		n = min(n, size)
		return byteRange{partial: true, start: size - n, length: n}
	}
	start, ok := parseUint(first)
	if !ok || start >= size {
		return byteRange{unsatisfiable: true}
	}
	end := size - 1
	if last != "" {
		e, ok := parseUint(last)
		if !ok || e < start {
			return byteRange{unsatisfiable: true}
		}
		end = min(e, end)
	}
	return byteRange{partial: true, start: start, length: end - start + 1}
}

// parseUint reads a non-negative decimal without sign, as RFC 9110's
// 1*DIGIT. Numbers past int64 saturate: "bytes=0-99999999999999999999"
// means "to the end".
func parseUint(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return math.MaxInt64, true
	}
	return n, true
}

// getBlob answers GET and HEAD of /v2/<name>/blobs/<digest>, with Range.
//
// The body goes to the ResponseWriter by io.Copy from what Fetch returned:
// for the disk store that is the *os.File itself (after a Seek for a
// range), which net/http hands to sendfile(2), so a blob is served without
// being copied through user space. The bytes are not verified here; fsck
// verifies blobs at rest, clients verify what they pull, and a store that
// checks as it reads (a bundle) fails the read before the last byte, which
// aborts the response. A store that hands out URLs for its blobs
// (cas.BlobLocator, the S3 store with presigned URLs) gets the client a 307
// to one instead, for GET; HEAD is answered here.
func (rq *request) getBlob() {
	ctx := rq.r.Context()
	d, ae := parseDigest(rq.ref)
	if ae != nil {
		rq.fail(ae, kindBlob)
		return
	}
	desc, err := rq.repo.Resolve(ctx, d.String())
	if err != nil {
		rq.fail(err, kindBlob)
		return
	}
	h := rq.w.Header()
	h.Set("Docker-Content-Digest", d.String())
	h.Set("Accept-Ranges", "bytes")
	h.Set("Etag", `"`+d.String()+`"`)
	h.Set("Content-Type", "application/octet-stream")
	br := parseRange(rq.r.Header.Get("Range"), desc.Size)
	if rq.r.Method == http.MethodHead {
		h.Set("Content-Length", fmt.Sprint(desc.Size))
		rq.w.WriteHeader(http.StatusOK)
		return
	}
	if bl, ok := rq.repo.(cas.BlobLocator); ok {
		// The store hands out URLs (S3 presigned): the client reads the
		// bytes from there, Range included; 307 keeps the method.
		u, err := bl.BlobURL(ctx, desc)
		switch {
		case err == nil:
			h.Set("Location", u)
			h.Del("Accept-Ranges")
			h.Set("Content-Length", "0")
			rq.w.WriteHeader(http.StatusTemporaryRedirect)
			return
		case !errors.Is(err, cas.ErrUnsupported):
			rq.fail(err, kindBlob)
			return
		}
	}
	if br.unsatisfiable {
		// No error code: none of the spec's fits, and the client's
		// table maps a bare 416 to cas.ErrInvalid.
		h.Set("Content-Range", fmt.Sprintf("bytes */%d", desc.Size))
		h.Del("Docker-Content-Digest")
		h.Set("Content-Length", "0")
		rq.w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
		return
	}
	body, n, err := rq.openBlob(desc, br)
	if err != nil {
		rq.fail(err, kindBlob)
		return
	}
	defer body.Close()
	h.Set("Content-Length", fmt.Sprint(n))
	if br.partial {
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", br.start, br.start+br.length-1, desc.Size))
		rq.w.WriteHeader(http.StatusPartialContent)
	} else {
		rq.w.WriteHeader(http.StatusOK)
	}
	// io.CopyN wraps the file in an io.LimitedReader, which sendfile
	// accepts; any other wrapper would send the bytes through a buffer.
	_, err = io.CopyN(rq.w, body, n)
	switch {
	case err == nil:
	case errors.Is(err, cas.ErrDigestMismatch), errors.Is(err, cas.ErrSizeMismatch):
		// The store found its own bytes wrong as they went out (a
		// bundle checks a blob before its last byte): a server fault.
		// The status is sent, so abort the response: net/http then
		// closes the connection (or resets the HTTP/2 stream) instead
		// of ending the body, and no client takes the bytes sent as a
		// blob.
		rq.reg.log.Error("registry blob failed its check while being sent; response aborted", "repository", rq.name, "digest", d, "err", err)
		panic(http.ErrAbortHandler)
	case ctx.Err() == nil:
		// The status is sent; a short body is all the client can see
		// (Content-Length tells it). Almost always the client went away:
		// not a server fault.
		rq.reg.log.Debug("registry blob body cut short", "repository", rq.name, "digest", d, "err", err)
	}
}

// openBlob returns a reader positioned at the start of the requested bytes
// and how many to send: a seekable reader (the disk store's file) is
// seeked, a store with cas.RangeFetcher is asked for the range, and any
// other reader is read past the start.
func (rq *request) openBlob(desc ocispec.Descriptor, br byteRange) (io.ReadCloser, int64, error) {
	ctx := rq.r.Context()
	rc, err := rq.repo.Fetch(ctx, desc)
	if err != nil || !br.partial || br.start == 0 {
		n := desc.Size
		if br.partial {
			n = br.length
		}
		return rc, n, err
	}
	if s, ok := rc.(io.Seeker); ok {
		if _, err := s.Seek(br.start, io.SeekStart); err != nil {
			rc.Close()
			return nil, 0, err
		}
		return rc, br.length, nil
	}
	if rf, ok := rq.repo.(cas.RangeFetcher); ok {
		rc.Close()
		rc, err := rf.FetchRange(ctx, desc, br.start, br.length)
		return rc, br.length, err
	}
	if _, err := io.CopyN(io.Discard, rc, br.start); err != nil {
		rc.Close()
		return nil, 0, err
	}
	return rc, br.length, nil
}

// deleteBlob answers DELETE /v2/<name>/blobs/<digest>.
func (rq *request) deleteBlob() {
	d, ae := parseDigest(rq.ref)
	if ae != nil {
		rq.fail(ae, kindBlob)
		return
	}
	del, ok := rq.repo.(cas.Deleter)
	if !ok {
		rq.fail(newError(CodeUnsupported, "this store cannot delete content"), kindBlob)
		return
	}
	if err := del.Delete(rq.r.Context(), ocispec.Descriptor{Digest: d}); err != nil {
		rq.fail(err, kindBlob)
		return
	}
	rq.w.WriteHeader(http.StatusAccepted)
}

// errStop ends a listing early once a page is full.
var errStop = errors.New("stop listing")
