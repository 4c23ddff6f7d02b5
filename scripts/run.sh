#!/usr/bin/env bash
# The main job on embedded defaults: install what is missing, build host and plugins, then load
# the mock domain through the sandbox, replay every mock task's reference actions, and check each
# final DB hash against the reference's.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh
echo "==> eigenbox replay mock"
./target/release/eigenbox replay mock "$@"
