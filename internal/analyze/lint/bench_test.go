package lint

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// corpus generates n varied Dockerfiles, deterministically: single and
// multi-stage, Debian, Alpine, RHEL, Python and Node bases, heredocs,
// mounts, ARG-driven bases, 20 to 120 lines each.
func corpus(n int) [][]byte {
	r := rand.New(rand.NewPCG(1, 2))
	bases := []string{"debian:12", "ubuntu:24.04", "alpine:3.20", "rockylinux:9", "python:3.12-slim", "node:20", "golang:1.22", "${BASE}"}
	runs := []string{
		"RUN apt-get update && apt-get install -y --no-install-recommends curl=8.5.0-2 ca-certificates && rm -rf /var/lib/apt/lists/*",
		"RUN apt-get install gcc libpq-dev python3-dev",
		"RUN apk add --no-cache bash=5.2.26-r0 tini",
		"RUN dnf install -y httpd && dnf clean all",
		"RUN pip install --no-cache-dir -r requirements.txt",
		"RUN npm ci && npm cache clean --force",
		"RUN --mount=type=cache,target=/root/.cache/go-build go build -o /out/app ./cmd/app",
		"RUN curl -fsSL https://example.com/install.sh | bash",
		"RUN set -eux; \\\n    groupadd -r app; \\\n    useradd -r -g app -u 10001 app; \\\n    mkdir -p /srv/data; \\\n    chown -R app:app /srv",
		"RUN <<EOF\nset -e\napt-get update\napt-get install -y jq\nrm -rf /var/lib/apt/lists/*\nEOF",
		"RUN cd /src && make && make install",
		"RUN wget -qO- https://example.com/x.tgz | tar -xz -C /opt",
		"RUN if [ \"$TARGETARCH\" = arm64 ]; then echo arm; else echo amd; fi",
	}
	tail := []string{
		`CMD ["/app"]`, `ENTRYPOINT ["tini", "--", "/app"]`, `CMD ["supervisord", "-n"]`, `CMD nginx & php-fpm -F`,
		`CMD ["sh", "-c", "exec /app --port $PORT"]`, `HEALTHCHECK CMD ["/app", "health"]`, `USER 10001`, `USER root`,
		`EXPOSE 8080`, `LABEL org.opencontainers.image.source=https://example.com`, `ENV APP_HOME=/srv/app`,
	}
	out := make([][]byte, n)
	for i := range out {
		var b strings.Builder
		b.WriteString("# syntax=docker/dockerfile:1\nARG BASE=debian:12\n")
		stages := 1 + r.IntN(3)
		for s := 0; s < stages; s++ {
			fmt.Fprintf(&b, "FROM %s AS s%d\n", bases[r.IntN(len(bases))], s)
			fmt.Fprintf(&b, "WORKDIR /srv/s%d\nCOPY . .\n", s)
			if s > 0 {
				fmt.Fprintf(&b, "COPY --from=s%d /srv /srv\n", s-1)
			}
			for k := 5 + r.IntN(25); k > 0; k-- {
				if r.IntN(3) == 0 {
					b.WriteString(tail[r.IntN(len(tail))] + "\n")
				} else {
					b.WriteString(runs[r.IntN(len(runs))] + "\n")
				}
			}
		}
		out[i] = []byte(b.String())
	}
	return out
}

// BenchmarkLint500 lints 500 generated Dockerfiles per iteration; the
// target is well under a second.
func BenchmarkLint500(b *testing.B) {
	files := corpus(500)
	var size int64
	for _, f := range files {
		size += int64(len(f))
	}
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		for i, f := range files {
			if _, err := Lint(fmt.Sprintf("Dockerfile.%d", i), f, Options{}); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// TestLint500 keeps the 500-Dockerfile budget honest in ordinary test runs;
// the limit is loose (3s) because test machines are shared.
func TestLint500(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	files := corpus(500)
	start := time.Now()
	n := 0
	for i, f := range files {
		fs, err := Lint(fmt.Sprintf("Dockerfile.%d", i), f, Options{})
		if err != nil {
			t.Fatalf("Dockerfile.%d: %v", i, err)
		}
		n += len(fs)
	}
	d := time.Since(start)
	t.Logf("500 Dockerfiles, %d findings, in %v", n, d)
	if d > 3*time.Second && !raceEnabled {
		t.Errorf("500 Dockerfiles took %v", d)
	}
}

// TestWriteCorpus writes the benchmark's 500 Dockerfiles to
// $GANTRY_LINT_CORPUS, to time the command itself:
//
//	GANTRY_LINT_CORPUS=/tmp/corpus go test -run WriteCorpus ./internal/analyze/lint
//	time gantry lint --failure-threshold none /tmp/corpus/* > /dev/null
func TestWriteCorpus(t *testing.T) {
	dir := os.Getenv("GANTRY_LINT_CORPUS")
	if dir == "" {
		t.Skip("GANTRY_LINT_CORPUS not set")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, f := range corpus(500) {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("Dockerfile.%03d", i)), f, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// BenchmarkHostile lints each hostile Dockerfile of issue 9 (see
// hostile); the target is under 5 s and 200 MB each.
func BenchmarkHostile(b *testing.B) {
	for _, tc := range hostile {
		b.Run(tc.name, func(b *testing.B) {
			src := tc.src()
			b.SetBytes(int64(len(src)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Lint("Dockerfile", src, Options{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
