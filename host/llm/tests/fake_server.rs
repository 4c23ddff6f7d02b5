//! The client against a local fake OpenAI-compatible server (wiremock): request shape, tool-call
//! round trip, retries, Retry-After, timeouts, bad bodies, the lenient parser, the API key, the
//! concurrency limit, and the runtime's `LlmBackend` adapter.

use std::time::{Duration, Instant};

use eigenbox_llm::{ChatRequest, LlmClient, LlmConfig, LlmError, Message, Role, Tool, ToolCall, ToolChoice};
use serde_json::{json, Value};
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const ENDPOINT: &str = "/v1/chat/completions";

fn config(server: &MockServer) -> LlmConfig {
    LlmConfig {
        backoff_initial: Duration::from_millis(5),
        backoff_max: Duration::from_millis(20),
        timeout: Duration::from_secs(10),
        ..LlmConfig::new(format!("{}/v1", server.uri()), "test-model")
    }
}

fn client(server: &MockServer) -> LlmClient {
    match LlmClient::new(config(server)) {
        Ok(c) => c,
        Err(e) => panic!("client: {e}"),
    }
}

fn weather_tool() -> Tool {
    Tool::function(
        "get_weather",
        "Current weather of a city",
        json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
    )
}

fn text_completion(text: &str) -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "model": "test-model",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
    })
}

fn ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

async fn bodies(server: &MockServer) -> Vec<Value> {
    server.received_requests().await.unwrap_or_default().iter().map(|r| serde_json::from_slice(&r.body).unwrap_or(Value::Null)).collect()
}

fn user_request(text: &str) -> ChatRequest {
    ChatRequest::new(vec![Message::system("You are terse."), Message::user(text)])
}

