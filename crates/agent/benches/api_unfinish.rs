//! Benchmark of `GET /api/v1/task/dag/unfinish?show_details=true` (design.md §6: p99 under
//! 20 ms on loopback with 100 unfinished DAGs x 10 nodes). Prints one JSON object.
//!
//! It starts a real agent server in-process on 127.0.0.1 (TCP, full auth pipeline), creates
//! the DAGs through its engine (each DAG's first node sleeps for an hour, so all stay
//! unfinished: a few RUNNING, the rest READY behind the worker pool), then sends requests the
//! way the Python SDK does: a fresh RSA-encrypted auth header with fresh AES keys per request,
//! over a keep-alive connection. Header encryption happens before the clock starts, so the
//! figures are server + loopback time.
//!
//! `cargo bench -p obshell-agent --bench api_unfinish [-- --short] [--dags N] [--nodes M]
//! [--requests R] [--concurrency C]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use agent::{Server, ServerConfig};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use secure::{AesKey, AuthHeader};
use serde_json::{json, Value};
use task::demo::ScriptedTask;
use task::{NodeSpec, TaskContext, Template};

const URI: &str = "/api/v1/task/dag/unfinish?show_details=true";

struct Opts {
    dags: usize,
    nodes: usize,
    requests: usize,
    concurrency: usize,
}

fn opts() -> Result<Opts, String> {
    let mut o = Opts {
        dags: 100,
        nodes: 10,
        requests: 1000,
        concurrency: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut num = |name: &str| -> Result<usize, String> {
            it.next()
                .and_then(|v| v.parse().ok())
                .ok_or(format!("{name} needs a number"))
        };
        match a.as_str() {
            "--short" => o.requests = 200,
            "--dags" => o.dags = num("--dags")?,
            "--nodes" => o.nodes = num("--nodes")?,
            "--requests" => o.requests = num("--requests")?,
            "--concurrency" => o.concurrency = num("--concurrency")?.max(1),
            // cargo bench passes --bench; ignore anything else of the harness protocol.
            _ => {}
        }
    }
    Ok(o)
}

fn template(nodes: usize) -> Template {
    (0..nodes).fold(Template::new("Bench unfinished"), |t, i| {
        let script = if i == 0 {
            json!({"sleep_ms": 3_600_000, "log": "waiting"})
        } else {
            json!({})
        };
        let mut ctx = TaskContext::new();
        ctx.set_param("script", script);
        t.node(
            NodeSpec::new(Arc::new(ScriptedTask))
                .named(format!("Stage {}", i + 1))
                .with_context(ctx),
        )
    })
}

async fn connect(addr: std::net::SocketAddr) -> Result<SendRequest<Empty<Bytes>>, String> {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    Ok(send)
}

async fn get(
    send: &mut SendRequest<Empty<Bytes>>,
    uri: &str,
    header: Option<String>,
) -> Result<(u16, Bytes), String> {
    let mut req = hyper::Request::get(uri).header("host", "127.0.0.1");
    if let Some(h) = header {
        req = req.header(secure::OCEANBASE_HEADER, h);
    }
    let req = req.body(Empty::new()).map_err(|e| e.to_string())?;
    send.ready().await.map_err(|e| e.to_string())?;
    let resp = send.send_request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, body))
}

fn header(public_key: &secure::PeerPublicKey) -> Result<String, String> {
    let expiry = secure::now_unix() + 60;
    let keys = AesKey::generate().map_err(|e| e.to_string())?;
    secure::encode_header_with(public_key, &AuthHeader::new("", URI, expiry, keys))
        .map_err(|e| e.to_string())
}

