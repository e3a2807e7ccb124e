package s3

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/oci"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/opencontainers/go-digest"
)

// MinPartSize is the smallest part S3 accepts in a multipart upload (every
// part but the last).
const MinPartSize = 5 << 20

// DefaultPartSize is the part size of uploads when Options.PartSize is 0.
const DefaultPartSize = 8 << 20

// Options says which bucket to use and how to reach it.
type Options struct {
	// Endpoint is the S3 server's base URL, "https://s3.eu-west-1.amazonaws.com"
	// or "http://127.0.0.1:9000". Required.
	Endpoint string
	// Region is sent in request signatures. Default: "us-east-1".
	Region string
	// Bucket must exist. Required.
	Bucket string
	// Prefix is prepended to every key, so several stores can share a
	// bucket. A trailing "/" is added when missing. Default: none.
	Prefix string
	// AccessKey and SecretKey, when both set, are the credentials (and
	// SessionToken with them). Default: the standard AWS variables
	// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), then
	// the shared credentials file (AWS_SHARED_CREDENTIALS_FILE or
	// ~/.aws/credentials, profile AWS_PROFILE), then MinIO's variables
	// (MINIO_ROOT_USER, MINIO_ROOT_PASSWORD), then the EC2/ECS instance role.
	AccessKey, SecretKey, SessionToken string
	// PathStyle addresses the bucket in the path (endpoint/bucket/key)
	// rather than in the host name (bucket.endpoint/key). Default: chosen by
	// the endpoint (path style for anything but AWS and a few known hosts).
	PathStyle bool
	// PartSize is the size of the parts of a multipart upload, at least
	// MinPartSize; an upload holds one part in memory while it runs.
	// Default: DefaultPartSize.
	PartSize int64
	// Presign, when positive, has blob GETs redirected to presigned URLs
	// of the bucket valid this long (cas.BlobLocator), so clients read the
	// bytes from the S3 server, which they must be able to reach at
	// Endpoint. Default: 0, the registry sends the bytes.
	Presign time.Duration
	// Transport carries the requests. Default: minio-go's, which suits a
	// server with many concurrent requests.
	Transport http.RoundTripper
	// Logger receives what the store cannot return (a temporary object it
	// failed to remove). Default: discard.
	Logger *slog.Logger
}

// ParseURL reads a store location of the form
//
//	s3://BUCKET[/PREFIX][?endpoint=URL&region=REGION&path-style=true&part-size=BYTES&presign=DURATION]
//
// into Options. The endpoint defaults to AWS S3 in the region
// ("https://s3.REGION.amazonaws.com"); credentials are not part of the
// URL (see Options.AccessKey).
func ParseURL(raw string) (Options, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Options{}, fmt.Errorf("s3 location %q: %w: %w", raw, err, cas.ErrInvalid)
	}
	if u.Scheme != "s3" || u.Host == "" || u.User != nil || u.Fragment != "" {
		return Options{}, fmt.Errorf("s3 location %q: want s3://BUCKET[/PREFIX][?endpoint=URL&region=REGION]: %w", raw, cas.ErrInvalid)
	}
	o := Options{Bucket: u.Host, Prefix: strings.Trim(u.Path, "/")}
	if !validBucket(o.Bucket) {
		return Options{}, fmt.Errorf("s3 location %q: bucket %q: want 3 to 63 of a-z, 0-9, '.' and '-': %w", raw, o.Bucket, cas.ErrInvalid)
	}
	if o.Prefix != "" {
		for c := range strings.SplitSeq(o.Prefix, "/") {
			if c == "" || c == "." || c == ".." || strings.ContainsFunc(c, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				return Options{}, fmt.Errorf("s3 location %q: prefix %q: empty, dot or control-character components are not allowed: %w", raw, o.Prefix, cas.ErrInvalid)
			}
		}
	}
	q := u.Query()
	for k, vs := range q {
		if len(vs) != 1 {
			return Options{}, fmt.Errorf("s3 location %q: %s given %d times: %w", raw, k, len(vs), cas.ErrInvalid)
		}
		v := vs[0]
		switch k {
		case "endpoint":
			e, err := url.Parse(v)
			if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" || (e.Path != "" && e.Path != "/") {
				return Options{}, fmt.Errorf("s3 location %q: endpoint %q: want http(s)://HOST[:PORT]: %w", raw, v, cas.ErrInvalid)
			}
			o.Endpoint = v
		case "region":
			o.Region = v
		case "path-style":
			switch v {
			case "true":
				o.PathStyle = true
			case "false":
			default:
				return Options{}, fmt.Errorf("s3 location %q: path-style=%q: want true or false: %w", raw, v, cas.ErrInvalid)
			}
		case "presign":
			d, err := time.ParseDuration(v)
			if err != nil || d < time.Second || d > 7*24*time.Hour {
				return Options{}, fmt.Errorf("s3 location %q: presign=%q: want a duration between 1s and 168h: %w", raw, v, cas.ErrInvalid)
			}
			o.Presign = d
		case "part-size":
			var n int64
			if _, err := fmt.Sscan(v, &n); err != nil || n < MinPartSize || n > 5<<30 {
				return Options{}, fmt.Errorf("s3 location %q: part-size=%q: want bytes between %d and %d: %w", raw, v, MinPartSize, int64(5<<30), cas.ErrInvalid)
			}
			o.PartSize = n
		default:
			return Options{}, fmt.Errorf("s3 location %q: unknown parameter %q (known: endpoint, region, path-style, part-size, presign): %w", raw, k, cas.ErrInvalid)
		}
	}
	if o.Endpoint == "" {
		region := o.Region
		if region == "" {
			region = "us-east-1"
		}
		o.Endpoint = "https://s3." + region + ".amazonaws.com"
	}
	return o, nil
}

