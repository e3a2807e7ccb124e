package lint

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestXargsContext checks that an xargs over a list file of the build
// context installs the packages the file lists (GL301 for heavy ones),
// and that nothing is guessed when the file is not at hand.
func TestXargsContext(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"packages.txt":         "curl\nopenjdk-17-jdk-headless\n",
		"requirements-apt.txt": "ca-certificates\nchromium\n",
		"commented.txt":        "# runtime\ncurl\n# the browser\nchromium  # for PDFs\n",
		"light.txt":            "curl ca-certificates tini\n",
		"build-deps.txt":       "gcc make libssl-dev\n",
		"apk.txt":              "chromium\nnss\n",
		"install.sh":           "#!/bin/sh\nset -e\nxargs apt-get install -y < /tmp/packages.txt\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, dockerfile string
		fire             bool
	}{
		{"xargs reads the file on stdin", "FROM debian:12\nCOPY packages.txt /tmp/\nRUN apt-get update && xargs apt-get install -y --no-install-recommends < /tmp/packages.txt && rm -rf /var/lib/apt/lists/*\n", true},
		{"cat file piped to xargs, relative to WORKDIR", "FROM debian:12\nWORKDIR /app\nCOPY requirements-apt.txt .\nRUN cat requirements-apt.txt | xargs apt-get install -y\n", true},
		{"xargs -a file", "FROM debian:12\nCOPY packages.txt /\nRUN xargs -a /packages.txt apt-get install -y\n", true},
		{"xargs --arg-file=file", "FROM debian:12\nCOPY packages.txt /\nRUN xargs --arg-file=/packages.txt -r apt-get install -y\n", true},
		{"grep -v comments piped to xargs", "FROM debian:12\nCOPY commented.txt /etc/\nRUN grep -v '^#' /etc/commented.txt | xargs apt-get install -y\n", true},
		{"file copied with the whole context", "FROM debian:12\nCOPY . /src\nRUN xargs apt-get install -y < /src/packages.txt\n", true},
		{"apk add from a list", "FROM alpine:3.20\nCOPY apk.txt /\nRUN xargs apk add --no-cache < /apk.txt\n", true},
		{"install script runs xargs over a copied list", "FROM debian:12\nCOPY packages.txt install.sh /tmp/\nRUN /tmp/install.sh\n", true},
		{"the list holds only light packages", "FROM debian:12\nCOPY light.txt /\nRUN xargs apt-get install -y < /light.txt\n", false},
		{"build deps from a list purged in the same RUN", "FROM debian:12\nCOPY build-deps.txt /tmp/\nRUN xargs apt-get install -y < /tmp/build-deps.txt && make && xargs apt-get purge -y < /tmp/build-deps.txt\n", false},
		{"the list is not in the context", "FROM debian:12\nCOPY missing.txt /\nRUN xargs apt-get install -y < /missing.txt\n", false},
		{"the list was not copied", "FROM debian:12\nRUN xargs apt-get install -y < /packages.txt\n", false},
		{"the list comes from another stage", "FROM debian:12 AS b\nFROM debian:12\nCOPY --from=b /packages.txt /\nRUN xargs apt-get install -y < /packages.txt\n", false},
		{"the list is installed in a build stage", "FROM debian:12 AS b\nCOPY packages.txt /\nRUN xargs apt-get install -y < /packages.txt\nFROM debian:12\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, err := Lint("Dockerfile", []byte(tc.dockerfile), Options{Context: dir})
			if err != nil {
				t.Fatal(err)
			}
			got := messagesOf(fs, "GL301")
			if (len(got) > 0) != tc.fire {
				t.Errorf("GL301 fired=%v, want %v: %q", len(got) > 0, tc.fire, got)
			}
			if len(got) > 0 && !strings.Contains(got[0], "listed in /") && !strings.Contains(got[0], "install.sh") {
				t.Errorf("the finding does not name the list: %q", got[0])
			}
			// Without the context the list is not at hand: nothing is
			// guessed.
			fs, _ = Lint("Dockerfile", []byte(tc.dockerfile), Options{})
			for _, f := range fs {
				if f.Rule == "GL301" {
					t.Errorf("without a context: %s", f.Message)
				}
			}
		})
	}
}

// TestXargsPackageRules checks the package manager rules (GL4xx) on an
// install xargs runs: with a list file of the build context they see the
// packages it lists, as if written in the RUN; without the list they see
// an install of packages unknown, so the rules about its options and
// caches hold and nothing is guessed about the names.
func TestXargsPackageRules(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "packages.txt"), []byte("curl\nca-certificates=20230311\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const head = "FROM debian:12\nCOPY packages.txt /tmp/\n"
	for _, tc := range []struct {
		name, dockerfile string
		context          bool
		want, not        []string
	}{
		{"list at hand: the listed packages are unpinned", head + "RUN apt-get update && xargs apt-get install -y < /tmp/packages.txt\n", true,
			[]string{"GL401", "GL407", "GL410 pin the version of curl (name=version)"}, []string{"GL406"}},
		{"list at hand, clean RUN", head + "RUN apt-get update && xargs apt-get install -y --no-install-recommends < /tmp/packages.txt && rm -rf /var/lib/apt/lists/*\n", true,
			[]string{"GL410"}, []string{"GL401", "GL406", "GL407"}},
		{"list not at hand: the install still counts", head + "RUN apt-get update && xargs apt-get install < /tmp/packages.txt\n", false,
			[]string{"GL401", "GL407", "GL408"}, []string{"GL406", "GL410"}},
		{"xargs -a, no confirmation", head + "RUN apt-get update && xargs -a /tmp/packages.txt apt-get install --no-install-recommends && rm -rf /var/lib/apt/lists/*\n", true,
			[]string{"GL408", "GL410"}, []string{"GL401", "GL406", "GL407"}},
		{"apt-mark through xargs is no install", head + "RUN apt-get update && apt-get install -y --no-install-recommends curl=8.5.0-2 && apt-mark showmanual | xargs apt-mark auto && rm -rf /var/lib/apt/lists/*\n", true,
			nil, []string{"GL401", "GL406", "GL407", "GL408", "GL410"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := Options{}
			if tc.context {
				opts.Context = dir
			}
			fs, err := Lint("Dockerfile", []byte(tc.dockerfile), opts)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range fs {
				got = append(got, f.Rule+" "+f.Message)
			}
			all := strings.Join(got, "\n")
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("no %q in:\n%s", w, all)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(all, n+" ") {
					t.Errorf("%s fired:\n%s", n, all)
				}
			}
		})
	}
}
