package registry_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/gantry-dev/gantry/internal/registry"
	"github.com/gantry-dev/gantry/internal/store/memory"
	"github.com/opencontainers/go-digest"
)

// A registry over an in-memory store, pushed to and pulled from with plain
// HTTP: POST with ?digest= uploads a blob in one request.
func Example() {
	srv := httptest.NewServer(registry.New(memory.New(), registry.Options{}))
	defer srv.Close()

	blob := "hello, registry"
	d := digest.FromString(blob)
	resp, err := http.Post(srv.URL+"/v2/demo/app/blobs/uploads/?digest="+d.String(), "application/octet-stream", strings.NewReader(blob))
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, resp.Header.Get("Location") == "/v2/demo/app/blobs/"+d.String())

	resp, err = http.Get(srv.URL + "/v2/demo/app/blobs/" + d.String())
	if err != nil {
		panic(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, string(b))

	fmt.Println(registry.Route("PATCH", "/v2/demo/app/blobs/uploads/some-session"))
	// Output:
	// 201 true
	// 200 hello, registry
	// upload_patch
}
