//! Link settings for `eigenbox` (it links libtorch through `eigenbox train`): an rpath to
//! `$LIBTORCH/lib`, so `target/release/eigenbox` runs without `LD_LIBRARY_PATH` on the machine
//! that built it (`scripts/torch-env.sh` sets `LIBTORCH`).
//!
//! Unlike `host/learner/build.rs` this does not force `libtorch_cuda` in with `--no-as-needed`:
//! the binary must start on machines without CUDA's libraries. On a GPU, `eigenbox_model::
//! best_device` / `load_cuda_backend` load the CUDA backend at run time.
fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default() != "linux" {
        return;
    }
    let Ok(libtorch) = std::env::var("LIBTORCH") else {
        return;
    };
    let lib = std::path::Path::new(&libtorch).join("lib");
    println!("cargo:rustc-link-arg-bins=-Wl,-rpath,{}", lib.display());
}
