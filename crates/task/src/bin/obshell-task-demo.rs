//! `obshell-task-demo`: drives the task engine on its own, without the agent.
//!
//! - `run`: creates a DAG from a scenario, runs it to the end, prints it as JSON (exit 1 when
//!   it failed). The README's demo uses the `demo` scenario.
//! - `create`: writes a scenario's DAG into a store for a running agent to pick up; prints its id.
//! - `resume`: starts the engine on an existing store (crash recovery), waits until every DAG
//!   has stopped moving, prints them.
//!
//! Scenarios are chains of `ScriptedTask` nodes; see `task::demo`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use task::demo::ScriptedTask;
use task::{
    AgentInfo, Capabilities, DagFilter, Engine, EngineConfig, NodeSpec, Registry, Store,
    TaskContext, Template,
};

const USAGE: &str = "usage:
  obshell-task-demo run    [--store URL] [--dir DIR] [--scenario NAME] [--agent IP:PORT]
  obshell-task-demo create --store URL [--dir DIR] --scenario NAME [--agent IP:PORT]
  obshell-task-demo resume --store URL [--agent IP:PORT]

URL is a SQLite path (default DIR/.meta) or mysql://user@host:port/db.
Scenarios: demo, ok, fail, slow, maintenance-fail, ten, crash-continue, crash-nocontinue.
Files the scenarios use (record, fixed, ...) live in DIR (default ./demo-run).";

struct Args {
    cmd: String,
    store: Option<String>,
    dir: PathBuf,
    scenario: String,
    agent: AgentInfo,
}

