// Package s3test starts a real S3 server for tests: MinIO, run as a
// separate process on a free loopback port with its data in a temporary
// directory, and stopped when the test ends.
//
// The binary is $GANTRY_MINIO, else "minio" on PATH, else
// $(go env GOPATH)/bin/minio (scripts/install-test-deps.sh builds it there).
// Without one a test is skipped, except under CI=true, where it fails.
package s3test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/testenv"
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
	srv, stop, err := Launch()
	if errors.Is(err, ErrNoBinary) && os.Getenv("CI") != "true" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if out := stop(); t.Failed() && out != "" {
			t.Logf("minio output:\n%s", out)
		}
	})
	return srv
}

// ErrNoBinary is Launch's error when no MinIO binary is found.
var ErrNoBinary = errors.New("no minio binary (set GANTRY_MINIO, or run scripts/install-test-deps.sh)")

// Launch runs MinIO in a new temporary directory and makes a bucket, for
// a test binary that shares one server between its tests (from TestMain).
// stop kills it, removes its data and returns its output.
func Launch() (srv *Server, stop func() string, err error) {
	bin := Binary()
	if bin == "" {
		return nil, nil, ErrNoBinary
	}
	dir, err := os.MkdirTemp("", "gantry-minio-")
	if err != nil {
		return nil, nil, err
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin, "server", filepath.Join(dir, "data"), "--address", addr, "--quiet")
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+AccessKey, "MINIO_ROOT_PASSWORD="+SecretKey,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off")
	logs := &testenv.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	testenv.DieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, nil, fmt.Errorf("start minio: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	stop = func() string {
		_ = cmd.Process.Kill()
		<-done
		os.RemoveAll(dir)
		return logs.String()
	}
	srv = &Server{Endpoint: "http://" + addr, Bucket: "gantry"}
	if err := srv.ready(addr, done); err != nil {
		out := stop()
		return nil, nil, fmt.Errorf("%w:\n%s", err, out)
	}
	return srv, stop, nil
}

// ready waits for the server to answer, then makes the bucket.
func (s *Server) ready(addr string, done <-chan struct{}) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(s.Endpoint + "/minio/health/live")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-done:
			return errors.New("minio exited at start")
		default:
		}
		if time.Now().After(deadline) {
			return errors.New("minio not ready after 60s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	c, err := minio.New(addr, &minio.Options{Creds: credentials.NewStaticV4(AccessKey, SecretKey, "")})
	if err != nil {
		return err
	}
	s.client = c
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		err = c.MakeBucket(ctx, s.Bucket, minio.MakeBucketOptions{})
		if err == nil || ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond) // minio may answer health before it takes writes
	}
	if err != nil {
		return fmt.Errorf("make bucket: %w", err)
	}
	return nil
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

// Env returns the environment that gives a gantry process the
// credentials of the servers Start runs, as the standard AWS variables.
func Env() []string {
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

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
