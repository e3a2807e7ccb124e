package cli

import (
	"net/http"
	"strings"
	"testing"
)

// TestServeUI checks that gantry serve serves the web view at /ui/ by
// default, sends a browser at / there, names its requests in the access
// log, and that --ui=false turns it off.
func TestServeUI(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Run("on by default", func(t *testing.T) {
		addr, logs, stop := serveInProcess(t, "serve", "--addr", "127.0.0.1:0", "--root", t.TempDir())
		code, body := get(t, "http://"+addr+"/")
		if code != http.StatusOK || !strings.Contains(body, "<h1>Repositories</h1>") {
			t.Errorf("GET / (following the redirect): %d\n%s", code, body)
		}
		if code, _ := get(t, "http://"+addr+"/v2/"); code != http.StatusOK {
			t.Errorf("/v2/ beside the view: %d", code)
		}
		if code := stop(); code != 0 {
			t.Fatalf("exit %d:\n%s", code, logs)
		}
		if !strings.Contains(logs.String(), "path=/ui/ route=ui status=200") {
			t.Errorf("no request line for /ui/:\n%s", logs)
		}
	})
	t.Run("--ui=false", func(t *testing.T) {
		addr, _, _ := serveInProcess(t, "serve", "--addr", "127.0.0.1:0", "--root", t.TempDir(), "--ui=false")
		if code, body := get(t, "http://"+addr+"/ui/"); code != http.StatusNotFound || strings.Contains(body, "Repositories") {
			t.Errorf("/ui/ with --ui=false: %d %q", code, body)
		}
	})
}
