package ui

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/analyze/fleet"
	"github.com/gantry-dev/gantry/internal/analyze/report"
	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/registry"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ReposPage is the repositories page, /ui/?q=QUERY&sort=KEY.
type ReposPage struct {
	// Query keeps the repositories whose name contains it.
	Query string `json:"query"`
	// Sort is name, size, tags or pushed (largest, most, latest first).
	Sort         string        `json:"sort"`
	Repositories []RepoSummary `json:"repositories"`
	// Bytes is the compressed bytes of the repositories shown, each
	// repository counted on its own (blobs shared between them count in
	// each).
	Bytes int64 `json:"bytes"`
	// Pending is the number of images not yet analyzed.
	Pending int `json:"pending"`
}

// RepoSummary is one row of the repositories page.
type RepoSummary struct {
	Name string `json:"name"`
	// Known says the repository has been read since it changed; Tags,
	// Bytes and LastPush are zero until it is.
	Known bool  `json:"known"`
	Tags  int   `json:"tags"`
	Bytes int64 `json:"bytes"`
	// LastPush is when a tag of it was last pushed, as far as this server
	// saw, else the newest creation time of its images.
	LastPush *time.Time `json:"lastPush,omitempty"`
}

// RepoPage is a repository's tags, /ui/repo/NAME.
type RepoPage struct {
	Name string   `json:"name"`
	Tags []TagRow `json:"tags"`
}

// TagRow is one tag of a repository.
type TagRow struct {
	Tag       string        `json:"tag"`
	Digest    digest.Digest `json:"digest"`
	MediaType string        `json:"mediaType"`
	// Compressed is what a pull of every platform moves.
	Compressed int64 `json:"compressed"`
	// Uncompressed is the bytes of the files of the image's layers, once
	// analyzed (nil until then).
	Uncompressed *int64     `json:"uncompressed,omitempty"`
	Platforms    []string   `json:"platforms"`
	Created      *time.Time `json:"created,omitempty"`
	Pushed       *time.Time `json:"pushed,omitempty"`
	// Analysis is pending, running, ready or failed.
	Analysis  string     `json:"analysis"`
	Findings  int        `json:"findings"`
	Referrers []Referrer `json:"referrers"`
	Error     string     `json:"error,omitempty"`
}

// Referrer is an artifact that refers to an image: a signature, an SBOM,
// an attestation.
type Referrer struct {
	Digest       digest.Digest `json:"digest"`
	ArtifactType string        `json:"artifactType"`
	Size         int64         `json:"size"`
	// Kind is a short name for ArtifactType (signature, sbom, ...).
	Kind string `json:"kind"`
}

// ImagePage is one image, /ui/image/NAME:TAG or NAME@DIGEST.
type ImagePage struct {
	Repository string        `json:"repository"`
	Reference  string        `json:"reference"`
	Digest     digest.Digest `json:"digest"`
	// Index is the digest of the index the image was picked from.
	Index    digest.Digest `json:"index,omitempty"`
	Platform string        `json:"platform"`
	// Analysis is pending, running, ready or failed; the figures below
	// that come from the layers' content are set once it is ready.
	Analysis   string       `json:"analysis"`
	Error      string       `json:"error,omitempty"`
	Compressed int64        `json:"compressed"`
	Size       *int64       `json:"size,omitempty"`
	Wasted     *int64       `json:"wasted,omitempty"`
	Layers     []LayerRow   `json:"layers"`
	Config     ConfigView   `json:"config"`
	Findings   []FindingRow `json:"findings"`
	Base       *SharedBase  `json:"base,omitempty"`
}

// LayerRow is one layer of an image.
type LayerRow struct {
	Digest     digest.Digest `json:"digest"`
	Compressed int64         `json:"compressed"`
	Bytes      *int64        `json:"bytes,omitempty"`
	Hidden     *int64        `json:"hidden,omitempty"`
	CreatedBy  string        `json:"createdBy"`
}

