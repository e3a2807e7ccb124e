// Package swarm moves blobs between the nodes of a cluster piece by piece,
// so that a blob many nodes want at once leaves its origin about once.
//
// A Node is one peer. Fetch returns a blob's bytes in order as its pieces
// arrive (cut-through): the first piece can reach the reader while the
// last is still on its way from the origin. Every node that asks for a
// blob joins the blob's swarm at the tracker at once (package tracker), so
// a cold herd of simultaneous pulls forms one swarm, and exactly one of
// them, the fetcher, streams the blob from the origin, cuts it into pieces
// and publishes each piece's hash as it lands (ChooseLayout: the first
// pieces of a large blob are smaller, so the swarm fills sooner). The
// others take pieces from their neighbours, several requests in flight, each to the neighbour
// whose pieces came fastest of late and for the rarest piece it holds, and
// the last pieces from whichever neighbour answers first (endgame; the
// slower copy is cancelled). Neighbours tell each other of every piece
// they get on a long-lived have stream; nobody polls. A node picks
// neighbours until as many peers read its have stream as it wants
// neighbours: those are the peers that ask it for pieces.
//
// While the fetcher streams the blob from the origin it holds pieces no
// other node has, and it super-seeds them (seed.go): it tells each new
// piece to one neighbour only and sends it to that one, which passes it
// on, so that the other nodes' uplinks carry the newest pieces rather
// than every node asking the fetcher for them. A node that asks it for a
// piece it gave to another is refused at once, naming the other. A piece
// is offered to another neighbour when the first does not ask within a
// second, when its taker goes before another neighbour holds it, or when
// it has not spread a while after it was sent; a piece offered for 4 s
// and sent to no one is told to all. Once its origin stream ends, and
// each piece it brought went to one neighbour (a second at most), the
// fetcher serves as any node does.
//
// A blob of up to 64 MiB is too short a pull for the requests to find
// their shape, and goes down two trees instead (tree.go): its even pieces
// down one, its odd pieces down the other, each a binary tree of the
// members under the fetcher, in the order they joined the swarm, in which
// each node passes its stripe on to two children and is a leaf of the
// other tree. A node asks its parent in each for its stripe once, and
// the parent sends the stripe's pieces in one answer, each as it comes;
// the node reads no have stream, and neither does the fetcher, which
// does not super-seed it. A stripe that fails sends the node back to the
// swarm's requests and neighbours.
//
// Only verified bytes move: a piece is kept, served to peers and given to
// a reader only once its hash matches the one the fetcher published, and a
// reader gets the last byte of a blob only once the whole blob matched its
// digest. A peer that serves a corrupt piece is dropped. Below the piece,
// each block is checked as it comes against a block list that matches the
// published hash, and a piece is passed on block by block while it
// arrives (blocks.go).
//
// A swarm that makes no progress for Options.StallTimeout (no fetcher, no
// neighbour with a piece that is missing, a tracker that is down) does not
// hold its readers: the node fetches the missing pieces from the origin
// itself. While another node holds the lease to fetch the blob and has not
// published every piece, the node waits for it instead, however slowly it
// goes: the tracker passes the lease on from a fetcher that publishes
// nothing, and requests of the node's own would take the origin's
// bandwidth from the fetcher.
//
// # Peer API
//
// A node serves its pieces over HTTP (Node.Handler):
//
//	GET /p2p/v1/blobs/<digest>                   with Range: bytes=A-B, one
//	                                             piece, verified or arriving
//	                                             (any range once the blob is
//	                                             whole), 404, or 503 when
//	                                             busy; with Gantry-Block-Size,
//	                                             its block list in
//	                                             Gantry-Blocks
//	GET /p2p/v1/blobs/<digest>                   with Gantry-Stripe: F/S/P, a
//	                                             small blob's stripe down a
//	                                             tree: pieces F, F+S, ... of
//	                                             a layout of P-byte pieces,
//	                                             each its block list then its
//	                                             bytes, in one answer
//	GET /p2p/v1/blobs/<digest>/have              newline-delimited JSON Have
//	                                             messages: first the pieces
//	                                             held, then each new one
//
// A stripe's answer sends each piece as the node holds it or takes it: it
// waits for each for half the stall timeout and 5 s at most, as long for
// an upload slot, and ends early if either does not come.
//
// A node names itself on both in a Gantry-Peer header: a super-seeding
// fetcher tells a named peer's have stream only the pieces it offers that
// peer (and a stream the fetcher reads says at most a line a second), and
// answers a named peer's request for a piece it gave to another 503 with
// that peer's ID in Gantry-Piece-Given (a 503 without it: every upload
// slot is busy). A peer the node banned (it served a corrupt piece) is
// answered 403, and its have streams end as it is banned.
//
// Every write of an answer to a peer (32 KiB at most) must end within
// Options.StallTimeout: a peer that stops reading loses its request, and
// with it the upload slot or have stream it held.
//
// A have stream's request and its answer name their ends' transfers of the
// blob in a Gantry-Transfer header (random, new for each transfer). A node
// that reads its reader's stream, from the transfer now reading its own,
// does not tell it the pieces it said it holds.
package swarm
