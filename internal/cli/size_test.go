package cli

import (
	"testing"
	"time"
)

func TestSizeFormats(t *testing.T) {
	tests := []struct {
		name, got, want string
	}{
		{"bytes", formatBytes(512), "512 B"},
		{"KiB, as bundle prints", formatBytes(1536), "1.5 KiB"},
		{"MiB", formatBytes(250 << 20), "250.0 MiB"},
		{"rate", formatRate(3<<20, 2*time.Second), "1.5 MiB/s"},
		{"instant rate", formatRate(1<<10, 0), "1000.0 KiB/s"},
		{"one", plural(1, "blob"), "1 blob"},
		{"none", plural(0, "blob"), "0 blobs"},
		{"many, int64", plural(int64(3), "image"), "3 images"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %q, want %q", tc.got, tc.want)
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"", 0, false},
		{"100", 100, false},
		{"1.5GiB", 3 << 29, false},
		{"250KiB", 250 << 10, false},
		{"500MB", 500e6, false},
		{"100k", 100e3, false},
		{"lots", 0, true},
		{"-1", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseSize(tc.in)
			if got != tc.want || (err != nil) != tc.wantErr {
				t.Errorf("parseSize(%q) = %d, %v; want %d (error %t)", tc.in, got, err, tc.want, tc.wantErr)
			}
		})
	}
}
