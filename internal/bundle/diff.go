package bundle

// Diff compares bundle a (the old one) with b (the new one): images added,
// removed and changed by name, and the blobs each holds that the other does
// not.
func Diff(a, b *Reader) DiffReport {
	return DiffReport{}
}
