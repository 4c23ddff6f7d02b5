#!/usr/bin/env bash
# Run every test: build the WASM guests the integration tests load, then the whole workspace's
# tests in release mode (unit, integration, doc tests).
set -euo pipefail
cd "$(dirname "$0")/.."
# libtorch for the native model / learner / train crates (tch): installs torch 2.11 into the
# cache once, then exports LIBTORCH (and LD_LIBRARY_PATH) for the build and the tests.
. scripts/torch-env.sh
./scripts/build.sh --tests
echo "==> cargo test --release --workspace"
cargo test --release --locked --workspace
