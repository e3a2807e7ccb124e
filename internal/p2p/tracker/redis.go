package tracker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a SharedLog on a Redis server: the entries are a Redis stream
// (XADD, read with XREAD BLOCK), numbered by a counter that one Lua script
// increments and appends with, so that two replicas never give two
// entries one number; the newest snapshot is a hash, saved by a script
// that keeps only a newer one and trims the stream to the entries after
// the snapshot before it.
type Redis struct {
	c                  *redis.Client
	stream, seq, snap  string
	maxLen             int64
	appendSrc, saveSrc *redis.Script
}

// RedisOptions configure OpenRedis. The zero value works.
type RedisOptions struct {
	// Prefix starts the names of the keys used. Default "gantry:tracker:".
	Prefix string
	// MaxLen bounds the entries the stream keeps (about: Redis trims by
	// whole nodes) should snapshots stop trimming it. Default 100,000.
	MaxLen int64
}

// appendScript numbers and appends an entry: KEYS stream, counter; ARGV
// data, max length. It returns the number and the entry's ID.
const appendScript = `
local n = redis.call('INCR', KEYS[2])
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'n', n, 'm', ARGV[1])
return {n, id}
`

// saveScript saves a snapshot unless a newer one is saved, and trims the
// stream to the entries from the snapshot it replaces on (a replica a
// little behind still finds the entries it has not read): KEYS snapshot,
// stream; ARGV seq, ID, data.
const saveScript = `
local cur = redis.call('HMGET', KEYS[1], 'seq', 'id')
if cur[1] and tonumber(cur[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'seq', ARGV[1], 'id', ARGV[2], 'data', ARGV[3])
if cur[2] then redis.call('XTRIM', KEYS[2], 'MINID', cur[2]) end
return 1
`

// OpenRedis returns the shared log on the Redis server at rawURL
// (redis://[:PASSWORD@]HOST:PORT/DB, or rediss:// for TLS). It does not
// connect: a server down is an error of each call, which the tracker
// reports on its health.
func OpenRedis(rawURL string, opts RedisOptions) (*Redis, error) {
	o, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redis URL %q: %w", redactURL(rawURL), err)
	}
	o.DialTimeout = 2 * time.Second
	o.ReadTimeout = 3 * time.Second
	o.WriteTimeout = 3 * time.Second
	o.MaxRetries = 1
	if opts.Prefix == "" {
		opts.Prefix = "gantry:tracker:"
	}
	if opts.MaxLen <= 0 {
		opts.MaxLen = 100000
	}
	return &Redis{
		c:         redis.NewClient(o),
		stream:    opts.Prefix + "log",
		seq:       opts.Prefix + "seq",
		snap:      opts.Prefix + "snapshot",
		maxLen:    opts.MaxLen,
		appendSrc: redis.NewScript(appendScript),
		saveSrc:   redis.NewScript(saveScript),
	}, nil
}

// redactURL drops a password from a URL for an error message.
func redactURL(s string) string {
	if i, j := strings.Index(s, "://"), strings.LastIndex(s, "@"); i >= 0 && j > i {
		return s[:i+3] + "…" + s[j:]
	}
	return s
}

// Close closes the connections to the server.
func (r *Redis) Close() error { return r.c.Close() }

// Append implements SharedLog.
func (r *Redis) Append(ctx context.Context, data []byte) (uint64, error) {
	res, err := r.appendSrc.Run(ctx, r.c, []string{r.stream, r.seq}, data, r.maxLen).Slice()
	if err != nil {
		return 0, fmt.Errorf("redis append: %w", err)
	}
	if len(res) != 2 {
		return 0, fmt.Errorf("redis append: %d values returned, want 2", len(res))
	}
	n, ok := res[0].(int64)
	if !ok || n <= 0 {
		return 0, fmt.Errorf("redis append: number %v", res[0])
	}
	return uint64(n), nil
}

// Read implements SharedLog.
func (r *Redis) Read(ctx context.Context, after string) ([]Entry, error) {
	if after == "" {
		after = "0-0"
	}
	res, err := r.c.XRead(ctx, &redis.XReadArgs{Streams: []string{r.stream, after}, Count: 1000, Block: time.Second}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("redis read: %w", err)
	}
	var entries []Entry
	for _, s := range res {
		for _, m := range s.Messages {
			e, err := parseEntry(m.ID, m.Values)
			if err != nil {
				return nil, err
			}
			entries = append(entries, e)
		}
	}
	return entries, nil
}

// parseEntry reads an entry of the stream: ID "MILLISECONDS-N", field n
// the entry's number, field m its data.
func parseEntry(id string, values map[string]any) (Entry, error) {
	ms, _, ok := strings.Cut(id, "-")
	t, err := strconv.ParseInt(ms, 10, 64)
	if !ok || err != nil || t < 0 {
		return Entry{}, fmt.Errorf("redis log entry %q: bad ID", id)
	}
	ns, _ := values["n"].(string)
	n, err := strconv.ParseUint(ns, 10, 64)
	if err != nil || n == 0 {
		return Entry{}, fmt.Errorf("redis log entry %s: bad number %q", id, ns)
	}
	data, ok := values["m"].(string)
	if !ok {
		return Entry{}, fmt.Errorf("redis log entry %s: no data", id)
	}
	return Entry{Seq: n, ID: id, Time: time.UnixMilli(t), Data: []byte(data)}, nil
}

// Snapshot implements SharedLog.
func (r *Redis) Snapshot(ctx context.Context) (Snapshot, error) {
	v, err := r.c.HMGet(ctx, r.snap, "seq", "id", "data").Result()
	if err != nil {
		return Snapshot{}, fmt.Errorf("redis snapshot: %w", err)
	}
	if v[0] == nil {
		return Snapshot{}, nil
	}
	seqs, _ := v[0].(string)
	id, _ := v[1].(string)
	data, _ := v[2].(string)
	seq, err := strconv.ParseUint(seqs, 10, 64)
	if err != nil || id == "" {
		return Snapshot{}, fmt.Errorf("redis snapshot: bad number %q or ID %q", seqs, id)
	}
	return Snapshot{Seq: seq, ID: id, Data: []byte(data)}, nil
}

// SaveSnapshot implements SharedLog.
func (r *Redis) SaveSnapshot(ctx context.Context, s Snapshot) error {
	if err := r.saveSrc.Run(ctx, r.c, []string{r.snap, r.stream}, s.Seq, s.ID, s.Data).Err(); err != nil {
		return fmt.Errorf("redis snapshot %d: %w", s.Seq, err)
	}
	return nil
}
