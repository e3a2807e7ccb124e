package bundle

import (
	"archive/tar"
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/copy"
	"github.com/gantry-dev/gantry/internal/oci"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Create writes a bundle of images to out (volume 1) and, with
// opts.Split, further volumes next to it (see the package documentation for
// their names). It reads every image's manifests first, then streams each
// blob once from its source into the tar, verified on the way. Nothing is
// visible under out until every volume is complete and synced; a failed
// Create leaves no file under out's name or its volumes' names.
func Create(ctx context.Context, out string, images []Image, opts CreateOptions) (*CreateReport, error) {
	start := time.Now()
	if len(images) == 0 {
		return nil, fmt.Errorf("bundle %s: no images given: %w", out, cas.ErrInvalid)
	}
	if opts.Split < 0 {
		return nil, fmt.Errorf("bundle %s: negative split size %d: %w", out, opts.Split, cas.ErrInvalid)
	}
	seen := map[string]bool{}
	for _, img := range images {
		if img.Name == "" || img.Source == nil || img.Reference == "" {
			return nil, fmt.Errorf("bundle %s: image %q needs a name, a source and a reference: %w", out, img.Name, cas.ErrInvalid)
		}
		if seen[img.Name] {
			return nil, fmt.Errorf("bundle %s: image %s given twice: %w", out, img.Name, cas.ErrInvalid)
		}
		seen[img.Name] = true
	}
	p := &plan{blobs: map[digest.Digest]*planBlob{}, manifests: map[digest.Digest][]byte{}, have: opts.Have}
	for _, img := range images {
		if err := p.addImage(ctx, img, opts.Platform); err != nil {
			return nil, fmt.Errorf("bundle %s: image %s: %w", out, img.Name, err)
		}
	}
	if !opts.NoReferrers {
		if err := p.addReferrers(ctx, opts.Concurrency); err != nil {
			return nil, fmt.Errorf("bundle %s: %w", out, err)
		}
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	tool := opts.Tool
	if tool == "" {
		tool = "gantry"
	}
	m, oversize, err := p.manifest(out, opts, now().UTC().Truncate(time.Second), tool)
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", out, err)
	}
	if opts.Log != nil {
		opts.Log.Debug("bundle plan", "images", len(m.Images), "blobs", len(m.Blobs), "volumes", len(m.Volumes), "leftOut", len(p.leftOutList()))
	}

	w, err := newTarDest(out, p, m)
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", out, err)
	}
	defer w.abort()
	if err := p.copyAll(ctx, w, opts); err != nil {
		return nil, fmt.Errorf("bundle %s: %w", out, err)
	}
	files, size, err := w.commit()
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", out, err)
	}
	rep := &CreateReport{Files: files, Manifest: *m, Size: size, Oversize: oversize, Duration: time.Since(start)}
	for _, b := range m.Blobs {
		rep.BlobBytes += b.Size
	}
	return rep, nil
}

