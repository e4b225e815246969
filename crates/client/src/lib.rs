//! Typed client of the obshell HTTP API, for the `obshell` CLI and agent-to-agent calls.
//!
//! Two transports: the agent's unix socket (`<home>/run/obshell.sock`, authenticated by the
//! caller's uid, no password) and TCP, where every request carries the hybrid-encrypted auth
//! header and an AES-encrypted body exactly as the Python SDK sends them
//! (spec/security-and-sdk.md §1, §3). Responses are obshell envelopes; an unsuccessful one
//! becomes [`ClientError::Api`] with the server's `errCode` and message.

mod error;
mod events;
mod model;
mod transport;

use std::path::PathBuf;
use std::sync::Mutex;

use serde::de::DeserializeOwned;
use serde_json::{json, Value};

pub use error::{ApiError, ClientError};
pub use events::{DagEvents, IDLE_TIMEOUT};
pub use model::{Dag, ExecuteAgent, Node, SubTask, TaskLog};

/// Where the agent is.
#[derive(Debug, Clone)]
pub enum Target {
    /// The local agent's unix socket.
    Unix(PathBuf),
    /// A (possibly remote) agent over TCP. `password` is the root password sent in
    /// `X-OCS-Header`; `None` for an agent without one.
    Tcp {
        host: String,
        port: u16,
        password: Option<String>,
    },
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Unix(p) => write!(f, "unix:{}", p.display()),
            Target::Tcp { host, port, .. } if host.contains(':') => write!(f, "[{host}]:{port}"),
            Target::Tcp { host, port, .. } => write!(f, "{host}:{port}"),
        }
    }
}

pub type Result<T> = std::result::Result<T, ClientError>;

/// A client of one agent.
pub struct Client {
    target: Target,
    verbose: bool,
    /// The agent's public key, fetched once from `/api/v1/secret`.
    public_key: Mutex<Option<String>>,
    /// The auth header the password goes in: the root-password header first; an agent that
    /// answers "Should use agent_password" gets the agent-password header from then on (what
    /// the SDK does too).
    header: Mutex<&'static str>,
}

impl Client {
    pub fn new(target: Target) -> Client {
        Client {
            target,
            verbose: false,
            public_key: Mutex::new(None),
            header: Mutex::new(secure::OCEANBASE_HEADER),
        }
    }

