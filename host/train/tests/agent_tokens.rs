//! The embedded agent's token bookkeeping: the running sequence is exactly the template's
//! encoding of the final dialogue when the replies are canonical, generated spans are exactly
//! the trained spans (with their log probabilities), a free-form reply still leaves a consistent
//! sequence, and the context window and unparseable replies are handled.

use std::sync::{Arc, Mutex};

use eigenbox_model::{encode_dialogue, encode_prompt, ChatMessage, FinishReason, Generation, SamplingParams, TokenRole};
use eigenbox_orchestrator::{Agent, ParticipantError};
use eigenbox_tau2::Message;
use eigenbox_train::testing::tiny_model;
use eigenbox_train::{AgentConfig, EmbeddedAgent, EmbeddedModel, ModelSampler, Sampler};
use serde_json::{json, Value};

/// Replies with the given texts in order (each followed by `<|im_end|>`), with the model's own
/// log probabilities of those tokens; records what it produced.
struct Scripted {
    replies: Mutex<Vec<String>>,
    produced: Mutex<Vec<(Vec<i64>, Vec<f32>)>>,
}

impl Scripted {
    fn new(replies: &[&str]) -> Arc<Scripted> {
        Arc::new(Scripted { replies: Mutex::new(replies.iter().rev().map(|s| s.to_string()).collect()), produced: Mutex::new(vec![]) })
    }
}

impl Sampler for Scripted {
    fn sample(&self, model: &EmbeddedModel, prompt: &[i64], _params: &SamplingParams) -> anyhow::Result<Generation> {
        let text = self.replies.lock().unwrap().pop().expect("a scripted reply left");
        let tokens = model.tokenizer.encode(&format!("{text}<|im_end|>"))?;
        let logprobs = model.score(prompt, &tokens)?;
        self.produced.lock().unwrap().push((tokens.clone(), logprobs.clone()));
        Ok(Generation { tokens, logprobs, finish: FinishReason::Stop })
    }
}

fn tools() -> Vec<Value> {
    vec![json!({"type": "function", "function": {"name": "create_task", "description": "Create a task",
        "parameters": {"type": "object", "properties": {"user_id": {"type": "string"}, "title": {"type": "string"}}, "required": ["user_id", "title"]}}})]
}

fn msg(v: Value) -> Message {
    serde_json::from_value(v).expect("τ² message")
}

fn greeting() -> Message {
    msg(json!({"role": "assistant", "content": "Hi! How can I help you today?"}))
}

fn user(text: &str) -> Message {
    msg(json!({"role": "user", "content": text}))
}

fn tool_result(id: &str, content: &str) -> Message {
    msg(json!({"role": "tool", "id": id, "content": content, "requestor": "assistant", "error": false}))
}

/// Contiguous runs of `true` as (start, end).
fn spans(mask: &[bool]) -> Vec<(usize, usize)> {
    let mut out = vec![];
    let mut start = None;
    for (i, &m) in mask.iter().chain(std::iter::once(&false)).enumerate() {
        match (m, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    out
}

fn run<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
}

const CALL: &str = "<tool_call>\n{\"name\": \"create_task\", \"arguments\": {\"user_id\": \"user_1\", \"title\": \"Important Meeting\"}}\n</tool_call>";

#[test]
fn canonical_replies_reproduce_the_template_encoding() {
    let m = tiny_model(1);
    let model = &m.model;
    let sampler = Scripted::new(&[CALL, "Done: task_2 is created."]);
    let system = ChatMessage::system("You manage tasks.");
    let mut agent = EmbeddedAgent::with_sampler(model, sampler.clone(), system, tools(), AgentConfig::default());
    agent.init(&[greeting()], Some(7));
    let first = run(agent.next(&user("Create 'Important Meeting' for user_1.")))
        .expect("first reply");
    let calls = first.tool_calls.get().expect("a tool call");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].name, "create_task");
    assert_eq!(Value::Object(calls[0].arguments.clone()), json!({"user_id": "user_1", "title": "Important Meeting"}));
    let id = calls[0].id.clone();
    let second = run(agent.next(&tool_result(&id, "{\"task_id\": \"task_2\"}"))).expect("second reply");
    assert_eq!(second.content.get().map(String::as_str), Some("Done: task_2 is created."));
    assert!(!second.is_tool_call());
    // The generated tokens are kept on the message (ids and log probabilities).
    let kept = eigenbox_orchestrator::message_logprobs(&second).expect("tokens on the message");
    let produced = sampler.produced.lock().unwrap().clone();
    assert_eq!(kept.iter().map(|t| i64::from(t.id.unwrap())).collect::<Vec<_>>(), produced[1].0);

    // 1. The running sequence is the template's encoding of the final dialogue.
    let enc = encode_dialogue(&model.tokenizer, &model.template, agent.messages(), agent.tools()).unwrap();
    assert_eq!(agent.ids(), enc.ids.as_slice(), "running ids differ from the rendered dialogue's");
    let n = agent.ids().len();
    assert_eq!((agent.logprobs().len(), agent.trained_mask().len()), (n, n));

    // 2. Trained spans are exactly the generated tokens, with their log probabilities.
    let got = spans(agent.trained_mask());
    assert_eq!(got.len(), 2, "{got:?}");
    for ((s, e), (tokens, lps)) in got.iter().zip(&produced) {
        assert_eq!(&agent.ids()[*s..*e], tokens.as_slice());
        assert_eq!(&agent.logprobs()[*s..*e], lps.as_slice());
        assert!(lps.iter().all(|l| l.is_finite() && *l <= 0.0));
    }
    assert!(agent.trained_mask().iter().zip(agent.logprobs()).all(|(t, l)| *t || *l == 0.0));
    // The only assistant-role tokens that are not trained are the greeting's (not generated).
    let untrained_assistant: Vec<i64> =
        (0..n).filter(|&i| enc.roles[i] == TokenRole::Assistant && !agent.trained_mask()[i]).map(|i| agent.ids()[i]).collect();
    assert_eq!(model.tokenizer.decode(&untrained_assistant, false).unwrap(), "Hi! How can I help you today?<|im_end|>");
    assert!((0..n).filter(|&i| agent.trained_mask()[i]).all(|i| enc.roles[i] == TokenRole::Assistant));

    // 3. The learner's trajectory is the same bookkeeping.
    let t = agent.trajectory(0.5);
    assert_eq!((t.ids.as_slice(), t.reward), (agent.ids(), 0.5));
    assert!(!t.trained[0]);
}

