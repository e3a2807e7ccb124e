// Package s3test starts a real S3 server for tests: MinIO, run as a
// separate process on a free loopback port with its data in a temporary
// directory, and stopped when the test ends.
//
// The binary is $GANTRY_MINIO, else "minio" on PATH, else
// $(go env GOPATH)/bin/minio (scripts/install-test-deps.sh builds it there).
// Without one a test is skipped, except under CI=true, where it fails.
package s3test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// The credentials of every server Start runs.
const (
	AccessKey = "gantrytest"
	SecretKey = "gantrytest-secret"
)

// Server is a running MinIO.
type Server struct {
	// Endpoint is its base URL, "http://127.0.0.1:PORT".
	Endpoint string
	// Bucket exists on it, empty at the start.
	Bucket string
	client *minio.Client
}

// Binary returns the path of the MinIO binary, or "" when there is none.
func Binary() string {
	if p := os.Getenv("GANTRY_MINIO"); p != "" {
		return p
	}
	if p, err := exec.LookPath("minio"); err == nil {
		return p
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
			gopath = strings.TrimSpace(string(out))
		}
	}
	if gopath != "" {
		p := filepath.Join(strings.Split(gopath, string(os.PathListSeparator))[0], "bin", "minio")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// Start runs MinIO for the test and makes a bucket. The server is killed
// and its data removed when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Binary()
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("no minio binary (set GANTRY_MINIO, or run scripts/install-test-deps.sh)")
		}
		t.Skip("no minio binary (set GANTRY_MINIO, or run scripts/install-test-deps.sh)")
	}
	port := freePort(t)
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin, "server", filepath.Join(dir, "data"), "--address", addr, "--quiet")
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+AccessKey, "MINIO_ROOT_PASSWORD="+SecretKey,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start minio: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() && logs.Len() > 0 {
			t.Logf("minio output:\n%s", logs.String())
		}
	})
	srv := &Server{Endpoint: "http://" + addr, Bucket: "gantry"}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(srv.Endpoint + "/minio/health/live")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-done:
			t.Fatalf("minio exited at start:\n%s", logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("minio not ready after 60s:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	c, err := minio.New(addr, &minio.Options{Creds: credentials.NewStaticV4(AccessKey, SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	srv.client = c
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		err = c.MakeBucket(ctx, srv.Bucket, minio.MakeBucketOptions{})
		if err == nil || ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond) // minio may answer health before it takes writes
	}
	if err != nil {
		t.Fatalf("make bucket: %v", err)
	}
	return srv
}

// URL returns the store location of a fresh random prefix in the bucket,
// s3://BUCKET/PREFIX?endpoint=...: each call names an empty store.
func (s *Server) URL() string {
	return fmt.Sprintf("s3://%s/%s?endpoint=%s", s.Bucket, NewPrefix(), s.Endpoint)
}

// NewPrefix returns a random key prefix.
func NewPrefix() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "t" + hex.EncodeToString(b[:])
}

// Env returns the environment that gives a gantry process the server's
// credentials, as the standard AWS variables.
func (s *Server) Env() []string {
	return []string{"AWS_ACCESS_KEY_ID=" + AccessKey, "AWS_SECRET_ACCESS_KEY=" + SecretKey}
}

// Keys lists the keys under prefix, for tests that look at the bucket.
func (s *Server) Keys(t testing.TB, prefix string) []string {
	t.Helper()
	var keys []string
	for obj := range s.client.ListObjects(context.Background(), s.Bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if obj.Err != nil {
			t.Fatalf("list %s: %v", prefix, obj.Err)
		}
		keys = append(keys, obj.Key)
	}
	return keys
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
