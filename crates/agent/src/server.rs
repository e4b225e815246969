//! The agent server: opens the home's metadata, establishes identity and keys, starts the task
//! engine, and serves the API on TCP and on `<home>/run/obshell.sock` until SIGTERM/SIGINT.
//! Shutdown is explicit: stop accepting, let requests in flight finish, stop the engine (its
//! rows stay resumable), remove the socket and pid file.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use api::{ApiConfig, AppState};
use task::demo::ScriptedTask;
use task::{AgentInfo, Engine, EngineConfig, Registry, Store};
use tokio::net::{TcpListener, UnixListener};
use tokio::signal::unix::{signal, SignalKind};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::error::AgentError;
use crate::home::Home;
use crate::identity;
use crate::meta::MetaDb;
use crate::secrets;
use crate::seekdb_hooks::{SeekdbAgent, SeekdbHandle, SelfRow};
use crate::service::AgentState;

/// How long shutdown waits for requests in flight before giving up on them.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Settings of `obshell server`.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub base_dir: PathBuf,
    /// Listen address; `0.0.0.0` / `::` listen everywhere (and the agent is then known by
    /// its loopback address).
    pub ip: IpAddr,
    /// TCP port; 0 picks a free one (tests).
    pub port: u16,
    /// The engine's safety sweep, which also picks up DAGs written by other processes.
    pub sweep_interval: Duration,
    pub max_body_bytes: usize,
    /// The seekdb executable whose version `/info` reports (`--seekdb-bin`); else env
    /// `OBSHELL_SEEKDB_BIN`, PATH, or the `pylibseekdb` wheel.
    pub seekdb_bin: Option<PathBuf>,
}

impl ServerConfig {
    pub fn new(base_dir: impl Into<PathBuf>) -> ServerConfig {
        ServerConfig {
            base_dir: base_dir.into(),
            ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port: 2886,
            sweep_interval: Duration::from_secs(5),
            max_body_bytes: ApiConfig::default().max_body_bytes,
            seekdb_bin: None,
        }
    }
}

/// The task kinds this agent can run. `ScriptedTask` is the engine's demo/test kind (its
/// behaviour is set by node params: logs, sleeps, commands, failures); it is registered so
/// DAGs written by `obshell-task-demo` and the end-to-end tests run here, and it only ever
/// runs what a DAG stored in this agent's own `.meta` asks for.
pub fn registry() -> Registry {
    let mut r = Registry::new();
    r.register(Arc::new(ScriptedTask));
    r
}

/// [`registry`] plus the seekdb kinds, which run with the agent's `hooks`.
pub fn registry_with_seekdb(hooks: Arc<dyn seekdb::tasks::SeekdbHooks>) -> Registry {
    let mut r = registry();
    seekdb::register_with(&mut r, hooks);
    r
}

/// A started server.
pub struct Server {
    home: Home,
    agent: AgentInfo,
    tcp_addr: SocketAddr,
    engine: Engine,
    meta: MetaDb,
    shutdown: CancellationToken,
    serving: Vec<JoinHandle<std::io::Result<()>>>,
}

/// Binds the unix socket, refusing to steal it from a live agent of the same home.
fn bind_socket(home: &Home) -> Result<UnixListener, AgentError> {
    let path = home.socket();
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(&path).is_ok() {
            return Err(AgentError::AlreadyRunning(home.root().to_path_buf()));
        }
        std::fs::remove_file(&path).map_err(AgentError::io(&path))?;
    }
    UnixListener::bind(&path).map_err(|source| AgentError::Listen {
        addr: path.display().to_string(),
        source,
    })
}

/// Removes the socket file if start fails after binding it, so no stale socket is left.
struct SocketFile(Option<PathBuf>);

