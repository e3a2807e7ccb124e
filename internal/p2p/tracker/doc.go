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
// swarms the peer has joined; the first line is a "hello" event. With
// compact=1 in the query the events take fewer bytes (compact.go): a swarm
// is named by a number the stream gives it, piece hashes go as bytes, and
// the joins of a herd that wait together for the stream go as one line. Everything
// a peer tells the tracker goes in POSTs of an Announce to
//
//	POST /p2p/v1/announce
//
// A peer joins a swarm when it first wants a blob (so a cold herd of
// simultaneous pulls forms one swarm at once), or when it holds the blob
// whole (a seeder). When it joins it is sent the swarm as it is: its own
// place in it, the members, fetcher, piece layout and the piece hashes
// published so far. Each swarm numbers its members as they join
// (Peer.Seq), and a peer is told of them in that order: a peer told of
// fewer members than another was told of the first ones.
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
// The lease is the peer's, not its stream's. A peer that opens a new
// stream while its old one is still known (it reconnected: its replica
// died, or cut it) is alive, and may still be streaming from the origin:
// its places as a fetcher pass to the new stream, and it keeps them by
// joining again, as a peer does on every new stream. One that does not
// join again (it restarted, and nobody asks it for the blob any more)
// leaves the swarm when its lease runs out (Options.LeaseTimeout).
//
// # Restarts
//
// By default the tracker keeps its state in memory only. When its stream
// ends, a peer reconnects and announces again every swarm it is in, with
// the layout and hashes of the blobs it holds whole, so a restarted
// tracker knows everything again within one reconnection.
//
// # Replicas
//
// With Options.Shared (OpenRedis), several trackers are replicas of one.
// Each keeps the whole state in memory, as a lone tracker does, but
// changes it only by applying the entries of a log they share (a Redis
// stream), in the log's order: a stream opened or ended, an announce, a
// lease run out, a replica alive or gone. Applying an entry depends only
// on the state and the entry, dated by the log's clock, so every replica
// holds the same swarms and elects the same fetcher under the same lease
// number: the log's order is the lock. A lease runs out by an entry that
// names the lease and when it was renewed, and does nothing if either
// changed meanwhile, so two replicas that both see it run out pass it on
// once. Each replica pushes to the streams it serves what the entries do
// to their swarms.
//
// A peer's place in its swarms lasts while its stream is open at some
// replica: the replica says every second that it is alive, and a replica
// silent for Options.ReplicaTimeout has its peers' sessions ended by the
// others (its peers have reconnected elsewhere, or are gone). A stream
// its peer closed ends its session at once; one the replica cut itself
// (shutting down, a slow reader, the log not answering) leaves the session
// waiting for its peer's new stream, at any replica, for ReplicaTimeout,
// so that a fetcher keeps its lease across the move. A replica
// that starts reads the newest snapshot of the state and the entries
// after it; snapshots are written every Options.SnapshotEvery entries and
// the log is trimmed behind them. A replica that finds entries missing
// (it lagged too far, or Redis restarted empty) loads the state again and
// cuts its streams, and its peers announce again; so does a replica whose
// log does not answer, which then refuses streams and announces (503)
// and says so in Healthy.
package tracker
