package image

import (
	"bytes"
	"io"
	"strings"

	"github.com/gantry-dev/gantry/internal/analyze/lint"
)

// A layer scan keeps the shell scripts an entrypoint may run, so that
// gantry check can follow ENTRYPOINT/CMD into them (lint.FollowEntrypoint)
// without reading the layers twice. Which scripts a layer keeps does not
// depend on the image (a ScanCache shares scans between images): the
// regular files of at most maxScriptFile bytes that are executable or named
// *.sh, begin with a #! line naming a shell (or, for *.sh, none), and are
// not under the directories of packaged data and documentation
// (scriptSkipDirs); at most maxLayerScripts bytes of them per layer, in tar
// order.
const (
	maxScriptFile   = 256 << 10
	maxLayerScripts = 2 << 20
	// scriptHead is how much of a file is read to decide whether to keep it.
	scriptHead = 128
)

// scriptSkipDirs hold maintainer scripts, documentation and packaged
// libraries: many shell scripts, none of them an entrypoint.
var scriptSkipDirs = []string{"usr/share/", "usr/include/", "usr/src/", "var/lib/dpkg/", "var/lib/rpm/", "var/lib/apk/", "var/cache/"}

// scriptCandidate reports whether the file e may be a kept script, before
// its content is seen.
func scriptCandidate(e *Entry) bool {
	if e.Kind != KindFile || e.Size < 3 || e.Size > maxScriptFile {
		return false
	}
	if e.Mode&0o111 == 0 && !strings.HasSuffix(e.Path, ".sh") {
		return false
	}
	for _, d := range scriptSkipDirs {
		if strings.HasPrefix(e.Path, d) {
			return false
		}
	}
	return !strings.Contains(e.Path, "/node_modules/") && !strings.Contains(e.Path, "-packages/")
}

// keepScript reads a candidate's content: the whole script when it is one
// and the layer's budget allows it (kept in s.scripts), and otherwise a
// reader over the content with what was read put back in front, for the
// checks that follow.
func (s *layerScan) keepScript(e *Entry, content io.Reader) (io.Reader, error) {
	if s.head == nil {
		s.head = make([]byte, scriptHead) // reused: what reads it is done before the next entry
	}
	head := s.head[:min(int(e.Size), scriptHead)]
	n, err := io.ReadFull(content, head)
	if err != nil && err != io.ErrUnexpectedEOF {
		return nil, err
	}
	head = head[:n]
	rest := io.MultiReader(bytes.NewReader(head), content)
	shebang := bytes.HasPrefix(head, []byte("#!"))
	if !shebang && !strings.HasSuffix(e.Path, ".sh") || !lint.ShellScript(head) || s.scriptBytes+e.Size > maxLayerScripts {
		return rest, nil
	}
	data := make([]byte, e.Size) // at most maxScriptFile
	copy(data, head)
	m, err := io.ReadFull(content, data[n:])
	if err != nil && err != io.ErrUnexpectedEOF {
		return nil, err
	}
	data = data[:n+m]
	if s.scripts == nil {
		s.scripts = map[string][]byte{}
	}
	s.scripts[e.Path] = data
	s.scriptBytes += int64(len(data))
	return bytes.NewReader(data), nil
}

// imageFiles is the final filesystem of an image as lint.FollowEntrypoint
// sees it: programs found as the runtime finds them (PATH for a bare name,
// the working directory for a relative path), symbolic links followed
// within the image (at most 40, as Linux does), and the kept scripts.
type imageFiles struct {
	f       *finder
	pathEnv string
	workdir string
}

// Program implements lint.ScriptFiles.
func (x imageFiles) Program(prog string) (string, []byte) {
	if prog == "" || strings.Contains(prog, "$") {
		return "", nil
	}
	if strings.Contains(prog, "/") && !strings.HasPrefix(prog, "/") {
		wd := x.workdir
		if wd == "" {
			wd = "/"
		}
		prog = strings.TrimSuffix(wd, "/") + "/" + prog
	}
	full, n := x.f.lookPath(prog, x.pathEnv)
	if n == nil {
		return "", nil
	}
	switch n.kind {
	case KindFile:
		return "/" + full, x.f.r.scripts[full]
	case KindHardlink:
		// The content is the linked file's, kept if that one is the
		// file the final filesystem has at its path.
		if t := x.f.r.fs.lookup(n.link); t != nil && t.kind == KindFile {
			return "/" + full, x.f.r.scripts[n.link]
		}
	}
	return "/" + full, nil
}
