package registry

import "github.com/opencontainers/go-digest"

// Quota is asked before content or a tag enters a repository and told
// when they leave, when Options.Quota is set. internal/quota implements it
// (bytes and tags per repository pattern). Its errors are answered as
// they say, through the contract of UpstreamError (403 DENIED).
type Quota interface {
	// Charge counts d (size bytes) as held by repository, before it
	// enters; undo takes the charge back when it does not.
	Charge(repository string, d digest.Digest, size int64) (undo func(), err error)
	// ChargeTag counts tag, pointing at d, before it is set.
	ChargeTag(repository, tag string, d digest.Digest) (undo func(), err error)
	// Released tells that repository no longer holds d, nor the tags
	// that pointed at it.
	Released(repository string, d digest.Digest)
	// Untagged tells that repository no longer has tag.
	Untagged(repository, tag string)
}

// noQuota is the Quota of a registry without one.
type noQuota struct{}

func (noQuota) Charge(string, digest.Digest, int64) (func(), error)     { return func() {}, nil }
func (noQuota) ChargeTag(string, string, digest.Digest) (func(), error) { return func() {}, nil }
func (noQuota) Released(string, digest.Digest)                          {}
func (noQuota) Untagged(string, string)                                 {}