impl SocketFile {
    fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Server {
    pub async fn start(config: ServerConfig) -> Result<Server, AgentError> {
        let home = Home::new(&config.base_dir)?;
        home.prepare()?;
        // The socket first: it is how a second agent on the same home is detected, before
        // anything in `.meta` is touched.
        let unix = bind_socket(&home)?;
        let socket = SocketFile(Some(home.socket()));
        let addr = SocketAddr::new(config.ip, config.port);
        let tcp = TcpListener::bind(addr)
            .await
            .map_err(|source| AgentError::Listen {
                addr: addr.to_string(),
                source,
            })?;
        let tcp_addr = tcp.local_addr().map_err(AgentError::io(home.root()))?;
        let agent = identity::agent_address(config.ip, tcp_addr.port());

        let store = Store::open_sqlite(&home.meta_db()).await?;
        let meta = MetaDb::open(&home.meta_db()).await?;
        let keys = Arc::new(secrets::load_or_create_keys(&meta).await?);
        let ident = identity::establish(&meta, &home, &agent, keys.public_key_base64()).await?;
        let password = secrets::load_agent_password(&meta, &keys).await?;
        let seekdb = Arc::new(
            SeekdbAgent::load(
                meta.clone(),
                keys.clone(),
                SelfRow {
                    ip: agent.ip.clone(),
                    port: agent.port,
                    home_path: home.root().display().to_string(),
                    public_key: keys.public_key_base64().to_string(),
                },
            )
            .await?,
        );
        {
            let s = seekdb.clone();
            let bin = config.seekdb_bin.clone();
            tokio::spawn(async move {
                s.probe_version(bin).await;
                s.refresh_state().await;
            });
        }
        let engine = Engine::start(
            store,
            registry_with_seekdb(seekdb.clone()),
            EngineConfig {
                agent: agent.clone(),
                sweep_interval: config.sweep_interval,
                ..EngineConfig::default()
            },
        )
        .await?;

        let service = Arc::new(
            AgentState::new(
                agent.clone(),
                &home,
                ident,
                password,
                meta.clone(),
                keys.clone(),
            )
            .with_seekdb(seekdb.clone()),
        );
        let mut socket_uids = vec![nix::unistd::geteuid().as_raw()];
        socket_uids.extend(home.etc_owner());
        // Cancelled by `stop`: ends the listeners and the open event streams.
        let shutdown = CancellationToken::new();
        let state = AppState::new(
            engine.clone(),
            service,
            keys,
            ApiConfig {
                max_body_bytes: config.max_body_bytes,
                socket_uids,
            },
        )
        .with_shutdown(shutdown.clone())
        .with_seekdb(Arc::new(SeekdbHandle(seekdb)));
        let router = api::router(state);
        let pid_file = home.pid_file();
        std::fs::write(&pid_file, format!("{}\n", std::process::id()))
            .map_err(AgentError::io(&pid_file))?;

        let serving = vec![
            tokio::spawn(api::serve::serve_unix(
                unix,
                router.clone(),
                shutdown.clone().cancelled_owned(),
            )),
            tokio::spawn(api::serve::serve_tcp(
                tcp,
                router,
                shutdown.clone().cancelled_owned(),
            )),
        ];
        socket.keep();
        tracing::info!(%tcp_addr, %agent, identity = %ident, home = %home.root().display(), "agent serving");
        Ok(Server {
            home,
            agent,
            tcp_addr,
            engine,
            meta,
            shutdown,
            serving,
        })
    }

    /// The bound TCP address (the real port when 0 was asked for).
    pub fn tcp_addr(&self) -> SocketAddr {
        self.tcp_addr
    }

    /// The address this agent is known by (generic ids, `/info`).
    pub fn agent(&self) -> &AgentInfo {
        &self.agent
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn home(&self) -> &Home {
        &self.home
    }

    /// Stops serving and the engine, and removes the socket and pid file.
    pub async fn stop(self) {
        self.shutdown.cancel();
        for handle in self.serving {
            match tokio::time::timeout(DRAIN_TIMEOUT, handle).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => tracing::warn!("listener ended with an error: {e}"),
                Ok(Err(e)) => tracing::warn!("listener task failed: {e}"),
                Err(_) => tracing::warn!("requests still in flight after {DRAIN_TIMEOUT:?}"),
            }
        }
        self.engine.shutdown().await;
        self.engine.store().close().await;
        self.meta.close().await;
        for path in [self.home.socket(), self.home.pid_file()] {
            if let Err(e) = std::fs::remove_file(&path) {
                tracing::warn!("remove {}: {e}", path.display());
            }
        }
        tracing::info!("agent stopped");
    }
}

/// SIGTERM and SIGINT handlers, installed before anything starts so an early signal still
/// shuts down cleanly instead of killing the process.
struct Termination {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Termination {
    fn install() -> Result<Termination, AgentError> {
        let io = |source| AgentError::Io {
            path: PathBuf::from("signal handler"),
            source,
        };
        Ok(Termination {
            term: signal(SignalKind::terminate()).map_err(io)?,
            int: signal(SignalKind::interrupt()).map_err(io)?,
        })
    }

    async fn wait(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}

/// Runs a server in the foreground until SIGTERM or SIGINT.
pub async fn run(config: ServerConfig) -> Result<(), AgentError> {
    let mut signals = Termination::install()?;
    let server = Server::start(config).await?;
    let sig = signals.wait().await;
    tracing::info!("shutting down on {sig}");
    server.stop().await;
    Ok(())
}
