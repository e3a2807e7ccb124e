package registry

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/oci"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// parseDigest reads a digest of a URL or query: DIGEST_INVALID for a
// malformed one, UNSUPPORTED (400) for an algorithm other than sha256 and
// sha512.
func parseDigest(s string) (digest.Digest, *apiError) {
	d := digest.Digest(s)
	if err := cas.ValidateDigest(d); err != nil {
		if errors.Is(err, cas.ErrUnsupported) {
			return "", (&apiError{Code: CodeUnsupported, Message: err.Error(), err: err}).withStatus(http.StatusBadRequest)
		}
		return "", (&apiError{Code: CodeDigestInvalid, Message: err.Error(), err: err}).with(map[string]string{"digest": s})
	}
	return d, nil
}

// isDigest tells a digest reference from a tag: tags cannot contain ':'.
func isDigest(ref string) bool { return strings.Contains(ref, ":") }

// checkRef validates a manifest reference.
func checkRef(ref string) *apiError {
	if isDigest(ref) {
		_, ae := parseDigest(ref)
		return ae
	}
	if err := oci.ValidateTag(ref); err != nil {
		return &apiError{Code: CodeTagInvalid, Message: err.Error(), err: err}
	}
	return nil
}

// loadManifest resolves ref to a manifest's descriptor with its media type,
// and reads the manifest when body is true. Only content the store knows as
// a manifest (it entered through the manifests endpoint, or was copied in
// as one) is served from /manifests/: bytes that merely parse as a manifest
// but came through the blob API skipped every manifest check (children
// present, their sizes), so they are MANIFEST_UNKNOWN, like a layer.
func (rq *request) loadManifest(ref string, body bool) (ocispec.Descriptor, []byte, error) {
	ctx := rq.r.Context()
	if ae := checkRef(ref); ae != nil {
		return ocispec.Descriptor{}, nil, ae
	}
	desc, err := rq.repo.Resolve(ctx, ref)
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	if !oci.IsManifest(desc.MediaType) {
		return ocispec.Descriptor{}, nil, newError(CodeManifestUnknown, "%s is not a manifest in this repository (content pushed through the blob API is served from /blobs/ only)", desc.Digest)
	}
	if !body {
		return desc, nil, nil
	}
	if desc.Size > rq.reg.opts.MaxManifestSize {
		return ocispec.Descriptor{}, nil, newError(CodeManifestUnknown, "%s is %d bytes, too large for a manifest", desc.Digest, desc.Size)
	}
	data, err := cas.FetchAll(ctx, rq.repo, desc, rq.reg.opts.MaxManifestSize)
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	return desc, data, nil
}

// getManifest answers GET and HEAD of /v2/<name>/manifests/<ref>. gantry
// stores manifests as pushed and never converts them, so the response is
// the stored manifest with its own media type whatever the Accept header
// says; clients check Content-Type.
func (rq *request) getManifest() {
	get := rq.r.Method == http.MethodGet
	desc, data, err := rq.loadManifest(rq.ref, get)
	if err != nil {
		rq.fail(err, kindManifest)
		return
	}
	h := rq.w.Header()
	h.Set("Content-Type", desc.MediaType)
	h.Set("Content-Length", fmt.Sprint(desc.Size))
	h.Set("Docker-Content-Digest", desc.Digest.String())
	h.Set("Etag", `"`+desc.Digest.String()+`"`)
	rq.w.WriteHeader(http.StatusOK)
	if get {
		_, _ = rq.w.Write(data)
	}
}

// genericTypes are Content-Types some clients send for any JSON; the
// manifest's own mediaType field decides then.
var genericTypes = map[string]bool{"": true, "application/json": true, "application/octet-stream": true}