/// Sends `n` requests on one connection; returns their latencies.
async fn client(
    addr: std::net::SocketAddr,
    pk: Arc<secure::PeerPublicKey>,
    n: usize,
    min_len: usize,
) -> Result<Vec<Duration>, String> {
    let mut send = connect(addr).await?;
    let mut lat = Vec::with_capacity(n);
    for _ in 0..n {
        let h = header(&pk)?;
        let t = Instant::now();
        let (status, body) = get(&mut send, URI, Some(h)).await?;
        lat.push(t.elapsed());
        // States (and so sizes) move a little while DAGs start; a short body is an error.
        if status != 200 || body.len() < min_len {
            return Err(format!("status {status}, {} bytes", body.len()));
        }
    }
    Ok(lat)
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

async fn run(o: Opts) -> Result<Value, String> {
    let home = tempfile::tempdir().map_err(|e| e.to_string())?;
    let config = ServerConfig {
        ip: "127.0.0.1".parse().map_err(|e| format!("{e}"))?,
        port: 0,
        ..ServerConfig::new(home.path())
    };
    let server = Server::start(config).await.map_err(|e| e.to_string())?;
    let addr = server.tcp_addr();
    let t = template(o.nodes);
    for _ in 0..o.dags {
        server
            .engine()
            .create_dag(&t, TaskContext::new())
            .await
            .map_err(|e| e.to_string())?;
    }
    // Let the engine start what it can (the first stage of the first DAGs) before measuring.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut send = connect(addr).await?;
    let (_, secret) = get(&mut send, "/api/v1/secret", None).await?;
    let secret: Value = serde_json::from_slice(&secret).map_err(|e| e.to_string())?;
    let pk_b64 = secret["data"]["public_key"]
        .as_str()
        .ok_or("no public key")?;
    let pk = Arc::new(secure::PeerPublicKey::from_base64(pk_b64).map_err(|e| e.to_string())?);

    // Validate the shape once, and learn the (stable) response size.
    let (status, body) = get(&mut send, URI, Some(header(&pk)?)).await?;
    let env: Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
    let contents = env["data"]["contents"].as_array().ok_or("no contents")?;
    if status != 200
        || contents.len() != o.dags
        || contents
            .iter()
            .any(|d| d["nodes"].as_array().map(Vec::len) != Some(o.nodes))
    {
        return Err(format!(
            "unexpected response {status}: {} DAGs",
            contents.len()
        ));
    }
    let running = contents.iter().filter(|d| d["state"] == "RUNNING").count();
    let size = body.len();
    for _ in 0..20 {
        get(&mut send, URI, Some(header(&pk)?)).await?;
    }

    // Breakdown, in-process: the engine's list (SQL and DTOs) and the JSON serialization.
    let filter = task::DagFilter {
        unfinished_only: true,
        ..Default::default()
    };
    let mut engine_lat = Vec::new();
    let mut json_lat = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let dtos = server
            .engine()
            .list_dag_details(&filter, true)
            .await
            .map_err(|e| e.to_string())?;
        engine_lat.push(t.elapsed());
        let t = Instant::now();
        let text = serde_json::to_string(&dtos).map_err(|e| e.to_string())?;
        json_lat.push(t.elapsed());
        std::hint::black_box(text);
    }
    engine_lat.sort();
    json_lat.sort();

    let per_client = o.requests.div_ceil(o.concurrency);
    let started = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..o.concurrency {
        handles.push(tokio::spawn(client(
            addr,
            pk.clone(),
            per_client,
            size * 9 / 10,
        )));
    }
    let mut lat = Vec::new();
    for h in handles {
        lat.extend(h.await.map_err(|e| e.to_string())??);
    }
    let wall = started.elapsed();
    lat.sort();
    server.stop().await;
    Ok(json!({
        "bench": "api_unfinish",
        "uri": URI,
        "dags": o.dags,
        "nodes_per_dag": o.nodes,
        "running_dags": running,
        "response_bytes": size,
        "requests": lat.len(),
        "concurrency": o.concurrency,
        "p50_ms": pct(&lat, 0.50),
        "p90_ms": pct(&lat, 0.90),
        "p99_ms": pct(&lat, 0.99),
        "max_ms": pct(&lat, 1.0),
        "req_per_s": lat.len() as f64 / wall.as_secs_f64(),
        "target_p99_ms": 20,
        "engine_list_p50_ms": pct(&engine_lat, 0.5),
        "json_serialize_p50_ms": pct(&json_lat, 0.5),
    }))
}

fn main() -> std::process::ExitCode {
    let o = match opts() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("api_unfinish: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("api_unfinish: runtime: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    match rt.block_on(run(o)) {
        Ok(v) => {
            println!("{v}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("api_unfinish: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
