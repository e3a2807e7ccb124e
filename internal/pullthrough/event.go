package pullthrough

// Event is one thing the mirror did that metrics count. Options.Observe
// hears each; the package keeps no metrics of its own.
type Event struct {
	// Kind is what happened: EventFill, EventFillFailed, EventStale or
	// EventUpstreamError.
	Kind string
	// Upstream is the URL of the upstream concerned.
	Upstream string
	// Content is "blob" or "manifest" for fills, "tag" or "tags" (a tag
	// list) for stale serves, "" otherwise.
	Content string
	// Bytes is the size of what a fill cached.
	Bytes int64
}

// Kinds of Event.
const (
	// EventFill: content fetched from the upstream and cached.
	EventFill = "fill"
	// EventFillFailed: a fill that cached nothing (the upstream failed,
	// the content did not match its digest, the cache refused it).
	EventFillFailed = "fill_failed"
	// EventStale: the upstream failed and the cache's tag or tag list was
	// served instead.
	EventStale = "stale"
	// EventUpstreamError: the upstream failed to answer (down, 5xx, a
	// broken answer); not counted for 404 and 401, which are answers.
	EventUpstreamError = "upstream_error"
)

// observe passes e to Options.Observe, if set.
func (s *Store) observe(e Event) {
	if s.opts.Observe != nil {
		s.opts.Observe(e)
	}
}
