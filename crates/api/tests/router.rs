//! The router driven in-process (no sockets): envelope on every kind of answer, the auth
//! pipeline and Verify, the unix-socket uid rule, and the task routes over a real engine on a
//! temporary SQLite store.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use api::model::{AgentView, AGENT_STATE_RUNNING};
use api::{AgentService, ApiConfig, ApiResult, AppState, Identity, Peer};
use async_trait::async_trait;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};
use task::demo::ScriptedTask;
use task::{AgentInfo, Engine, EngineConfig, NodeSpec, Registry, Store, TaskContext, Template};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

struct FakeAgent {
    password: Mutex<Option<String>>,
}

#[async_trait]
impl AgentService for FakeAgent {
    fn view(&self) -> AgentView {
        AgentView {
            pid: 1,
            state: AGENT_STATE_RUNNING,
            start_at: 0,
            home_path: "/home".into(),
            ob_version: String::new(),
            architecture: "x86_64".into(),
            ip: "127.0.0.1".into(),
            port: 2886,
            zone: String::new(),
            identity: Identity::Single,
            version: "4.5.0.0-0".into(),
            security: self.agent_password().is_some(),
            ob_state: 0,
            sql_port: 0,
        }
    }

    fn agent_password(&self) -> Option<String> {
        self.password.lock().unwrap().clone()
    }

    async fn set_agent_password(&self, password: &str) -> ApiResult<()> {
        *self.password.lock().unwrap() = Some(password.to_string());
        Ok(())
    }
}

struct Harness {
    router: Router,
    engine: Engine,
    public_key: String,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

async fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join(".meta")).await.unwrap();
    let mut registry = Registry::new();
    registry.register(Arc::new(ScriptedTask));
    let engine = Engine::start(
        store,
        registry,
        EngineConfig {
            agent: AgentInfo::new("127.0.0.1", 2886),
            retention: None,
            ..EngineConfig::default()
        },
    )
    .await
    .unwrap();
    let keys = Arc::new(secure::AgentKeys::generate().unwrap());
    let public_key = keys.public_key_base64().to_string();
    let agent = Arc::new(FakeAgent {
        password: Mutex::new(None),
    });
    let shutdown = CancellationToken::new();
    let state = AppState::new(
        engine.clone(),
        agent,
        keys,
        ApiConfig {
            max_body_bytes: 4096,
            socket_uids: vec![4242],
        },
    )
    .with_shutdown(shutdown.clone());
    Harness {
        router: api::router(state),
        engine,
        public_key,
        shutdown,
        _dir: dir,
    }
}

impl Harness {
    /// A request as the SDK builds it: header for `uri`, body AES-encrypted with its keys.
    fn signed(&self, method: &str, uri: &str, auth: &str, body: Option<Value>) -> Request<Body> {
        let keys = secure::AesKey::generate().unwrap();
        let raw_body = body
            .map(|b| keys.encrypt_body(b.to_string().as_bytes()))
            .unwrap_or_default();
        let header = secure::AuthHeader::new(auth, uri, secure::now_unix() + 60, keys);
        let value = secure::encode_header(&self.public_key, &header).unwrap();
        Request::builder()
            .method(method)
            .uri(uri)
            .header(secure::OCEANBASE_HEADER, value)
            .body(Body::from(raw_body))
            .unwrap()
    }

