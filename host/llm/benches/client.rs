//! Client overhead per request, against a local fake server (wiremock) answering a fixed
//! τ²-sized completion: a conversation of 24 messages with a ~6 KB policy, 14 tools, and an
//! answer with a tool call and 64 logprob entries (2 alternatives each).
//!
//! * `encode` / `decode`: serialising the request and validating + parsing the answer, alone;
//! * `raw reqwest round trip` (the baseline, measured in the same run): POST of pre-serialised
//!   bytes, body read as bytes, nothing parsed;
//! * `LlmClient::chat`: the same request through the client (encode, semaphore, retry loop,
//!   decode, lenient check).
//!
//! The ratio and the difference of the two round trips are the client's overhead.
//!
//! Run: `cargo bench -p eigenbox-llm --bench client`

use std::time::{Duration, Instant};

use eigenbox_llm::{ChatRequest, LlmClient, LlmConfig, Message, Tool, ToolCall};
use serde_json::json;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

fn stats(name: &str, mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    let p = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!(
        "{name:<32} n={:<5} p50 {:>9.1} µs   p90 {:>9.1} µs   min {:>9.1} µs",
        samples.len(),
        p(0.5).as_secs_f64() * 1e6,
        p(0.9).as_secs_f64() * 1e6,
        samples[0].as_secs_f64() * 1e6
    );
    p(0.5)
}

fn request() -> ChatRequest {
    let policy = "You are an airline agent. Follow the policy exactly. ".repeat(120);
    let mut messages = vec![Message::system(policy), Message::user("Hi, I want to change my flight.")];
    for i in 0..7 {
        let id = format!("call_{i}");
        messages.push(Message::assistant(
            None,
            vec![ToolCall::new(id.clone(), "get_reservation_details", format!("{{\"reservation_id\": \"ABC{i:03}\"}}"))],
        ));
        messages.push(Message::tool(id, json!({"reservation_id": format!("ABC{i:03}"), "flights": [{"origin": "JFK", "destination": "SFO", "date": "2024-05-20", "price": 450}], "passengers": [{"first_name": "Ann", "last_name": "Lee"}]}).to_string()));
        messages.push(Message::assistant(Some("Thanks, let me look at your reservation and the options for the new date.".into()), vec![]));
    }
    messages.push(Message::user("Please move it to the 22nd."));
    let tools = (0..14)
        .map(|i| {
            Tool::function(
                format!("tool_number_{i}"),
                "Does one thing to the airline database and returns the result as JSON.",
                json!({"type": "object", "properties": {"reservation_id": {"type": "string", "description": "The reservation id, such as '8JX2WO'."}, "cabin": {"type": "string", "enum": ["basic_economy", "economy", "business"]}}, "required": ["reservation_id"]}),
            )
        })
        .collect();
    let mut r = ChatRequest::new(messages);
    r.tools = tools;
    r.temperature = Some(0.0);
    r.seed = Some(1);
    r.logprobs = true;
    r.top_logprobs = Some(2);
    r
}

fn response() -> serde_json::Value {
    let tokens: Vec<_> = (0..64)
        .map(|i| json!({"id": 1000 + i, "token": format!("tok{i}"), "logprob": -0.01 * i as f64, "bytes": [116, 111, 107],
                         "top_logprobs": [{"id": 1000 + i, "token": format!("tok{i}"), "logprob": -0.01 * i as f64}, {"id": 7, "token": "x", "logprob": -3.5}]}))
        .collect();
    json!({
        "id": "chatcmpl-bench", "object": "chat.completion", "model": "bench",
        "choices": [{"index": 0, "finish_reason": "tool_calls",
            "message": {"role": "assistant", "content": null, "tool_calls": [{"id": "call_x", "type": "function",
                "function": {"name": "tool_number_3", "arguments": "{\"reservation_id\": \"ABC001\", \"cabin\": \"economy\"}"}}]},
            "logprobs": {"content": tokens}}],
        "usage": {"prompt_tokens": 3100, "completion_tokens": 64, "total_tokens": 3164}
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let server = MockServer::builder().disable_request_recording().start().await;
    let body = response();
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200).set_body_json(&body)).mount(&server).await;
    let client = match LlmClient::new(LlmConfig::new(format!("{}/v1", server.uri()), "bench")) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    let req = request();
    let encoded = client.encode(&req).unwrap_or_default();
    let answer = serde_json::to_vec(&body).unwrap_or_default();
    println!("request {} bytes, response {} bytes", encoded.len(), answer.len());

    const N: usize = 2000;
    let mut enc = Vec::with_capacity(N);
    let mut dec = Vec::with_capacity(N);
    for _ in 0..N {
        let t = Instant::now();
        std::hint::black_box(client.encode(&req).map(|b| b.len()).unwrap_or(0));
        enc.push(t.elapsed());
        let t = Instant::now();
        std::hint::black_box(client.decode(&req, &answer).map(|r| r.choices.len()).unwrap_or(0));
        dec.push(t.elapsed());
    }
    let enc = stats("encode (serialise)", enc);
    let dec = stats("decode (validate + parse)", dec);

    let http = reqwest::Client::new();
    let url = client.endpoint().to_string();
    const M: usize = 500;
    // Warm both paths (connection pool, server).
    for _ in 0..50 {
        let _ = http.post(&url).header("content-type", "application/json").body(encoded.clone()).send().await;
        let _ = client.chat(&req).await;
    }
    let mut raw = Vec::with_capacity(M);
    let mut full = Vec::with_capacity(M);
    for _ in 0..M {
        // Interleaved, so drift in the machine's load hits both alike.
        let t = Instant::now();
        let r = http.post(&url).header("content-type", "application/json").body(encoded.clone()).send().await;
        let n = match r {
            Ok(r) => r.bytes().await.map(|b| b.len()).unwrap_or(0),
            Err(e) => panic!("{e}"),
        };
        std::hint::black_box(n);
        raw.push(t.elapsed());
        let t = Instant::now();
        match client.chat(&req).await {
            Ok(r) => std::hint::black_box(r.choices.len()),
            Err(e) => panic!("{e}"),
        };
        full.push(t.elapsed());
    }
    let raw = stats("raw reqwest round trip (base)", raw);
    let full = stats("LlmClient::chat round trip", full);
    let overhead = full.saturating_sub(raw);
    println!(
        "client overhead per request: {:.1} µs (encode {:.1} + decode {:.1} µs); chat / raw = {:.2}×",
        overhead.as_secs_f64() * 1e6,
        enc.as_secs_f64() * 1e6,
        dec.as_secs_f64() * 1e6,
        full.as_secs_f64() / raw.as_secs_f64()
    );
}
