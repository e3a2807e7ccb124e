package image

import (
	"path"
	"sort"
	"strings"
)

// node is one path of a stacked filesystem.
type node struct {
	kind     Kind
	layer    int // the layer that last wrote this path
	size     int64
	mode     int64
	uid, gid int
	link     string
	children map[string]*node // directories only
}

// fsys is a stack of layers applied in order: the filesystem a container
// sees, plus the accounting of what each layer hid.
type fsys struct {
	root node
	// hidden[i] is the bytes layer i stored that later layers hid;
	// hides[j] the bytes layer j hid from earlier layers.
	hidden, hides []int64
	// top[j] keeps the largest paths layer j hid.
	top [][]HiddenPath
	// honourOpaque is false for dive's view, which ignores opaque markers.
	honourOpaque bool
	// implied counts the directories made for parents that no entry named;
	// maxImplied bounds it. A path of 4 KiB names up to 2,048 directories,
	// so a few kilobytes of gzip can imply millions of them, each a node
	// and a map hundreds of times the two header bytes ("a/") it came from.
	implied, maxImplied int
	// unstacked[i] counts the entries of layer i left out because their
	// parents would pass maxImplied, unstackedBytes[i] their files' bytes
	// and firstUnstacked[i] the path of the first.
	unstacked      []int
	unstackedBytes []int64
	firstUnstacked []string
}

// HiddenPath is a file a layer hid: deleted or overwritten, and from which
// layer.
type HiddenPath struct {
	Path  string `json:"path"`
	Bytes int64  `json:"bytes"`
	Layer int    `json:"layer"` // the layer that stored it
}

const topHidden = 5

// newFS returns an empty stack for layers layers that makes at most
// maxImplied directories for parents no entry names.
func newFS(layers int, honourOpaque bool, maxImplied int) *fsys {
	return &fsys{
		root:           node{kind: KindDir, layer: -1, children: map[string]*node{}},
		hidden:         make([]int64, layers),
		hides:          make([]int64, layers),
		top:            make([][]HiddenPath, layers),
		honourOpaque:   honourOpaque,
		maxImplied:     maxImplied,
		unstacked:      make([]int, layers),
		unstackedBytes: make([]int64, layers),
		firstUnstacked: make([]string, layers),
	}
}

// lookup returns the node at p ("" is the root), or nil. It walks p's
// components in place: splitting it would allocate as many strings as p is
// deep, for every entry of a layer of deep paths.
func (f *fsys) lookup(p string) *node {
	n := &f.root
	for rest := p; rest != ""; {
		var c string
		c, rest, _ = strings.Cut(rest, "/")
		if n.children == nil {
			return nil
		}
		if n = n.children[c]; n == nil {
			return nil
		}
	}
	return n
}

// parent returns the directory that holds p, creating missing directories
// (owned by layer) on the way and replacing non-directories in the way, as
// an extraction would. Its work is linear in the length of p: the path of
// a directory on the way is a slice of p, taken only to charge what it
// replaces. It returns a nil directory, and changes nothing, when the
// directories it would make pass the bound on implied directories.
func (f *fsys) parent(p string, layer int) (*node, string) {
	n := &f.root
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return n, p
	}
	dir, name := p[:i], p[i+1:]
	// Walk what exists, then count what is missing before making any of it.
	start := 0
	for {
		end := strings.IndexByte(dir[start:], '/')
		if end < 0 {
			end = len(dir)
		} else {
			end += start
		}
		next := n.children[dir[start:end]]
		if next == nil || next.kind != KindDir {
			break
		}
		n = next
		if end == len(dir) {
			return n, name
		}
		start = end + 1
	}
	if missing := strings.Count(dir[start:], "/") + 1; f.implied+missing > f.maxImplied {
		return nil, name
	}
	for start <= len(dir) {
		end := strings.IndexByte(dir[start:], '/')
		if end < 0 {
			end = len(dir)
		} else {
			end += start
		}
		c := dir[start:end]
		if old := n.children[c]; old != nil {
			f.remove(dir[:end], old, layer)
		}
		next := &node{kind: KindDir, layer: layer, mode: 0o755, children: map[string]*node{}}
		n.children[c] = next
		f.implied++
		n = next
		start = end + 1
	}
	return n, name
}

// remove charges what n holds (n itself and, for a directory, everything
// below it) to the layers that stored it, as hidden by layer by. The paths
// below n are built in one buffer, each only as long as it is needed:
// materialising the path of every node of a deep tree would cost its depth
// squared.
func (f *fsys) remove(p string, n *node, by int) {
	if n.kind == KindFile && n.size > 0 {
		charge(f, p, n, by)
	}
	if len(n.children) > 0 {
		buf := append(make([]byte, 0, 2*len(p)), p...)
		f.removeBelow(&buf, n, by)
	}
}

func (f *fsys) removeBelow(buf *[]byte, n *node, by int) {
	for name, c := range n.children {
		l := len(*buf)
		*buf = append(append(*buf, '/'), name...)
		if c.kind == KindFile && c.size > 0 {
			charge(f, *buf, c, by)
		}
		f.removeBelow(buf, c, by)
		*buf = (*buf)[:l]
	}
}