    async fn send(&self, req: Request<Body>) -> (StatusCode, Value) {
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["status"], status.as_u16(), "{v}");
        (status, v)
    }

    async fn dag(&self, name: &str, script: Value) -> String {
        let mut ctx = TaskContext::new();
        ctx.set_param("script", script);
        let t = Template::new(name).node(
            NodeSpec::new(Arc::new(ScriptedTask))
                .named("Only step")
                .with_context(ctx),
        );
        let dag = self
            .engine
            .create_dag(&t, TaskContext::new())
            .await
            .unwrap();
        self.engine.generic_id(dag.id)
    }

    async fn wait_state(&self, gid: &str, state: &str) {
        // up to 60 s: a loaded CI machine may be generating RSA keys for other tests
        for _ in 0..3000 {
            let req = self.signed("GET", &format!("/api/v1/task/dag/{gid}"), "", None);
            let (_, v) = self.send(req).await;
            if v["data"]["state"] == state {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("DAG {gid} never reached {state}");
    }
}

fn plain(method: &str, uri: &str, body: &'static str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::from(body))
        .unwrap()
}

fn err_code(v: &Value) -> &str {
    v["error"]["errCode"].as_str().unwrap_or("")
}

#[tokio::test]
async fn public_routes_and_envelope_fields() {
    let h = harness().await;
    let (s, v) = h.send(plain("GET", "/api/v1/info", "")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["successful"], true);
    assert_eq!(v["data"]["identity"], "SINGLE");
    assert_eq!(v["data"]["supportedAuth"], json!(["v2"]));
    assert_eq!(v["traceId"].as_str().unwrap().len(), 16);
    assert!(v.get("error").is_none());
    let (_, v) = h.send(plain("GET", "/api/v1/status", "")).await;
    assert_eq!(v["traceId"], "");
    assert_eq!(v["data"]["underMaintenance"], false);
    let (_, v) = h.send(plain("GET", "/api/v1/secret", "")).await;
    assert_eq!(v["data"]["public_key"], h.public_key.as_str());
}

#[tokio::test]
async fn errors_without_a_handler_outcome_are_envelopes_too() {
    let h = harness().await;
    let (s, v) = h.send(plain("GET", "/nowhere", "")).await;
    assert_eq!((s.as_u16(), err_code(&v)), (404, "Common.NotFound"));
    let (s, v) = h.send(plain("PUT", "/api/v1/info", "")).await;
    assert_eq!((s.as_u16(), err_code(&v)), (405, "Common.MethodNotAllowed"));
    let big = Request::builder()
        .method("POST")
        .uri("/api/v1/task/dag/1")
        .body(Body::from(vec![b'x'; 5000]))
        .unwrap();
    let (s, v) = h.send(big).await;
    assert_eq!(
        (s.as_u16(), err_code(&v)),
        (413, "Common.RequestEntityTooLarge")
    );
}

#[tokio::test]
async fn panics_become_500_envelopes() {
    async fn boom() -> &'static str {
        panic!("handler bug")
    }
    let router = Router::new()
        .route("/boom", axum::routing::get(boom))
        .layer(axum::middleware::from_fn(api::envelope::render));
    let resp = router.oneshot(plain("GET", "/boom", "")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let v: Value = serde_json::from_slice(
        &axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(err_code(&v), "Common.Unexpected");
    assert_eq!(
        v["error"]["message"],
        "Unexpected error: Internal Server Error"
    );
}

#[tokio::test]
async fn protected_routes_need_a_valid_header() {
    let h = harness().await;
    let (s, v) = h.send(plain("GET", "/api/v1/task/dag/unfinish", "")).await;
    assert_eq!((s.as_u16(), err_code(&v)), (400, "Request.Header.NotFound"));
    let req = h.signed("GET", "/api/v1/task/dag/unfinish", "", None);
    let (s, v) = h.send(req).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["data"], json!({"contents": []}));
    // Signed for one uri, sent to another.
    let mut req = h.signed("GET", "/api/v1/task/dags/agent", "", None);
    *req.uri_mut() = "/api/v1/task/dag/unfinish".parse().unwrap();
    let (s, v) = h.send(req).await;
    assert_eq!(
        (s.as_u16(), err_code(&v), v["error"]["code"].as_u64()),
        (
            401,
            "Security.Authentication.Header.UriMismatch",
            Some(10008)
        )
    );
}

#[tokio::test]
async fn unix_peers_are_checked_by_uid() {
    let h = harness().await;
    for (uid, ok) in [
        (Some(0), true),
        (Some(4242), true),
        (Some(7), false),
        (None, false),
    ] {
        let mut req = plain("GET", "/api/v1/task/dag/unfinish", "");
        req.extensions_mut().insert(ConnectInfo(Peer::Unix { uid }));
        let (s, v) = h.send(req).await;
        if ok {
            assert_eq!(s, StatusCode::OK, "{uid:?} {v}");
        } else {
            assert_eq!(
                (s.as_u16(), err_code(&v)),
                (401, "Security.User.PermissionDenied"),
                "{uid:?}"
            );
        }
    }
}

#[tokio::test]
async fn operators_bind_and_apply() {
    let h = harness().await;
    let gid = h
        .dag("Will fail", json!({"fail_unless": "/nonexistent/file"}))
        .await;
    h.wait_state(&gid, "FAILED").await;
    let uri = format!("/api/v1/task/dag/{gid}");
    for (body, code) in [
        (json!({}), "Common.BindJsonFailed"),
        (json!({"operator": "NOPE"}), "Task.Dag.Operator.NotSupport"),
        (json!({"operator": 5}), "Common.BindJsonFailed"),
    ] {
        let (s, v) = h.send(h.signed("POST", &uri, "", Some(body))).await;
        assert_eq!((s.as_u16(), err_code(&v)), (400, code), "{v}");
    }
    let (s, v) = h
        .send(h.signed("POST", &uri, "", Some(json!({"operator": "pass"}))))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v.get("data").is_none());
    h.wait_state(&gid, "SUCCEED").await;
}

