package sources

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/oci"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ListEntry is one image of a list file.
type ListEntry struct {
	// Image is the full reference, normalised (see Normalize), or, for a
	// line that names a transport (oci:DIR:REPO:TAG,
	// docker-archive:FILE[:IMAGE]), the reference as written.
	Image string
	// Platform, if set, selects one platform of a multi-platform image;
	// nil leaves the choice to the command (its --platform, or all).
	Platform *ocispec.Platform
	// Line is the line of the list file that names the image.
	Line int
}

// maxListLine bounds one line of a list file.
const maxListLine = 64 << 10

// ParseList reads a list file for `gantry bundle create -f LIST`:
//
//	# comments start with "#", at the start of a line or after a space
//	registry.example.com/team/app:1.4.2
//	nginx:1.25                               # docker.io/library/nginx:1.25
//	registry.example.com/base@sha256:4f53...  --platform=linux/arm64
//	registry.example.com/tool:2  platform=linux/amd64
//	registry.example.com/tool:3  --platform linux/arm/v7
//
// Each line holds one image, then optionally its platform, OS/ARCH[/VARIANT],
// as --platform=P, --platform P or platform=P. Short names are normalised
// (see Normalize); references with a transport other than docker://
// (oci:DIR:REPO:TAG, docker-archive:FILE[:IMAGE]) are kept as written, for
// the command to open. An image listed twice with the same platform is kept
// once; listed twice with different platforms, it is an error, since a
// bundle records one image under each name.
func ParseList(r io.Reader) ([]ListEntry, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxListLine)
	var out []ListEntry
	seen := map[string]int{}
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if i := commentStart(text); i >= 0 {
			text = text[:i]
		}
		fields := strings.Fields(text)
		if len(fields) == 0 {
			continue
		}
		e := ListEntry{Line: line}
		if hasTransport(fields[0]) {
			e.Image = fields[0]
		} else {
			ref, err := oci.ParseRegistryRef(fields[0])
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", line, err)
			}
			e.Image = ref.String()
		}
		rest := fields[1:]
		for len(rest) > 0 {
			f := rest[0]
			var val string
			switch {
			case f == "--platform" && len(rest) > 1:
				val, rest = rest[1], rest[2:]
			case strings.HasPrefix(f, "--platform="):
				val, rest = strings.TrimPrefix(f, "--platform="), rest[1:]
			case strings.HasPrefix(f, "platform="):
				val, rest = strings.TrimPrefix(f, "platform="), rest[1:]
			default:
				return nil, fmt.Errorf("line %d: unexpected %q after the image (write IMAGE [--platform=OS/ARCH[/VARIANT]], one image per line): %w", line, f, cas.ErrInvalid)
			}
			if e.Platform != nil {
				return nil, fmt.Errorf("line %d: platform given twice: %w", line, cas.ErrInvalid)
			}
			p, err := oci.ParsePlatform(val)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", line, err)
			}
			e.Platform = &p
		}
		if i, dup := seen[e.Image]; dup {
			prev := out[i]
			if oci.FormatPlatform(prev.Platform) != oci.FormatPlatform(e.Platform) {
				return nil, fmt.Errorf("line %d: %s listed again with another platform (line %d has %s, this line %s); a bundle holds one image per name: %w",
					line, e.Image, prev.Line, platformName(prev.Platform), platformName(e.Platform), cas.ErrInvalid)
			}
			continue
		}
		seen[e.Image] = len(out)
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	return out, nil
}

// listTransports are the transports a list line may name, whose
// references are not image names to normalise.
var listTransports = []string{"oci:", "docker-archive:"}

func hasTransport(s string) bool {
	for _, t := range listTransports {
		if strings.HasPrefix(s, t) {
			return true
		}
	}
	return false
}

// commentStart returns where a comment begins in line, or -1: a "#" at the
// start or after white space (a "#" inside a word is not a comment).
func commentStart(line string) int {
	for i := 0; i < len(line); i++ {
		if line[i] == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t') {
			return i
		}
	}
	return -1
}

func platformName(p *ocispec.Platform) string {
	if p == nil {
		return "all platforms"
	}
	return oci.FormatPlatform(p)
}
