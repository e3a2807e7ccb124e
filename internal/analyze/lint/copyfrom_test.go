package lint

import (
	"fmt"
	"strings"
	"testing"
)

// TestCopyFromFilledDir checks GL301 on a COPY --from of a directory the
// build stage filled with a heavy component: moved there to land at its
// usual place (golang's alpine image copies /target/ to /), or unpacked
// there from a download.
func TestCopyFromFilledDir(t *testing.T) {
	const build = "FROM alpine:3.20 AS build\nRUN wget -O go.tgz https://dl.google.com/go/go1.26.0.linux-amd64.tar.gz && tar -C /usr/local -xzf go.tgz\n"
	for _, tc := range []struct {
		name, dockerfile string
		fire             bool
	}{
		{"golang alpine: the toolchain moved under /target, /target/ copied to /",
			build + "RUN mkdir -p /target/usr/local && mv -vT /usr/local/go /target/usr/local/go && ln -svfT /target/usr/local/go /usr/local/go\nFROM alpine:3.20\nCOPY --from=build --link /target/ /\n", true},
		{"the moved toolchain copied to its place",
			build + "RUN mkdir -p /target/usr/local && mv /usr/local/go /target/usr/local/go\nFROM alpine:3.20\nCOPY --from=build /target/usr/local/go /usr/local/go\n", true},
		{"a JDK unpacked into the copied directory",
			"FROM debian:12 AS jdk\nRUN curl -fsSL -o jdk.tgz https://github.com/adoptium/temurin21-binaries/releases/download/jdk-21.0.5%2B11/OpenJDK21U-jdk_x64_linux_hotspot_21.0.5_11.tar.gz && mkdir -p /out/java && tar -C /out/java -xzf jdk.tgz\nFROM debian:12\nCOPY --from=jdk /out /opt\n", true},
		{"a JRE unpacked into the copied directory",
			"FROM debian:12 AS jre\nRUN curl -fsSL -o jre.tgz https://github.com/adoptium/temurin21-binaries/releases/download/jdk-21.0.5%2B11/OpenJDK21U-jre_x64_linux_hotspot_21.0.5_11.tar.gz && mkdir -p /out/java && tar -C /out/java -xzf jre.tgz\nFROM debian:12\nCOPY --from=jre /out /opt\n", false},
		{"only the binary built under /target",
			"FROM golang:1.26 AS build\nRUN go build -o /target/usr/local/bin/app ./cmd/app\nFROM alpine:3.20\nCOPY --from=build /target/ /\n", false},
		{"the moved toolchain lands elsewhere",
			build + "RUN mkdir -p /target/usr/local && mv /usr/local/go /target/usr/local/go\nFROM alpine:3.20\nCOPY --from=build /target/ /sdk/\n", false},
		{"a sibling directory copied",
			build + "RUN mkdir -p /target/usr/local /target/bin && mv /usr/local/go /target/usr/local/go && cp /usr/local/bin/app /target/bin/\nFROM alpine:3.20\nCOPY --from=build /target/bin /usr/local/bin\n", false},
		{"the filled stage does not ship and is not copied",
			build + "RUN mv /usr/local/go /target/usr/local/go\nFROM alpine:3.20\nCOPY app /app\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, err := Lint("Dockerfile", []byte(tc.dockerfile), Options{})
			if err != nil {
				t.Fatal(err)
			}
			got := messagesOf(fs, "GL301")
			if (len(got) > 0) != tc.fire {
				t.Errorf("GL301 fired=%v, want %v: %q", len(got) > 0, tc.fire, got)
			}
		})
	}
}

// TestPlaceHeavyBounded checks that the paths a Dockerfile's RUNs name
// are looked at up to a budget (each costs a catalogue lookup per
// directory level): a hostile RUN of many deep paths costs no more than
// maxPlacing of them.
func TestPlaceHeavyBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("FROM alpine:3.20 AS build\nRUN mv")
	for i := range maxPlacing {
		fmt.Fprintf(&b, " \\\n  /a/b/c/d/e/f/g/h/i/%d", i)
	}
	b.WriteString(" /target/usr/local/go\nFROM alpine:3.20\nCOPY --from=build /target/ /\n")
	fs, err := Lint("Dockerfile", []byte(b.String()), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		if f.Rule == "GL301" {
			t.Errorf("a path past the budget was looked at: %s", f.Message)
		}
	}
}
