package disk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/oci"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// splitRefName splits an org.opencontainers.image.ref.name value of the form
// REPO:TAG. ok is false for anything else (a bare tag, "HOST:PORT/REPO"
// without a tag, an invalid name): such entries belong to other tools.
func splitRefName(name string) (repo, tag string, ok bool) {
	i := strings.LastIndexByte(name, ':')
	if i <= strings.LastIndexByte(name, '/') {
		return "", "", false
	}
	repo, tag = name[:i], name[i+1:]
	if oci.ValidateLayoutRepository(repo) != nil || oci.ValidateTag(tag) != nil {
		return "", "", false
	}
	return repo, tag, true
}

// loadIndex reads index.json into the maps. A missing index.json is an empty
// one (a layout whose creation a crash interrupted).
func (s *Store) loadIndex() error {
	p := s.path(indexFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		s.top = map[string]json.RawMessage{}
		return nil
	}
	if err != nil {
		return fmt.Errorf("store %s: %w", s.dir, err)
	}
	bad := func(why string) error {
		return fmt.Errorf("store %s: %s %s: the layout's tags cannot be read; restore index.json from a backup, or move it aside to start with no tags (blobs are kept, and gantry fsck lists them): %w", s.dir, p, why, cas.ErrInvalid)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		return bad("is not valid JSON (" + err.Error() + ")")
	}
	if top == nil {
		return bad("is not a JSON object")
	}
	var entries []json.RawMessage
	if raw, ok := top["manifests"]; ok {
		if err := json.Unmarshal(raw, &entries); err != nil {
			return bad("has a \"manifests\" field that is not a list of descriptors (" + err.Error() + ")")
		}
	}
	delete(top, "manifests")
	s.top = top
	for _, raw := range entries {
		var d ocispec.Descriptor
		if err := json.Unmarshal(raw, &d); err != nil {
			s.foreign = append(s.foreign, raw)
			continue
		}
		if oci.IsManifest(d.MediaType) && cas.ValidateDigest(d.Digest) == nil {
			s.types[d.Digest] = d.MediaType
		}
		repo, tag, ok := splitRefName(d.Annotations[ocispec.AnnotationRefName])
		if !ok || cas.ValidateDescriptor(d) != nil {
			s.foreign = append(s.foreign, raw)
			continue
		}
		s.setTag(repo, tag, d)
	}
	return nil
}

// setTag points repo:tag at d in the maps; mu is held (or the store is not
// shared yet).
func (s *Store) setTag(repo, tag string, d ocispec.Descriptor) {
	s.tags.set(repo, tag, d)
}

// removeTag reports whether repo:tag existed; mu is held.
func (s *Store) removeTag(repo, tag string) bool {
	return s.tags.remove(repo, tag)
}

// indexSnapshot is index.json's content at one moment, taken under the
// locks in O(1) (the tag index is cloned, copy on write) and serialized
// without them.
type indexSnapshot struct {
	top     map[string]json.RawMessage
	foreign []json.RawMessage
	owned   tagIndex
}

// snapshot captures what index.json must hold; mu is held for writing (the
// clone must not race a change).
func (s *Store) snapshot() indexSnapshot {
	return indexSnapshot{top: maps.Clone(s.top), foreign: slices.Clone(s.foreign), owned: s.tags.clone()}
}

// marshal writes index.json: the fields gantry does not manage as they were,
// then other tools' entries in their order, then gantry's tags sorted by
// repository and tag, one per line so the file diffs and greps well.
func (snap indexSnapshot) marshal() ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(64 + 200*(snap.owned.len()+len(snap.foreign)))
	buf.WriteString(`{"schemaVersion":2`)
	if _, ok := snap.top["mediaType"]; !ok {
		buf.WriteString(`,"mediaType":"` + ocispec.MediaTypeImageIndex + `"`)
	}
	for _, k := range slices.Sorted(maps.Keys(snap.top)) {
		if k == "schemaVersion" {
			continue
		}
		kb, _ := json.Marshal(k)
		buf.WriteByte(',')
		buf.Write(kb)
		buf.WriteByte(':')
		buf.Write(snap.top[k])
	}
	buf.WriteString(`,"manifests":[`)
	sep := "\n"
	for _, raw := range snap.foreign {
		buf.WriteString(sep)
		if err := json.Compact(&buf, raw); err != nil {
			return nil, err
		}
		sep = ",\n"
	}
	var err error
	snap.owned.each(func(e tagEntry) bool {
		var b []byte
		if b, err = json.Marshal(e.desc); err != nil {
			return false
		}
		buf.WriteString(sep)
		buf.Write(b)
		sep = ",\n"
		return true
	})
	if err != nil {
		return nil, err
	}
	buf.WriteString("\n]}\n")
	return buf.Bytes(), nil
}
