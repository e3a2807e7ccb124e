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
// consistent (members with sessions, a fetcher among its members, a place
// kept only for a fetcher, no more hashes than pieces).
func FuzzApply(f *testing.F) {
	d := digest.FromString("a layer")
	for _, s := range []string{
		`{"op":"announce","peer":"a","session":"s","announce":{"peer":"a","join":[{"digest":"` + d.String() + `"}]}}`,
		`{"op":"announce","peer":"a","session":"s","announce":{"peer":"a","publish":[{"digest":"` + d.String() + `","lease":1,"layout":{"size":10,"pieceSize":65536},"pieces":[{"index":0,"hash":"` + d.String() + `"}]}]}}`,
		`{"op":"expire","digest":"` + d.String() + `","lease":1,"since":0}`,
		`{"op":"end","peer":"a","session":"s"}`,
		`{"op":"open","peer":"a","session":"t","addr":"h:1","replica":"r2"}`,
		`{"op":"announce","peer":"a","session":"r","announce":{"peer":"a","join":[{"digest":"` + d.String() + `","complete":true}]}}`,
		`{"op":"down","target":"r","since":0}`,
		`{"op":"alive","replica":"r"}`,
		`{"op":"nope"}`, `{`, `null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMutation(b)
		if err != nil {
			return
		}
		// From two states: a fetching on its stream s, and a reconnected
		// (stream r at replica r2) with its place as the fetcher kept.
		for _, reconnected := range []bool{false, true} {
			tr := New(Options{})
			tr.apply(mutation{Op: opOpen, Peer: "a", Session: "s", Addr: "h:1", Replica: "r"}, time.Unix(0, 0))
			tr.apply(mutation{Op: opAnnounce, Peer: "a", Session: "s", Announce: &Announce{Peer: "a", Join: []Join{{Digest: d}}}}, time.Unix(0, 0))
			if reconnected {
				tr.apply(mutation{Op: opOpen, Peer: "a", Session: "r", Addr: "h:1", Replica: "r2"}, time.Unix(0, 0))
			}
			tr.apply(m, time.Unix(1, 0))
			checkState(t, tr)
		}
	})
}

// checkState checks that the swarms of tr are consistent, and survive a
// snapshot.
func checkState(t *testing.T, tr *Tracker) {
	t.Helper()
	for dg, sw := range tr.swarms {
		if len(sw.order) != len(sw.members) || len(sw.order) == 0 {
			t.Fatalf("%s: %d members, %d in order", dg, len(sw.members), len(sw.order))
		}
		for _, id := range sw.order {
			if sess := tr.sessions[id]; sess == nil {
				t.Fatalf("%s: member %q has no session", dg, id)
			} else if _, in := sess.swarms[dg]; !in {
				t.Fatalf("%s: member %q, its session not in the swarm", dg, id)
			}
		}
		if sw.fetcher != "" && sw.members[sw.fetcher] == nil {
			t.Fatalf("%s: fetcher %q is not a member", dg, sw.fetcher)
		}
		if sw.rejoin && sw.fetcher == "" {
			t.Fatalf("%s: a place kept for a fetcher, and no fetcher", dg)
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
}
