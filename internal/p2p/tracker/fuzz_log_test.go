package tracker

import (
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// FuzzParseEntry reads arbitrary stream entries as Redis would give them:
// an entry is taken whole, with a number and a time, or refused.
func FuzzParseEntry(f *testing.F) {
	f.Add("1733250000000-0", "1", `{"op":"alive","replica":"r"}`)
	f.Add("1733250000000-7", "18446744073709551615", "")
	f.Add("-1", "x", "{")
	f.Add("1-", "0", "null")
	f.Fuzz(func(t *testing.T, id, n, m string) {
		e, err := parseEntry(id, map[string]any{"n": n, "m": m})
		if err != nil {
			return
		}
		if e.Seq == 0 || e.ID != id || string(e.Data) != m || e.Time.Before(time.Unix(0, 0)) {
			t.Fatalf("entry %+v from %q %q", e, id, n)
		}
	})
}

// FuzzApply applies arbitrary log entries, after an open of peer "a", to
// a tracker: an entry is refused or applied, and the swarms stay
// consistent (members with sessions, a fetcher among its members, no more
// hashes than pieces).
func FuzzApply(f *testing.F) {
	d := digest.FromString("a layer")
	for _, s := range []string{
		`{"op":"announce","peer":"a","session":"s","announce":{"peer":"a","join":[{"digest":"` + d.String() + `"}]}}`,
		`{"op":"announce","peer":"a","session":"s","announce":{"peer":"a","publish":[{"digest":"` + d.String() + `","lease":1,"layout":{"size":10,"pieceSize":65536},"pieces":[{"index":0,"hash":"` + d.String() + `"}]}]}}`,
		`{"op":"expire","digest":"` + d.String() + `","lease":1,"since":0}`,
		`{"op":"end","peer":"a","session":"s"}`,
		`{"op":"open","peer":"a","session":"t","addr":"h:1","replica":"r2"}`,
		`{"op":"down","target":"r","since":0}`,
		`{"op":"alive","replica":"r"}`,
		`{"op":"nope"}`, `{`, `null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		tr := New(Options{})
		tr.apply(mutation{Op: opOpen, Peer: "a", Session: "s", Addr: "h:1", Replica: "r"}, time.Unix(0, 0))
		tr.apply(mutation{Op: opAnnounce, Peer: "a", Session: "s", Announce: &Announce{Peer: "a", Join: []Join{{Digest: d}}}}, time.Unix(0, 0))
		m, err := decodeMutation(b)
		if err != nil {
			return
		}
		tr.apply(m, time.Unix(1, 0))
		for dg, sw := range tr.swarms {
			if len(sw.order) != len(sw.members) || len(sw.order) == 0 {
				t.Fatalf("%s: %d members, %d in order", dg, len(sw.members), len(sw.order))
			}
			for _, id := range sw.order {
				if sess := tr.sessions[id]; sess == nil {
					t.Fatalf("%s: member %q has no session", dg, id)
				}
			}
			if sw.fetcher != "" && sw.members[sw.fetcher] == nil {
				t.Fatalf("%s: fetcher %q is not a member", dg, sw.fetcher)
			}
			if sw.layout != nil && len(sw.hashes) != sw.layout.Pieces() {
				t.Fatalf("%s: %d hashes for %d pieces", dg, len(sw.hashes), sw.layout.Pieces())
			}
		}
		// The state survives a snapshot.
		s := tr.snapshot()
		st, err := decodeState(s.Data)
		if err != nil {
			t.Fatal(err)
		}
		before := tr.snapshot()
		tr.restore(st)
		if after := tr.snapshot(); string(after.Data) != string(before.Data) {
			t.Fatalf("snapshot changed by a restore:\n%s\n%s", before.Data, after.Data)
		}
	})
}
