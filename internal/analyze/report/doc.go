// Package report holds what gantry's analysis commands (lint, check, fleet)
// share about their results: the Finding, its Severity, the Rule metadata
// that describes it, the failure threshold, and the writers for the tty,
// JSON and SARIF 2.1.0 output formats.
//
// A Finding points either at a file position (File, Line, Column: a
// Dockerfile) or at an image and one of its layers (Image, Layer); a finding
// may carry both when a Dockerfile instruction is linked to the layer it
// produced.
//
// SARIF output follows the OASIS SARIF 2.1.0 specification:
// https://docs.oasis-open.org/sarif/sarif/v2.1.0/os/sarif-v2.1.0-os.html
package report
