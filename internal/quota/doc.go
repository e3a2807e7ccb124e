// Package quota bounds what the repositories under a name prefix hold:
// bytes and tags per repository pattern ("team-a/**"), the quotas of
// gantry serve's config file.
//
// Bytes are counted from repository membership: a blob or manifest
// counts once for a rule however many of the rule's repositories hold it,
// and a blob the repository already holds costs nothing. Quotas are kept
// current by the registry handler as content enters (Charge, before an
// upload commits, a mount or a manifest PUT), is tagged (ChargeTag) and
// leaves (Released, Untagged), so no request scans the store; Load counts
// a store at start (and again when asked, after garbage collection has
// let go of what a delete left behind). A refusal is an *Error, which the
// handler answers with 403 DENIED and a message naming the quota.
//
// Charges are taken before the content enters and given back if it does
// not, so concurrent pushes cannot together go over a bound.
package quota
