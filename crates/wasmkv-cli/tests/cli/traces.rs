//! OpenTelemetry traces: a real OTLP/HTTP receiver in the test, built on
//! the OpenTelemetry protocol crates, gets the spans a real `wasmkv serve`
//! or `wasmkv run` exports when `OTEL_EXPORTER_OTLP_ENDPOINT` is set: a
//! span per request, continuing the caller's `traceparent`, with a child
//! span per key-value call.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

use crate::common::http::{Server, runtime, try_get_with};
use crate::common::{component, wasmkv, workdir};

/// The caller's trace, as a W3C `traceparent` names it.
const TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";
const CALLER_SPAN: &str = "b7ad6b7169203331";

/// A span as received, with its service's name.
#[derive(Debug, Clone)]
struct Received {
    service: String,
    span: Span,
}

impl Received {
    fn trace_id(&self) -> String {
        hex(&self.span.trace_id)
    }

    fn id(&self) -> String {
        hex(&self.span.span_id)
    }

    fn parent(&self) -> String {
        hex(&self.span.parent_span_id)
    }

    fn attribute(&self, key: &str) -> Option<String> {
        let value = self.span.attributes.iter().find(|a| a.key == key)?;
        match value.value.as_ref()?.value.as_ref()? {
            Value::StringValue(s) => Some(s.clone()),
            Value::IntValue(n) => Some(n.to_string()),
            other => Some(format!("{other:?}")),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An OTLP/HTTP receiver on a free loopback port: every `POST /v1/traces`
/// body is decoded as the protocol's `ExportTraceServiceRequest`.
struct Receiver {
    addr: String,
    spans: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let spans = Arc::new(Mutex::new(Vec::new()));
        let kept = spans.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let kept = kept.clone();
                let service = hyper::service::service_fn(
                    move |request: hyper::Request<hyper::body::Incoming>| {
                        let kept = kept.clone();
                        async move {
                            let path = request.uri().path().to_string();
                            let body = request.into_body().collect().await.unwrap().to_bytes();
                            let status = if path == "/v1/traces" {
                                let export = ExportTraceServiceRequest::decode(body)
                                    .expect("an OTLP trace export");
                                kept.lock().unwrap().extend(received(export));
                                200
                            } else {
                                404
                            };
                            let mut response = hyper::Response::new(Full::new(Bytes::new()));
                            *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                            Ok::<_, Infallible>(response)
                        }
                    },
                );
                tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
            }
        });
        Receiver { addr, spans }
    }

    /// The environment that sends a process's traces here, fast.
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                format!("http://{}", self.addr),
            ),
            ("OTEL_SERVICE_NAME", "wasmkv-test".into()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100".into()),
        ]
    }

    /// Waits (up to 20 s) until `done` holds for the spans received.
    async fn wait_for(&self, what: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let spans = self.spans.lock().unwrap().clone();
            if done(&spans) {
                return spans;
            }
            assert!(
                Instant::now() < deadline,
                "no {what} within 20 s; received:\n{spans:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn received(export: ExportTraceServiceRequest) -> Vec<Received> {
    let mut out = Vec::new();
    for resource_spans in export.resource_spans {
        let service = resource_spans
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|a| a.key == "service.name")
            .and_then(|a| match a.value.as_ref()?.value.as_ref()? {
                Value::StringValue(s) => Some(s.clone()),
                _ => None,
            })
            .unwrap_or_default();
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                out.push(Received {
                    service: service.clone(),
                    span,
                });
            }
        }
    }
    out
}

/// The request span of the caller's trace and its key-value children
/// `kv` (span names), each checked for its attributes.
async fn request_with_kv_children(
    receiver: &Receiver,
    interface: &str,
    kv: &[&str],
) -> (Received, Vec<Received>) {
    let is_request = |s: &Received| s.trace_id() == TRACE_ID && s.parent() == CALLER_SPAN;
    let spans = receiver
        .wait_for("request span with its key-value spans", |spans| {
            spans.iter().filter(|s| is_request(s)).any(|request| {
                let children = spans.iter().filter(|c| c.parent() == request.id()).count();
                children >= kv.len()
            })
        })
        .await;
    let request = spans.iter().find(|s| is_request(s)).unwrap().clone();
    let children: Vec<Received> = spans
        .iter()
        .filter(|c| c.parent() == request.id())
        .cloned()
        .collect();
    let mut names: Vec<&str> = children.iter().map(|c| c.span.name.as_str()).collect();
    names.sort();
    let mut want = kv.to_vec();
    want.sort();
    assert_eq!(names, want, "{children:#?}");
    for child in &children {
        assert_eq!(child.trace_id(), TRACE_ID);
        assert_eq!(child.service, "wasmkv-test");
        assert_eq!(
            child.attribute("wasmkv.kv.store").as_deref(),
            Some("default")
        );
        assert_eq!(
            child.attribute("wasmkv.kv.interface").as_deref(),
            Some(interface)
        );
        assert_eq!(child.attribute("wasmkv.kv.outcome").as_deref(), Some("ok"));
        assert!(
            child.span.start_time_unix_nano >= request.span.start_time_unix_nano
                && child.span.end_time_unix_nano <= request.span.end_time_unix_nano,
            "a key-value span outside its request: {child:#?}\n{request:#?}"
        );
    }
    (request, children)
}

