//! Writes a tiny random model directory (config.json, model.safetensors, tokenizer.json: the
//! byte-level test tokenizer) that `eigenbox train --model <dir>` accepts, for smoke runs of the
//! training commands on a new machine or device without downloading a model:
//!
//! ```text
//! cargo run --release -p eigenbox-train --example tiny_model -- /tmp/tiny [seed]
//! eigenbox train grpo --domain mock --model /tmp/tiny --device cuda --bf16 --steps 2 --no-filter --out /tmp/run
//! ```

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().ok_or("usage: tiny_model <dir> [seed]")?);
    let seed: i64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(7);
    let tiny = eigenbox_train::testing::tiny_model(seed);
    std::fs::create_dir_all(&dir)?;
    tiny.vs.save(dir.join("model.safetensors"))?;
    eigenbox_train::write_model_files(&dir, &tiny.model)?;
    println!("wrote a tiny random model ({} parameters) to {}", tiny.vs.variables().values().map(|t| t.numel()).sum::<usize>(), dir.display());
    Ok(())
}