#[test]
fn sampled_replies_keep_a_consistent_sequence() {
    let m = tiny_model(2);
    let model = &m.model;
    let cfg = AgentConfig { max_new_tokens: 6, temperature: 1.0, top_p: 1.0, max_context: None };
    let mut agent = EmbeddedAgent::with_sampler(model, Arc::new(ModelSampler), ChatMessage::system("You manage tasks."), tools(), cfg);
    agent.init(&[greeting()], Some(3));
    let before: Vec<ChatMessage> = agent.messages().to_vec();
    let u = user("Create a task.");
    run(agent.next(&u)).expect("first reply");
    let mut prompt_msgs = before.clone();
    prompt_msgs.push(ChatMessage::user("Create a task."));
    let prompt = encode_prompt(&model.tokenizer, &model.template, &prompt_msgs, agent.tools()).unwrap();
    let s = spans(agent.trained_mask());
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].0, prompt.len(), "the first reply starts right after the prompt");
    assert_eq!(&agent.ids()[..s[0].0], prompt.as_slice());
    assert!(s[0].1 - s[0].0 <= 6);
    let reply_raw = model.tokenizer.decode(&agent.ids()[s[0].0..s[0].1], false).unwrap();

    run(agent.next(&user("Anything?"))).expect("second reply");
    let s = spans(agent.trained_mask());
    assert_eq!(s.len(), 2, "{s:?}");
    // Between the replies: the end of the assistant turn (closed if the model did not close it)
    // and the next user turn with the generation prompt, untrained.
    let between = model.tokenizer.decode(&agent.ids()[s[0].1..s[1].0], false).unwrap();
    let close = if reply_raw.ends_with("<|im_end|>") { "" } else { "<|im_end|>" };
    assert_eq!(between, format!("{close}\n<|im_start|>user\nAnything?<|im_end|>\n<|im_start|>assistant\n"));
    let t = agent.trajectory(1.0);
    assert!(t.trained.iter().zip(&t.old_logprobs).all(|(m, l)| if *m { l.is_finite() && *l <= 0.0 } else { *l == 0.0 }));
}

#[test]
fn context_window_and_unparseable_replies() {
    let m = tiny_model(3);
    let model = &m.model;
    // A reply whose tool call does not parse is plain text.
    let sampler = Scripted::new(&["<tool_call>not json</tool_call>", "<tool_call>\n{\"name\": \"create_task\", \"arguments\": [1]}\n</tool_call>"]);
    let mut agent = EmbeddedAgent::with_sampler(model, sampler, ChatMessage::system("s"), tools(), AgentConfig::default());
    agent.init(&[greeting()], None);
    let r = run(agent.next(&user("hi"))).unwrap();
    assert!(!r.is_tool_call());
    assert_eq!(r.content.get().map(String::as_str), Some("<tool_call>not json</tool_call>"));
    // Arguments that are not an object: text too.
    let r = run(agent.next(&user("again"))).unwrap();
    assert!(!r.is_tool_call());
    assert!(r.content.get().unwrap().contains("\"arguments\": [1]"));

    // The prompt reaching the context length.
    let mut small = EmbeddedAgent::with_sampler(model, Arc::new(ModelSampler), ChatMessage::system("s"), tools(), AgentConfig { max_context: Some(64), ..AgentConfig::default() });
    small.init(&[greeting()], None);
    match run(small.next(&user("hi"))) {
        Err(ParticipantError::ContextWindow(_)) => {}
        other => panic!("expected a context-window error, got {other:?}"),
    }
    // A reply cut by the context length.
    let probe = EmbeddedAgent::with_sampler(model, Arc::new(ModelSampler), ChatMessage::system("s"), tools(), AgentConfig::default());
    let mut msgs = probe.messages().to_vec();
    msgs.push(ChatMessage::assistant("Hi! How can I help you today?"));
    msgs.push(ChatMessage::user("hi"));
    let plen = encode_prompt(&model.tokenizer, &model.template, &msgs, &tools()).unwrap().len();
    let mut tight = EmbeddedAgent::with_sampler(
        model,
        Arc::new(ModelSampler),
        ChatMessage::system("s"),
        tools(),
        AgentConfig { max_context: Some(plen + 4), max_new_tokens: 64, temperature: 1.0, top_p: 1.0 },
    );
    tight.init(&[greeting()], Some(1));
    // Random weights rarely emit <|im_end|> within 4 tokens; if they do, the reply is fine.
    match run(tight.next(&user("hi"))) {
        Err(ParticipantError::ContextWindow(_)) => assert_eq!(tight.ids().len(), plen + 4),
        Ok(_) => assert!(tight.trained_mask().iter().filter(|t| **t).count() <= 4),
        Err(e) => panic!("unexpected error {e:?}"),
    }
}
