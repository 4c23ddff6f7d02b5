//! Give the interpreter an 8 MiB shadow stack (Rust's wasm default is 1 MiB): the Starlark
//! evaluator recurses natively per Starlark call frame, and its own call-depth limit
//! (`MAX_CALLSTACK`) must trip before the native stack runs out, so a recursion bomb is a typed
//! `limit` fault rather than an out-of-bounds trap.
fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.starts_with("wasm32") {
        println!("cargo:rustc-link-arg-cdylib=-zstack-size=8388608");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