#[tokio::test]
async fn tool_call_round_trip() {
    let server = MockServer::start().await;
    // Turn 1: the model calls the tool.
    Mock::given(method("POST"))
        .and(path(ENDPOINT))
        .and(body_partial_json(json!({"model": "test-model", "tool_choice": "auto", "temperature": 0.0, "seed": 7})))
        .respond_with(ok(json!({
            "id": "c1", "model": "test-model",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": null,
                "tool_calls": [{"id": "call_abc", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]}}],
            "usage": {"prompt_tokens": 40, "completion_tokens": 9, "total_tokens": 49}
        })))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    // Turn 2: after the tool result, a text answer.
    Mock::given(method("POST"))
        .and(path(ENDPOINT))
        .and(body_partial_json(json!({"messages": [{}, {}, {}, {"role": "tool", "tool_call_id": "call_abc"}]})))
        .respond_with(ok(text_completion("It is sunny in Paris.")))
        .mount(&server)
        .await;

    let c = client(&server);
    let mut req = user_request("Weather in Paris?");
    req.tools = vec![weather_tool()];
    req.tool_choice = Some(ToolChoice::Auto);
    req.temperature = Some(0.0);
    req.seed = Some(7);
    let first = c.chat(&req).await.unwrap_or_else(|e| panic!("turn 1: {e}"));
    let choice = first.first().cloned().unwrap_or_else(|| panic!("no choice"));
    assert_eq!(choice.tool_calls, vec![ToolCall::new("call_abc", "get_weather", "{\"city\": \"Paris\"}")]);
    assert!(!choice.tool_calls_from_text);
    assert_eq!(choice.finish_reason.as_deref(), Some("tool_calls"));
    assert_eq!(first.usage.map(|u| u.prompt_tokens), Some(40));

    req.messages.push(choice.message());
    req.messages.push(Message::tool("call_abc", "{\"sky\": \"clear\"}"));
    let second = c.chat(&req).await.unwrap_or_else(|e| panic!("turn 2: {e}"));
    assert_eq!(second.first().and_then(|c| c.content.clone()).as_deref(), Some("It is sunny in Paris."));

    // What went over the wire, exactly in OpenAI's format.
    let sent = bodies(&server).await;
    assert_eq!(sent.len(), 2);
    assert_eq!(
        sent[0]["tools"],
        json!([{"type": "function", "function": {"name": "get_weather", "description": "Current weather of a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}])
    );
    assert_eq!(sent[0].get("logprobs"), None, "unset fields are omitted");
    assert_eq!(sent[0].get("n"), None);
    assert_eq!(
        sent[1]["messages"][2],
        json!({"role": "assistant", "content": null,
               "tool_calls": [{"id": "call_abc", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]})
    );
    assert_eq!(sent[1]["messages"][3], json!({"role": "tool", "tool_call_id": "call_abc", "content": "{\"sky\": \"clear\"}"}));
}

#[tokio::test]
async fn sampling_fields_logprobs_and_several_choices() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(ENDPOINT))
        .respond_with(ok(json!({
            "choices": [
                {"index": 0, "finish_reason": "length", "message": {"role": "assistant", "content": "Hi"},
                 "logprobs": {"content": [{"id": 31, "token": "Hi", "logprob": -0.25, "bytes": [72, 105],
                                          "top_logprobs": [{"id": 31, "token": "Hi", "logprob": -0.25}, {"id": 44, "token": "Hello", "logprob": -1.5}]}]}},
                {"index": 1, "finish_reason": "length", "message": {"role": "assistant", "content": "Hey"},
                 "logprobs": {"content": [{"id": 50, "token": "Hey", "logprob": -2.0, "top_logprobs": []}]}}
            ]
        })))
        .mount(&server)
        .await;
    let mut req = user_request("Greet me");
    req.model = Some("other-model".into());
    req.top_p = Some(0.9);
    req.n = Some(2);
    req.max_tokens = Some(1);
    req.stop = vec!["\n".into()];
    req.logprobs = true;
    req.top_logprobs = Some(2);
    req.extra.insert("cache_prompt".into(), json!(false));
    let resp = client(&server).chat(&req).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(resp.choices.len(), 2);
    let lp = resp.choices[0].logprobs.clone().unwrap_or_default();
    assert_eq!((lp[0].token.as_str(), lp[0].logprob, lp[0].id), ("Hi", -0.25, Some(31)));
    assert_eq!(lp[0].top.iter().map(|t| t.token.as_str()).collect::<Vec<_>>(), ["Hi", "Hello"]);
    assert_eq!(resp.choices[0].token_ids, Some(vec![31]));
    assert_eq!(resp.choices[1].token_ids, Some(vec![50]));
    assert_eq!(resp.usage, None);

    let sent = bodies(&server).await;
    let b = &sent[0];
    assert_eq!(b["model"], "other-model");
    assert_eq!((b["top_p"].clone(), b["n"].clone(), b["max_tokens"].clone()), (json!(0.9), json!(2), json!(1)));
    assert_eq!((b["stop"].clone(), b["logprobs"].clone(), b["top_logprobs"].clone()), (json!(["\n"]), json!(true), json!(2)));
    assert_eq!(b["cache_prompt"], json!(false));
    assert_eq!(b.get("tools"), None);
}

#[tokio::test]
async fn retries_429_and_503_then_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(429).set_body_string("slow down")).up_to_n_times(1).mount(&server).await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(503).set_body_string("overloaded")).up_to_n_times(1).mount(&server).await;
    Mock::given(method("POST")).respond_with(ok(text_completion("finally"))).mount(&server).await;
    let resp = client(&server).chat(&user_request("hi")).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(resp.first().and_then(|c| c.content.clone()).as_deref(), Some("finally"));
    let sent = bodies(&server).await;
    assert_eq!(sent.len(), 3, "one 429, one 503, one success");
    assert!(sent.iter().all(|b| b == &sent[0]), "every retry sends the same body");
}

#[tokio::test]
async fn gives_up_after_max_retries_with_the_status_and_body() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(503).set_body_string("GPU on fire")).mount(&server).await;
    let c = LlmClient::new(LlmConfig { max_retries: 2, ..config(&server) }).unwrap_or_else(|e| panic!("{e}"));
    match c.chat(&user_request("hi")).await {
        Err(LlmError::Http { status: 503, body, attempts: 3, url }) => {
            assert_eq!(body, "GPU on fire");
            assert!(url.ends_with("/v1/chat/completions"), "{url}");
        }
        other => panic!("expected HTTP 503 after 3 attempts, got {other:?}"),
    }
    assert_eq!(bodies(&server).await.len(), 3);
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let server = MockServer::start().await;
    let long = "x".repeat(5000);
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(400).set_body_string(long)).mount(&server).await;
    match client(&server).chat(&user_request("hi")).await {
        Err(e @ LlmError::Http { status: 400, attempts: 1, .. }) => {
            assert!(!e.is_transient());
            let LlmError::Http { body, .. } = &e else { unreachable!() };
            assert_eq!(body.chars().count(), eigenbox_llm::BODY_EXCERPT_CHARS + 1, "the body is cut to an excerpt");
        }
        other => panic!("expected HTTP 400 after 1 attempt, got {other:?}"),
    }
    assert_eq!(bodies(&server).await.len(), 1);
}

