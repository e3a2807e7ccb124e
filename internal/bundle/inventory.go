package bundle

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/atomicfile"
	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/oci"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
)

// InventoryVersion is the version of the inventory file format.
const InventoryVersion = 1

// Inventory records the content a site has: every digest reachable from its
// tags, with sizes. gantry inventory writes it as JSON; bundle create --have
// reads it to leave out what the site has.
type Inventory struct {
	// Version is the file format version (InventoryVersion).
	Version int `json:"version"`
	// Created is when the inventory was taken (UTC).
	Created time.Time `json:"created"`
	// Source says what was inventoried ("registry.example.com", "oci:/srv/store",
	// "bundle app-1.3.tar").
	Source string `json:"source,omitempty"`
	// Blobs lists the content present, sorted by digest, each once.
	Blobs []InventoryBlob `json:"blobs"`

	index map[digest.Digest]int64
}

// InventoryBlob is one digest an Inventory records.
type InventoryBlob struct {
	// Digest names the content.
	Digest digest.Digest `json:"digest"`
	// Size is its size in bytes.
	Size int64 `json:"size"`
}

// Has reports whether the inventory records d.
func (inv *Inventory) Has(d digest.Digest) bool {
	if inv == nil {
		return false
	}
	inv.build()
	_, ok := inv.index[d]
	return ok
}

// Len returns the number of digests recorded.
func (inv *Inventory) Len() int { return len(inv.Blobs) }

func (inv *Inventory) build() {
	if inv.index != nil {
		return
	}
	inv.index = make(map[digest.Digest]int64, len(inv.Blobs))
	for _, b := range inv.Blobs {
		inv.index[b.Digest] = b.Size
	}
}

// add records d, keeping Blobs sorted on normalize.
func (inv *Inventory) add(d digest.Digest, size int64) {
	inv.build()
	if _, ok := inv.index[d]; ok {
		return
	}
	inv.index[d] = size
	inv.Blobs = append(inv.Blobs, InventoryBlob{Digest: d, Size: size})
}

func (inv *Inventory) normalize() {
	slices.SortFunc(inv.Blobs, func(a, b InventoryBlob) int {
		if a.Digest < b.Digest {
			return -1
		}
		if a.Digest > b.Digest {
			return 1
		}
		return 0
	})
}

// Digest returns the digest of the inventory's blob list, which a delta
// records as its base.
func (inv *Inventory) Digest() digest.Digest {
	inv.normalize()
	b, _ := json.Marshal(inv.Blobs)
	return digest.FromBytes(b)
}

