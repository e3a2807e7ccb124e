// Package ui is gantry serve's read-only web view of its store, at /ui/:
// the repositories (searchable, sorted by size, tag count or last push), a
// repository's tags, an image (layers, config, the findings of gantry
// check priced in bytes, the base it shares), and the fleet (the
// layer-sharing tree of internal/analyze/fleet).
//
// Pages are rendered on the server with html/template from the same values
// that the same URLs return as JSON when asked with Accept:
// application/json, so the page and the API cannot disagree. Assets are
// embedded; nothing is fetched from elsewhere.
//
// Findings are never computed in a request: Run analyzes images in the
// background after a push (Observe sees pushes go through the registry)
// with a bounded number of workers, and keeps layer scans by digest
// (image.ScanCache), so a layer shared by many images is read once and a
// new image costs only its new layers. Until its analysis is done an image
// shows as not yet analyzed.
//
// Every page shows only what the caller may pull, as the registry's
// Authorizer decides.
package ui
