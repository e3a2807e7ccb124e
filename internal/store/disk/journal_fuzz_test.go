package disk

import (
	"testing"
)

// FuzzDecodeRecords feeds arbitrary journals to replay: it must not panic,
// must account for every byte exactly once (intact records, skipped
// stretches, then the torn tail) and never more bytes than it was given,
// and applying what it decodes must not panic either. Seeds are in
// testdata/fuzz/FuzzDecodeRecords: intact journals and the damage of
// TestJournalDamage.
func FuzzDecodeRecords(f *testing.F) {
	s := openT(f, f.TempDir())
	f.Fuzz(func(t *testing.T, b []byte) {
		var recs []record
		sc := decodeRecords(b, func(r record) { recs = append(recs, r) })
		if sc.end < 0 || sc.end > len(b) {
			t.Fatalf("end %d outside a journal of %d bytes", sc.end, len(b))
		}
		// Walk the journal as the scan says it is made and check that
		// each record is where it says, in order.
		off, i, k := 0, 0, 0
		for off < sc.end {
			if k < len(sc.skipped) && sc.skipped[k].Off == off {
				sp := sc.skipped[k]
				if sp.Len <= 0 || sp.Off+sp.Len > sc.end {
					t.Fatalf("skipped stretch %+v in a journal whose intact part ends at %d", sp, sc.end)
				}
				if _, _, ok := recordAt(b, off); ok {
					t.Fatalf("skipped an intact record at %d", off)
				}
				off += sp.Len
				k++
				continue
			}
			_, n, ok := recordAt(b, off)
			if !ok {
				t.Fatalf("no record at %d and no skipped stretch either", off)
			}
			off += n
			i++
		}
		if off != sc.end || k != len(sc.skipped) || i != len(recs) {
			t.Fatalf("walk ended at %d after %d records and %d skipped stretches; scan says %d, %d, %d", off, i, k, sc.end, len(recs), len(sc.skipped))
		}
		if _, _, ok := recordAt(b, sc.end); ok {
			t.Fatalf("an intact record at %d is in the torn tail", sc.end)
		}
		s.mu.Lock()
		for _, r := range recs {
			s.apply(r)
		}
		s.mu.Unlock()
	})
}