// TakeInventory walks every tag of every repository of store and records
// every digest reachable from them. The store must list its repositories
// (cas.RepositoryLister) and their tags (cas.TagLister), as gantry's stores
// and registries with the catalog API do.
//
// An index's children that are absent (a sparse, platform-filtered index)
// are skipped; an image manifest's config and layers are recorded without
// asking the store, since gantry writers push children before parents.
func TakeInventory(ctx context.Context, store cas.Store) (*Inventory, error) {
	rl, ok := store.(cas.RepositoryLister)
	if !ok {
		return nil, fmt.Errorf("inventory: the store cannot list its repositories: %w", cas.ErrUnsupported)
	}
	var repos []string
	if err := rl.Repositories(ctx, "", func(page []string) error {
		repos = append(repos, page...)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("inventory: list repositories: %w", err)
	}
	inv := &Inventory{Version: InventoryVersion, Created: time.Now().UTC().Truncate(time.Second)}
	var mu sync.Mutex
	walked := map[digest.Digest]bool{}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(inventoryConcurrency)
	for _, name := range repos {
		t, err := store.Repository(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("inventory: repository %s: %w", name, err)
		}
		tl, ok := t.(cas.TagLister)
		if !ok {
			return nil, fmt.Errorf("inventory: repository %s cannot list its tags: %w", name, cas.ErrUnsupported)
		}
		var tags []string
		if err := tl.Tags(ctx, "", func(page []string) error {
			tags = append(tags, page...)
			return nil
		}); err != nil {
			return nil, fmt.Errorf("inventory: tags of %s: %w", name, err)
		}
		for _, tag := range tags {
			g.Go(func() error {
				root, err := t.Resolve(gctx, tag)
				if err != nil {
					return fmt.Errorf("inventory: %s:%s: %w", name, tag, err)
				}
				w := &inventoryWalk{t: t, inv: inv, mu: &mu, walked: walked}
				if err := w.walk(gctx, root, true); err != nil {
					return fmt.Errorf("inventory: %s:%s: %w", name, tag, err)
				}
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	inv.normalize()
	return inv, nil
}

// inventoryConcurrency is the number of tags walked at once.
const inventoryConcurrency = 4

type inventoryWalk struct {
	t      cas.Target
	inv    *Inventory
	mu     *sync.Mutex
	walked map[digest.Digest]bool
}

func (w *inventoryWalk) walk(ctx context.Context, desc ocispec.Descriptor, root bool) error {
	w.mu.Lock()
	done := w.walked[desc.Digest]
	w.walked[desc.Digest] = true
	w.mu.Unlock()
	if done {
		return nil
	}
	if !root {
		ok, err := w.t.Exists(ctx, desc)
		if err != nil {
			return err
		}
		if !ok { // another platform of a sparse index
			w.mu.Lock()
			delete(w.walked, desc.Digest)
			w.mu.Unlock()
			return nil
		}
	}
	data, err := cas.FetchAll(ctx, w.t, desc, oci.MaxManifestSize)
	if err != nil {
		return fmt.Errorf("manifest %s: %w", desc.Digest, err)
	}
	m, err := oci.ParseManifest(desc, data)
	if err != nil {
		return err
	}
	// Every platform: the inventory is what the site has, and the
	// entries of a sparse index it lacks are skipped above.
	children, err := oci.Children(desc, m, nil)
	if err != nil {
		return err
	}
	w.mu.Lock()
	w.inv.add(desc.Digest, desc.Size)
	for _, c := range children {
		if !oci.IsManifest(c.MediaType) {
			w.inv.add(c.Digest, c.Size)
		}
	}
	w.mu.Unlock()
	for _, c := range children {
		if oci.IsManifest(c.MediaType) {
			if err := w.walk(ctx, c, false); err != nil {
				return err
			}
		}
	}
	return nil
}

// ReadInventory reads an inventory file written by Write.
func ReadInventory(path string) (*Inventory, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	var inv Inventory
	if err := json.Unmarshal(data, &inv); err != nil {
		return nil, fmt.Errorf("inventory %s: not valid JSON (%v): is it a file gantry inventory wrote?: %w", path, err, cas.ErrInvalid)
	}
	if inv.Version < 1 || inv.Version > InventoryVersion {
		return nil, fmt.Errorf("inventory %s: version %d, want 1 to %d: %w", path, inv.Version, InventoryVersion, cas.ErrInvalid)
	}
	for _, b := range inv.Blobs {
		if err := cas.ValidateDigest(b.Digest); err != nil {
			return nil, fmt.Errorf("inventory %s: %w", path, err)
		}
	}
	inv.normalize()
	return &inv, nil
}

// Write writes the inventory as JSON to path, atomically (temporary file,
// fsync, rename).
func (inv *Inventory) Write(path string) error {
	inv.normalize()
	data, err := json.MarshalIndent(inv, "", " ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(data, '\n'))
}

// InventoryOf returns what a site has once it has loaded the bundle r:
// every blob r holds, plus what its base left out.
func InventoryOf(r *Reader) *Inventory {
	m := r.Manifest()
	inv := &Inventory{Version: InventoryVersion, Created: m.Created, Source: "bundle " + m.Volumes[0].Name}
	for _, b := range m.Blobs {
		inv.add(b.Digest, b.Size)
	}
	if m.Base != nil {
		for _, b := range m.Base.LeftOut {
			inv.add(b.Digest, b.Size)
		}
	}
	inv.normalize()
	return inv
}

// writeFileAtomic replaces path with data durably.
func writeFileAtomic(path string, data []byte) error {
	return atomicfile.Write(path, data, atomicfile.Options{})
}

// syncDir makes changes to dir's entries durable.
func syncDir(dir string) error { return atomicfile.SyncDir(dir) }
