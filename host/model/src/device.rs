//! Device selection: making libtorch's CUDA backend visible to a Rust binary.

use tch::Device;

/// Loads `libtorch_cuda.so` into the process (from the library path, or `$LIBTORCH/lib`).
///
/// tch links libtorch with `--as-needed`, so a binary that never names a CUDA symbol does not
/// load libtorch's CUDA backend and `tch::Cuda::is_available()` says false even on a GPU
/// machine. Call this **before** the first CUDA query (libtorch caches the answer). Returns
/// whether CUDA is available afterwards. Harmless on CPU-only libtorch.
pub fn load_cuda_backend() -> bool {
    let mut candidates = vec!["libtorch_cuda.so".to_string()];
    if let Some(dir) = std::env::var_os("LIBTORCH") {
        candidates.push(
            std::path::Path::new(&dir)
                .join("lib/libtorch_cuda.so")
                .display()
                .to_string(),
        );
    }
    for c in candidates {
        let Ok(name) = std::ffi::CString::new(c.clone()) else {
            continue;
        };
        // SAFETY: dlopen with a valid NUL-terminated path; the handle is intentionally leaked so
        // the library stays loaded for the life of the process.
        let h = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
        if !h.is_null() {
            tracing::debug!(library = %c, "loaded libtorch CUDA backend");
            break;
        }
    }
    tch::Cuda::is_available()
}

/// `Device::Cuda(0)` when a GPU is usable (after [`load_cuda_backend`]), else the CPU.
pub fn best_device() -> Device {
    if load_cuda_backend() {
        Device::Cuda(0)
    } else {
        Device::Cpu
    }
}
