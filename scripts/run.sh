#!/usr/bin/env bash
# The main job on embedded defaults: install what is missing, build host and plugins, then, for
# each τ² domain, load its WASM plugin through the sandbox, put it into every task's initial
# state, replay the task's reference actions, and check each final DB hash against the
# reference's. `scripts/run.sh airline` replays one domain.
set -euo pipefail
cd "$(dirname "$0")/.."
# libtorch for the native model / learner / train crates (tch): installs torch 2.11 into the
# cache once, then exports LIBTORCH (and LD_LIBRARY_PATH) for the build and the tests.
. scripts/torch-env.sh
./scripts/build.sh
domains=("$@")
[ ${#domains[@]} -gt 0 ] || domains=(mock airline retail telecom)
status=0
for d in "${domains[@]}"; do
  # telecom's tasks.json is the v0.2.0 task set; its reference hashes are recorded under v0.2.0
  version=v1.0; [ "$d" = telecom ] && version=v0.2.0
  echo "==> eigenbox replay $d --version $version"
  ./target/release/eigenbox replay "$d" --version "$version" | tail -n 1 || status=1
done
exit $status
