package fleet

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/gantry-dev/gantry/internal/analyze/image"
	"github.com/gantry-dev/gantry/internal/analyze/report"
	"github.com/opencontainers/go-digest"
)

// Image is one image of the fleet: its name and what its manifest and
// config say.
type Image struct {
	Name   string
	Loaded *image.Loaded
}

// ImageSummary is one image's share of the fleet.
type ImageSummary struct {
	Name   string        `json:"name"`
	Digest digest.Digest `json:"digest"`
	Layers int           `json:"layers"`
	// Bytes is what pulling this image alone moves (compressed layers).
	Bytes int64 `json:"bytes"`
	// Unique is the bytes of layers no other image of the set uses.
	Unique int64 `json:"unique"`
	// Shared is Bytes - Unique.
	Shared int64 `json:"shared"`
	// BaseLayers is how many leading layers it shares with another image.
	BaseLayers int    `json:"baseLayers"`
	Family     string `json:"family"`
}

// Node is a node of the layer-sharing tree: a run of layers every image
// below it starts with.
type Node struct {
	Layers []digest.Digest `json:"layers"`
	Bytes  int64           `json:"bytes"` // of this node's layers
	// Images ends here: their last layer is this node's last.
	Images   []string `json:"images,omitempty"`
	Children []*Node  `json:"children,omitempty"`
	// Count is the number of images at or below this node.
	Count int `json:"count"`
}

// Family is a set of images whose bases are variants of one base (same
// recipe, different builds).
type Family struct {
	Name   string   `json:"name"`
	Images []string `json:"images"`
	// Bases lists each distinct base (as its top layer) and its images.
	Bases []Base `json:"bases"`
}

// Base is one base of a family: its layers and the images on it.
type Base struct {
	Top    digest.Digest `json:"top"`
	Layers int           `json:"layers"`
	Bytes  int64         `json:"bytes"`
	Images []string      `json:"images"`
}

// Recommendation is a rebase that saves bytes on every node.
type Recommendation struct {
	Family  string        `json:"family"`
	Images  []string      `json:"images"`
	Bases   int           `json:"bases"`
	Target  digest.Digest `json:"target"`  // top layer of the base to move to
	Example string        `json:"example"` // an image already on the target
	Saves   int64         `json:"saves"`   // bytes per node
	Message string        `json:"message"`
}

// Report is a fleet analysis.
type Report struct {
	Images []ImageSummary `json:"images"`
	// Total is the sum of each image's bytes: what pulling each image
	// separately, sharing nothing, moves.
	Total int64 `json:"total"`
	// Node is what one node pulls to run every image: each distinct
	// layer once.
	Node int64 `json:"node"`
	// Shared is the bytes of distinct layers used by two images or more,
	// Unique the bytes of those used by one.
	Shared          int64            `json:"shared"`
	Unique          int64            `json:"unique"`
	Tree            *Node            `json:"tree"`
	Families        []Family         `json:"families"`
	Recommendations []Recommendation `json:"recommendations"`
}

// Analyze computes the report for images.
func Analyze(images []Image) *Report {
	r := &Report{}
	users := map[digest.Digest]int{}
	sizes := map[digest.Digest]int64{}
	for _, img := range images {
		seen := map[digest.Digest]bool{}
		for _, l := range img.Loaded.Manifest.Layers {
			sizes[l.Digest] = l.Size
			if !seen[l.Digest] {
				seen[l.Digest] = true
				users[l.Digest]++
			}
		}
	}
	for d, n := range users {
		if n > 1 {
			r.Shared += sizes[d]
		} else {
			r.Unique += sizes[d]
		}
		r.Node += sizes[d]
	}
	prefix := sharedPrefixes(images)
	for i, img := range images {
		s := ImageSummary{Name: img.Name, Digest: img.Loaded.Descriptor.Digest, Layers: len(img.Loaded.Manifest.Layers), BaseLayers: prefix[i], Family: familyKey(img)}
		seen := map[digest.Digest]bool{}
		for _, l := range img.Loaded.Manifest.Layers {
			if seen[l.Digest] {
				continue
			}
			seen[l.Digest] = true
			s.Bytes += l.Size
			if users[l.Digest] == 1 {
				s.Unique += l.Size
			}
		}
		s.Shared = s.Bytes - s.Unique
		r.Total += s.Bytes
		r.Images = append(r.Images, s)
	}
	r.Tree = tree(images, sizes)
	r.families(images, prefix, sizes)
	return r
}

