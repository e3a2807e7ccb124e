#!/usr/bin/env bash
# Garbage collection on a 100,000-blob store (issue 12): gantry's online
# collection (in process, four clients pulling through the registry
# handler meanwhile: the run's time, the longest hold of the store's lock,
# the slowest request during the run and before it) and Distribution 3's
# offline `registry garbage-collect` on the same store in its own layout.
# Half the images were deleted; no grace period. Not part of CI.
#
# Usage: bench/gc/run.sh    (GCBENCH_IMAGES=25000: 4 blobs an image, ROUNDS=3)
# WORKDIR must be on a real disk (not tmpfs): default /var/tmp.
set -euo pipefail
cd "$(dirname "$0")/../.."
export WORKDIR=${WORKDIR:-/var/tmp}
export GCBENCH_IMAGES=${GCBENCH_IMAGES:-25000}
ROUNDS=${ROUNDS:-3}
for _ in $(seq "$ROUNDS"); do
	# alternate: gantry first, then Distribution, each round
	go test -run '^$' -bench '^BenchmarkGC$' -benchtime 1x -timeout 30m ./bench/gc/ | grep '^Benchmark'
	go test -run '^$' -bench '^BenchmarkDistributionGC$' -benchtime 1x -timeout 30m ./bench/gc/ | grep '^Benchmark'
done
