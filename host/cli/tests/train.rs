//! `eigenbox train sft` end to end with a tiny model directory: the loss on three dialogues
//! goes down, a checkpoint is written and registered in the store under --out, `--resume`
//! continues from it, a fresh start refuses an output directory with checkpoints, and a
//! checkpoint is itself a model `--model` accepts. The binary runs without LD_LIBRARY_PATH
//! (its rpath finds libtorch).

use std::path::Path;
use std::process::{Command, Output};

use eigenbox_train::testing::tiny_model;

const DIALOGUES: &str = r#"{"messages": [{"role": "system", "content": "You manage tasks."}, {"role": "user", "content": "Create a task 'Important Meeting' for user_1."}, {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "create_task", "arguments": "{\"user_id\": \"user_1\", \"title\": \"Important Meeting\"}"}}]}, {"role": "tool", "tool_call_id": "c1", "content": "{\"task_id\": \"task_2\"}"}, {"role": "assistant", "content": "Done: task_2 is created."}], "tools": [{"type": "function", "function": {"name": "create_task", "description": "Create a task", "parameters": {"type": "object", "properties": {"user_id": {"type": "string"}, "title": {"type": "string"}}}}}]}
{"messages": [{"role": "user", "content": "Mark task_1 as done."}, {"role": "assistant", "content": "Done: task_1 is completed."}]}

{"messages": [{"role": "user", "content": "Hello!"}, {"role": "assistant", "content": "Hi! How can I help you today?"}, {"role": "user", "content": "Nothing, thanks."}, {"role": "assistant", "content": "Goodbye!"}]}
"#;

fn eigenbox(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eigenbox")).args(args).env_remove("LD_LIBRARY_PATH").env_remove("RUST_LOG").output().unwrap()
}

fn text(o: &Output) -> String {
    format!("stdout: {}\nstderr: {}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// `loss A -> B` from the command's summary line.
fn losses(o: &Output) -> (f64, f64) {
    let out = String::from_utf8_lossy(&o.stdout);
    let rest = out.split("loss ").nth(1).unwrap_or_else(|| panic!("no loss in {}", text(o)));
    let mut it = rest.split(|c: char| c == ';' || c.is_whitespace()).filter(|s| !s.is_empty() && *s != "->");
    let a = it.next().unwrap().parse().unwrap();
    let b = it.next().unwrap().parse().unwrap();
    (a, b)
}

#[test]
fn sft_lowers_the_loss_checkpoints_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let model_dir = dir.path().join("tiny");
    let tiny = tiny_model(21);
    std::fs::create_dir_all(&model_dir).unwrap();
    tiny.vs.save(model_dir.join("model.safetensors")).unwrap();
    eigenbox_train::write_model_files(&model_dir, &tiny.model).unwrap();
    let data = dir.path().join("d.jsonl");
    std::fs::write(&data, DIALOGUES).unwrap();
    let out = dir.path().join("out");
    let (m, d, o) = (model_dir.to_str().unwrap(), data.to_str().unwrap(), out.to_str().unwrap());
    let common = ["train", "sft", "--data", d, "--model", m, "--device", "cpu", "--lr", "1e-2", "--batch", "3", "--save-every", "10", "--out", o];

    let r = eigenbox(&[&common[..], &["--steps", "30"]].concat());
    assert!(r.status.success(), "{}", text(&r));
    let (before, after) = losses(&r);
    assert!(before > 4.0 && after < before - 1.0, "loss {before} -> {after}: {}", text(&r));
    assert!(String::from_utf8_lossy(&r.stdout).contains("steps 0..30"), "{}", text(&r));
    let ck = out.join("checkpoints/step-000030");
    for f in ["model.safetensors", "optimizer.safetensors", "trainer_state.json", "config.json", "tokenizer.json"] {
        assert!(ck.join(f).is_file(), "{f} missing in {}", ck.display());
    }
    let state: serde_json::Value = serde_json::from_slice(&std::fs::read(ck.join("trainer_state.json")).unwrap()).unwrap();
    assert_eq!((state["trainer"].as_str(), state["step"].as_u64()), (Some("sft"), Some(30)));
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 30);
    {
        let store = eigenbox_store::Store::open(&out.join("store")).unwrap();
        let runs = store.runs().unwrap();
        assert_eq!((runs.len(), runs[0].kind.as_str(), runs[0].status.as_str()), (1, "train-sft", "ok"));
        assert!(runs[0].summary["loss_after"].as_f64().unwrap() < runs[0].summary["loss_before"].as_f64().unwrap());
        let cks: Vec<u64> = store
            .db()
            .open_tree("checkpoints")
            .unwrap()
            .iter()
            .map(|kv| serde_json::from_slice::<serde_json::Value>(&kv.unwrap().1).unwrap()["step"].as_u64().unwrap())
            .collect();
        assert_eq!(cks, vec![10, 20, 30]);
        assert_eq!(store.db().open_tree("metrics").unwrap().len(), 30);
    }

    // Without --resume an output directory with checkpoints is refused.
    let r = eigenbox(&[&common[..], &["--steps", "35"]].concat());
    assert!(!r.status.success());
    assert!(String::from_utf8_lossy(&r.stderr).contains("--resume"), "{}", text(&r));
    // --resume continues from step 30 to 35, starting from the checkpoint's loss.
    let r = eigenbox(&[&common[..], &["--steps", "35", "--resume"]].concat());
    assert!(r.status.success(), "{}", text(&r));
    assert!(String::from_utf8_lossy(&r.stdout).contains("steps 30..35"), "{}", text(&r));
    let (resumed_before, _) = losses(&r);
    assert!((resumed_before - after).abs() < 1e-3, "resumed at loss {resumed_before}, the checkpoint had {after}");
    assert!(out.join("checkpoints/step-000035/model.safetensors").is_file());

    // A checkpoint is a model directory.
    let out2 = dir.path().join("out2");
    let r = eigenbox(&["train", "sft", "--data", d, "--model", ck.to_str().unwrap(), "--device", "cpu", "--steps", "1", "--out", out2.to_str().unwrap()]);
    assert!(r.status.success(), "{}", text(&r));
    let (b2, _) = losses(&r);
    assert!((b2 - after).abs() < 1e-3, "loading the checkpoint as --model gives loss {b2}, expected {after}");
    assert!(Path::new(&out2.join("checkpoints/step-000001")).is_dir());
}