#[tokio::test]
async fn honours_retry_after() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1")).up_to_n_times(1).mount(&server).await;
    Mock::given(method("POST")).respond_with(ok(text_completion("ok"))).mount(&server).await;
    // The backoff alone would wait at most 20 ms.
    let started = Instant::now();
    let resp = client(&server).chat(&user_request("hi")).await;
    let waited = started.elapsed();
    assert!(resp.is_ok(), "{resp:?}");
    assert!(waited >= Duration::from_millis(950), "Retry-After: 1 was not honoured (waited {waited:?})");
    assert_eq!(bodies(&server).await.len(), 2);
}

#[tokio::test]
async fn retry_after_is_capped() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(503).insert_header("Retry-After", "3600")).up_to_n_times(1).mount(&server).await;
    Mock::given(method("POST")).respond_with(ok(text_completion("ok"))).mount(&server).await;
    let c = LlmClient::new(LlmConfig { retry_after_max: Duration::from_millis(50), ..config(&server) }).unwrap_or_else(|e| panic!("{e}"));
    let started = Instant::now();
    let resp = tokio::time::timeout(Duration::from_secs(30), c.chat(&user_request("hi"))).await;
    assert!(matches!(resp, Ok(Ok(_))), "{resp:?}");
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[tokio::test]
async fn times_out_and_retries_then_reports_timeout() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ok(text_completion("late")).set_delay(Duration::from_secs(3))).mount(&server).await;
    let c = LlmClient::new(LlmConfig { timeout: Duration::from_millis(200), max_retries: 1, ..config(&server) }).unwrap_or_else(|e| panic!("{e}"));
    match c.chat(&user_request("hi")).await {
        Err(LlmError::Timeout { attempts: 2, timeout, .. }) => assert_eq!(timeout, Duration::from_millis(200)),
        other => panic!("expected a timeout after 2 attempts, got {other:?}"),
    }
    assert_eq!(bodies(&server).await.len(), 2);
}

#[tokio::test]
async fn connection_refused_is_a_connection_error() {
    // A port that was free a moment ago and has no listener now.
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(9);
    let cfg = LlmConfig {
        max_retries: 2,
        backoff_initial: Duration::from_millis(1),
        backoff_max: Duration::from_millis(2),
        ..LlmConfig::new(format!("http://127.0.0.1:{port}/v1"), "m")
    };
    let c = LlmClient::new(cfg).unwrap_or_else(|e| panic!("{e}"));
    match c.chat(&user_request("hi")).await {
        Err(e @ LlmError::Connection { attempts: 3, .. }) => assert!(e.to_string().contains(&port.to_string()), "{e}"),
        other => panic!("expected a connection error after 3 attempts, got {other:?}"),
    }
}

async fn answer_with(body: ResponseTemplate, req: &ChatRequest) -> (Result<eigenbox_llm::ChatResponse, LlmError>, usize) {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(body).mount(&server).await;
    let r = client(&server).chat(req).await;
    (r, bodies(&server).await.len())
}

#[tokio::test]
async fn malformed_json_is_reported_and_not_retried() {
    let (r, n) = answer_with(ResponseTemplate::new(200).set_body_string("<html>proxy error</html>"), &user_request("hi")).await;
    match r {
        Err(LlmError::Malformed { what, body, .. }) => {
            assert!(what.starts_with("the body is not JSON"), "{what}");
            assert_eq!(body, "<html>proxy error</html>");
        }
        other => panic!("expected Malformed, got {other:?}"),
    }
    assert_eq!(n, 1);
}

