#!/usr/bin/env bash
# Run every test: build the WASM guests the integration tests load, then the whole workspace's
# tests in release mode (unit, integration, doc tests).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh --tests
echo "==> cargo test --release --workspace"
cargo test --release --locked --workspace
