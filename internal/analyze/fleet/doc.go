// Package fleet analyzes a set of images from their manifests and configs
// only (no layer is downloaded): the bytes they share and the bytes unique
// to each, what one node pulls to run them all, the tree of shared layer
// prefixes (base-image families), and which rebases onto a common base
// would save how many bytes per node. It writes the result as JSON or as a
// self-contained HTML page with an SVG picture of the tree.
package fleet
