#!/usr/bin/env bash
# Source this file: it makes libtorch (torch 2.11.0 from PyPI, in a cached venv) available to
# tch 0.24 builds and to the binaries they produce.
#   . scripts/torch-env.sh            # installs into the cache if missing, then exports the env
# Overrides: EIGENBOX_TORCH_VENV=<venv dir>, or LIBTORCH=<dir with lib/ and include/> set already.
_eb_cache="${XDG_CACHE_HOME:-$HOME/.cache}/eigenbox"
_eb_venv="${EIGENBOX_TORCH_VENV:-$_eb_cache/torch-venv}"
if [ -z "${LIBTORCH:-}" ]; then
  if [ ! -f "$_eb_venv/.torch-2.11.0" ]; then
    echo "==> installing torch 2.11.0 (libtorch for tch) into $_eb_venv" >&2
    python3 -m venv "$_eb_venv"
    "$_eb_venv/bin/pip" install --quiet --no-deps torch==2.11.0 nvidia-cuda-runtime==13.0.96 \
      nvidia-cuda-cupti==13.0.85
    touch "$_eb_venv/.torch-2.11.0"
  fi
  _eb_site="$("$_eb_venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  export LIBTORCH="$_eb_site/torch"
  _eb_nv="$_eb_site/nvidia/cu13/lib"
  export LD_LIBRARY_PATH="$LIBTORCH/lib${_eb_nv:+:$_eb_nv}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
export LIBTORCH_CXX11_ABI=1
export LIBTORCH_BYPASS_VERSION_CHECK="${LIBTORCH_BYPASS_VERSION_CHECK:-0}"
unset _eb_cache _eb_venv _eb_site _eb_nv
