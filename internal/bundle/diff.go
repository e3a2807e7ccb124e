package bundle

import (
	"slices"
	"strings"
)

// Diff compares bundle a (the old one) with b (the new one): images added,
// removed and changed by name, and the blobs each holds that the other does
// not. Blobs a delta leaves out count as held by neither.
func Diff(a, b *Reader) DiffReport {
	var rep DiffReport
	ai := map[string]ImageEntry{}
	for _, img := range a.m.Images {
		ai[img.Name] = img
	}
	bi := map[string]bool{}
	for _, img := range b.m.Images {
		bi[img.Name] = true
		old, ok := ai[img.Name]
		switch {
		case !ok:
			rep.Added = append(rep.Added, img.Name)
		case old.Digest != img.Digest:
			rep.Changed = append(rep.Changed, ImageChange{Name: img.Name, From: old.Digest, To: img.Digest})
		default:
			rep.Unchanged = append(rep.Unchanged, img.Name)
		}
	}
	for _, img := range a.m.Images {
		if !bi[img.Name] {
			rep.Removed = append(rep.Removed, img.Name)
		}
	}
	for _, blob := range a.m.Blobs {
		if _, ok := b.blobs[blob.Digest]; ok {
			rep.Shared++
			rep.SharedBytes += blob.Size
		} else {
			rep.OnlyInA = append(rep.OnlyInA, blob)
			rep.BytesOnlyInA += blob.Size
		}
	}
	for _, blob := range b.m.Blobs {
		if _, ok := a.blobs[blob.Digest]; !ok {
			rep.OnlyInB = append(rep.OnlyInB, blob)
			rep.BytesOnlyInB += blob.Size
		}
	}
	slices.Sort(rep.Added)
	slices.Sort(rep.Removed)
	slices.Sort(rep.Unchanged)
	slices.SortFunc(rep.Changed, func(x, y ImageChange) int { return strings.Compare(x.Name, y.Name) })
	return rep
}
