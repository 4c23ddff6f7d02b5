//! Link settings for the binaries of this crate (the benchmark).
//!
//! tch issue 980: the linker drops `libtorch_cuda.so` when nothing references it directly
//! (`--as-needed`), and CUDA then reports unavailable at run time. `--no-as-needed` around
//! `-ltorch_cuda` keeps it. An rpath to `$LIBTORCH/lib` lets the binary run without
//! `LD_LIBRARY_PATH` on the machine that built it (elsewhere `scripts/gpu-bench.sh` points
//! `LD_LIBRARY_PATH` at a Python torch's `lib/`).
fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os != "linux" {
        return;
    }
    let Ok(libtorch) = std::env::var("LIBTORCH") else {
        return;
    };
    let lib = std::path::Path::new(&libtorch).join("lib");
    println!("cargo:rustc-link-search=native={}", lib.display());
    println!("cargo:rustc-link-arg-bins=-Wl,-rpath,{}", lib.display());
    // EIGENBOX_LEARNER_CUDA_LINK=0 builds a CPU-only binary (for machines where libtorch_cuda's
    // own CUDA libraries are missing and the dynamic loader would refuse to start it).
    println!("cargo:rerun-if-env-changed=EIGENBOX_LEARNER_CUDA_LINK");
    let wanted = std::env::var("EIGENBOX_LEARNER_CUDA_LINK").map_or(true, |v| v != "0");
    if wanted && lib.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg-bins=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg-bins=-ltorch_cuda");
        println!("cargo:rustc-link-arg-bins=-ltorch");
        println!("cargo:rustc-link-arg-bins=-Wl,--as-needed");
    }
}