// validBucket reports whether name follows S3's rules for bucket names
// (those that matter for a URL: length and characters).
func validBucket(name string) bool {
	if len(name) < 3 || len(name) > 63 {
		return false
	}
	for _, r := range name {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '.' && r != '-' {
			return false
		}
	}
	return true
}

// Store is a cas.Store in an S3 bucket. It keeps no state of its own
// beyond the client: every replica on the same bucket and prefix sees the
// same content.
type Store struct {
	mc      *minio.Client
	core    minio.Core
	bucket  string
	prefix  string
	part    int64
	presign time.Duration
	log     *slog.Logger

	// sessions is the upload sessions this replica began and has not seen
	// end, for cas.UploadCounter: id -> repository and when it began.
	mu       sync.Mutex
	sessions map[string]openSession
}

// openSession is an entry of Store.sessions.
type openSession struct {
	repo  string
	began time.Time
}

var (
	_ cas.Store            = (*Store)(nil)
	_ cas.RepositoryLister = (*Store)(nil)
	_ cas.UploadPurger     = (*Store)(nil)
	_ cas.UploadCounter    = (*Store)(nil)
)

// Open connects to the bucket and checks that it exists and is reachable
// with the credentials given.
func Open(ctx context.Context, o Options) (*Store, error) {
	if o.Endpoint == "" || o.Bucket == "" {
		return nil, fmt.Errorf("s3 store: endpoint and bucket are required: %w", cas.ErrInvalid)
	}
	e, err := url.Parse(o.Endpoint)
	if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" {
		return nil, fmt.Errorf("s3 store: endpoint %q: want http(s)://HOST[:PORT]: %w", o.Endpoint, cas.ErrInvalid)
	}
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.PartSize == 0 {
		o.PartSize = DefaultPartSize
	}
	if o.PartSize < MinPartSize {
		return nil, fmt.Errorf("s3 store: part size %d is under S3's minimum of %d: %w", o.PartSize, MinPartSize, cas.ErrInvalid)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	lookup := minio.BucketLookupAuto
	if o.PathStyle {
		lookup = minio.BucketLookupPath
	}
	mc, err := minio.New(e.Host, &minio.Options{
		Creds:        credentialsFor(o),
		Secure:       e.Scheme == "https",
		Region:       o.Region,
		BucketLookup: lookup,
		Transport:    o.Transport,
	})
	if err != nil {
		return nil, fmt.Errorf("s3 store %s: %w", o.Endpoint, err)
	}
	s := &Store{mc: mc, core: minio.Core{Client: mc}, bucket: o.Bucket, part: o.PartSize, presign: o.Presign, log: o.Logger, sessions: map[string]openSession{}}
	if p := strings.Trim(o.Prefix, "/"); p != "" {
		s.prefix = p + "/"
	}
	ok, err := mc.BucketExists(ctx, o.Bucket)
	if err != nil {
		return nil, s.fail("open bucket", o.Bucket, err)
	}
	if !ok {
		return nil, fmt.Errorf("s3 store: bucket %s at %s does not exist: create it first: %w", o.Bucket, o.Endpoint, cas.ErrNotFound)
	}
	return s, nil
}