#[tokio::test]
async fn missing_choices_and_missing_message_say_what_is_missing() {
    let (r, _) = answer_with(ok(json!({"id": "x", "object": "chat.completion"})), &user_request("hi")).await;
    assert!(matches!(&r, Err(LlmError::Malformed { what, .. }) if what == "`choices` is missing"), "{r:?}");
    let (r, _) = answer_with(ok(json!({"choices": []})), &user_request("hi")).await;
    assert!(matches!(&r, Err(LlmError::Malformed { what, .. }) if what == "`choices` is empty"), "{r:?}");
    let (r, _) = answer_with(ok(json!({"choices": [{"index": 0, "finish_reason": "stop"}]})), &user_request("hi")).await;
    assert!(matches!(&r, Err(LlmError::Malformed { what, .. }) if what == "`choices[0].message` is missing"), "{r:?}");
    let (r, _) = answer_with(
        ok(json!({"choices": [{"message": {"role": "assistant", "tool_calls": [{"id": "1", "type": "function"}]}}]})),
        &user_request("hi"),
    )
    .await;
    assert!(matches!(&r, Err(LlmError::Malformed { what, .. }) if what == "`choices[0].message.tool_calls[0].function` is missing"), "{r:?}");
}

#[tokio::test]
async fn empty_answers_and_refusals_are_errors() {
    let (r, _) = answer_with(ok(text_completion("  ")), &user_request("hi")).await;
    assert!(matches!(&r, Err(LlmError::EmptyChoice { finish_reason: Some(f) }) if f == "stop"), "{r:?}");
    let (r, _) = answer_with(
        ok(json!({"choices": [{"message": {"role": "assistant", "content": null, "refusal": "I can't help with that."}}]})),
        &user_request("hi"),
    )
    .await;
    assert!(matches!(&r, Err(LlmError::Refusal(t)) if t == "I can't help with that."), "{r:?}");
}