// putManifest answers PUT /v2/<name>/manifests/<ref>[?tag=T...].
func (rq *request) putManifest() {
	ctx := rq.r.Context()
	limit := rq.reg.opts.MaxManifestSize
	tooLarge := func(size string, read int64) {
		// Read the rest of a body a little over the limit (drainSlack
		// past it at most), so the client, still sending it, gets to read
		// this answer.
		rq.drain(limit + drainSlack - read)
		rq.fail(newError(CodeManifestInvalid, "manifest of %s bytes is over the %d-byte limit", size, limit).withStatus(http.StatusRequestEntityTooLarge), kindManifest)
	}
	if rq.r.ContentLength > limit {
		tooLarge(fmt.Sprint(rq.r.ContentLength), 0)
		return
	}
	if ae := checkRef(rq.ref); ae != nil {
		rq.fail(ae, kindManifest)
		return
	}
	tags := rq.r.URL.Query()["tag"]
	for _, t := range tags {
		if err := oci.ValidateTag(t); err != nil {
			rq.fail(&apiError{Code: CodeTagInvalid, Message: err.Error(), err: err}, kindManifest)
			return
		}
	}
	mt, _, _ := mime.ParseMediaType(rq.r.Header.Get("Content-Type"))
	if !oci.IsManifest(mt) {
		if !genericTypes[mt] {
			rq.fail(newError(CodeManifestInvalid, "media type %q is not a manifest type gantry accepts (%s)", mt, strings.Join(oci.ManifestMediaTypes, ", ")), kindManifest)
			return
		}
		mt = ""
	}
	body, err := io.ReadAll(rq.newBodyReader(io.LimitReader(rq.r.Body, limit+1)))
	if err != nil {
		rq.fail(err, kindManifest)
		return
	}
	if int64(len(body)) > limit {
		tooLarge("more than "+fmt.Sprint(limit), int64(len(body)))
		return
	}
	desc := ocispec.Descriptor{MediaType: mt, Size: int64(len(body))}
	if isDigest(rq.ref) {
		want := digest.Digest(rq.ref)
		desc.Digest = want.Algorithm().FromBytes(body)
		if desc.Digest != want {
			rq.fail(newError(CodeDigestInvalid, "manifest body has digest %s, the URL says %s", desc.Digest, want).with(map[string]string{"digest": want.String()}), kindManifest)
			return
		}
	} else {
		desc.Digest = digest.Canonical.FromBytes(body)
		tags = append([]string{rq.ref}, tags...)
	}
	m, err := oci.ParseManifest(desc, body)
	if err != nil {
		rq.fail(newError(CodeManifestInvalid, "%v", err), kindManifest)
		return
	}
	desc.MediaType = m.MediaType
	// From the check of the children to the last tag, garbage collection
	// leaves the repository's content alone: a child found here stays.
	if g, ok := rq.repo.(cas.Guarder); ok {
		defer g.Guard()()
	}
	if !rq.reg.opts.AllowSparse {
		if missing, err := rq.missingChildren(desc, m); err != nil {
			rq.fail(err, kindManifest)
			return
		} else if len(missing) > 0 {
			rq.reg.writeErrors(rq.w, rq.r, codeStatus[CodeManifestBlobUnknown], missing)
			return
		}
	}
	if err := rq.repo.Push(ctx, desc, bytes.NewReader(body)); err != nil && !errors.Is(err, cas.ErrExists) {
		rq.fail(err, kindManifest)
		return
	}
	for _, t := range tags {
		if err := rq.repo.Tag(ctx, desc, t); err != nil {
			rq.fail(err, kindManifest)
			return
		}
	}
	h := rq.w.Header()
	if m.Subject != nil {
		if ri, ok := rq.repo.(cas.ReferrerIndex); ok {
			if err := ri.AddReferrer(ctx, m.Subject.Digest, referrerDescriptor(desc, m)); err != nil {
				rq.fail(err, kindManifest)
				return
			}
			// The header tells the client the registry indexed the
			// referrer, so it need not maintain the fallback tag.
			h.Set("OCI-Subject", m.Subject.Digest.String())
		}
	}
	for _, t := range tags {
		if t != rq.ref {
			h.Add("OCI-Tag", t)
		}
	}
	h.Set("Location", "/v2/"+rq.name+"/manifests/"+desc.Digest.String())
	h.Set("Docker-Content-Digest", desc.Digest.String())
	h.Set("Content-Length", "0")
	rq.w.WriteHeader(http.StatusCreated)
}

