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
	// onRemove, when set, sees every file removed (for dive's accounting).
	onRemove func(p string, n *node)
}

// HiddenPath is a file a layer hid: deleted or overwritten, and from which
// layer.
type HiddenPath struct {
	Path  string `json:"path"`
	Bytes int64  `json:"bytes"`
	Layer int    `json:"layer"` // the layer that stored it
}

const topHidden = 5

func newFS(layers int, honourOpaque bool) *fsys {
	return &fsys{
		root:         node{kind: KindDir, layer: -1, children: map[string]*node{}},
		hidden:       make([]int64, layers),
		hides:        make([]int64, layers),
		top:          make([][]HiddenPath, layers),
		honourOpaque: honourOpaque,
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
// replaces.
func (f *fsys) parent(p string, layer int) (*node, string) {
	n := &f.root
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return n, p
	}
	dir, name := p[:i], p[i+1:]
	for start := 0; start <= len(dir); {
		end := strings.IndexByte(dir[start:], '/')
		if end < 0 {
			end = len(dir)
		} else {
			end += start
		}
		c := dir[start:end]
		next := n.children[c]
		if next == nil || next.kind != KindDir {
			if next != nil {
				f.remove(dir[:end], next, layer)
			}
			next = &node{kind: KindDir, layer: layer, mode: 0o755, children: map[string]*node{}}
			n.children[c] = next
		}
		n = next
		start = end + 1
	}
	return n, name
}

// remove charges what n holds (n itself and, for a directory, everything
// below it) to the layers that stored it, as hidden by layer by.
func (f *fsys) remove(p string, n *node, by int) {
	if n.kind == KindFile && n.size > 0 {
		f.charge(p, n, by)
	}
	if f.onRemove != nil {
		f.onRemove(p, n)
	}
	for name, c := range n.children {
		f.remove(p+"/"+name, c, by)
	}
}

func (f *fsys) charge(p string, n *node, by int) {
	if n.layer < 0 || by < 0 {
		return
	}
	f.hidden[n.layer] += n.size
	f.hides[by] += n.size
	t := append(f.top[by], HiddenPath{Path: p, Bytes: n.size, Layer: n.layer})
	if len(t) > topHidden {
		sort.Slice(t, func(i, j int) bool { return t[i].Bytes > t[j].Bytes })
		t = t[:topHidden]
	}
	f.top[by] = t
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

// walk calls fn for every path of the filesystem below n, parents before
// children, in lexical order.
func (f *fsys) walk(fn func(p string, n *node)) {
	var rec func(p string, n *node)
	rec = func(p string, n *node) {
		names := make([]string, 0, len(n.children))
		for name := range n.children {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			c := n.children[name]
			cp := join(p, name)
			fn(cp, c)
			rec(cp, c)
		}
	}
	rec("", &f.root)
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