// sharedPrefixes returns, for each image, the number of leading layers it
// shares with another image of the set (the longest common prefix with any
// other), in time linear in the layers: the images' layer sequences go
// into a trie counting the images through each node, and an image shares
// exactly the nodes of its path that two images or more pass through.
// Comparing every pair instead costs seconds for 10,000 images.
func sharedPrefixes(images []Image) []int {
	type key struct {
		parent int
		d      digest.Digest
	}
	nodes := map[key]int{} // node ids; 0 is the root
	var count []int        // images through node id-1
	paths := make([][]int, len(images))
	for i, img := range images {
		at := 0
		for _, l := range img.Loaded.Manifest.Layers {
			k := key{at, l.Digest}
			id, ok := nodes[k]
			if !ok {
				count = append(count, 0)
				id = len(count)
				nodes[k] = id
			}
			count[id-1]++
			paths[i] = append(paths[i], id)
			at = id
		}
	}
	prefix := make([]int, len(images))
	for i, path := range paths {
		for _, id := range path {
			if count[id-1] < 2 {
				break
			}
			prefix[i]++
		}
	}
	return prefix
}

// tree builds the trie of layer sequences and folds runs with one child
// and no image ending into one node.
func tree(images []Image, sizes map[digest.Digest]int64) *Node {
	type tnode struct {
		d        digest.Digest
		children []*tnode
		images   []string
		count    int
	}
	root := &tnode{}
	for _, img := range images {
		n := root
		n.count++
		for _, l := range img.Loaded.Manifest.Layers {
			var next *tnode
			for _, c := range n.children {
				if c.d == l.Digest {
					next = c
				}
			}
			if next == nil {
				next = &tnode{d: l.Digest}
				n.children = append(n.children, next)
			}
			n = next
			n.count++
		}
		n.images = append(n.images, img.Name)
	}
	var fold func(t *tnode) *Node
	fold = func(t *tnode) *Node {
		out := &Node{Count: t.count}
		for {
			if t.d != "" {
				out.Layers = append(out.Layers, t.d)
				out.Bytes += sizes[t.d]
			}
			if len(t.children) != 1 || len(t.images) > 0 {
				break
			}
			t = t.children[0]
		}
		out.Images = t.images
		for _, c := range t.children {
			out.Children = append(out.Children, fold(c))
		}
		slices.SortFunc(out.Children, func(a, b *Node) int { return cmp.Compare(b.Count, a.Count) })
		return out
	}
	return fold(root)
}

var (
	hexRE   = regexp.MustCompile(`(sha256:)?[0-9a-f]{12,}`)
	stampRE = regexp.MustCompile(`@\d{6,}|\b\d{8,}\b|\b20\d\d-?\d\d-?\d\d\b`)
	spaceRE = regexp.MustCompile(`\s+`)
)

