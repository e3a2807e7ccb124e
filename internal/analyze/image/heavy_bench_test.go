package image

import (
	"fmt"
	"testing"
)

// heavyBenchPaths are file paths shaped like a Debian image with a JDK,
// a browser and a toolchain: mostly plain libraries, binaries and data
// files, a few of them heavy components' marker files.
func heavyBenchPaths() ([]string, []*node) {
	dirs := []string{"usr/bin", "usr/lib/x86_64-linux-gnu", "usr/share/doc/libfoo", "usr/lib/python3/dist-packages/pkg",
		"usr/lib/jvm/java-17-openjdk-amd64/lib", "usr/share/elasticsearch/lib", "usr/lib/gcc/x86_64-linux-gnu/12", "app/lib", "usr/share/locale/de/LC_MESSAGES"}
	names := []string{"libssl.so.3", "python3.11", "README.md", "__init__.py", "app-1.2.jar", "copyright", "ld-linux.so.2", "index.html", "messages.mo", "config.json"}
	var ps []string
	var ns []*node
	for i := range 20000 {
		ps = append(ps, fmt.Sprintf("%s/d%d/%s", dirs[i%len(dirs)], i%37, names[(i/len(dirs))%len(names)]))
		ns = append(ns, &node{kind: KindFile, size: int64(1000 + i)})
	}
	for _, p := range []string{"usr/lib/jvm/java-17-openjdk-amd64/lib/modules", "usr/lib/jvm/java-17-openjdk-amd64/lib/server/libjvm.so",
		"usr/lib/chromium/chromium", "usr/share/elasticsearch/lib/elasticsearch-8.11.0.jar", "usr/lib/gcc/x86_64-linux-gnu/12/cc1"} {
		ps = append(ps, p)
		ns = append(ns, &node{kind: KindFile, size: 50 << 20})
	}
	return ps, ns
}

// BenchmarkClassifyHeavy classifies every file of a final filesystem as
// walkFS does: the cost GC010 adds to each file of an image.
func BenchmarkClassifyHeavy(b *testing.B) {
	ps, ns := heavyBenchPaths()
	bufs := make([][]byte, len(ps))
	for i, p := range ps {
		bufs[i] = []byte(p)
	}
	b.ReportAllocs()
	for b.Loop() {
		hits := 0
		for i, p := range bufs {
			if e, _ := classifyHeavy(p, ns[i]); e != nil {
				hits++
			}
		}
		if hits != 5 {
			b.Fatalf("%d hits, want 5", hits)
		}
	}
}
