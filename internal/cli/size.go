package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/analyze/report"
)

// formatBytes writes a size for people. Every command prints sizes through
// it, and the analyses through report.Bytes, which it is: one unit system
// (IEC: KiB, MiB, GiB) across gantry's output.
func formatBytes(n int64) string { return report.Bytes(n) }

// formatRate writes n bytes moved in d as a rate ("12.5 MiB/s"). A d
// shorter than a millisecond counts as one, the resolution durations are
// printed at, so an instant copy shows a rate rather than +Inf.
func formatRate(n int64, d time.Duration) string {
	d = max(d, time.Millisecond)
	return formatBytes(int64(float64(n)/d.Seconds())) + "/s"
}

// plural writes n and noun, with an s unless n is 1: "1 blob", "3 blobs"
// (report.Count, shared with the analyses' output).
func plural[N int | int64](n N, noun string) string { return report.Count(n, noun) }

// parseSize reads "500MB", "1.5GiB", "100k" or a number of bytes.
func parseSize(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	t := strings.TrimSpace(strings.ToLower(s))
	mult := float64(1)
	for _, u := range []struct {
		suffix string
		m      float64
	}{{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40}, {"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12}, {"k", 1e3}, {"m", 1e6}, {"g", 1e9}, {"b", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.m
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("size %q: want a number of bytes with an optional unit (kB, MB, GB, KiB, MiB, GiB)", s)
	}
	return int64(v * mult), nil
}
