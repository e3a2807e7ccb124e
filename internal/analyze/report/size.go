package report

import "fmt"

// Bytes writes a size for people in IEC units (1 KiB = 1024 bytes): "512 B",
// "1.5 KiB", "3.2 GiB". It is the one size format of gantry's output, the
// analyses' findings and every command alike, so that a layer's size in
// gantry check reads the same as in gantry bundle inspect or gantry copy:
// the bundle format and the progress bars count in binary units, and one
// command printing MB beside another printing MiB for the same bytes would
// disagree by 5 %.
func Bytes(n int64) string {
	if n > -1024 && n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	f := float64(n)
	const units = "KMGTPE"
	i := -1
	for (f >= 1024 || f <= -1024) && i < len(units)-1 {
		f /= 1024
		i++
	}
	return fmt.Sprintf("%.1f %ciB", f, units[i])
}

// Count writes n and noun, the noun with an s unless n is 1: "1 blob",
// "0 blobs", "3 layers". It is the one way gantry's output counts things,
// so no line reads "1 blobs" or "blob(s)". Nouns whose plural is not noun+s
// are written out by the caller.
func Count[N ~int | ~int64](n N, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
