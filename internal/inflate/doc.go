// Package inflate decompresses gzip layers for gantry check, fast.
//
// NewGzip inflates a stream on one goroutine with the fastest inflater the
// build has: Intel's ISA-L (igzip, through cgo) when built with the isal
// tag, which takes 2-3 times less CPU per byte than klauspost/compress,
// the inflater of pure-Go builds.
//
// Reader decompresses one gzip member on several cores.
// A gzip layer made by docker, buildah or BuildKit is a single deflate
// stream, which every library inflates on one core: the largest layer of an
// image bounds `gantry check` however many cores it has. Reader cuts the
// compressed stream into chunks and decodes them at once, as rapidgzip does
// for arbitrary gzip (Knespel and Brunst, HPDC 2023):
//
//   - A chunk's decode starts at the first deflate block it finds in the
//     chunk: a bit offset where a dynamic-Huffman block header is valid (code
//     lengths in range, every code complete) and whose block decodes to its
//     end-of-block code, followed by another valid header.
//   - Its first bytes may copy from the 32 KiB before the chunk, which is not
//     yet known: such bytes are kept as markers ("byte k of the previous
//     window") in 16-bit symbols. Once the last 32 KiB decoded hold no
//     marker, nothing later can reach past them, and the rest of the chunk
//     goes to NewGzip's inflater (ISA-L or klauspost's) with those 32 KiB as its
//     dictionary.
//   - The chunks are emitted in order: a chunk's markers are replaced by the
//     previous chunk's last 32 KiB, and the previous chunk's decode must end
//     exactly where this one began, which checks the guessed start.
//
// The gzip trailer's CRC-32 and size are checked on everything emitted. A
// stream whose chunks cannot be joined (no block found, a start that was
// not a block, several gzip members) is decoded on one goroutine from that
// point, or, when the bytes already emitted turn out wrong, fails with
// ErrRetry so that the caller reads it again with an ordinary gzip reader.
package inflate
