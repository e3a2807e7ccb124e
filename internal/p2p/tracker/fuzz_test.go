package tracker_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gantry-dev/gantry/internal/p2p/tracker"
)

// FuzzAnnounce posts arbitrary announces from a peer with a stream open:
// the tracker answers each with a status of the protocol and keeps its
// swarms consistent (one fetcher at most, a member).
func FuzzAnnounce(f *testing.F) {
	for _, s := range []string{
		`{"peer":"a","join":[{"digest":"` + blob.String() + `"}]}`,
		`{"peer":"a","join":[{"digest":"` + blob.String() + `","complete":true,"layout":{"size":3145728,"pieceSize":1048576},"pieces":[{"index":0,"hash":"` + blob.String() + `"}]}]}`,
		`{"peer":"a","publish":[{"digest":"` + blob.String() + `","lease":1,"layout":{"size":10,"pieceSize":65536},"pieces":[{"index":0,"hash":"` + blob.String() + `"}]}]}`,
		`{"peer":"a","publish":[{"digest":"` + blob.String() + `","lease":1,"layout":{"size":3145728,"pieceSize":1048576,"headPieceSize":65536,"headPieces":16}}]}`,
		`{"peer":"a","leave":["` + blob.String() + `"],"complete":["` + blob.String() + `"]}`,
		`{"peer":"a","publish":[{"digest":"` + blob.String() + `","lease":1,"pieces":[{"index":131071,"hash":"` + blob.String() + `"}]}]}`,
		`{"peer":"b"}`, `{}`, `null`, `[`,
	} {
		f.Add([]byte(s), []byte(`{"peer":"a","join":[{"digest":"`+blob.String()+`"}]}`))
	}
	f.Fuzz(func(t *testing.T, first, second []byte) {
		tr := tracker.New(tracker.Options{})
		srv := httptest.NewServer(tr)
		defer srv.Close()
		p := connect(t, srv.URL, "a")
		defer p.cancel()
		for _, body := range [][]byte{first, second} {
			resp, err := http.Post(srv.URL+tracker.AnnouncePath, "application/json", bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusNoContent, http.StatusBadRequest, http.StatusConflict, http.StatusTooManyRequests:
			default:
				t.Fatalf("announce %q: status %d", body, resp.StatusCode)
			}
		}
		if s, ok := tr.Swarm(blob); ok {
			if s.Fetcher != "" && s.Fetcher != "a" {
				t.Fatalf("fetcher %q is not a member", s.Fetcher)
			}
			if s.Layout != nil && s.Published > s.Layout.Pieces() {
				t.Fatalf("%d hashes published for %d pieces", s.Published, s.Layout.Pieces())
			}
		}
	})
}
