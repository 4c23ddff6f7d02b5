//! `learner-bench`: SFT / GRPO step and generation throughput with MFU; see
//! [`eigenbox_learner::bench`]. Examples:
//!
//! `learner-bench --preset qwen2.5-0.5b --out result.json` (CUDA; default shapes fit ~70 GB)
//! `learner-bench --preset qwen2.5-1.5b --batch 8 --micro-batch 4 --seq 2048 --modes sft,grpo`
//! `learner-bench --preset tiny --device cpu` (smoke test)

use clap::Parser;

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = eigenbox_learner::bench::Args::parse();
    if let Err(e) = eigenbox_learner::bench::run(args) {
        eprintln!("learner-bench: {e}");
        std::process::exit(1);
    }
}