fn traceparent() -> String {
    format!("00-{TRACE_ID}-{CALLER_SPAN}-01")
}

/// A 0.2 handler's request continues the caller's trace, and its two
/// key-value calls are children of the request's span.
#[test]
fn a_0_2_request_continues_the_callers_trace_with_a_span_per_kv_call() {
    let rt = runtime();
    let receiver = rt.block_on(Receiver::start());
    let dir = workdir();
    let env = receiver.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = Server::start_with_env(dir.path(), "http_probe", &[], &env);
    rt.block_on(async {
        let traceparent = traceparent();
        let headers = [("traceparent", traceparent.as_str())];
        let answer = try_get_with(server.addr(), "/incr?key=k", &headers).await;
        assert_eq!(answer, Ok((200, "1\n".to_string())));
        let (request, _) =
            request_with_kv_children(&receiver, "seed", &["kv increment", "kv open-bucket"]).await;
        assert_eq!(request.span.name, "GET");
        assert_eq!(request.service, "wasmkv-test");
        assert_eq!(request.attribute("url.path").as_deref(), Some("/incr"));
        assert_eq!(
            request.attribute("http.response.status_code").as_deref(),
            Some("200")
        );
    });
}

/// A reused 0.3 instance: each request's key-value calls are children of
/// that request's span.
#[test]
fn a_0_3_request_on_a_reused_instance_gets_its_own_kv_spans() {
    let rt = runtime();
    let receiver = rt.block_on(Receiver::start());
    let dir = workdir();
    let env = receiver.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let flags = ["--store", "default=memory:"];
    let server = Server::start_with_env(dir.path(), "http_counter_p3", &flags, &env);
    rt.block_on(async {
        // A first request makes the instance; the traced one reuses it.
        assert_eq!(
            try_get_with(server.addr(), "/a", &[]).await,
            Ok((200, "1\n".into()))
        );
        let traceparent = traceparent();
        let headers = [("traceparent", traceparent.as_str())];
        assert_eq!(
            try_get_with(server.addr(), "/a", &headers).await,
            Ok((200, "2\n".into()))
        );
        request_with_kv_children(&receiver, "seed", &["kv increment", "kv open-bucket"]).await;
    });
}

/// `wasmkv run` exports one span for the run, with its key-value calls as
/// children, before it exits.
#[test]
fn a_run_is_one_span_with_its_kv_calls() {
    let rt = runtime();
    let receiver = rt.block_on(Receiver::start());
    let dir = workdir();
    let output = wasmkv(dir.path())
        .envs(receiver.env())
        .args(["run", "--store", "default=memory:"])
        .arg(component("counter"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    rt.block_on(async {
        let spans = receiver
            .wait_for("run span", |spans| {
                spans.iter().any(|s| s.span.name == "wasmkv run")
            })
            .await;
        let run = spans.iter().find(|s| s.span.name == "wasmkv run").unwrap();
        let children: Vec<&Received> = spans.iter().filter(|s| s.parent() == run.id()).collect();
        assert!(
            children.iter().any(|c| c.span.name == "kv increment")
                && children.iter().all(|c| c.trace_id() == run.trace_id()),
            "{spans:#?}"
        );
    });
}

/// An endpoint with a protocol wasmkv does not export is a setup error
/// naming the variable, not a silent fallback.
#[test]
fn an_unknown_otlp_protocol_is_refused_by_name() {
    let dir = workdir();
    let output = wasmkv(dir.path())
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
        .args(["run", "--store", "default=memory:"])
        .arg(component("counter"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(125), "{stderr}");
    assert!(
        stderr.contains("OTEL_EXPORTER_OTLP_PROTOCOL=\"http/json\""),
        "{stderr}"
    );
}
