//! Following a DAG: the event stream of a real agent over the unix socket and over TCP, and
//! the fallback to polling when an (older) agent has no event route or the stream breaks.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agent::{Server, ServerConfig};
use cli::follow::{follow, Followed};
use client::{Client, Dag, Target};
use serde_json::{json, Value};
use task::demo::ScriptedTask;
use task::{NodeSpec, TaskContext, Template};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixListener;

fn step(name: &str, sleep_ms: u64) -> NodeSpec {
    let mut ctx = TaskContext::new();
    ctx.set_param("script", json!({ "sleep_ms": sleep_ms }));
    NodeSpec::new(Arc::new(ScriptedTask))
        .named(name)
        .with_context(ctx)
}

async fn start_agent(dir: &Path) -> Server {
    let mut config = ServerConfig::new(dir);
    config.ip = "127.0.0.1".parse().unwrap();
    config.port = 0;
    Server::start(config).await.unwrap()
}

async fn three_steps(server: &Server) -> String {
    // stages long enough that a stalled CI machine still sees the stream open mid-DAG and
    // stage 2 happen
    let t = Template::new("Three steps")
        .node(step("One", 700))
        .node(step("Two", 700))
        .node(step("Three", 700));
    let dag = server
        .engine()
        .create_dag(&t, TaskContext::new())
        .await
        .unwrap();
    server.engine().generic_id(dag.id)
}

async fn all_events(client: &Client, id: &str) -> Vec<Dag> {
    let mut events = client.dag_events(id).await.unwrap();
    let mut all = Vec::new();
    while let Some(ev) = events.next().await {
        all.push(ev.unwrap());
    }
    all
}

#[tokio::test(flavor = "multi_thread")]
async fn events_over_unix_socket_and_tcp() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_agent(dir.path()).await;
    let unix = Client::new(Target::Unix(server.home().socket()));
    let tcp = Client::new(Target::Tcp {
        host: "127.0.0.1".into(),
        port: server.tcp_addr().port(),
        password: None,
    });
    for client in [&unix, &tcp] {
        let id = three_steps(&server).await;
        let all = all_events(client, &id).await;
        let (first, last) = (&all[0], all.last().unwrap());
        assert_eq!((first.id.as_str(), first.max_stage), (id.as_str(), 3));
        assert!(!first.is_finished_state(), "{first:?}");
        assert_eq!((last.state.as_str(), last.stage), ("SUCCEED", 3));
        assert!(all.iter().any(|e| e.stage == 2), "{all:?}");
        // A finished DAG: one event, then the end.
        let again = all_events(client, &id).await;
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].state, "SUCCEED");
        // Errors come as the usual API errors.
        let err = client.dag_events("nope").await.err().unwrap();
        assert_eq!(
            err.api().map(|e| (e.status, e.err_code.as_str())),
            Some((400, "Task.GenericID.Invalid"))
        );
    }
    // follow() itself, on the stream
    let id = three_steps(&server).await;
    let started = Instant::now();
    assert_eq!(follow(&unix, &id).await.unwrap(), Followed::Succeeded);
    assert!(started.elapsed() < Duration::from_secs(5));
    server.stop().await;
}

/// An agent of an older version, by hand: `GET /task/dag/:id` answers a DAG that finishes
/// after a few reads; `/events` answers 404 (`Missing`) or a stream that breaks after one
/// event (`Breaks`).
#[derive(Clone, Copy)]
enum EventRoute {
    Missing,
    Breaks,
}

struct FakeAgent {
    socket: PathBuf,
    dag_reads: Arc<AtomicUsize>,
    event_opens: Arc<AtomicUsize>,
    _dir: tempfile::TempDir,
}

const RUNNING_READS: usize = 4;

fn dag_json(id: &str, finished: bool) -> Value {
    json!({
        "id": id, "dag_id": 1, "name": "Old agent", "stage": 1, "max_stage": 1,
        "state": if finished { "SUCCEED" } else { "RUNNING" }, "operator": "RUN",
        "nodes": [{"id": "n1", "name": "Only", "state": "RUNNING", "operator": "RUN"}],
    })
}

fn envelope(status: u16, body: Value) -> Vec<u8> {
    let text = body.to_string();
    format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
        text.len()
    )
    .into_bytes()
}

fn fake_agent(route: EventRoute) -> FakeAgent {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("obshell.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let dag_reads = Arc::new(AtomicUsize::new(0));
    let event_opens = Arc::new(AtomicUsize::new(0));
    let (reads, opens) = (dag_reads.clone(), event_opens.clone());
    tokio::spawn(async move {
        loop {
            let (mut conn, _) = listener.accept().await.unwrap();
            let (reads, opens) = (reads.clone(), opens.clone());
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = conn.read(&mut buf).await.unwrap();
                    if n == 0 {
                        return;
                    }
                    head.extend_from_slice(&buf[..n]);
                }
                let head = String::from_utf8_lossy(&head).to_string();
                let path = head.split(' ').nth(1).unwrap_or("").to_string();
                if path.contains("/events") {
                    opens.fetch_add(1, Ordering::SeqCst);
                    match route {
                        EventRoute::Missing => {
                            let body = json!({"successful": false, "status": 404,
                                "error": {"errCode": "Common.NotFound", "message": "404 not found"}});
                            let _ = conn.write_all(&envelope(404, body)).await;
                        }
                        EventRoute::Breaks => {
                            let event = format!("data: {}\n\n", dag_json("1", false));
                            let resp = format!(
                                "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{event}\r\n",
                                event.len()
                            );
                            let _ = conn.write_all(resp.as_bytes()).await;
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            // dropped without the last chunk: the stream breaks
                        }
                    }
                    return;
                }
                let n = reads.fetch_add(1, Ordering::SeqCst);
                let body = json!({"successful": true, "status": 200,
                    "data": dag_json("1", n >= RUNNING_READS)});
                let _ = conn.write_all(&envelope(200, body)).await;
            });
        }
    });
    FakeAgent {
        socket,
        dag_reads,
        event_opens,
        _dir: dir,
    }
}

#[tokio::test]
async fn follow_polls_when_the_event_route_is_missing_or_breaks() {
    for route in [EventRoute::Missing, EventRoute::Breaks] {
        let fake = fake_agent(route);
        let client = Client::new(Target::Unix(fake.socket.clone()));
        let started = Instant::now();
        let followed = tokio::time::timeout(Duration::from_secs(10), follow(&client, "1"))
            .await
            .expect("follow must not hang")
            .unwrap();
        assert_eq!(followed, Followed::Succeeded);
        assert_eq!(fake.dag_reads.load(Ordering::SeqCst), RUNNING_READS + 1);
        // one attempt at the stream, then polling only
        assert_eq!(fake.event_opens.load(Ordering::SeqCst), 1);
        assert!(started.elapsed() >= Duration::from_millis(200));
    }
}