fn parse() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let cmd = it.next().ok_or("missing command")?;
    let mut a = Args {
        cmd,
        store: None,
        dir: PathBuf::from("demo-run"),
        scenario: "demo".into(),
        agent: AgentInfo::new("127.0.0.1", 2886),
    };
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--store" => a.store = Some(val()?),
            "--dir" => a.dir = PathBuf::from(val()?),
            "--scenario" => a.scenario = val()?,
            "--agent" => {
                let v = val()?;
                let (ip, port) = v
                    .rsplit_once(':')
                    .ok_or(format!("--agent wants IP:PORT, got {v}"))?;
                let port = port.parse().map_err(|_| format!("bad port in {v}"))?;
                a.agent = AgentInfo::new(ip.trim_matches(['[', ']']), port);
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

fn node(name: &str, script: Value) -> NodeSpec {
    let mut ctx = TaskContext::new();
    ctx.set_param("script", script);
    NodeSpec::new(Arc::new(ScriptedTask))
        .named(name)
        .with_context(ctx)
}

fn scenario(name: &str, dir: &std::path::Path) -> Result<(Template, TaskContext), String> {
    let p = |f: &str| dir.join(f).display().to_string();
    let rec = p("record");
    let mut ctx = TaskContext::new();
    let t = match name {
        "demo" => {
            let data = p("data");
            ctx.set_param(
                "execute_agents",
                vec![
                    AgentInfo::new("127.0.0.1", 2886),
                    AgentInfo::new("127.0.0.2", 2886),
                ],
            );
            Template::new("Engine demo")
                .node(node("Prepare data directory", json!({"command": format!("mkdir -p {data} && echo created {data}"), "log_output": true})))
                .node(node("Write config", json!({"command": format!("printf 'memory_limit=3G\\n' > {data}/demo.conf && echo wrote {data}/demo.conf"), "log_output": true, "set_data": {"config": format!("{data}/demo.conf")}})))
                .node(node("Check host on every agent", json!({"command": "echo $(nproc) cores, $(df -h . | tail -1 | tr -s ' ' | cut -d' ' -f4) free", "log_output": true})).parallel())
                .node(node("Verify config", json!({"command": format!("test -s {data}/demo.conf && cat {data}/demo.conf"), "log_output": true, "expect_data": "config"})))
        }
        "ok" => Template::new("Demo ok")
            .node(node("Step one", json!({"log": "step one done"})))
            .node(node("Step two", json!({"log": "step two done"})))
            .node(node("Step three", json!({"log": "step three done"}))),
        "fail" => Template::new("Demo fail")
            .node(node("Prepare", json!({"log": "prepared"})))
            .node(node(
                "Needs fix",
                json!({"fail_unless": p("fixed"), "record": rec}),
            ))
            .node(node("Finish", json!({"log": "finished"}))),
        "slow" => {
            Template::new("Demo slow").node(node("Wait a minute", json!({"command": "sleep 60"})))
        }
        "maintenance-fail" => Template::new("Demo maintenance")
            .node(node("Locked step", json!({"fail_unless": p("fixed")})))
            .global_maintenance(),
        "ten" => (1..=10).fold(Template::new("Ten stages"), |t, i| {
            t.node(node(&format!("Stage {i}"), json!({})))
        }),
        "crash-continue" | "crash-nocontinue" => {
            let caps = Capabilities {
                can_continue: name == "crash-continue",
                ..Capabilities::ALL
            };
            Template::new(format!("Demo {name}"))
                .node(node("Before", json!({"record": rec})))
                .node(node("Interrupted", json!({"record": rec, "sleep_ms": 3000})).with_caps(caps))
                .node(node("After", json!({"record": rec})))
        }
        other => return Err(format!("unknown scenario {other}")),
    };
    Ok((t, ctx))
}

fn registry() -> Registry {
    let mut r = Registry::new();
    r.register(Arc::new(ScriptedTask));
    r
}

async fn open(a: &Args) -> Result<Store, String> {
    std::fs::create_dir_all(&a.dir).map_err(|e| format!("{}: {e}", a.dir.display()))?;
    let url = a
        .store
        .clone()
        .unwrap_or_else(|| a.dir.join(".meta").display().to_string());
    Store::open(&url)
        .await
        .map_err(|e| format!("open store {url}: {e}"))
}

/// Waits until no DAG is READY or RUNNING, then returns all DAGs with details.
async fn settle(engine: &Engine) -> Result<Vec<task::dto::DagDetailDto>, String> {
    loop {
        let all = engine
            .list_dag_details(&DagFilter::default(), true)
            .await
            .map_err(|e| e.to_string())?;
        if all
            .iter()
            .all(|d| d.state == "SUCCEED" || d.state == "FAILED")
        {
            return Ok(all);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn main_inner(a: Args) -> Result<bool, String> {
    let store = open(&a).await?;
    let config = EngineConfig {
        agent: a.agent.clone(),
        ..EngineConfig::default()
    };
    match a.cmd.as_str() {
        "create" => {
            let (t, ctx) = scenario(&a.scenario, &a.dir)?;
            let id = task::create_dag_in_store(&store, &registry(), &a.agent, &t, &ctx)
                .await
                .map_err(|e| e.to_string())?;
            println!("{id}");
            Ok(true)
        }
        "run" => {
            let (t, ctx) = scenario(&a.scenario, &a.dir)?;
            let engine = Engine::start(store, registry(), config)
                .await
                .map_err(|e| e.to_string())?;
            let dag = engine
                .create_dag(&t, ctx)
                .await
                .map_err(|e| e.to_string())?;
            eprintln!("created DAG {} '{}'", engine.generic_id(dag.id), dag.name);
            let d = loop {
                let d = engine
                    .dag_detail(dag.id, true)
                    .await
                    .map_err(|e| e.to_string())?;
                if d.state == "SUCCEED" || d.state == "FAILED" {
                    break d;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            };
            println!("{}", serde_json::to_string_pretty(&d).unwrap_or_default());
            engine.shutdown().await;
            Ok(d.state == "SUCCEED")
        }
        "resume" => {
            let engine = Engine::start(store, registry(), config)
                .await
                .map_err(|e| e.to_string())?;
            let all = settle(&engine).await?;
            println!("{}", serde_json::to_string_pretty(&all).unwrap_or_default());
            engine.shutdown().await;
            Ok(all.iter().all(|d| d.state == "SUCCEED"))
        }
        other => Err(format!("unknown command {other}")),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .try_init();
    }
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("error: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match main_inner(args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