#[tokio::test]
async fn node_details_and_logs() {
    let h = harness().await;
    let gid = h.dag("Logs", json!({"log": "hello"})).await;
    h.wait_state(&gid, "SUCCEED").await;
    let (_, v) = h
        .send(h.signed("GET", &format!("/api/v1/task/dag/{gid}"), "", None))
        .await;
    let node = v["data"]["nodes"][0]["id"].as_str().unwrap().to_string();
    let sub = v["data"]["nodes"][0]["sub_tasks"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let uri = format!("/api/v1/task/node/{node}?show_details=false");
    let (s, v) = h.send(h.signed("GET", &uri, "", None)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["sub_tasks"], Value::Null);
    let uri = format!("/api/v1/task/sub_task/{sub}/logs");
    let (_, v) = h.send(h.signed("GET", &uri, "", None)).await;
    let logs = v["data"]["contents"].as_array().unwrap();
    assert!(logs.iter().any(|l| l["log_content"]
        .as_str()
        .is_some_and(|s| s.contains("hello"))));
    let uri = format!("/api/v1/task/node/{node}");
    let (s, v) = h
        .send(h.signed("POST", &uri, "", Some(json!({"operator": "retry"}))))
        .await;
    assert_eq!(
        (s.as_u16(), err_code(&v)),
        (400, "Task.Node.Operator.NotSupport")
    );
}

#[tokio::test]
async fn agent_password_route_and_rules() {
    let h = harness().await;
    let set = |auth: &str, pwd: &str| {
        h.signed(
            "POST",
            "/api/v1/agent/password",
            auth,
            Some(json!({"password": pwd})),
        )
    };
    let (s, v) = h.send(set("", "pw1")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // Now the OceanBase header is refused and the agent header needs the password.
    let (s, v) = h
        .send(h.signed("GET", "/api/v1/task/dag/unfinish", "pw1", None))
        .await;
    assert_eq!(
        (s.as_u16(), err_code(&v)),
        (401, "Security.Authentication.WithAgentPassword")
    );
    let (s, v) = h.send(set("", "pw2")).await;
    assert_eq!(
        (s.as_u16(), err_code(&v)),
        (401, "Security.Authentication.WithAgentPassword")
    );
}

/// An open event stream, read as the agent writes it.
struct EventStream {
    body: futures::stream::BoxStream<'static, Result<axum::body::Bytes, axum::Error>>,
    buf: String,
    ended: bool,
}

impl EventStream {
    /// Sends `req`, which must answer `200 text/event-stream` (not an envelope).
    async fn open(h: &Harness, req: Request<Body>) -> EventStream {
        let resp = h.router.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
        assert!(ct.starts_with("text/event-stream"), "{ct}");
        assert_eq!(resp.headers()["cache-control"], "no-cache");
        EventStream {
            body: futures::StreamExt::boxed(resp.into_body().into_data_stream()),
            buf: String::new(),
            ended: false,
        }
    }

    /// The next event's JSON (`None` once the stream ended); fails after 10 s of silence.
    async fn next(&mut self) -> Option<Value> {
        loop {
            if let Some(at) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..at + 2).collect();
                let data: Vec<&str> = block
                    .lines()
                    .filter_map(|l| l.strip_prefix("data: "))
                    .collect();
                assert!(
                    !block.lines().any(|l| l.starts_with('{')),
                    "raw JSON outside data: {block:?}"
                );
                if data.is_empty() {
                    continue; // a comment (keep-alive)
                }
                return Some(serde_json::from_str(&data.join("\n")).unwrap());
            }
            if self.ended {
                assert!(self.buf.trim().is_empty(), "trailing bytes {:?}", self.buf);
                return None;
            }
            let chunk = tokio::time::timeout(
                Duration::from_secs(10),
                futures::StreamExt::next(&mut self.body),
            )
            .await
            .expect("no event within 10 s");
            match chunk {
                Some(bytes) => self
                    .buf
                    .push_str(std::str::from_utf8(&bytes.unwrap()).unwrap()),
                None => self.ended = true,
            }
        }
    }

    /// Every remaining event until the stream ends.
    async fn rest(&mut self) -> Vec<Value> {
        let mut all = Vec::new();
        while let Some(v) = self.next().await {
            all.push(v);
        }
        all
    }
}