// familyKey names the family of an image's base: the repository of its
// base-image annotation, else the recipe of its first layer (its history
// instruction with digests and dates taken out, so rebuilds of one base
// match), with the platform.
func familyKey(img Image) string {
	l := img.Loaded
	plat := l.Config.OS + "/" + l.Config.Architecture
	if name := l.Manifest.Annotations[image.AnnotationBaseName]; name != "" {
		repo, _, _ := strings.Cut(name, "@")
		if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
			repo = repo[:i]
		}
		return repo + " " + plat
	}
	cb := ""
	if len(l.CreatedBy) > 0 {
		cb = l.CreatedBy[0]
	}
	cb = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(cb), "/bin/sh -c #(nop)"))
	cb = stampRE.ReplaceAllString(hexRE.ReplaceAllString(cb, "…"), "…")
	cb = spaceRE.ReplaceAllString(cb, " ")
	if cb == "" {
		cb = "base without history"
	}
	if len(cb) > 60 {
		cb = cb[:57] + "..."
	}
	return cb + " " + plat
}

// families groups images by base family; a family on several bases gets a
// recommendation: move every image to the base most of them use, priced as
// the bytes a node running all the images would no longer pull.
func (r *Report) families(images []Image, prefix []int, sizes map[digest.Digest]int64) {
	byKey := map[string][]int{}
	var keys []string
	for i := range images {
		k := r.Images[i].Family
		if byKey[k] == nil {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], i)
	}
	for _, k := range keys {
		idx := byKey[k]
		fam := Family{Name: k}
		bases := map[digest.Digest]*Base{}
		var order []digest.Digest
		baseOf := make(map[int][]digest.Digest)
		for _, i := range idx {
			layers := images[i].Loaded.Manifest.Layers
			if len(layers) == 0 {
				continue
			}
			n := max(prefix[i], 1)
			var ds []digest.Digest
			var bytes int64
			for _, l := range layers[:n] {
				ds = append(ds, l.Digest)
				bytes += l.Size
			}
			baseOf[i] = ds
			top := ds[len(ds)-1]
			b := bases[top]
			if b == nil {
				b = &Base{Top: top, Layers: n, Bytes: bytes}
				bases[top] = b
				order = append(order, top)
			}
			b.Images = append(b.Images, images[i].Name)
			fam.Images = append(fam.Images, images[i].Name)
		}
		for _, d := range order {
			fam.Bases = append(fam.Bases, *bases[d])
		}
		slices.SortStableFunc(fam.Bases, func(a, b Base) int { return cmp.Compare(len(b.Images), len(a.Images)) })
		r.Families = append(r.Families, fam)
		if len(fam.Bases) < 2 {
			continue
		}
		target := fam.Bases[0]
		saves := r.saving(images, idx, baseOf, target, sizes)
		if saves <= 0 {
			continue
		}
		rec := Recommendation{Family: k, Images: fam.Images, Bases: len(fam.Bases), Target: target.Top, Example: target.Images[0], Saves: saves}
		rec.Message = fmt.Sprintf("%d images on %d different %s bases: moving them to the base of %s saves %s per node",
			len(fam.Images), len(fam.Bases), k, target.Images[0], report.Bytes(saves))
		r.Recommendations = append(r.Recommendations, rec)
	}
	slices.SortStableFunc(r.Recommendations, func(a, b Recommendation) int { return cmp.Compare(b.Saves, a.Saves) })
}

// saving is the node bytes before minus after replacing the base layers of
// the family's images with the target's.
func (r *Report) saving(images []Image, family []int, baseOf map[int][]digest.Digest, target Base, sizes map[digest.Digest]int64) int64 {
	var targetLayers []digest.Digest
	for _, i := range family {
		if b := baseOf[i]; len(b) > 0 && b[len(b)-1] == target.Top {
			targetLayers = b
			break
		}
	}
	in := map[int]bool{}
	for _, i := range family {
		in[i] = true
	}
	after := map[digest.Digest]bool{}
	for i, img := range images {
		layers := img.Loaded.Manifest.Layers
		start := 0
		if in[i] {
			start = len(baseOf[i])
			for _, d := range targetLayers {
				after[d] = true
			}
		}
		for _, l := range layers[start:] {
			after[l.Digest] = true
		}
	}
	var n int64
	for d := range after {
		n += sizes[d]
	}
	return r.Node - n
}
