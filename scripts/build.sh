#!/usr/bin/env bash
# Build everything eigenbox needs and package the plugins into dist/plugins.
# Installs what is missing first (the wasm32-wasip2 Rust target). Idempotent.
#   scripts/build.sh           host binary + components (for the main job)
#   scripts/build.sh --tests   also every test target, with the same feature set `cargo test
#                              --workspace` uses, so the test run that follows rebuilds nothing
set -euo pipefail
cd "$(dirname "$0")/.."
# libtorch for the native model / learner / train crates (tch): installs torch 2.11 into the
# cache once, then exports LIBTORCH (and LD_LIBRARY_PATH) for the build and the tests.
. scripts/torch-env.sh

if ! command -v cargo >/dev/null 2>&1; then
  echo "error: cargo not found; install Rust (https://rustup.rs) first" >&2
  exit 1
fi
if command -v rustup >/dev/null 2>&1; then
  rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
fi

GUESTS=(
  -p eigenbox-plugin-mock          # τ²-bench mock domain
  -p eigenbox-plugin-airline       # τ²-bench airline domain
  -p eigenbox-plugin-retail        # τ²-bench retail domain
  -p eigenbox-plugin-telecom       # τ²-bench telecom domain
  -p eigenbox-example-notes        # the third-party example domain
  -p eigenbox-plugin-user-sim      # τ²-bench user simulator (role)
  -p eigenbox-guest-hostile        # test fixtures
  -p eigenbox-guest-probe-role
  -p eigenbox-guest-wrong-world
  -p eigenbox-guest-mismatch
  -p eigenbox-guest-old-role
)
echo "==> building WASM components (wasm32-wasip2)"
cargo build --release --locked --target wasm32-wasip2 "${GUESTS[@]}"
# The checker runtime (Starlark interpreter) in its own invocation: `starlark` turns on
# serde_json's `arbitrary_precision`, and cargo unifies features across every package of one
# build, which would change how the domains above parse and print numbers.
cargo build --release --locked --target wasm32-wasip2 -p eigenbox-checker-starlark
if [ "${1:-}" = "--tests" ]; then
  echo "==> building the host (eigenbox) and every test target"
  cargo test --release --locked --workspace --no-run
else
  echo "==> building the host (eigenbox)"
  cargo build --release --locked -p eigenbox-cli
fi

echo "==> packaging plugins into dist/plugins"
W=target/wasm32-wasip2/release
./target/release/eigenbox plugin package "$W/eigenbox_plugin_mock.wasm" --manifest plugins/mock/eigenbox.toml --out dist/plugins
./target/release/eigenbox plugin package "$W/eigenbox_plugin_airline.wasm" --manifest plugins/airline/eigenbox.toml --out dist/plugins
./target/release/eigenbox plugin package "$W/eigenbox_plugin_retail.wasm" --manifest plugins/retail/eigenbox.toml --out dist/plugins
./target/release/eigenbox plugin package "$W/eigenbox_plugin_telecom.wasm" --manifest plugins/telecom/eigenbox.toml --out dist/plugins
./target/release/eigenbox plugin package "$W/eigenbox_example_notes.wasm" --manifest examples/notes-domain/eigenbox.toml --out dist/plugins
./target/release/eigenbox plugin package "$W/eigenbox_plugin_user_sim.wasm" --manifest plugins/user-sim/eigenbox.toml --out dist/plugins
./target/release/eigenbox plugin package "$W/eigenbox_checker_starlark.wasm" --manifest plugins/checker-starlark/eigenbox.toml --out dist/plugins
