package s3_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/store/s3"
)

// FuzzParseURL: any input gives Options with a bucket and an endpoint, or
// an error wrapping cas.ErrInvalid; never a panic, never a prefix with an
// empty or dot component that would name keys outside the store.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"s3://bkt", "s3://bkt/p/q?region=eu-west-1", "s3://b/p?endpoint=http://127.0.0.1:9000&path-style=true",
		"s3://b?part-size=5242880", "s3://b?endpoint=ftp://x", "s3://u@b", "s3://b/%2e%2e/x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		o, err := s3.ParseURL(in)
		if err != nil {
			if !errors.Is(err, cas.ErrInvalid) {
				t.Fatalf("ParseURL(%q): %v, not wrapping ErrInvalid", in, err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("ParseURL(%q): error on several lines: %q", in, err)
			}
			return
		}
		if o.Bucket == "" || o.Endpoint == "" {
			t.Fatalf("ParseURL(%q) = %+v: no bucket or endpoint", in, o)
		}
		if o.Prefix != "" {
			for c := range strings.SplitSeq(o.Prefix, "/") {
				if c == "" || c == "." || c == ".." {
					t.Fatalf("ParseURL(%q): prefix %q has the component %q", in, o.Prefix, c)
				}
			}
		}
	})
}
