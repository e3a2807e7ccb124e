// Package oci holds what gantry knows of the OCI image and distribution
// specifications (image-spec v1.1, distribution-spec v1.1) and of Docker's
// schema 2: media types, manifest parsing and validation, platforms, and
// image references with their transports.
package oci
