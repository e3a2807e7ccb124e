package registry_test

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/gantry-dev/gantry/internal/registry"
	"github.com/gantry-dev/gantry/internal/store/memory"
)

// A client whose upload body breaks off (a dropped connection) gets
// BLOB_UPLOAD_INVALID, and the server logs no error: the fault is the
// client's.
func TestUploadBodyReadErrorIsClients(t *testing.T) {
	var logs bytes.Buffer
	h := registry.New(memory.New(), registry.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})

	post := httptest.NewRecorder()
	h.ServeHTTP(post, httptest.NewRequest(http.MethodPost, "/v2/app/blobs/uploads/", nil))
	if post.Code != http.StatusAccepted {
		t.Fatalf("POST: %d %s", post.Code, post.Body)
	}
	loc := post.Header().Get("Location")

	body := io.MultiReader(strings.NewReader("some bytes"), iotest.ErrReader(errors.New("connection reset by peer")))
	patch := httptest.NewRecorder()
	h.ServeHTTP(patch, httptest.NewRequest(http.MethodPatch, loc, body))
	if patch.Code != http.StatusBadRequest || !strings.Contains(patch.Body.String(), "BLOB_UPLOAD_INVALID") {
		t.Fatalf("PATCH with a broken body: %d %s, want 400 BLOB_UPLOAD_INVALID", patch.Code, patch.Body)
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Fatalf("a client's broken body was logged as a server error:\n%s", logs.String())
	}
}