#[tokio::test]
async fn lenient_parser_applies_only_with_tools_and_no_structured_calls() {
    let written = "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>";
    let mut with_tools = user_request("Weather in Oslo?");
    with_tools.tools = vec![weather_tool()];

    let (r, _) = answer_with(ok(text_completion(written)), &with_tools).await;
    let choice = r.unwrap_or_else(|e| panic!("{e}")).choices.remove(0);
    assert!(choice.tool_calls_from_text);
    assert_eq!(choice.tool_calls.len(), 1);
    assert_eq!(
        (choice.tool_calls[0].function.name.as_str(), choice.tool_calls[0].function.arguments.as_str()),
        ("get_weather", r#"{"city":"Oslo"}"#)
    );
    assert_eq!(choice.content.as_deref(), Some("Let me check."));
    assert_eq!(choice.raw_content.as_deref(), Some(written));

    // A bare object with arguments as a string.
    let (r, _) = answer_with(ok(text_completion(r#"{"name": "get_weather", "arguments": "{\"city\": \"Rome\"}"}"#)), &with_tools).await;
    let choice = r.unwrap_or_else(|e| panic!("{e}")).choices.remove(0);
    assert_eq!(choice.tool_calls.first().map(|c| c.function.arguments.as_str()), Some(r#"{"city":"Rome"}"#));
    assert_eq!(choice.content, None);

    // No tools offered: the text stays text.
    let (r, _) = answer_with(ok(text_completion(written)), &user_request("hi")).await;
    let choice = r.unwrap_or_else(|e| panic!("{e}")).choices.remove(0);
    assert!(choice.tool_calls.is_empty() && !choice.tool_calls_from_text);
    assert_eq!(choice.content.as_deref(), Some(written));

    // tool_choice none: the text stays text.
    let mut none = with_tools.clone();
    none.tool_choice = Some(ToolChoice::None);
    let (r, _) = answer_with(ok(text_completion(written)), &none).await;
    assert!(r.unwrap_or_else(|e| panic!("{e}")).choices[0].tool_calls.is_empty());

    // Switched off in the configuration.
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ok(text_completion(written))).mount(&server).await;
    let strict = LlmClient::new(LlmConfig { lenient_tool_calls: false, ..config(&server) }).unwrap_or_else(|e| panic!("{e}"));
    assert!(strict.chat(&with_tools).await.unwrap_or_else(|e| panic!("{e}")).choices[0].tool_calls.is_empty());

    // Structured calls win over text.
    let (r, _) = answer_with(
        ok(json!({"choices": [{"message": {"role": "assistant", "content": written,
            "tool_calls": [{"id": "c9", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Bern\"}"}}]}}]})),
        &with_tools,
    )
    .await;
    let choice = r.unwrap_or_else(|e| panic!("{e}")).choices.remove(0);
    assert!(!choice.tool_calls_from_text);
    assert_eq!(choice.tool_calls[0].id, "c9");
    assert_eq!(choice.content.as_deref(), Some(written));
}

#[tokio::test]
async fn api_key_comes_from_the_named_variable_and_is_never_shown() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(header("authorization", "Bearer sk-test-secret-123"))
        .respond_with(ok(text_completion("authorised")))
        .mount(&server)
        .await;
    let var = "EIGENBOX_LLM_TEST_KEY_PRESENT";
    std::env::set_var(var, "sk-test-secret-123");
    let c = LlmClient::new(LlmConfig { api_key_env: Some(var.into()), ..config(&server) }).unwrap_or_else(|e| panic!("{e}"));
    let r = c.chat(&user_request("hi")).await;
    assert!(r.is_ok(), "{r:?}");
    assert!(!format!("{c:?}").contains("sk-test-secret"), "Debug shows the key");

    match LlmClient::new(LlmConfig { api_key_env: Some("EIGENBOX_LLM_TEST_KEY_ABSENT".into()), ..config(&server) }) {
        Err(LlmError::Config(m)) => assert!(m.contains("EIGENBOX_LLM_TEST_KEY_ABSENT") && m.contains("not set"), "{m}"),
        other => panic!("expected a config error, got {other:?}"),
    }
}

#[tokio::test]
async fn bad_configuration_and_requests_are_refused_before_sending() {
    assert!(matches!(LlmClient::new(LlmConfig::new("localhost:8000/v1", "m")), Err(LlmError::Config(_))));
    assert!(matches!(LlmClient::new(LlmConfig::new("http://127.0.0.1:1/v1", " ")), Err(LlmError::Config(_))));
    let server = MockServer::start().await;
    let c = client(&server);
    let mut r = user_request("hi");
    r.extra.insert("messages".into(), json!([]));
    assert!(matches!(c.chat(&r).await, Err(LlmError::InvalidRequest(m)) if m.contains("messages")));
    let mut r = user_request("hi");
    r.tools = vec![weather_tool()];
    r.tool_choice = Some(ToolChoice::Function("nope".into()));
    assert!(matches!(c.chat(&r).await, Err(LlmError::InvalidRequest(m)) if m.contains("nope")));
    assert!(matches!(c.chat(&ChatRequest::new(vec![])).await, Err(LlmError::InvalidRequest(_))));
    let mut r = user_request("hi");
    r.top_logprobs = Some(3);
    assert!(matches!(c.chat(&r).await, Err(LlmError::InvalidRequest(_))));
    assert_eq!(bodies(&server).await.len(), 0, "nothing was sent");
}

#[tokio::test]
async fn concurrency_limit_is_shared_by_clones() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ok(text_completion("ok")).set_delay(Duration::from_millis(200))).mount(&server).await;
    let c = LlmClient::new(LlmConfig { max_concurrency: 2, ..config(&server) }).unwrap_or_else(|e| panic!("{e}"));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..6 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move { c.chat(&user_request(&format!("hi {i}"))).await.map(|_| ()) }));
    }
    for t in tasks {
        let r = t.await;
        assert!(matches!(r, Ok(Ok(()))), "{r:?}");
    }
    // Six 200 ms answers, two at a time, cannot finish in under three rounds.
    assert!(started.elapsed() >= Duration::from_millis(590), "the limit of 2 was not applied ({:?})", started.elapsed());
    assert_eq!(bodies(&server).await.len(), 6);
}

mod runtime_adapter {
    use super::*;
    use eigenbox_llm::runtime::Router;
    use eigenbox_runtime::bindings::role::eigenbox::role::llm::{Sampling, ToolDef};
    use eigenbox_runtime::{ChatRequest as WitRequest, LlmBackend, Message as WitMessage, MessageRole, Requestor};

    fn wit_message(role: MessageRole, content: Option<&str>) -> WitMessage {
        WitMessage { role, content: content.map(str::to_string), tool_calls: Vec::new(), tool_call_id: None, error: false }
    }

