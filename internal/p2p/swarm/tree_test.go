package swarm

import (
	"fmt"
	"math/bits"
	"testing"
)

// The trees of a small blob, for swarms of 1 to 64 nodes but the fetcher:
// in each stripe every node has a parent and reaches the fetcher, the
// fetcher has one child, a node has at most treeStripes children, and it
// has children in one stripe at most, so that its uplink carries about
// one copy of the blob. The trees are about as deep as a binary heap of
// the nodes.
func TestTreeShape(t *testing.T) {
	for m := 1; m <= 64; m++ {
		order := []string{"fetcher"}
		for k := range m {
			order = append(order, fmt.Sprintf("n%02d", k))
		}
		inner := map[string]int{} // stripes a node has children in, as bits
		for s := range treeStripes {
			children := map[string]int{}
			for _, id := range order[1:] {
				depth := 0
				for at := id; at != "fetcher"; depth++ {
					p := treeParent(order, at, s)
					if p == "" || depth > m {
						t.Fatalf("%d nodes, stripe %d: %s has no way to the fetcher (at %q)", m, s, id, at)
					}
					if at == id {
						children[p]++
						if p != "fetcher" {
							inner[p] |= 1 << s
						}
					}
					at = p
				}
				if most := bits.Len(uint(m)) + 1; depth > most {
					t.Errorf("%d nodes, stripe %d: %s is %d hops from the fetcher, want %d at most", m, s, id, depth, most)
				}
			}
			if children["fetcher"] != 1 {
				t.Errorf("%d nodes, stripe %d: the fetcher has %d children, want 1", m, s, children["fetcher"])
			}
			for p, n := range children {
				if n > treeStripes {
					t.Errorf("%d nodes, stripe %d: %s has %d children, want %d at most", m, s, p, n, treeStripes)
				}
			}
		}
		for id, stripes := range inner {
			if bits.OnesCount(uint(stripes)) > 1 {
				t.Errorf("%d nodes: %s has children in stripes %b, want one at most", m, id, stripes)
			}
		}
	}
	if p := treeParent([]string{"fetcher", "a"}, "fetcher", 0); p != "" {
		t.Errorf("the root's parent is %q, want none", p)
	}
	if p := treeParent([]string{"fetcher", "a"}, "stranger", 0); p != "" {
		t.Errorf("a node not in the order has parent %q, want none", p)
	}
}
