package disk

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/oci"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// splitRefName splits an org.opencontainers.image.ref.name value of the form
// REPO:TAG. ok is false for anything else (a bare tag, "HOST:PORT/REPO"
// without a tag, an invalid name): such entries belong to other tools.
func splitRefName(name string) (repo, tag string, ok bool) {
	repo, tag, ok = cutRefName(name)
	if !ok || oci.ValidateLayoutRepository(repo) != nil || oci.ValidateTag(tag) != nil {
		return "", "", false
	}
	return repo, tag, true
}

// cutRefName is splitRefName without validating the parts.
func cutRefName(name string) (repo, tag string, ok bool) {
	i := strings.LastIndexByte(name, ':')
	if i <= strings.LastIndexByte(name, '/') {
		return "", "", false
	}
	return name[:i], name[i+1:], true
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
	top, raws, entries, err := parseIndex(b)
	if err != nil {
		return bad(err.Error())
	}
	s.top = top
	for i, e := range entries {
		if !e.ok {
			s.foreign = append(s.foreign, raws[i])
			continue
		}
		if e.entry == nil {
			s.foreign = append(s.foreign, raws[i])
			continue
		}
		s.tags.insert(e.entry)
	}
	return nil
}

// splitIndex reads index.json in one pass: the fields other than
// "manifests" as they are, and the entries of "manifests" undecoded, so
// decodeEntries can decode them on every core.
func splitIndex(b []byte) (map[string]json.RawMessage, []json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	notJSON := func(err error) error { return fmt.Errorf("is not valid JSON (%v)", err) }
	if t, err := dec.Token(); err != nil {
		return nil, nil, notJSON(err)
	} else if t != json.Delim('{') {
		return nil, nil, errors.New("is not a JSON object")
	}
	top := map[string]json.RawMessage{}
	var raws []json.RawMessage
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, nil, notJSON(err)
		}
		key, _ := t.(string)
		if key != "manifests" {
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				return nil, nil, notJSON(err)
			}
			top[key] = v
			continue
		}
		notList := func(why string) error {
			return fmt.Errorf("has a \"manifests\" field that is not a list of descriptors (%s)", why)
		}
		if t, err := dec.Token(); err != nil {
			return nil, nil, notJSON(err)
		} else if t == nil {
			continue
		} else if t != json.Delim('[') {
			return nil, nil, notList(fmt.Sprintf("%v", t))
		}
		raws = raws[:0]
		for dec.More() {
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				return nil, nil, notJSON(err)
			}
			raws = append(raws, v)
		}
		if _, err := dec.Token(); err != nil { // ']'
			return nil, nil, notJSON(err)
		}
	}
	if _, err := dec.Token(); err != nil { // '}'
		return nil, nil, notJSON(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, errors.New("has data after its JSON object")
	}
	return top, raws, nil
}

// parseIndex splits index.json and decodes its entries: the fast way when
// gantry wrote the file (splitOwnIndex; its entries are checked as JSON
// when they are decoded, and any that is not sends the file the general
// way), else splitIndex's.
func parseIndex(b []byte) (map[string]json.RawMessage, []json.RawMessage, []indexEntry, error) {
	if top, raws, ok := splitOwnIndex(b); ok {
		entries := decodeEntries(raws)
		if !slices.ContainsFunc(entries, func(e indexEntry) bool { return e.notJSON }) {
			return top, raws, entries, nil
		}
	}
	top, raws, err := splitIndex(b)
	if err != nil {
		return nil, nil, nil, err
	}
	return top, raws, decodeEntries(raws), nil
}

