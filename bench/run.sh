#!/usr/bin/env bash
# Every side-by-side benchmark of gantry's core, in one run. Minutes; not
# part of CI. Figures go to BENCHMARKS.md by hand, with this command.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-test-deps.sh
bench/store/run.sh
bench/copy/run.sh
