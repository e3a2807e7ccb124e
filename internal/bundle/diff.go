package bundle

import (
	"slices"
	"strings"
)

// Delta describes the bundle as a delta: its base and what each image
// needs from it. It returns nil for a full bundle.
func (r *Reader) Delta() *Delta {
	b := r.m.Base
	if b == nil {
		return nil
	}
	d := &Delta{Bundle: b.Bundle, Inventory: b.Inventory, Blobs: b.Blobs, Bytes: b.Bytes}
	for _, img := range r.m.Images {
		di := DeltaImage{Name: img.Name}
		for _, dg := range img.Blobs {
			if lo, ok := r.leftOut[dg]; ok {
				di.Blobs++
				di.Bytes += lo.Size
			}
		}
		if di.Blobs > 0 {
			d.Images = append(d.Images, di)
		}
	}
	return d
}

// Diff compares bundle a (the old one) with b (the new one): images added,
// removed and changed by name, and the blobs each holds that the other does
// not. A delta is described as one (DiffReport.Old, New): the blobs b
// leaves out for its base are counted apart (FromBase) when a holds them,
// and when b is a delta on a's content, a's images it does not name stay at
// the site (Kept) rather than being removed.
func Diff(a, b *Reader) DiffReport {
	rep := DiffReport{Old: a.Delta(), New: b.Delta()}
	if bb := b.m.Base; bb != nil && bb.Inventory != "" && bb.Inventory == InventoryOf(a).Digest() {
		rep.NewOnOld = true
	}
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
			if rep.NewOnOld {
				rep.Kept = append(rep.Kept, img.Name)
			} else {
				rep.Removed = append(rep.Removed, img.Name)
			}
		}
	}
	for _, blob := range a.m.Blobs {
		_, held := b.blobs[blob.Digest]
		_, fromBase := b.leftOut[blob.Digest]
		switch {
		case held:
			rep.Shared++
			rep.SharedBytes += blob.Size
		case fromBase:
			rep.FromBase++
			rep.FromBaseBytes += blob.Size
		default:
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
	slices.Sort(rep.Kept)
	slices.Sort(rep.Unchanged)
	slices.SortFunc(rep.Changed, func(x, y ImageChange) int { return strings.Compare(x.Name, y.Name) })
	return rep
}
