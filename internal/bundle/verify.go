package bundle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/oci"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
)

// verifyConcurrency is the number of blobs hashed at once: hashing is CPU
// bound, and a bundle is read from one disk.
const verifyConcurrency = 2

// Verify re-hashes every blob of the volumes given to Open and checks that
// every image's graph is complete within the bundle (plus, for a delta, the
// blobs its base leaves out, reported in Expected, not as damage). It names
// what is missing or damaged and which images it costs. The error is for
// failures to read at all (a cancelled context); a damaged bundle gives a
// report with Problems. Its verdict on each blob is kept: Fetch refuses
// the damaged ones and serves the sound ones without hashing them again.
//
// Every check is linear in what the manifest lists (volumes, blobs,
// images and their blobs), however those relate: a manifest is up to
// MaxManifestSize of whatever its maker chose.
func (r *Reader) Verify(ctx context.Context) (*VerifyReport, error) {
	rep := &VerifyReport{}
	bad := map[digest.Digest]bool{}
	for _, mv := range r.Missing() {
		rep.Problems = append(rep.Problems, Problem{
			Kind: ProblemMissingVolume, Volume: mv.Volume.Name, Images: mv.Images,
			Detail: fmt.Sprintf("volume %d of %d (%d blobs, %d bytes) was not given: add it to the command line", mv.Volume.Number, len(r.m.Volumes), mv.Volume.Blobs, mv.Volume.Bytes),
		})
	}
	for _, b := range r.m.Blobs {
		if r.vols[b.Volume-1] == nil {
			bad[b.Digest] = true
		}
	}
	rep.Problems = append(rep.Problems, r.truncation()...)

	for i, v := range r.vols {
		if v != nil {
			if p := r.checkLayout(i+1, v); p != nil {
				rep.Problems = append(rep.Problems, *p)
			}
		}
	}

	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(verifyConcurrency)
	for _, b := range r.m.Blobs {
		if r.vols[b.Volume-1] == nil {
			continue
		}
		g.Go(func() error {
			p, err := r.checkBlob(gctx, b)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			if p != nil {
				bad[b.Digest] = true
				rep.Problems = append(rep.Problems, *p)
			} else {
				rep.Blobs++
				rep.Bytes += b.Size
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	// Keep the order stable: volume problems first, then blobs by digest.
	slices.SortStableFunc(rep.Problems, func(a, b Problem) int {
		if ka, kb := a.Digest == "", b.Digest == ""; ka != kb {
			if ka {
				return -1
			}
			return 1
		}
		return strings.Compare(string(a.Digest), string(b.Digest))
	})

	// Manifests are read and parsed once, however many images share
	// them; a manifest that does not parse is kept as nil.
	manifests := map[digest.Digest]parsedManifest{}
	for _, img := range r.m.Images {
		st := ImageStatus{Name: img.Name}
		for _, d := range img.Blobs {
			if bad[d] {
				st.Missing = append(st.Missing, d)
			}
		}
		for _, p := range r.checkGraph(ctx, img, bad, manifests) {
			rep.Problems = append(rep.Problems, p)
			st.Missing = append(st.Missing, p.Digest)
		}
		st.Complete = len(st.Missing) == 0
		rep.Images = append(rep.Images, st)
	}
	if r.m.Base != nil {
		rep.Expected = r.m.Base.LeftOut
	}
	return rep, nil
}

// Damage returns what the volumes' tar headers alone show wrong, without
// reading a blob's bytes: a volume cut short (with the blobs it loses and
// the images they cost), a blob its volume lacks or holds at another size.
// It is what bundle inspect can tell cheaply; Verify finds all of it and
// also re-hashes every blob. Volumes not given are reported by Missing, not
// here.
func (r *Reader) Damage() []Problem {
	out := r.truncation()
	for _, b := range r.m.Blobs {
		v := r.vols[b.Volume-1]
		if v == nil || v.truncated != "" {
			continue // not given, or reported whole above
		}
		if _, _, err := r.rawSection(b.Digest); err != nil {
			kind := ProblemMissingBlob
			if errors.Is(err, cas.ErrSizeMismatch) {
				kind = ProblemDamaged
			}
			out = append(out, Problem{Kind: kind, Digest: b.Digest, Volume: v.path, Images: r.users[b.Digest],
				Detail: trimDigest(err, b.Digest) + ": copy the volume again from the original"})
		}
	}
	return out
}

// truncation reports each volume given that is cut short, with how many of
// its blobs it lost and the images they cost: one pass over the blobs.
func (r *Reader) truncation() []Problem {
	lost := map[int][]string{} // truncated volume number -> images
	nlost := map[int]int{}
	for _, b := range r.m.Blobs {
		v := r.vols[b.Volume-1]
		if v == nil || v.truncated == "" {
			continue
		}
		if _, ok := v.entries[blobPath(b.Digest)]; !ok {
			lost[b.Volume] = append(lost[b.Volume], r.users[b.Digest]...)
			nlost[b.Volume]++
		}
	}
	var out []Problem
	for i, v := range r.vols {
		if v != nil && v.truncated != "" {
			out = append(out, Problem{
				Kind: ProblemTruncated, Volume: v.path, Images: uniq(lost[i+1]),
				Detail: fmt.Sprintf("%s; %d of its %d blobs are lost: copy the volume again from the original", v.truncated, nlost[i+1], r.m.Volumes[i].Blobs),
			})
		}
	}
	return out
}

// checkBlob re-hashes one blob and records the verdict; it returns a
// Problem for a missing or damaged blob and an error only when the context
// ends.
func (r *Reader) checkBlob(ctx context.Context, b BlobEntry) (*Problem, error) {
	vname := r.vols[b.Volume-1].path
	s, _, err := r.rawSection(b.Digest)
	if err != nil {
		kind := ProblemMissingBlob
		if errors.Is(err, cas.ErrSizeMismatch) {
			kind = ProblemDamaged
		}
		return &Problem{Kind: kind, Digest: b.Digest, Volume: vname, Images: r.users[b.Digest],
			Detail: trimDigest(err, b.Digest) + ": copy the volume again from the original"}, nil
	}
	v := cas.VerifyReader(&ctxReader{ctx: ctx, r: s}, b.desc())
	if _, err := io.Copy(io.Discard, v); err != nil || !v.Verified() {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err == nil {
			err = v.Verify()
		}
		r.record(b.Digest, err)
		return &Problem{Kind: ProblemDamaged, Digest: b.Digest, Volume: vname, Images: r.users[b.Digest],
			Detail: fmt.Sprintf("%s (%s, %d bytes): %s: the volume is corrupt: copy it again from the original", kindOf(b.MediaType), b.MediaType, b.Size, trimDigest(err, b.Digest))}, nil
	}
	r.record(b.Digest, nil)
	return nil, nil
}

func trimDigest(err error, d digest.Digest) string {
	return strings.TrimPrefix(err.Error(), d.String()+": ")
}

func kindOf(mediaType string) string {
	switch {
	case oci.IsIndex(mediaType):
		return "index"
	case oci.IsImageManifest(mediaType):
		return "manifest"
	case strings.Contains(mediaType, "config"):
		return "config"
	}
	return "layer"
}

// checkGraph walks img's manifests as the bundle holds them and reports
// content they name that is neither in the bundle nor left out, and
// manifests that do not parse. Blobs already known bad are not walked.
func (r *Reader) checkGraph(ctx context.Context, img ImageEntry, bad map[digest.Digest]bool, manifests map[digest.Digest]parsedManifest) []Problem {
	var platform *ocispec.Platform
	if img.Platform != "" {
		if p, err := oci.ParsePlatform(img.Platform); err == nil {
			platform = &p
		}
	}
	var out []Problem
	seen := map[digest.Digest]bool{}
	// listed is img.Blobs as a set: children are looked up in it, and a
	// manifest may have tens of thousands.
	listed := make(map[digest.Digest]bool, len(img.Blobs))
	for _, d := range img.Blobs {
		listed[d] = true
	}
	problem := func(d digest.Digest, detail string) {
		out = append(out, Problem{Kind: ProblemIncomplete, Digest: d, Images: []string{img.Name}, Detail: detail})
	}
	var walk func(desc ocispec.Descriptor)
	walk = func(desc ocispec.Descriptor) {
		if seen[desc.Digest] || bad[desc.Digest] {
			return
		}
		seen[desc.Digest] = true
		if _, held := r.blobs[desc.Digest]; !held {
			if _, lo := r.leftOut[desc.Digest]; !lo {
				problem(desc.Digest, fmt.Sprintf("%s %s needs it, but the bundle neither holds it nor leaves it out: the bundle is incomplete; make it again", img.Name, kindOf(desc.MediaType)))
			}
			return
		}
		if !oci.IsManifest(desc.MediaType) {
			return
		}
		m, err := r.parsed(ctx, desc, manifests)
		if err != nil {
			problem(desc.Digest, trimDigest(err, desc.Digest))
			return
		}
		if m == nil {
			return // reported with the blob
		}
		// The children the bundle must hold: under the image's platform,
		// a sparse index's other platforms are not among them.
		children, err := oci.Children(desc, m, platform)
		if err != nil {
			problem(desc.Digest, trimDigest(err, desc.Digest))
			return
		}
		for _, c := range children {
			if !listed[c.Digest] {
				problem(c.Digest, fmt.Sprintf("%s names it but the bundle's manifest does not list it for %s: make the bundle again", desc.Digest, img.Name))
				continue
			}
			walk(c)
		}
	}
	walk(ocispec.Descriptor{MediaType: img.MediaType, Digest: img.Digest, Size: img.Size})
	return out
}

// parsedManifest is a manifest as checkGraph read it.
type parsedManifest struct {
	m   *oci.Manifest // nil when its bytes are missing or damaged (reported with the blob)
	err error         // why it does not parse
}

// parsed returns the manifest desc names, read and parsed once per Verify
// however many images share it (kept in cache).
func (r *Reader) parsed(ctx context.Context, desc ocispec.Descriptor, cache map[digest.Digest]parsedManifest) (*oci.Manifest, error) {
	p, ok := cache[desc.Digest]
	if !ok {
		if s, _, err := r.section(desc.Digest); err == nil {
			if data, err := cas.FetchAll(ctx, readerFetcher{s}, desc, oci.MaxManifestSize); err == nil {
				p.m, p.err = oci.ParseManifest(desc, data)
			}
		}
		cache[desc.Digest] = p
	}
	return p.m, p.err
}

// readerFetcher serves one section as the only content.
type readerFetcher struct{ s *io.SectionReader }

func (f readerFetcher) Fetch(context.Context, ocispec.Descriptor) (io.ReadCloser, error) {
	return io.NopCloser(io.NewSectionReader(f.s, 0, f.s.Size())), nil
}

// VerifyAgainst runs Verify and then checks that every blob a delta leaves
// out is present at target, in the repository repoFor names for each image
// (nil: ImageEntry.Repository), or in another repository of the target from
// which the importer can mount it (VerifyReport.MountFrom): the repositories
// of the bundle's other images, and those cas.HolderLister names when the
// target can say. Push and load call it before writing anything: a delta
// whose base is not at the target is refused whole.
func (r *Reader) VerifyAgainst(ctx context.Context, target cas.Store, repoFor func(ImageEntry) string) (*VerifyReport, error) {
	rep, err := r.Verify(ctx)
	if err != nil {
		return nil, err
	}
	if len(r.leftOut) == 0 {
		return rep, nil
	}
	if repoFor == nil {
		repoFor = ImageEntry.Repository
	}
	repos := map[string]cas.Target{}
	has := func(repo string, d digest.Digest) (bool, error) {
		t, ok := repos[repo]
		if !ok {
			if t, err = target.Repository(ctx, repo); err != nil {
				return false, fmt.Errorf("target repository %s: %w", repo, err)
			}
			repos[repo] = t
		}
		ok, err := t.Exists(ctx, r.leftOut[d].desc())
		if err != nil {
			return false, fmt.Errorf("target: %s: %w", d, err)
		}
		return ok, nil
	}
	// needers lists, for each blob left out, the target repositories of
	// the images that need it: built once, not per image and blob.
	needers := map[digest.Digest][]string{}
	for _, img := range r.m.Images {
		repo := repoFor(img)
		for _, d := range img.Blobs {
			if _, lo := r.leftOut[d]; lo {
				if rs := needers[d]; len(rs) == 0 || rs[len(rs)-1] != repo {
					needers[d] = append(rs, repo)
				}
			}
		}
	}
	// elsewhere finds a repository of the target, other than repo, that
	// holds d.
	elsewhere := func(repo string, d digest.Digest) (string, error) {
		var candidates []string
		for _, other := range needers[d] {
			if other != repo {
				candidates = append(candidates, other)
			}
		}
		if hl, ok := target.(cas.HolderLister); ok {
			holders, err := hl.Holders(ctx, d)
			if err != nil {
				return "", fmt.Errorf("target: %s: %w", d, err)
			}
			candidates = append(candidates, holders...)
		}
		for _, c := range uniq(candidates) {
			if c == repo {
				continue
			}
			if ok, err := has(c, d); err != nil {
				return "", err
			} else if ok {
				return c, nil
			}
		}
		return "", nil
	}
	absent := map[digest.Digest][]string{}
	var order []digest.Digest
	for _, img := range r.m.Images {
		repo := repoFor(img)
		for _, d := range img.Blobs {
			if _, lo := r.leftOut[d]; !lo {
				continue
			}
			if ok, err := has(repo, d); err != nil {
				return nil, err
			} else if ok {
				continue
			}
			if _, ok := rep.MountFrom[d]; ok {
				continue
			}
			from, err := elsewhere(repo, d)
			if err != nil {
				return nil, err
			}
			if from != "" {
				if rep.MountFrom == nil {
					rep.MountFrom = map[digest.Digest]string{}
				}
				rep.MountFrom[d] = from
				continue
			}
			if _, seen := absent[d]; !seen {
				order = append(order, d)
			}
			absent[d] = append(absent[d], img.Name)
		}
	}
	base := "its base"
	if b := r.m.Base; b.Bundle != "" {
		base = "its base bundle " + b.Bundle
	} else if b.Inventory != "" {
		base = "the inventory " + shortID(b.Inventory)
	}
	imageAt := make(map[string]int, len(rep.Images)) // image name -> index in rep.Images
	for i, st := range rep.Images {
		imageAt[st.Name] = i
	}
	for _, d := range order {
		lo := r.leftOut[d]
		rep.Problems = append(rep.Problems, Problem{
			Kind: ProblemAbsentAtTarget, Digest: d, Images: absent[d],
			Detail: fmt.Sprintf("%s (%d bytes) is left out of this incremental bundle but the target lacks it: load %s first, or make a full bundle (without --have/--since)", kindOf(lo.MediaType), lo.Size, base),
		})
		for _, name := range absent[d] {
			i := imageAt[name]
			rep.Images[i].Missing = append(rep.Images[i].Missing, d)
			rep.Images[i].Complete = false
		}
	}
	return rep, nil
}

func uniq(s []string) []string {
	slices.Sort(s)
	return slices.Compact(s)
}

// checkLayout checks that a volume's oci-layout and index.json agree with
// its gantry-bundle.json, since other tools (ctr, skopeo) read those and
// not the gantry manifest.
func (r *Reader) checkLayout(num int, v *openVolume) *Problem {
	bad := func(format string, args ...any) *Problem {
		return &Problem{Kind: ProblemDamaged, Volume: v.path, Images: r.m.Volumes[num-1].Images,
			Detail: fmt.Sprintf(format, args...) + ": other tools (ctr, skopeo) would misread this volume; copy it again from the original"}
	}
	read := func(name string) ([]byte, error) {
		e, ok := v.entries[name]
		if !ok {
			return nil, fmt.Errorf("no %s", name)
		}
		if e.size > oci.MaxManifestSize {
			return nil, fmt.Errorf("%s is %d bytes", name, e.size)
		}
		b := make([]byte, e.size)
		if _, err := v.f.ReadAt(b, e.offset); err != nil {
			return nil, fmt.Errorf("%s: %v", name, err)
		}
		return b, nil
	}
	layout, err := read(ocispec.ImageLayoutFile)
	if err != nil {
		return bad("%v", err)
	}
	var lv ocispec.ImageLayout
	if err := json.Unmarshal(layout, &lv); err != nil || lv.Version != ocispec.ImageLayoutVersion {
		return bad("oci-layout is not {\"imageLayoutVersion\":%q}", ocispec.ImageLayoutVersion)
	}
	data, err := read(ocispec.ImageIndexFile)
	if err != nil {
		return bad("%v", err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(data, &idx); err != nil {
		return bad("index.json is not valid JSON (%v)", err)
	}
	inVolume := make(map[string]bool, len(r.m.Volumes[num-1].Images))
	for _, name := range r.m.Volumes[num-1].Images {
		inVolume[name] = true
	}
	// Images are listed by name, referrers (unnamed) by digest.
	want := map[string]digest.Digest{}
	for _, img := range r.m.Images {
		if inVolume[img.Name] {
			key := img.Name
			if img.IsReferrer() {
				key = img.Digest.String()
			}
			want[key] = img.Digest
		}
	}
	got := map[string]digest.Digest{}
	for _, d := range idx.Manifests {
		key, ok := d.Annotations[ocispec.AnnotationRefName]
		if !ok {
			key = d.Digest.String()
		}
		got[key] = d.Digest
	}
	if len(got) != len(want) {
		return bad("index.json lists %d images, gantry-bundle.json %d", len(got), len(want))
	}
	for name, d := range want {
		if got[name] != d {
			return bad("index.json gives %s as %q, gantry-bundle.json as %s", name, got[name], d)
		}
	}
	return nil
}