fn step(name: &str, script: Value) -> NodeSpec {
    let mut ctx = TaskContext::new();
    ctx.set_param("script", script);
    NodeSpec::new(Arc::new(ScriptedTask))
        .named(name)
        .with_context(ctx)
}

const EVENT_FIELDS: [&str; 7] = [
    "id",
    "dag_id",
    "name",
    "stage",
    "max_stage",
    "state",
    "operator",
];

#[tokio::test]
async fn dag_events_stream_progress_until_succeed() {
    let h = harness().await;
    let t = Template::new("Three steps")
        .node(step("One", json!({"sleep_ms": 800})))
        .node(step("Two", json!({"sleep_ms": 800})))
        .node(step("Three", json!({"sleep_ms": 800})));
    let dag = h.engine.create_dag(&t, TaskContext::new()).await.unwrap();
    let gid = h.engine.generic_id(dag.id);
    let uri = format!("/api/v1/task/dag/{gid}/events");
    let mut events = EventStream::open(&h, h.signed("GET", &uri, "", None)).await;

    let first = events.next().await.expect("the initial event");
    let keys: Vec<&str> = first
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, EVENT_FIELDS, "{first}");
    assert_eq!(first["id"], gid.as_str());
    assert_eq!(first["dag_id"], dag.id);
    assert_eq!(first["name"], "Three steps");
    assert_eq!(first["max_stage"], 3);
    assert_eq!(first["operator"], "RUN");
    assert!(
        matches!(first["state"].as_str(), Some("READY" | "RUNNING")),
        "{first}"
    );

    let rest = events.rest().await;
    let last = rest.last().expect("a final event");
    assert_eq!(
        (&last["state"], &last["stage"]),
        (&json!("SUCCEED"), &json!(3))
    );
    assert_eq!(last["id"], gid.as_str());
    // Each stage change arrived as it happened, in order, and no event repeats the previous.
    let all: Vec<&Value> = std::iter::once(&first).chain(&rest).collect();
    let stages: Vec<i64> = all.iter().map(|e| e["stage"].as_i64().unwrap()).collect();
    assert!(stages.contains(&2) && stages.contains(&3), "{all:?}");
    assert!(stages.windows(2).all(|w| w[0] <= w[1]), "{all:?}");
    assert!(all.windows(2).all(|w| w[0] != w[1]), "{all:?}");
    assert!(rest[..rest.len() - 1]
        .iter()
        .all(|e| e["state"] == "RUNNING" || e["state"] == "READY"));
}

#[tokio::test]
async fn dag_events_of_a_finished_dag_is_one_event() {
    let h = harness().await;
    let gid = h.dag("Quick", json!({})).await;
    h.wait_state(&gid, "SUCCEED").await;
    // over the unix socket (uid check), like the local CLI
    let mut req = plain("GET", &format!("/api/v1/task/dag/{gid}/events"), "");
    req.extensions_mut()
        .insert(ConnectInfo(Peer::Unix { uid: Some(4242) }));
    let mut events = EventStream::open(&h, req).await;
    let all = events.rest().await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(
        (&all[0]["state"], &all[0]["stage"]),
        (&json!("SUCCEED"), &json!(1))
    );
}