// credentialsFor returns the explicit credentials of o, or the chain of
// the usual places.
func credentialsFor(o Options) *credentials.Credentials {
	if o.AccessKey != "" && o.SecretKey != "" {
		return credentials.NewStaticV4(o.AccessKey, o.SecretKey, o.SessionToken)
	}
	file := os.Getenv("AWS_SHARED_CREDENTIALS_FILE")
	if file == "" {
		if home, err := os.UserHomeDir(); err == nil {
			file = filepath.Join(home, ".aws", "credentials")
		}
	}
	return credentials.NewChainCredentials([]credentials.Provider{
		&credentials.EnvAWS{},
		&credentials.FileAWSCredentials{Filename: file, Profile: os.Getenv("AWS_PROFILE")},
		&credentials.EnvMinio{},
		&credentials.IAM{},
	})
}

// String names the store for logs: the bucket and prefix.
func (s *Store) String() string { return "s3://" + s.bucket + "/" + s.prefix }

// Repository implements cas.Store.
func (s *Store) Repository(_ context.Context, name string) (cas.Target, error) {
	if err := oci.ValidateRepository(name); err != nil {
		return nil, err
	}
	return &Repo{s: s, name: name}, nil
}

// Keys. Repository names never have a component that starts with "_", so
// the store's own objects under a repository cannot meet a nested one.

func (s *Store) blobKey(d digest.Digest) string {
	return s.prefix + "blobs/" + string(d.Algorithm()) + "/" + d.Encoded()
}

func (s *Store) repoKey(repo string) string { return s.prefix + "repositories/" + repo + "/" }

func (s *Store) linkKey(repo string, d digest.Digest) string {
	return s.repoKey(repo) + "_links/" + string(d.Algorithm()) + "/" + d.Encoded()
}

// holderKey is the mark that repo holds d; with repo "", the prefix of
// d's marks.
func (s *Store) holderKey(d digest.Digest, repo string) string {
	return s.prefix + "holders/" + string(d.Algorithm()) + "/" + d.Encoded() + "/" + repo
}

func (s *Store) tagsKey(repo string) string { return s.repoKey(repo) + "_tags.json" }

func (s *Store) referrersKey(repo string, subject digest.Digest) string {
	return s.repoKey(repo) + "_referrers/" + string(subject.Algorithm()) + "/" + subject.Encoded() + ".json"
}

func (s *Store) uploadKey(id string) string { return s.prefix + "uploads/" + id + "/" }

// Errors.

// errPrecondition is a conditional write that lost to another writer.
var errPrecondition = errors.New("object changed by another writer")

// fail wraps an S3 error on key: a missing object wraps cas.ErrNotFound, a
// lost condition errPrecondition, a server fault or a dropped connection
// cas.ErrTransient.
func (s *Store) fail(op, key string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("s3 %s %s: %w", op, key, err)
	}
	resp := minio.ToErrorResponse(err)
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.Code == minio.NoSuchKey || resp.Code == "NoSuchUpload":
		return fmt.Errorf("s3 %s %s: %w", op, key, cas.ErrNotFound)
	case resp.StatusCode == http.StatusPreconditionFailed || resp.StatusCode == http.StatusConflict || resp.Code == minio.PreconditionFailed:
		return fmt.Errorf("s3 %s %s: %w", op, key, errPrecondition)
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == 0:
		return fmt.Errorf("s3 %s %s: %w: %w", op, key, err, cas.ErrTransient)
	}
	return fmt.Errorf("s3 %s %s: %w", op, key, err)
}

// Small JSON objects.

// getJSON reads the object at key into v and returns its ETag; an absent
// object is an error wrapping cas.ErrNotFound.
func (s *Store) getJSON(ctx context.Context, key string, v any) (etag string, err error) {
	rc, info, _, err := s.core.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return "", s.fail("get", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxRecord+1))
	if err != nil {
		return "", s.fail("read", key, err)
	}
	if len(b) > maxRecord {
		return "", fmt.Errorf("s3 object %s: over %d bytes: %w", key, maxRecord, cas.ErrInvalid)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return "", fmt.Errorf("s3 object %s: damaged: %v: %w", key, err, cas.ErrInvalid)
	}
	return info.ETag, nil
}

// maxRecord bounds the JSON objects the store reads: a tag list or a
// referrer list. A repository with more tags than this holds is refused a
// new one (ErrInvalid).
const maxRecord = 64 << 20