// ConfigView is what an image's config says it runs.
type ConfigView struct {
	Created    *time.Time        `json:"created,omitempty"`
	Author     string            `json:"author,omitempty"`
	User       string            `json:"user,omitempty"`
	Entrypoint []string          `json:"entrypoint,omitempty"`
	Cmd        []string          `json:"cmd,omitempty"`
	WorkingDir string            `json:"workingDir,omitempty"`
	Env        []string          `json:"env,omitempty"`
	Ports      []string          `json:"ports,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
}

// FindingRow is a finding of gantry check on the image, with the
// instruction of the layer it is about.
type FindingRow struct {
	report.Finding
	Instruction string `json:"instruction,omitempty"`
}

// SharedBase is the longest run of leading layers the image shares with
// other images the caller may see.
type SharedBase struct {
	Layers int      `json:"layers"`
	Bytes  int64    `json:"bytes"`
	Images []string `json:"images"`
}

// FleetPage is the fleet of images the caller may see, /ui/fleet: every
// tag counted as an image.
type FleetPage struct {
	Report *fleet.Report `json:"report"`
	// SVG is the layer-sharing tree, drawn by internal/analyze/fleet.
	SVG template.HTML `json:"-"`
}

// caller authenticates r through the registry's Authorizer.
func (u *UI) caller(r *http.Request) (registry.Caller, error) {
	if u.opts.Authorizer == nil {
		return everyone{}, nil
	}
	return u.opts.Authorizer.Authenticate(r)
}

// everyone is the caller when there is no Authorizer.
type everyone struct{}

func (everyone) Name() string                   { return "" }
func (everyone) Authorize(string, string) error { return nil }
func (everyone) Can(string, string) bool        { return true }
func (everyone) Lists(string) bool              { return true }

// visible lists the repositories c may pull, sorted.
func (u *UI) visible(ctx context.Context, c registry.Caller) ([]string, error) {
	rl, ok := u.store.(cas.RepositoryLister)
	if !ok {
		return nil, fmt.Errorf("list repositories: %w", cas.ErrUnsupported)
	}
	var names []string
	err := rl.Repositories(ctx, "", func(page []string) error {
		for _, n := range page {
			if c.Can(n, "pull") {
				names = append(names, n)
			}
		}
		return nil
	})
	return names, err
}

// Sort keys of the repositories page.
var sortKeys = []string{"name", "size", "tags", "pushed"}

// reposData builds the repositories page.
func (u *UI) reposData(ctx context.Context, c registry.Caller, query, sortBy string) (*ReposPage, error) {
	if !slices.Contains(sortKeys, sortBy) {
		sortBy = "name"
	}
	names, err := u.visible(ctx, c)
	if err != nil {
		return nil, err
	}
	p := &ReposPage{Query: query, Sort: sortBy, Repositories: make([]RepoSummary, 0, len(names))}
	q := strings.ToLower(query)
	u.mu.Lock()
	for _, n := range names {
		if q != "" && !strings.Contains(strings.ToLower(n), q) {
			continue
		}
		s := RepoSummary{Name: n}
		if st, ok := u.repos[n]; ok {
			s.Known, s.Tags, s.Bytes = true, len(st.tags), st.bytes
			if !st.lastPush.IsZero() {
				t := st.lastPush
				s.LastPush = &t
			}
		}
		p.Bytes += s.Bytes
		p.Repositories = append(p.Repositories, s)
	}
	for _, a := range u.analyses {
		if a.state == statePending || a.state == stateRunning {
			p.Pending++
		}
	}
	u.mu.Unlock()
	by := map[string]func(a, b RepoSummary) int{
		"size": func(a, b RepoSummary) int { return cmp.Compare(b.Bytes, a.Bytes) },
		"tags": func(a, b RepoSummary) int { return cmp.Compare(b.Tags, a.Tags) },
		"pushed": func(a, b RepoSummary) int {
			return cmp.Compare(unix(b.LastPush), unix(a.LastPush))
		},
	}[sortBy]
	if by != nil {
		slices.SortStableFunc(p.Repositories, by) // ties stay by name
	}
	return p, nil
}

func unix(t *time.Time) int64 {
	if t == nil {
		return 0
	}
	return t.UnixNano()
}

// errHidden is a repository the caller may not pull: answered as one that
// does not exist, so names do not leak.
var errHidden = fmt.Errorf("no such repository: %w", cas.ErrNotFound)

// repoData builds a repository's page. Tags are read from the store; what
// they point at comes from the view's cache of manifests, read on a miss
// (manifests and configs only).
func (u *UI) repoData(ctx context.Context, c registry.Caller, name string) (*RepoPage, error) {
	if !c.Can(name, "pull") {
		return nil, errHidden
	}
	tgt, err := u.store.Repository(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("repository %s: %w", name, err)
	}
	tags, err := listTags(ctx, tgt)
	if err != nil {
		return nil, fmt.Errorf("repository %s: %w", name, err)
	}
	if len(tags) == 0 {
		return nil, fmt.Errorf("repository %s: %w", name, cas.ErrNotFound)
	}
	p := &RepoPage{Name: name, Tags: []TagRow{}}
	rl, _ := tgt.(cas.ReferrerLister)
	for _, tag := range tags {
		desc, err := tgt.Resolve(ctx, tag)
		if err != nil {
			continue // untagged meanwhile
		}
		img := u.load(ctx, tgt, desc)
		row := TagRow{Tag: tag, Digest: desc.Digest, MediaType: desc.MediaType, Compressed: img.compressed, Platforms: img.platforms, Referrers: []Referrer{}}
		if img.err != nil {
			row.Error = oneLine(img.err)
		}
		if l := img.loaded; l != nil {
			row.Created = l.Config.Created
			if t := u.pushTime(name, tag, img); !t.IsZero() {
				row.Pushed = &t
			}
			row.Analysis = stateReady
			u.mu.Lock()
			if a, ok := u.analyses[l.Descriptor.Digest]; ok {
				row.Analysis = a.state
				if a.result != nil {
					st := a.result.Stored
					row.Uncompressed, row.Findings = &st, len(a.result.Findings)
				}
			} else {
				row.Analysis = statePending
			}
			u.mu.Unlock()
		}
		if rl != nil {
			refs, err := rl.Referrers(ctx, desc.Digest)
			if err == nil {
				for _, d := range refs {
					row.Referrers = append(row.Referrers, Referrer{Digest: d.Digest, ArtifactType: d.ArtifactType, Size: d.Size, Kind: referrerKind(d.ArtifactType)})
				}
			}
		}
		p.Tags = append(p.Tags, row)
	}
	return p, nil
}

// referrerKind names the common artifact types.
func referrerKind(t string) string {
	switch {
	case strings.Contains(t, "sigstore") || strings.Contains(t, "cosign") || strings.Contains(t, "signature") || strings.Contains(t, "notary"):
		return "signature"
	case strings.Contains(t, "spdx") || strings.Contains(t, "cyclonedx") || strings.Contains(t, "sbom"):
		return "sbom"
	case strings.Contains(t, "in-toto") || strings.Contains(t, "attestation") || strings.Contains(t, "provenance"):
		return "attestation"
	case t == "":
		return "artifact"
	}
	return t
}

// splitRef splits NAME:TAG or NAME@DIGEST.
func splitRef(ref string) (name, reference string, ok bool) {
	i := strings.LastIndex(ref, "@")
	if i < 0 {
		i = strings.LastIndex(ref, ":")
		if i < 0 || strings.Contains(ref[i:], "/") {
			return "", "", false
		}
	}
	if i == 0 || i == len(ref)-1 {
		return "", "", false
	}
	return ref[:i], ref[i+1:], true
}

// imageData builds an image's page.
func (u *UI) imageData(ctx context.Context, c registry.Caller, ref string) (*ImagePage, error) {
	name, reference, ok := splitRef(ref)
	if !ok {
		return nil, fmt.Errorf("image %q: want NAME:TAG or NAME@DIGEST: %w", ref, cas.ErrInvalid)
	}
	if !c.Can(name, "pull") {
		return nil, errHidden
	}
	tgt, err := u.store.Repository(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("repository %s: %w", name, err)
	}
	desc, err := tgt.Resolve(ctx, reference)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", ref, err)
	}
	img := u.load(ctx, tgt, desc)
	if img.err != nil {
		return nil, fmt.Errorf("image %s: %w", ref, img.err)
	}
	l := img.loaded
	p := &ImagePage{Repository: name, Reference: reference, Digest: l.Descriptor.Digest, Platform: platformOf(l.Config.Platform),
		Compressed: l.Descriptor.Size + l.Manifest.Config.Size, Layers: []LayerRow{}, Findings: []FindingRow{}}
	if l.Index != nil {
		p.Index = l.Index.Digest
	}
	cfg := l.Config.Config
	p.Config = ConfigView{Created: l.Config.Created, Author: l.Config.Author, User: cfg.User, Entrypoint: cfg.Entrypoint, Cmd: cfg.Cmd,
		WorkingDir: cfg.WorkingDir, Env: cfg.Env, Labels: cfg.Labels}
	for port := range cfg.ExposedPorts {
		p.Config.Ports = append(p.Config.Ports, port)
	}
	slices.Sort(p.Config.Ports)
	byLayer := map[string]string{}
	for i, d := range l.Manifest.Layers {
		p.Compressed += d.Size
		p.Layers = append(p.Layers, LayerRow{Digest: d.Digest, Compressed: d.Size, CreatedBy: l.CreatedBy[i]})
		byLayer[d.Digest.String()] = l.CreatedBy[i]
	}
	u.mu.Lock()
	a, ok := u.analyses[l.Descriptor.Digest]
	if !ok {
		p.Analysis = statePending
	} else {
		p.Analysis = a.state
		if a.err != nil {
			p.Error = oneLine(a.err)
		}
		if r := a.result; r != nil {
			size, wasted := r.Size, r.Wasted
			p.Size, p.Wasted = &size, &wasted
			for i := range p.Layers {
				if i < len(r.Layers) {
					b, h := r.Layers[i].Bytes, r.Layers[i].Hidden
					p.Layers[i].Bytes, p.Layers[i].Hidden = &b, &h
				}
			}
			for _, f := range r.Findings {
				p.Findings = append(p.Findings, FindingRow{Finding: f, Instruction: byLayer[f.Layer]})
			}
		}
	}
	u.mu.Unlock()
	p.Base = u.sharedBase(ctx, c, l.Descriptor.Digest)
	return p, nil
}

// fleetImages lists every tagged image the caller may pull, as the
// background refresh last read them, named REPOSITORY:TAG.
func (u *UI) fleetImages(ctx context.Context, c registry.Caller) ([]fleet.Image, string, error) {
	names, err := u.visible(ctx, c)
	if err != nil {
		return nil, "", err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	var imgs []fleet.Image
	var key strings.Builder
	fmt.Fprintf(&key, "%d", u.gen)
	for _, n := range names {
		st, ok := u.repos[n]
		if !ok {
			continue
		}
		key.WriteString("|" + n)
		for _, t := range st.tags {
			if t.img.loaded != nil {
				imgs = append(imgs, fleet.Image{Name: n + ":" + t.tag, Loaded: t.img.loaded})
			}
		}
	}
	return imgs, key.String(), nil
}

// fleetCache keeps the last fleet report: most callers see the same
// repositories, and the report changes only when they do.
type fleetCache struct {
	key    string
	report *fleet.Report
}

// fleetReport analyzes the fleet the caller may see.
func (u *UI) fleetReport(ctx context.Context, c registry.Caller) (*fleet.Report, error) {
	imgs, key, err := u.fleetImages(ctx, c)
	if err != nil {
		return nil, err
	}
	u.mu.Lock()
	if u.fleet.key == key {
		r := u.fleet.report
		u.mu.Unlock()
		return r, nil
	}
	u.mu.Unlock()
	r := fleet.Analyze(imgs)
	u.mu.Lock()
	u.fleet = fleetCache{key: key, report: r}
	u.mu.Unlock()
	return r, nil
}

// sharedBase finds the longest run of leading layers the image d shares
// with other images of the caller's fleet (the same image under another
// tag does not count), and the images it shares it with. It compares d
// with each image once: a page of one image never runs the fleet's
// analysis, which compares every pair.
func (u *UI) sharedBase(ctx context.Context, c registry.Caller, d digest.Digest) *SharedBase {
	imgs, _, err := u.fleetImages(ctx, c)
	if err != nil {
		return nil
	}
	var layers []ocispec.Descriptor
	for _, img := range imgs {
		if img.Loaded.Descriptor.Digest == d {
			layers = img.Loaded.Manifest.Layers
			break
		}
	}
	b := &SharedBase{Images: []string{}}
	for _, img := range imgs {
		if img.Loaded.Descriptor.Digest == d {
			continue
		}
		other := img.Loaded.Manifest.Layers
		k := 0
		for k < len(layers) && k < len(other) && layers[k].Digest == other[k].Digest {
			k++
		}
		switch {
		case k == 0 || k < b.Layers:
			continue
		case k > b.Layers:
			b.Layers, b.Images = k, b.Images[:0]
		}
		b.Images = append(b.Images, img.Name)
	}
	if b.Layers == 0 {
		return nil
	}
	for _, l := range layers[:b.Layers] {
		b.Bytes += l.Size
	}
	return b
}

// oneLine keeps the first line of an error.
func oneLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// status maps an error to the HTTP status of its page.
func status(err error) int {
	switch {
	case errors.Is(err, cas.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, cas.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, context.Canceled):
		return 499
	}
	return http.StatusInternalServerError
}