// charge counts n's bytes as stored by its layer and hidden by layer by,
// and keeps p among by's largest hidden paths if it is one (p is copied
// only then).
func charge[P string | []byte](f *fsys, p P, n *node, by int) {
	if n.layer < 0 || by < 0 {
		return
	}
	f.hidden[n.layer] += n.size
	f.hides[by] += n.size
	t := f.top[by]
	largest := func(i, j int) bool { return t[i].Bytes > t[j].Bytes }
	if len(t) < topHidden {
		f.top[by] = append(t, HiddenPath{Path: string(p), Bytes: n.size, Layer: n.layer})
		return
	}
	sort.Slice(t, largest)
	if last := &t[len(t)-1]; n.size > last.Bytes {
		*last = HiddenPath{Path: string(p), Bytes: n.size, Layer: n.layer}
		sort.Slice(t, largest)
	}
}

// apply stacks one layer's entries. Whiteouts and opaque markers act on the
// lower layers only, whatever their place in the tar, so they go first
// (image-spec v1.1 layer.md, "Whiteouts").
func (f *fsys) apply(layer int, entries []Entry) {
	for i := range entries {
		e := &entries[i]
		switch e.Kind {
		case KindWhiteout:
			dir, name := path.Split(e.Path)
			d := f.lookup(strings.TrimSuffix(dir, "/"))
			if d == nil || d.children == nil {
				continue
			}
			if n := d.children[name]; n != nil && n.layer < layer {
				f.remove(e.Path, n, layer)
				delete(d.children, name)
			}
		case KindOpaque:
			if !f.honourOpaque {
				continue
			}
			d := f.lookup(e.Path)
			if d == nil || d.kind != KindDir {
				continue
			}
			for name, c := range d.children {
				if c.layer < layer {
					f.remove(join(e.Path, name), c, layer)
					delete(d.children, name)
				}
			}
		}
	}
	for i := range entries {
		e := &entries[i]
		if e.Kind == KindWhiteout || e.Kind == KindOpaque {
			continue
		}
		dir, name := f.parent(e.Path, layer)
		if dir == nil {
			if f.unstacked[layer] == 0 {
				f.firstUnstacked[layer] = e.Path
			}
			f.unstacked[layer]++
			f.unstackedBytes[layer] += e.Size
			continue
		}
		old := dir.children[name]
		if e.Kind == KindDir && old != nil && old.kind == KindDir {
			// A directory entry over a directory changes its metadata only.
			old.layer, old.mode, old.uid, old.gid = layer, e.Mode, e.UID, e.GID
			continue
		}
		if old != nil {
			f.remove(e.Path, old, layer)
		}
		n := &node{kind: e.Kind, layer: layer, size: e.Size, mode: e.Mode, uid: e.UID, gid: e.GID, link: e.Link}
		if e.Kind == KindDir {
			n.children = map[string]*node{}
		}
		dir.children[name] = n
	}
}

func join(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// walk calls fn for every path of the filesystem, parents before
// children, in lexical order, with its depth (1 for the root's children).
// p holds the path during the call only: it is one buffer, extended by a
// name and cut back as the walk goes, so that a walk costs the names of
// the tree rather than the paths of all its nodes (the depth squared for a
// chain of directories).
func (f *fsys) walk(fn func(p []byte, depth int, n *node)) {
	buf := make([]byte, 0, 256)
	var rec func(depth int, n *node)
	rec = func(depth int, n *node) {
		names := make([]string, 0, len(n.children))
		for name := range n.children {
			names = append(names, name)
		}
		sort.Strings(names)
		l := len(buf)
		for _, name := range names {
			c := n.children[name]
			if l > 0 {
				buf = append(buf, '/')
			}
			buf = append(buf, name...)
			fn(buf, depth, c)
			rec(depth+1, c)
			buf = buf[:l]
		}
	}
	rec(1, &f.root)
}

// du returns the bytes of the regular files at or below n.
func du(n *node) int64 {
	if n == nil {
		return 0
	}
	s := int64(0)
	if n.kind == KindFile {
		s = n.size
	}
	for _, c := range n.children {
		s += du(c)
	}
	return s
}

// resolve follows symlinks from p (absolute or relative to the root) in
// the stacked filesystem, at most 40 hops as Linux does, and returns the
// final path and node (nil when it does not exist).
func (f *fsys) resolve(p string) (string, *node) {
	p = strings.TrimPrefix(path.Clean("/"+p), "/")
	for hops := 0; hops < 40; hops++ {
		// Resolve each component so that links in directories are followed.
		parts := strings.Split(p, "/")
		n := &f.root
		cur := ""
		restart := false
		for i, c := range parts {
			if c == "" {
				continue
			}
			next := n.children[c]
			if next == nil {
				return p, nil
			}
			cp := join(cur, c)
			if next.kind == KindSymlink {
				target := next.link
				if !strings.HasPrefix(target, "/") {
					target = path.Join("/", cur, target)
				}
				rest := strings.Join(parts[i+1:], "/")
				p = strings.TrimPrefix(path.Clean(path.Join(target, rest)), "/")
				restart = true
				break
			}
			n, cur = next, cp
		}
		if !restart {
			return p, n
		}
	}
	return p, nil
}