// putJSON writes v at key. With ifMatch "" it writes only when no object
// is there (If-None-Match: *); with an ETag, only when the object still has
// it (If-Match); with "-", unconditionally. A lost condition wraps
// errPrecondition. It returns the new object's ETag.
func (s *Store) putJSON(ctx context.Context, key string, v any, ifMatch string) (etag string, err error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("s3 object %s: %w", key, err)
	}
	if len(b) > maxRecord {
		return "", fmt.Errorf("s3 object %s: %d bytes is over the %d-byte limit of a record: %w", key, len(b), maxRecord, cas.ErrInvalid)
	}
	return s.putBytes(ctx, key, b, ifMatch, "application/json")
}

// putBytes writes b at key under the condition of putJSON and returns the
// new object's ETag.
func (s *Store) putBytes(ctx context.Context, key string, b []byte, ifMatch, contentType string) (string, error) {
	opts := minio.PutObjectOptions{ContentType: contentType, DisableContentSha256: true}
	switch ifMatch {
	case "":
		opts.SetMatchETagExcept("*")
	case "-":
	default:
		opts.SetMatchETag(ifMatch)
	}
	info, err := s.core.PutObject(ctx, s.bucket, key, bytes.NewReader(b), int64(len(b)), "", "", opts)
	return info.ETag, s.fail("put", key, err)
}

// maxAttempts bounds the retries of a compare-and-swap that keeps losing:
// far more than the writers of one object at once in any real registry.
const maxAttempts = 200

// update changes the JSON object at key by compare-and-swap: it reads the
// object (an absent one reads as the zero T), calls fn, and writes the
// result only if no other writer changed the object in between, retrying
// from the read otherwise. fn returns false to write nothing. This is how
// replicas on one bucket share tags and referrers without a lock: a write
// that returns nil is one no other write overwrote unseen.
func update[T any](ctx context.Context, s *Store, key string, fn func(v *T) (bool, error)) error {
	for attempt := 0; ; attempt++ {
		var v T
		etag, err := s.getJSON(ctx, key, &v)
		if err != nil && !errors.Is(err, cas.ErrNotFound) {
			return err
		}
		write, err := fn(&v)
		if err != nil || !write {
			return err
		}
		_, err = s.putJSON(ctx, key, &v, etag)
		if !errors.Is(err, errPrecondition) {
			return err
		}
		if attempt == maxAttempts {
			return fmt.Errorf("s3 object %s: gave up after %d concurrent changes: %w", key, attempt, cas.ErrTransient)
		}
		// Back off a little, at random, so the writers of one object
		// do not keep meeting.
		pause := time.Duration(rand.Int64N(int64(time.Millisecond) << min(attempt, 6)))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
	}
}

// remove deletes key; an absent object is not an error.
func (s *Store) remove(ctx context.Context, key string) error {
	err := s.mc.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{})
	if err = s.fail("delete", key, err); errors.Is(err, cas.ErrNotFound) {
		return nil
	}
	return err
}

// exists reports whether an object is at key, and its size.
func (s *Store) stat(ctx context.Context, key string) (int64, bool, error) {
	info, err := s.mc.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err = s.fail("stat", key, err); err != nil {
		if errors.Is(err, cas.ErrNotFound) {
			return 0, false, nil
		}
		return 0, false, err
	}
	return info.Size, true, nil
}

// Repositories implements cas.RepositoryLister: the repositories with at
// least one tag. It lists every tag list of the store (one object per
// repository) and tells an empty one by its size, without reading it.
func (s *Store) Repositories(ctx context.Context, last string, fn func([]string) error) error {
	root := s.prefix + "repositories/"
	var names []string
	err := s.walk(ctx, root, func(key string, size int64) {
		if name, ok := strings.CutSuffix(strings.TrimPrefix(key, root), "/_tags.json"); ok && size > int64(len(emptyTags)) {
			names = append(names, name)
		}
	})
	if err != nil {
		return err
	}
	return cas.ListPages(ctx, names, last, fn)
}

// walk lists the repositories under dir (a key prefix ending in "/") for
// their tag lists, descending into nested repositories but not into a
// repository's own objects (links, referrers), so its cost follows the
// number of repositories, not of blobs.
func (s *Store) walk(ctx context.Context, dir string, fn func(key string, size int64)) error {
	var subdirs []string
	for obj := range s.mc.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: dir}) {
		if obj.Err != nil {
			return s.fail("list", dir, obj.Err)
		}
		if strings.HasSuffix(obj.Key, "/") {
			if rest := strings.TrimPrefix(obj.Key, dir); !strings.HasPrefix(rest, "_") {
				subdirs = append(subdirs, obj.Key)
			}
			continue
		}
		fn(obj.Key, obj.Size)
	}
	for _, d := range subdirs {
		if err := s.walk(ctx, d, fn); err != nil {
			return err
		}
	}
	return nil
}