    fn wit_request(model: &str) -> WitRequest {
        let mut assistant = wit_message(MessageRole::Assistant, None);
        assistant.tool_calls = vec![eigenbox_runtime::ToolCall {
            id: "call_1".into(),
            name: "get_weather".into(),
            arguments: "{\"city\": \"Oslo\"}".into(),
            requestor: Requestor::Assistant,
        }];
        let mut tool = wit_message(MessageRole::Tool, Some("Error: city not found"));
        tool.tool_call_id = Some("call_1".into());
        tool.error = true;
        WitRequest {
            model: model.into(),
            messages: vec![wit_message(MessageRole::System, Some("policy")), wit_message(MessageRole::User, Some("Oslo?")), assistant, tool],
            tools: vec![ToolDef {
                name: "get_weather".into(),
                description: "Weather".into(),
                parameters: r#"{"type": "object", "properties": {"city": {"type": "string"}}}"#.into(),
            }],
            sampling: Sampling { temperature: Some(0.5), top_p: Some(0.8), max_tokens: Some(64), seed: Some(3) },
            logprobs: None,
        }
    }

    #[tokio::test]
    async fn llm_backend_asks_for_logprobs_and_returns_tokens_with_ids() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ok(json!({
                "choices": [{"message": {"role": "assistant", "content": "Hi there"},
                    "logprobs": {"content": [
                        {"id": 31, "token": "Hi", "logprob": -0.25, "top_logprobs": [{"id": 31, "token": "Hi", "logprob": -0.25}, {"id": 44, "token": "Hello", "logprob": -1.5}]},
                        {"id": 32, "token": " there", "logprob": -0.75, "top_logprobs": [{"id": 32, "token": " there", "logprob": -0.75}]}]}}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
            })))
            .mount(&server)
            .await;
        let c = client(&server);
        let mut req = wit_request("m");
        req.logprobs = Some(0);
        let resp = LlmBackend::chat(&c, req).await.unwrap_or_else(|e| panic!("{e}"));
        let got: Vec<(&str, Option<u32>, f64, usize)> = resp.tokens.iter().map(|t| (t.token.as_str(), t.id, t.logprob, t.top.len())).collect();
        // 0 alternatives asked: none kept, though one is requested (llama-server sends no
        // logprobs at all for `top_logprobs: 0`).
        assert_eq!(got, [("Hi", Some(31), -0.25, 0), (" there", Some(32), -0.75, 0)]);
        let mut req = wit_request("m");
        req.logprobs = Some(2);
        let resp = LlmBackend::chat(&c, req).await.unwrap_or_else(|e| panic!("{e}"));
        let top: Vec<Vec<(String, Option<u32>)>> = resp.tokens.iter().map(|t| t.top.iter().map(|a| (a.token.clone(), a.id)).collect()).collect();
        assert_eq!(top, [vec![("Hi".to_string(), Some(31)), ("Hello".to_string(), Some(44))], vec![(" there".to_string(), Some(32))]]);
        // Not asked: the request says nothing of logprobs.
        LlmBackend::chat(&c, wit_request("m")).await.unwrap_or_else(|e| panic!("{e}"));
        let sent = bodies(&server).await;
        assert_eq!((sent[0]["logprobs"].clone(), sent[0]["top_logprobs"].clone()), (json!(true), json!(1)));
        assert_eq!((sent[1]["logprobs"].clone(), sent[1]["top_logprobs"].clone()), (json!(true), json!(2)));
        assert_eq!((sent[2].get("logprobs"), sent[2].get("top_logprobs")), (None, None));
    }

    #[tokio::test]
    async fn token_ids_given_apart_from_the_logprobs_are_matched_by_position() {
        // vLLM with `return_token_ids` (set through the configuration's extra body fields).
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ok(json!({
                "choices": [{"message": {"role": "assistant", "content": "ab"}, "token_ids": [7, 8],
                    "logprobs": {"content": [{"token": "a", "logprob": -0.1}, {"token": "b", "logprob": -0.2}]}}]
            })))
            .mount(&server)
            .await;
        let mut cfg = config(&server);
        cfg.extra_body.insert("return_token_ids".into(), json!(true));
        let c = LlmClient::new(cfg).unwrap_or_else(|e| panic!("{e}"));
        let mut req = wit_request("m");
        req.logprobs = Some(0);
        let resp = LlmBackend::chat(&c, req).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(resp.tokens.iter().map(|t| t.id).collect::<Vec<_>>(), [Some(7), Some(8)]);
        assert_eq!(bodies(&server).await[0]["return_token_ids"], json!(true));
        // A standard field cannot be set that way.
        let mut cfg = config(&server);
        cfg.extra_body.insert("logprobs".into(), json!(false));
        let e = LlmClient::new(cfg).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("extra_body may not set `logprobs`"), "{e}");
    }

    #[tokio::test]
    async fn llm_backend_maps_wit_requests_and_answers() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ok(json!({
                "choices": [{"message": {"role": "assistant", "content": "Checking again.",
                    "tool_calls": [{"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Bergen\"}"}}]}}],
                "usage": {"prompt_tokens": 30, "completion_tokens": 8, "total_tokens": 38}
            })))
            .mount(&server)
            .await;
        let c = client(&server);
        let resp = LlmBackend::chat(&c, wit_request("logical-agent")).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(resp.message.role, MessageRole::Assistant);
        assert_eq!(resp.message.content.as_deref(), Some("Checking again."));
        assert_eq!(resp.message.tool_calls.len(), 1);
        let call = &resp.message.tool_calls[0];
        assert_eq!((call.id.as_str(), call.name.as_str(), call.arguments.as_str()), ("call_2", "get_weather", "{\"city\": \"Bergen\"}"));
        assert_eq!((resp.prompt_tokens, resp.completion_tokens), (30, 8));

        let sent = bodies(&server).await;
        let b = &sent[0];
        assert_eq!(b["model"], "test-model", "the client's configured model answers for any logical name");
        assert_eq!(
            b["messages"].as_array().map(|m| m.iter().map(|x| x["role"].clone()).collect::<Vec<_>>()),
            Some(vec![json!("system"), json!("user"), json!("assistant"), json!("tool")])
        );
        assert_eq!(b["messages"][2]["tool_calls"][0]["function"]["name"], "get_weather");
        assert_eq!(b["messages"][3], json!({"role": "tool", "tool_call_id": "call_1", "content": "Error: city not found"}));
        assert_eq!(b["tools"][0]["function"]["parameters"]["properties"]["city"]["type"], "string");
        assert_eq!(
            (b["temperature"].clone(), b["top_p"].clone(), b["max_tokens"].clone(), b["seed"].clone()),
            (json!(0.5), json!(0.8), json!(64), json!(3))
        );
        let roles: Vec<Role> =
            eigenbox_llm::runtime::request_from_wit(&wit_request("x")).map(|r| r.messages.iter().map(|m| m.role).collect()).unwrap_or_default();
        assert_eq!(roles, [Role::System, Role::User, Role::Assistant, Role::Tool]);
    }

    #[tokio::test]
    async fn backend_errors_reach_the_guest_as_text() {
        let server = MockServer::start().await;
        Mock::given(method("POST")).respond_with(ResponseTemplate::new(401).set_body_string("bad key")).mount(&server).await;
        let c = client(&server);
        let e = LlmBackend::chat(&c, wit_request("m")).await.err().unwrap_or_default();
        assert!(e.contains("401") && e.contains("bad key"), "{e}");

        let mut bad = wit_request("m");
        bad.tools[0].parameters = "{not json".into();
        let e = LlmBackend::chat(&c, bad).await.err().unwrap_or_default();
        assert!(e.contains("get_weather") && e.contains("not JSON"), "{e}");
        assert_eq!(bodies(&server).await.len(), 1, "the bad request was not sent");
    }

    #[tokio::test]
    async fn router_picks_the_endpoint_by_logical_model() {
        let agent = MockServer::start().await;
        Mock::given(method("POST")).respond_with(ok(text_completion("from agent"))).mount(&agent).await;
        let user = MockServer::start().await;
        Mock::given(method("POST")).respond_with(ok(text_completion("from user"))).mount(&user).await;
        let router = Router::new().route("agent", client(&agent)).route("user-sim", client(&user));
        let a = LlmBackend::chat(&router, wit_request("agent")).await.unwrap_or_else(|e| panic!("{e}"));
        let u = LlmBackend::chat(&router, wit_request("user-sim")).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((a.message.content.as_deref(), u.message.content.as_deref()), (Some("from agent"), Some("from user")));
        let e = LlmBackend::chat(&router, wit_request("judge")).await.err().unwrap_or_default();
        assert!(e.contains("`judge`") && e.contains("agent, user-sim"), "{e}");
        let with_fallback = router.fallback(client(&agent));
        assert!(LlmBackend::chat(&with_fallback, wit_request("judge")).await.is_ok());
    }
}