// VolumeName returns the file name of volume n (from 1) of a bundle written
// to out: out itself for volume 1, and out with ".NNN" inserted before its
// extension for the others ("app.tar" -> "app.002.tar").
func VolumeName(out string, n int) string {
	if n <= 1 {
		return out
	}
	ext := filepath.Ext(out)
	if strings.ContainsAny(ext, `/\`) {
		ext = ""
	}
	return fmt.Sprintf("%s.%03d%s", strings.TrimSuffix(out, ext), n, ext)
}

// plan is what Create learns before writing: every image's graph, the blobs
// to hold and those to leave out.
type plan struct {
	have      *Inventory
	images    []*planImage
	blobs     map[digest.Digest]*planBlob
	order     []digest.Digest // blobs in the order first met, children first
	manifests map[digest.Digest][]byte
}

type planImage struct {
	img       Image
	platform  *ocispec.Platform
	root      ocispec.Descriptor
	entry     ImageEntry
	manifests []digest.Digest // the manifests of its graph: the subjects its referrers may have
}

type planBlob struct {
	desc     ocispec.Descriptor
	keep     bool // manifest or config: always held
	volume   int
	images   []int // indexes of the images that need it
	leftOut  bool
	oversize bool
}

// addImage resolves img and walks its graph with the copy engine's rules
// (non-distributable layers skipped, an index's other platforms left out).
func (p *plan) addImage(ctx context.Context, img Image, platform *ocispec.Platform) error {
	if img.Platform != nil {
		platform = img.Platform
	}
	root, err := img.Source.Resolve(ctx, img.Reference)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", img.Reference, err)
	}
	pi := &planImage{img: img, platform: platform}
	idx := len(p.images)
	p.images = append(p.images, pi)
	need := map[digest.Digest]bool{}
	root, err = p.walk(ctx, img.Source, root, platform, idx, need, &pi.entry)
	if err != nil {
		return err
	}
	pi.root = root
	pi.entry.Name = img.Name
	pi.entry.Digest = root.Digest
	pi.entry.MediaType = root.MediaType
	pi.entry.Size = root.Size
	if platform != nil {
		pi.entry.Platform = oci.FormatPlatform(platform)
	}
	for d := range need {
		pi.entry.Blobs = append(pi.entry.Blobs, d)
		pi.entry.Bytes += p.blobs[d].desc.Size
	}
	slices.Sort(pi.entry.Blobs)
	return nil
}

func (p *plan) record(desc ocispec.Descriptor, keep bool, idx int, need map[digest.Digest]bool) {
	if need[desc.Digest] {
		return
	}
	need[desc.Digest] = true
	b := p.blobs[desc.Digest]
	if b == nil {
		b = &planBlob{desc: desc}
		p.blobs[desc.Digest] = b
		p.order = append(p.order, desc.Digest)
	}
	b.keep = b.keep || keep
	b.images = append(b.images, idx)
}

func (p *plan) walk(ctx context.Context, src cas.ReadOnlyStorage, desc ocispec.Descriptor, platform *ocispec.Platform, idx int, need map[digest.Digest]bool, e *ImageEntry) (ocispec.Descriptor, error) {
	if desc.MediaType != "" && !oci.IsManifest(desc.MediaType) {
		return desc, fmt.Errorf("%s: media type %q is not a manifest or index: %w", desc.Digest, desc.MediaType, cas.ErrInvalid)
	}
	data, ok := p.manifests[desc.Digest]
	if !ok {
		var err error
		data, err = cas.FetchAll(ctx, src, desc, oci.MaxManifestSize)
		if err != nil {
			return desc, fmt.Errorf("manifest %s: %w", desc.Digest, err)
		}
		p.manifests[desc.Digest] = data
	}
	m, err := oci.ParseManifest(desc, data)
	if err != nil {
		return desc, err
	}
	desc.MediaType = m.MediaType
	children, err := oci.Children(desc, m, platform)
	if err != nil {
		return desc, err
	}
	for _, c := range children {
		if oci.IsManifest(c.MediaType) {
			if _, err := p.walk(ctx, src, c, platform, idx, need, e); err != nil {
				return desc, err
			}
			if c.Platform != nil && oci.IsImageManifest(c.MediaType) {
				if s := oci.FormatPlatform(c.Platform); !slices.Contains(e.Platforms, s) {
					e.Platforms = append(e.Platforms, s)
				}
			}
			continue
		}
		isConfig := m.Config != nil && c.Digest == m.Config.Digest
		p.record(c, isConfig, idx, need)
	}
	if !need[desc.Digest] {
		p.images[idx].manifests = append(p.images[idx].manifests, desc.Digest)
	}
	p.record(desc, true, idx, need)
	return desc, nil
}

func (p *plan) leftOutList() []BlobEntry {
	var out []BlobEntry
	for _, d := range p.order {
		if b := p.blobs[d]; b.leftOut {
			out = append(out, BlobEntry{Digest: d, Size: b.desc.Size, MediaType: b.desc.MediaType})
		}
	}
	slices.SortFunc(out, func(a, b BlobEntry) int { return strings.Compare(string(a.Digest), string(b.Digest)) })
	return out
}

// tarCost is the room a blob takes in a tar: its header (and a PAX header
// for names too long for ustar) and its data padded to 512 bytes.
func tarCost(d digest.Digest, size int64) int64 {
	c := 512 + (size+511)/512*512
	if len("blobs/"+d.Algorithm().String()+"/")+len(d.Encoded()) > 100 && len(d.Encoded()) > 100 {
		c += 1024
	}
	return c
}

// manifest decides what is left out and which volume holds each blob, and
// returns the manifest every volume will carry (Volume set to 1).
func (p *plan) manifest(out string, opts CreateOptions, created time.Time, tool string) (*Manifest, []digest.Digest, error) {
	for _, d := range p.order {
		b := p.blobs[d]
		b.leftOut = !b.keep && opts.Have.Has(d)
	}
	m := &Manifest{FormatVersion: FormatVersion, Created: created, Tool: tool}
	for _, pi := range p.images {
		m.Images = append(m.Images, pi.entry)
	}
	if opts.Have != nil {
		lo := p.leftOutList()
		m.Base = &Base{Inventory: opts.Have.Digest(), Bundle: opts.BaseName, LeftOut: lo, Blobs: len(lo)}
		for _, b := range lo {
			m.Base.Bytes += b.Size
		}
	}
	var oversize []digest.Digest
	nvol := 1
	if opts.Split <= 0 {
		for _, d := range p.order {
			p.blobs[d].volume = 1
		}
	} else {
		var err error
		nvol, oversize, err = p.assign(m, opts.Split)
		if err != nil {
			return nil, nil, err
		}
	}
	for _, d := range p.order {
		b := p.blobs[d]
		if !b.leftOut {
			m.Blobs = append(m.Blobs, BlobEntry{Digest: d, Size: b.desc.Size, MediaType: b.desc.MediaType, Volume: b.volume})
		}
	}
	slices.SortFunc(m.Blobs, func(a, b BlobEntry) int { return strings.Compare(string(a.Digest), string(b.Digest)) })
	for v := 1; v <= nvol; v++ {
		m.Volumes = append(m.Volumes, VolumeEntry{Number: v, Name: filepath.Base(VolumeName(out, v))})
	}
	for _, b := range m.Blobs {
		ve := &m.Volumes[b.Volume-1]
		ve.Blobs++
		ve.Bytes += b.Size
		if p.blobs[b.Digest].oversize {
			ve.Oversize = true
		}
	}
	for _, img := range m.Images {
		if v := completeIn(m, img); v > 0 {
			m.Volumes[v-1].Images = append(m.Volumes[v-1].Images, img.Name)
		}
	}
	id, err := computeID(m)
	if err != nil {
		return nil, nil, err
	}
	m.ID = id
	if opts.SignKey != nil {
		sig, err := opts.SignKey.Sign([]byte(id.String()))
		if err != nil {
			return nil, nil, err
		}
		m.Signature = &Signature{KeyID: opts.SignKey.Public().ID(), Value: base64.StdEncoding.EncodeToString(sig)}
	}
	m.Volume = 1
	if err := m.validate(); err != nil {
		return nil, nil, fmt.Errorf("internal error: the manifest written would not read back: %w", err)
	}
	return m, oversize, nil
}

// completeIn returns the volume holding every blob img needs that the
// bundle holds, or 0 when they are spread over several.
func completeIn(m *Manifest, img ImageEntry) int {
	vol := map[digest.Digest]int{}
	for _, b := range m.Blobs {
		vol[b.Digest] = b.Volume
	}
	v := 0
	for _, d := range img.Blobs {
		bv, held := vol[d]
		switch {
		case !held: // left out: expected at the target
		case v == 0:
			v = bv
		case v != bv:
			return 0
		}
	}
	return v
}

// assign places the blobs to hold in volumes of at most split bytes and
// returns the number of volumes and the oversize blobs.
//
// It packs units first-fit decreasing: a unit is a set of images joined by
// the blobs they share (a base layer and every image on it), with what
// their blobs cost in the tar. Largest first, each unit goes whole into the
// first volume with room for it, opening a volume only when none has, so
// small images fill the room large ones leave instead of trailing in a
// nearly empty last volume, and every image of a unit that fits is whole
// in one volume. A unit larger than a volume is placed image by image (the
// images sharing their largest blob next to each other), each image's
// remaining blobs together in the volume already holding most of its
// bytes when they fit there, else in the first with room; an image larger
// than a volume is spread blob by blob, largest first, and a blob larger
// than a volume gets one of its own.
//
// Only the assignment changes with the packing: each volume's tar still
// holds its metadata first and its blobs in the order the copy engine
// pushes them, children before parents, and every volume is a layout of its
// own (volumes need no order among themselves).
func (p *plan) assign(m *Manifest, split int64) (int, []digest.Digest, error) {
	// Reserve room for the metadata at the head of each volume: the
	// manifest (as large as the one for one volume, plus volume entries),
	// index.json, their headers and the end-of-archive blocks.
	est, err := json.Marshal(m)
	if err != nil {
		return 0, nil, err
	}
	reserve := int64(len(est)) + int64(len(p.order))*130 + int64(len(p.images))*400 + 8192
	capacity := split - reserve
	if capacity < 4096 {
		return 0, nil, fmt.Errorf("split size %d is too small: the metadata at the head of each volume takes about %d bytes (use at least %d): %w", split, reserve, reserve+(1<<20), cas.ErrInvalid)
	}

	// held lists, per image, the blobs the bundle holds for it, in the
	// order first met (children first).
	held := make([][]*planBlob, len(p.images))
	for _, d := range p.order {
		b := p.blobs[d]
		if b.leftOut {
			continue
		}
		for _, i := range b.images {
			held[i] = append(held[i], b)
		}
	}
	// Units: images joined by a shared blob (union-find).
	parent := make([]int, len(p.images))
	for i := range parent {
		parent[i] = i
	}
	find := func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	for _, d := range p.order {
		b := p.blobs[d]
		if b.leftOut {
			continue
		}
		for _, i := range b.images[1:] {
			parent[find(i)] = find(b.images[0])
		}
	}
	type unit struct {
		images []int
		cost   int64
	}
	var units []*unit
	byRoot := map[int]*unit{}
	for i := range p.images {
		r := find(i)
		u := byRoot[r]
		if u == nil {
			u = &unit{}
			byRoot[r] = u
			units = append(units, u)
		}
		u.images = append(u.images, i)
	}
	for _, d := range p.order {
		if b := p.blobs[d]; !b.leftOut {
			byRoot[find(b.images[0])].cost += tarCost(d, b.desc.Size)
		}
	}
	slices.SortStableFunc(units, func(a, b *unit) int { return cmp.Compare(b.cost, a.cost) })

	var used []int64 // bytes placed, per volume (number-1)
	var alone []bool // the volume holds an oversize blob: nothing else
	var oversize []digest.Digest
	newVolume := func() int {
		used, alone = append(used, 0), append(alone, false)
		return len(used)
	}
	fits := func(v int, c int64) bool { return !alone[v-1] && used[v-1]+c <= capacity }
	firstFit := func(c int64) int {
		for v := 1; v <= len(used); v++ {
			if fits(v, c) {
				return v
			}
		}
		return newVolume()
	}
	place := func(b *planBlob, v int) {
		b.volume = v
		used[v-1] += tarCost(b.desc.Digest, b.desc.Size)
	}
	// rest returns the blobs of image i not placed yet, and their cost.
	rest := func(i int) ([]*planBlob, int64) {
		var group []*planBlob
		var cost int64
		for _, b := range held[i] {
			if b.volume == 0 {
				group = append(group, b)
				cost += tarCost(b.desc.Digest, b.desc.Size)
			}
		}
		return group, cost
	}
	for _, u := range units {
		if u.cost <= capacity {
			v := firstFit(u.cost)
			for _, i := range u.images {
				group, _ := rest(i)
				for _, b := range group {
					place(b, v)
				}
			}
			continue
		}
		// Images sharing their largest blob (typically a base layer) are
		// placed one after the other, so that they tend to share a volume.
		largest := map[int]digest.Digest{}
		for _, i := range u.images {
			var size int64 = -1
			for _, b := range held[i] {
				if b.desc.Size > size {
					size, largest[i] = b.desc.Size, b.desc.Digest
				}
			}
		}
		order := slices.Clone(u.images)
		slices.SortStableFunc(order, func(a, b int) int { return strings.Compare(string(largest[a]), string(largest[b])) })
		for _, i := range order {
			group, cost := rest(i)
			if len(group) == 0 {
				continue
			}
			if cost <= capacity {
				// The volume holding most of the image already, if the
				// rest fits there.
				in := map[int]int64{}
				best := 0
				for _, b := range held[i] {
					if b.volume > 0 {
						in[b.volume] += b.desc.Size
						if best == 0 || in[b.volume] > in[best] || (in[b.volume] == in[best] && b.volume < best) {
							best = b.volume
						}
					}
				}
				v := best
				if v == 0 || !fits(v, cost) {
					v = firstFit(cost)
				}
				for _, b := range group {
					place(b, v)
				}
				continue
			}
			slices.SortStableFunc(group, func(a, b *planBlob) int { return cmp.Compare(b.desc.Size, a.desc.Size) })
			for _, b := range group {
				if c := tarCost(b.desc.Digest, b.desc.Size); c > capacity {
					v := newVolume()
					alone[v-1] = true
					b.oversize = true
					oversize = append(oversize, b.desc.Digest)
					place(b, v)
					continue
				}
				place(b, firstFit(tarCost(b.desc.Digest, b.desc.Size)))
			}
		}
	}
	// Every image's manifest is held, so there is at least one volume.
	return len(used), oversize, nil
}

// copyAll moves every image's graph into w. The images that share a
// platform filter go in one copy: their roots are listed in a synthetic
// index that w claims to hold already, so the engine walks the whole fleet
// at once, moves each shared blob once, and bounds the blobs in flight over
// all images rather than per image. The synthetic index is never written.
func (p *plan) copyAll(ctx context.Context, w *tarDest, opts CreateOptions) error {
	var keys []string
	groups := map[string][]*planImage{}
	for _, pi := range p.images {
		k := pi.entry.Platform
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], pi)
	}
	src := &routedSource{p: p}
	for _, k := range keys {
		platform := groups[k][0].platform
		idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{}}
		idx.SchemaVersion = 2
		seen := map[digest.Digest]bool{}
		for _, pi := range groups[k] {
			if seen[pi.root.Digest] {
				continue
			}
			seen[pi.root.Digest] = true
			d := pi.root
			d.Platform = platform // so the engine's filter keeps a root image manifest
			idx.Manifests = append(idx.Manifests, d)
		}
		b, err := json.Marshal(idx)
		if err != nil {
			return err
		}
		root := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(b), Size: int64(len(b))}
		w.mu.Lock()
		w.synthetic[root.Digest] = b
		w.mu.Unlock()
		copts := copy.Options{Concurrency: opts.Concurrency, Platform: platform, Progress: opts.Progress}
		if err := copy.CopyGraph(ctx, src, w, root, copts); err != nil {
			return p.explain(err, root.Digest)
		}
	}
	return nil
}

// explain rewrites an engine error, whose path starts at the synthetic
// index, to name the images concerned instead: the path's second step is
// the root of the image (or images, under several names) that failed.
func (p *plan) explain(err error, synthetic digest.Digest) error {
	var ce *copy.Error
	if !errors.As(err, &ce) || len(ce.Path) == 0 || ce.Path[0].Desc.Digest != synthetic {
		return err
	}
	rest := *ce
	rest.Path = ce.Path[1:]
	msg := rest.Error()
	var names []string
	if len(rest.Path) > 0 {
		for _, pi := range p.images {
			if pi.root.Digest == rest.Path[0].Desc.Digest {
				names = append(names, pi.entry.Name)
			}
		}
	}
	switch len(names) {
	case 0:
	case 1:
		msg = "image " + names[0] + ": " + msg
	default:
		msg = "images " + joinNames(names) + ": " + msg
	}
	return &explained{msg: msg, err: err}
}

// explained is an error with a clearer message and the same chain.
type explained struct {
	msg string
	err error
}

func (e *explained) Error() string { return e.msg }
func (e *explained) Unwrap() error { return e.err }

// routedSource reads each blob from the source of the first image that
// needs it, and the manifests from what the plan has read already.
type routedSource struct{ p *plan }

// Fetch implements cas.Fetcher.
func (s *routedSource) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	if b, ok := s.p.manifests[desc.Digest]; ok {
		return io.NopCloser(bytes.NewReader(b)), nil
	}
	b, ok := s.p.blobs[desc.Digest]
	if !ok {
		return nil, fmt.Errorf("%s: not in the bundle's plan: %w", desc.Digest, cas.ErrNotFound)
	}
	return s.p.images[b.images[0]].img.Source.Fetch(ctx, desc)
}

// Exists implements cas.Exister: what the plan knows of.
func (s *routedSource) Exists(_ context.Context, desc ocispec.Descriptor) (bool, error) {
	_, ok := s.p.blobs[desc.Digest]
	return ok, nil
}

// tarDest is the copy engine's destination: a Push appends a tar entry to
// the volume the plan chose for the blob. Pushes are serialised; a push
// that fails half-way breaks the tar, and every later push fails.
type tarDest struct {
	p    *plan
	vols []*volume

	mu        sync.Mutex
	written   map[digest.Digest]bool
	synthetic map[digest.Digest][]byte // indexes listing the roots: held, never written
	err       error
	buf       []byte
}

type volume struct {
	final string // path once committed
	f     *os.File
	bw    *bufio.Writer
	tw    *tar.Writer
	mtime time.Time
}

func newTarDest(out string, p *plan, m *Manifest) (*tarDest, error) {
	w := &tarDest{p: p, written: map[digest.Digest]bool{}, synthetic: map[digest.Digest][]byte{}, buf: make([]byte, 1<<20)}
	for i := range m.Volumes {
		final := VolumeName(out, i+1)
		f, err := os.CreateTemp(filepath.Dir(final), "."+filepath.Base(final)+".*.tmp")
		if err != nil {
			w.abort()
			return nil, err
		}
		v := &volume{final: final, f: f, mtime: m.Created}
		v.bw = bufio.NewWriterSize(f, 1<<20)
		v.tw = tar.NewWriter(v.bw)
		w.vols = append(w.vols, v)
		vm := *m
		vm.Volume = i + 1
		if err := v.writeHead(&vm); err != nil {
			w.abort()
			return nil, fmt.Errorf("volume %s: %w", final, err)
		}
	}
	return w, nil
}

// writeHead writes oci-layout, gantry-bundle.json and index.json.
func (v *volume) writeHead(m *Manifest) error {
	layout := []byte(`{"imageLayoutVersion":"1.0.0"}`)
	mb, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return err
	}
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{}}
	idx.SchemaVersion = 2
	complete := m.Volumes[m.Volume-1].Images
	for _, img := range m.Images {
		if slices.Contains(complete, img.Name) {
			d := ocispec.Descriptor{MediaType: img.MediaType, Digest: img.Digest, Size: img.Size}
			// A referrer is listed without a name, as OCI layouts hold
			// referrers: tools that import every named image (ctr images
			// import) leave it alone, and those that follow subjects
			// (oras) find it.
			if !img.IsReferrer() {
				d.Annotations = map[string]string{ocispec.AnnotationRefName: img.Name}
			}
			idx.Manifests = append(idx.Manifests, d)
		}
	}
	ib, err := json.Marshal(idx)
	if err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{ocispec.ImageLayoutFile, layout}, {ManifestName, append(mb, '\n')}, {ocispec.ImageIndexFile, ib}} {
		if err := v.tw.WriteHeader(v.header(f.name, int64(len(f.data)))); err != nil {
			return err
		}
		if _, err := v.tw.Write(f.data); err != nil {
			return err
		}
	}
	return nil
}

func (v *volume) header(name string, size int64) *tar.Header {
	return &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o444, ModTime: v.mtime}
}

func blobPath(d digest.Digest) string {
	return "blobs/" + d.Algorithm().String() + "/" + d.Encoded()
}

// Exists reports a blob as present once written, and a left-out blob as
// present always, so the engine skips it.
func (w *tarDest) Exists(_ context.Context, desc ocispec.Descriptor) (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.written[desc.Digest] || w.synthetic[desc.Digest] != nil {
		return true, nil
	}
	b := w.p.blobs[desc.Digest]
	return b != nil && b.leftOut, nil
}

// Fetch serves the manifests already written, which the engine reads back
// when two images share one.
func (w *tarDest) Fetch(_ context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	w.mu.Lock()
	written := w.written[desc.Digest]
	synth := w.synthetic[desc.Digest]
	w.mu.Unlock()
	if synth != nil {
		return io.NopCloser(bytes.NewReader(synth)), nil
	}
	if b, ok := w.p.manifests[desc.Digest]; ok && written {
		return io.NopCloser(bytes.NewReader(b)), nil
	}
	return nil, fmt.Errorf("%s: %w", desc.Digest, cas.ErrNotFound)
}

// Push appends the blob to its volume, hashing it on the way.
func (w *tarDest) Push(ctx context.Context, desc ocispec.Descriptor, r io.Reader) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	if w.written[desc.Digest] {
		return fmt.Errorf("%s: %w", desc.Digest, cas.ErrExists)
	}
	b := w.p.blobs[desc.Digest]
	if b == nil || b.leftOut {
		return fmt.Errorf("%s: not in the bundle's plan (the source changed while the bundle was made?): %w", desc.Digest, cas.ErrInvalid)
	}
	if desc.Size != b.desc.Size {
		return fmt.Errorf("%s: %d bytes, the plan says %d: %w", desc.Digest, desc.Size, b.desc.Size, cas.ErrSizeMismatch)
	}
	v := w.vols[b.volume-1]
	if err := v.tw.WriteHeader(v.header(blobPath(desc.Digest), desc.Size)); err != nil {
		w.err = fmt.Errorf("volume %s: %w", v.final, err)
		return w.err
	}
	// tarDest is only ever the copy engine's destination, and r the
	// engine's verifying reader (cas.VerifyReader, perhaps under its
	// progress counter): a byte that does not match fails the read that
	// would end the stream, so the entry never counts as written, and the
	// failed create removes the file. Hashing again here would halve the
	// throughput for nothing.
	n, err := io.CopyBuffer(v.tw, &ctxReader{ctx: ctx, r: r}, w.buf)
	switch {
	case err != nil && strings.HasPrefix(err.Error(), desc.Digest.String()):
		w.err = err // the verifier names the digest already
	case err != nil:
		w.err = fmt.Errorf("%s: %w", desc.Digest, err)
	case n != desc.Size:
		w.err = fmt.Errorf("%s: got %d bytes, expected %d: %w", desc.Digest, n, desc.Size, cas.ErrSizeMismatch)
	}
	if w.err != nil {
		return w.err
	}
	w.written[desc.Digest] = true
	return nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// commit checks that every planned blob was written, closes the tars,
// syncs them and renames them into place, the first volume last.
func (w *tarDest) commit() ([]string, int64, error) {
	for _, d := range w.p.order {
		if b := w.p.blobs[d]; !b.leftOut && !w.written[d] {
			return nil, 0, fmt.Errorf("internal error: blob %s of the plan was not written", d)
		}
	}
	var size int64
	for _, v := range w.vols {
		err := v.tw.Close()
		if err == nil {
			err = v.bw.Flush()
		}
		if err == nil {
			// CreateTemp makes the file private; a bundle is meant to be
			// read by others (a registry, containerd).
			err = v.f.Chmod(0o644)
		}
		if err == nil {
			err = v.f.Sync()
		}
		if err == nil {
			var st os.FileInfo
			if st, err = v.f.Stat(); err == nil {
				size += st.Size()
			}
		}
		if err != nil {
			return nil, 0, fmt.Errorf("volume %s: %w", v.final, err)
		}
	}
	var files []string
	for i := len(w.vols) - 1; i >= 0; i-- {
		v := w.vols[i]
		if err := v.f.Close(); err != nil {
			return nil, 0, fmt.Errorf("volume %s: %w", v.final, err)
		}
		if err := os.Rename(v.f.Name(), v.final); err != nil {
			return nil, 0, fmt.Errorf("volume %s: %w", v.final, err)
		}
		v.f = nil
		files = append([]string{v.final}, files...)
	}
	if err := syncDir(filepath.Dir(w.vols[0].final)); err != nil {
		return nil, 0, err
	}
	return files, size, nil
}

// abort removes the temporary files of the volumes not yet committed.
func (w *tarDest) abort() {
	for _, v := range w.vols {
		if v.f != nil {
			v.f.Close()
			os.Remove(v.f.Name())
			v.f = nil
		}
	}
}
