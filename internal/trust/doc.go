// Package trust checks and makes the signatures that travel with images
// and bundles, offline, with the standard library's crypto and the key
// files cosign writes.
//
// # Keys
//
// A public key is a PEM "PUBLIC KEY" block (PKIX: ECDSA P-256/P-384/P-521,
// Ed25519 or RSA), as "cosign generate-key-pair" writes cosign.pub. A
// private key is either cosign's "ENCRYPTED SIGSTORE PRIVATE KEY" (or the
// older "ENCRYPTED COSIGN PRIVATE KEY"): a JSON document holding a PKCS #8
// key sealed with NaCl secretbox under a key derived from a password with
// scrypt; or a plain PEM "PRIVATE KEY" (PKCS #8) or "EC PRIVATE KEY" block
// as openssl writes them.
//
// # Signatures
//
// A signature is over a message's bytes: ECDSA signs the message's SHA-256
// (SHA-384, SHA-512 for P-384, P-521) and is ASN.1 DER encoded; Ed25519
// signs the message itself; RSA is PKCS #1 v1.5 over SHA-256. These are
// the choices cosign makes for key-based signatures, so a signature made
// here verifies with "cosign verify-blob --key" and the other way round.
//
// # Image signatures
//
// cosign's key-based signature of an image is an OCI manifest whose layers
// have the media type SimpleSigningMediaType. Each layer's bytes are the
// "simple signing" payload (Payload), a JSON document naming the signed
// manifest in critical.image.docker-manifest-digest; the layer's
// annotation SignatureAnnotation holds the base64 signature of those
// bytes. VerifyImageSignature checks one such layer against a key and an
// image digest. The manifest is found under the tag
// "sha256-<hex>.sig" (SignatureTag) of the image's repository, or as a
// referrer of the image (distribution-spec v1.1).
package trust