    fn header(&self) -> &'static str {
        *self.header.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Prints every API call to stderr (`-v`).
    pub fn verbose(mut self, on: bool) -> Client {
        self.verbose = on;
        self
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Calls `method path_and_query` and returns the envelope's `data` (Null when absent).
    pub async fn call(
        &self,
        method: &str,
        path_and_query: &str,
        body: Option<&Value>,
    ) -> Result<Value> {
        if self.verbose {
            match body {
                Some(b) => eprintln!("Calling API {method} {path_and_query} {b}"),
                None => eprintln!("Calling API {method} {path_and_query}"),
            }
        }
        let (host, port, password) = match &self.target {
            Target::Unix(path) => {
                let answer = transport::unix(path, method, path_and_query, body).await?;
                return error::unwrap_envelope(answer);
            }
            Target::Tcp {
                host,
                port,
                password,
            } => (host, *port, password.as_deref()),
        };
        let key = self.public_key(host, port).await?;
        let mut auth = transport::Auth {
            host,
            port,
            public_key: &key,
            password,
            header: self.header(),
        };
        let first = transport::tcp_secure(&auth, method, path_and_query, body).await?;
        match error::unwrap_envelope(first) {
            Err(ClientError::Api(e))
                if e.err_code == "Security.Authentication.WithAgentPassword"
                    && auth.header != secure::AGENT_HEADER =>
            {
                *self.header.lock().unwrap_or_else(|e| e.into_inner()) = secure::AGENT_HEADER;
                auth.header = secure::AGENT_HEADER;
                let again = transport::tcp_secure(&auth, method, path_and_query, body).await?;
                error::unwrap_envelope(again)
            }
            other => other,
        }
    }

    async fn public_key(&self, host: &str, port: u16) -> Result<String> {
        if let Some(k) = self
            .public_key
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            return Ok(k);
        }
        let env = transport::tcp_plain(host, port, "GET", "/api/v1/secret", None).await?;
        let data = error::unwrap_envelope(env)?;
        let key = data
            .get("public_key")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                ClientError::Protocol("GET /api/v1/secret returned no public_key".into())
            })?
            .to_string();
        *self.public_key.lock().unwrap_or_else(|e| e.into_inner()) = Some(key.clone());
        Ok(key)
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let v = self.call("GET", path, None).await?;
        serde_json::from_value(v).map_err(|e| ClientError::Protocol(format!("GET {path}: {e}")))
    }

    async fn list<T: DeserializeOwned>(&self, path: &str) -> Result<Vec<T>> {
        let v = self.call("GET", path, None).await?;
        let contents = v.get("contents").cloned().unwrap_or(Value::Null);
        if contents.is_null() {
            return Ok(Vec::new());
        }
        serde_json::from_value(contents)
            .map_err(|e| ClientError::Protocol(format!("GET {path}: {e}")))
    }

    pub async fn info(&self) -> Result<Value> {
        self.call("GET", "/api/v1/info", None).await
    }

    pub async fn status(&self) -> Result<Value> {
        self.call("GET", "/api/v1/status", None).await
    }

    pub async fn get_dag(&self, id: &str, details: bool) -> Result<Dag> {
        self.get(&format!("/api/v1/task/dag/{id}?show_details={details}"))
            .await
    }

    /// Follows DAG `id` through its event stream (`GET /api/v1/task/dag/:id/events`, agents
    /// of this version and later): the first event is the DAG as it is now, then one per
    /// change, until SUCCEED or FAILED. Each event carries `id`, `dag_id`, `name`, `stage`,
    /// `max_stage`, `state` and `operator` (no times, no nodes). An agent without the route
    /// answers [`ClientError::Api`] with status 404 (or 405): poll [`Client::get_dag`] then.
    pub async fn dag_events(&self, id: &str) -> Result<DagEvents> {
        let pq = format!("/api/v1/task/dag/{id}/events");
        if self.verbose {
            eprintln!("Calling API GET {pq} (event stream)");
        }
        let opened = match &self.target {
            Target::Unix(path) => transport::unix_open(path, "GET", &pq, None).await?,
            Target::Tcp {
                host,
                port,
                password,
            } => {
                let key = self.public_key(host, *port).await?;
                let auth = transport::Auth {
                    host,
                    port: *port,
                    public_key: &key,
                    password: password.as_deref(),
                    header: self.header(),
                };
                transport::tcp_secure_open(&auth, "GET", &pq, None).await?
            }
        };
        DagEvents::open(opened).await
    }

    pub async fn unfinished_dags(&self, details: bool) -> Result<Vec<Dag>> {
        self.list(&format!("/api/v1/task/dag/unfinish?show_details={details}"))
            .await
    }

    pub async fn get_node(&self, id: &str, details: bool) -> Result<Node> {
        self.get(&format!("/api/v1/task/node/{id}?show_details={details}"))
            .await
    }

    pub async fn get_sub_task(&self, id: &str) -> Result<SubTask> {
        self.get(&format!("/api/v1/task/sub_task/{id}")).await
    }

    pub async fn sub_task_logs(&self, id: &str) -> Result<Vec<TaskLog>> {
        self.list(&format!("/api/v1/task/sub_task/{id}/logs")).await
    }

    /// `operator`: RETRY, ROLLBACK, CANCEL or PASS.
    pub async fn operate_dag(&self, id: &str, operator: &str) -> Result<()> {
        self.call(
            "POST",
            &format!("/api/v1/task/dag/{id}"),
            Some(&json!({ "operator": operator })),
        )
        .await
        .map(|_| ())
    }

    pub async fn pass_node(&self, id: &str) -> Result<()> {
        self.call(
            "POST",
            &format!("/api/v1/task/node/{id}"),
            Some(&json!({"operator": "PASS"})),
        )
        .await
        .map(|_| ())
    }
}