#[tokio::test]
async fn dag_events_end_with_failed_and_see_operators() {
    let h = harness().await;
    let t = Template::new("Long").node(step("Sleep", json!({"sleep_ms": 30_000})));
    let dag = h.engine.create_dag(&t, TaskContext::new()).await.unwrap();
    let gid = h.engine.generic_id(dag.id);
    h.wait_state(&gid, "RUNNING").await;
    let uri = format!("/api/v1/task/dag/{gid}/events");
    let mut events = EventStream::open(&h, h.signed("GET", &uri, "", None)).await;
    let first = events.next().await.unwrap();
    assert_eq!(
        (&first["state"], &first["operator"]),
        (&json!("RUNNING"), &json!("RUN"))
    );
    let op = format!("/api/v1/task/dag/{gid}");
    let (s, v) = h
        .send(h.signed("POST", &op, "", Some(json!({"operator": "cancel"}))))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let rest = events.rest().await;
    let last = rest.last().unwrap();
    assert_eq!(
        (&last["state"], &last["operator"]),
        (&json!("FAILED"), &json!("CANCEL"))
    );
}

#[tokio::test]
async fn operators_are_published_to_followers() {
    let h = harness().await;
    let gid = h
        .dag("Will fail", json!({"fail_unless": "/nonexistent/file"}))
        .await;
    h.wait_state(&gid, "FAILED").await;
    let mut rx = h.engine.subscribe();
    let uri = format!("/api/v1/task/dag/{gid}");
    let (s, v) = h
        .send(h.signed("POST", &uri, "", Some(json!({"operator": "pass"}))))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // PASS finishes the DAG without the scheduler: only the operator's event tells followers.
    // The scheduler's own FAILED event may still arrive first (it is sent after its commit).
    let ev = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let ev = rx.recv().await.unwrap();
            if ev.operator == task::Operator::Pass {
                break ev;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(ev.state, task::State::Succeed);
}

#[tokio::test]
async fn dag_events_errors_are_json_envelopes() {
    let h = harness().await;
    for (id, status, code) in [
        ("not-an-id", 400, "Task.GenericID.Invalid"),
        (&*h.engine.generic_id(987_654), 404, "Task.NotFound"),
    ] {
        let uri = format!("/api/v1/task/dag/{id}/events");
        let (s, v) = h.send(h.signed("GET", &uri, "", None)).await;
        assert_eq!((s.as_u16(), err_code(&v)), (status, code), "{v}");
        assert_eq!(v["successful"], false);
    }
    let gid = h.dag("Quick", json!({})).await;
    let uri = format!("/api/v1/task/dag/{gid}/events");
    // auth like every task route: no header on TCP, a foreign uid on the socket
    let (s, v) = h.send(plain("GET", &uri, "")).await;
    assert_eq!((s.as_u16(), err_code(&v)), (400, "Request.Header.NotFound"));
    let mut req = plain("GET", &uri, "");
    req.extensions_mut()
        .insert(ConnectInfo(Peer::Unix { uid: Some(7) }));
    let (s, v) = h.send(req).await;
    assert_eq!(
        (s.as_u16(), err_code(&v)),
        (401, "Security.User.PermissionDenied")
    );
    let (s, v) = h.send(h.signed("POST", &uri, "", None)).await;
    assert_eq!((s.as_u16(), err_code(&v)), (405, "Common.MethodNotAllowed"));
}

#[tokio::test]
async fn dag_events_end_when_the_agent_stops() {
    let h = harness().await;
    let t = Template::new("Long").node(step("Sleep", json!({"sleep_ms": 30_000})));
    let dag = h.engine.create_dag(&t, TaskContext::new()).await.unwrap();
    let gid = h.engine.generic_id(dag.id);
    let uri = format!("/api/v1/task/dag/{gid}/events");
    let mut events = EventStream::open(&h, h.signed("GET", &uri, "", None)).await;
    assert!(events.next().await.is_some());
    h.shutdown.cancel();
    assert_eq!(events.rest().await, Vec::<Value>::new());
    h.engine.shutdown().await;
}
