// Package catalog is the one list of heavy components gantry knows: JDKs,
// browsers, Elasticsearch and its kin, toolchains, compilers and headers,
// with how each arrives in an image (package names per package manager,
// download addresses, commands that fetch it, directories a COPY --from
// brings in, base images), how it is found in an image by the files it
// installs (File, for gantry check), its typical installed size and what
// to ship instead. gantry lint and gantry check read the same entries, so
// their findings name a component, its size and the advice alike.
//
// The list is heavy.yaml, embedded in the binary and checked once when it
// is first used (Default); adding a component is one line there. The
// "Heavy component catalogue" section of docs/rules.md is generated from
// it by `go generate` (see Splice), and a test fails when the two differ.
package catalog

//go:generate go run ./gen -doc ../../../docs/rules.md