// referrerDescriptor is the entry of a manifest in its subject's referrers
// list: image-spec v1.1 says artifactType falls back to the config's media
// type for image manifests. Its annotations are cut to
// MaxReferrerAnnotations here, as the entry enters the index, so the index
// (held in memory and rewritten by the disk store) stays small too.
func referrerDescriptor(desc ocispec.Descriptor, m *oci.Manifest) ocispec.Descriptor {
	d := oci.ReferrerDescriptor(desc, m)
	d.Annotations = boundAnnotations(d.Annotations)
	return d
}

// missingChildren returns one error per child of m that the repository
// lacks (MANIFEST_BLOB_UNKNOWN) or holds with another size than the
// manifest says (MANIFEST_INVALID): a descriptor's size is what every
// reader sizes its buffers and checks by, so a manifest that lies about it
// is refused where it enters. Non-distributable layers live elsewhere by
// definition and are not required (oci.Children leaves them out).
func (rq *request) missingChildren(desc ocispec.Descriptor, m *oci.Manifest) ([]*apiError, error) {
	var missing []*apiError
	children, err := oci.Children(desc, m, nil) // no platform: cannot fail
	if err != nil {
		return nil, err
	}
	for _, c := range children {
		got, err := rq.repo.Resolve(rq.r.Context(), c.Digest.String())
		switch {
		case errors.Is(err, cas.ErrNotFound):
			missing = append(missing, newError(CodeManifestBlobUnknown, "%s %s is not in the repository; push it before the manifest", c.MediaType, c.Digest).with(map[string]string{"digest": c.Digest.String()}))
		case err != nil:
			return nil, err
		case got.Size != c.Size:
			missing = append(missing, newError(CodeManifestInvalid, "%s %s is %d bytes, the manifest says %d", c.MediaType, c.Digest, got.Size, c.Size).with(map[string]string{"digest": c.Digest.String()}))
		}
	}
	return missing, nil
}

// deleteManifest answers DELETE /v2/<name>/manifests/<ref>: by tag it
// removes the tag; by digest it removes the manifest from the repository,
// with the repository's tags that point at it (the store does both in one
// step, so a tag moved elsewhere meanwhile stays), and its referrers entry.
// Other repositories that hold the same manifest keep it.
func (rq *request) deleteManifest() {
	ctx := rq.r.Context()
	if !isDigest(rq.ref) {
		if ae := checkRef(rq.ref); ae != nil {
			rq.fail(ae, kindManifest)
			return
		}
		u, ok := rq.repo.(cas.Untagger)
		if !ok {
			rq.fail(newError(CodeUnsupported, "this store cannot delete tags"), kindManifest)
			return
		}
		if err := u.Untag(ctx, rq.ref); err != nil {
			rq.fail(err, kindManifest)
			return
		}
		rq.w.WriteHeader(http.StatusAccepted)
		return
	}
	del, ok := rq.repo.(cas.Deleter)
	if !ok {
		rq.fail(newError(CodeUnsupported, "this store cannot delete content"), kindManifest)
		return
	}
	desc, data, err := rq.loadManifest(rq.ref, true)
	if err != nil {
		rq.fail(err, kindManifest)
		return
	}
	if err := del.Delete(ctx, desc); err != nil {
		rq.fail(err, kindManifest)
		return
	}
	if m, err := oci.ParseManifest(desc, data); err == nil && m.Subject != nil {
		if ri, ok := rq.repo.(cas.ReferrerIndex); ok {
			if err := ri.RemoveReferrer(ctx, m.Subject.Digest, desc.Digest); err != nil {
				rq.fail(err, kindManifest)
				return
			}
		}
	}
	rq.w.WriteHeader(http.StatusAccepted)
}
