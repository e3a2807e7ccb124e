// Package tracker keeps the swarms of gantry's peer-to-peer distribution:
// for each blob being distributed, which peers want it and which have it
// whole, which one peer fetches it from the origin (the fetcher), how the
// blob is cut into pieces and the hash of each piece as it lands. It
// pushes every change to the peers of that swarm, so no peer ever polls.
//
// # Protocol
//
// A peer (a gantry agent) keeps one long-lived stream open:
//
//	GET /p2p/v1/stream?peer=ID&addr=HOST:PORT
//
// answered with newline-delimited JSON Events, one per change, for the
// swarms the peer has joined; the first line is a "hello" event. Everything
// a peer tells the tracker goes in POSTs of an Announce to
//
//	POST /p2p/v1/announce
//
// A peer joins a swarm when it first wants a blob (so a cold herd of
// simultaneous pulls forms one swarm at once), or when it holds the blob
// whole (a seeder). When it joins it is sent the swarm as it is: members,
// fetcher, piece layout and the piece hashes published so far.
//
// # The fetcher
//
// While a swarm has no member holding the blob whole, exactly one member is
// its fetcher: the earliest joined member that is not complete. Its lease
// (a number that grows with each election) authorises it to publish the
// piece layout and the hashes of the pieces it streams from the origin. If
// its stream ends (the peer died, or went away), the next member is elected
// with a new lease and takes over where the swarm stands; publications
// under an old lease are ignored. A published hash is never replaced, so a
// peer verifies every piece against the first hash the origin's bytes gave.
//
// # Restarts
//
// The tracker keeps its state in memory only. When its stream ends, a
// peer reconnects and announces again every swarm it is in, with the
// layout and hashes of the blobs it holds whole, so a restarted tracker
// knows everything again within one reconnection.
package tracker