// splitOwnIndex is splitIndex for the index.json gantry writes (writeTo):
// the fields, then "manifests":[ and a newline, one entry per line, and
// "\n]}\n". A raw newline cannot occur inside a JSON string, so the lines
// are the entries, found without scanning their bytes here; each is
// checked as JSON when decodeEntries decodes it, and the fields before the
// list are checked with the list emptied. ok is false for any other shape
// (a layout another tool wrote or pretty-printed, a line that is not one
// JSON object): splitIndex then reads the file the general way.
func splitOwnIndex(b []byte) (top map[string]json.RawMessage, raws []json.RawMessage, ok bool) {
	const open, end = `,"manifests":[` + "\n", "\n]}\n"
	i := bytes.Index(b, []byte(open))
	if i < 0 || !bytes.HasSuffix(b, []byte(end)) || i+len(open) > len(b)-len(end) {
		return nil, nil, false
	}
	head := append(append([]byte{}, b[:i]...), `,"manifests":[]}`...)
	if json.Unmarshal(head, &top) != nil || top == nil {
		return nil, nil, false
	}
	if _, dup := top["manifests"]; dup || len(top) == 0 {
		return nil, nil, false
	}
	delete(top, "manifests")
	body := b[i+len(open) : len(b)-len(end)]
	for len(body) > 0 {
		line, rest, more := bytes.Cut(body, []byte("\n"))
		if more {
			var comma bool
			if line, comma = bytes.CutSuffix(line, []byte(",")); !comma {
				return nil, nil, false
			}
		}
		if len(line) < 2 || line[0] != '{' || line[len(line)-1] != '}' {
			return nil, nil, false
		}
		raws = append(raws, json.RawMessage(line))
		body = rest
		if more && len(body) == 0 {
			return nil, nil, false
		}
	}
	return top, raws, true
}

// indexEntry is one entry of index.json, decoded.
type indexEntry struct {
	desc    ocispec.Descriptor
	ok      bool      // a well-formed descriptor
	notJSON bool      // not even valid JSON
	entry   *tagEntry // set when it is one of gantry's tags (ref.name REPO:TAG)
}

// decodeEntries decodes the entries of index.json on every core: at
// 100,000 tags, decoding descriptors is most of what opening a store costs.
func decodeEntries(raws []json.RawMessage) []indexEntry {
	out := make([]indexEntry, len(raws))
	workers := min(runtime.GOMAXPROCS(0), max(1, len(raws)/1000))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			repos := map[string]bool{} // a repository's name is checked once
			for i := w; i < len(raws); i += workers {
				e := &out[i]
				if err := json.Unmarshal(raws[i], &e.desc); err != nil {
					var se *json.SyntaxError
					e.notJSON = errors.As(err, &se)
					continue
				}
				if cas.ValidateDescriptor(e.desc) != nil {
					continue
				}
				e.ok = true
				repo, tag, ok := cutRefName(e.desc.Annotations[ocispec.AnnotationRefName])
				if !ok || oci.ValidateTag(tag) != nil {
					continue
				}
				valid, seen := repos[repo]
				if !seen {
					valid = oci.ValidateLayoutRepository(repo) == nil
					repos[repo] = valid
				}
				if valid {
					e.entry = newTagEntry(repo, tag, e.desc)
				}
			}
		})
	}
	wg.Wait()
	return out
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

// writeTo writes index.json to w, an entry at a time (a store of a million
// tags never holds the file in memory): the fields gantry does not manage
// as they were, then other tools' entries in their order, then gantry's
// tags sorted by repository and tag, one per line so the file diffs and
// greps well. The ref.name annotation of each tag, which the tag index does
// not keep, is written back here.
func (snap indexSnapshot) writeTo(w io.Writer) error {
	bw := bufio.NewWriter(w)
	bw.WriteString(`{"schemaVersion":2`)
	if _, ok := snap.top["mediaType"]; !ok {
		bw.WriteString(`,"mediaType":"` + ocispec.MediaTypeImageIndex + `"`)
	}
	for _, k := range slices.Sorted(maps.Keys(snap.top)) {
		if k == "schemaVersion" {
			continue
		}
		kb, _ := json.Marshal(k)
		bw.WriteByte(',')
		bw.Write(kb)
		bw.WriteByte(':')
		bw.Write(snap.top[k])
	}
	bw.WriteString(`,"manifests":[`)
	sep := "\n"
	var buf bytes.Buffer
	for _, raw := range snap.foreign {
		bw.WriteString(sep)
		buf.Reset()
		if err := json.Compact(&buf, raw); err != nil {
			return err
		}
		bw.Write(buf.Bytes())
		sep = ",\n"
	}
	var err error
	snap.owned.each(func(e *tagEntry) bool {
		var b []byte
		if b, err = json.Marshal(e.named()); err != nil {
			return false
		}
		bw.WriteString(sep)
		_, err = bw.Write(b)
		sep = ",\n"
		return err == nil
	})
	if err != nil {
		return err
	}
	bw.WriteString("\n]}\n")
	return bw.Flush()
}

// marshal is writeTo into memory, for tests and small stores.
func (snap indexSnapshot) marshal() ([]byte, error) {
	var buf bytes.Buffer
	err := snap.writeTo(&buf)
	return buf.Bytes(), err
}
