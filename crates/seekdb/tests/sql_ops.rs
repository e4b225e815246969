//! The synchronous management operations against one real seekdb, shared by every test of
//! this file (an instance costs ~300 MB and seconds to start). Each test uses its own names,
//! so they run in parallel. Hostile names and values must be refused (or bound harmlessly)
//! and must change nothing.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use seekdb::locate::{locate, version};
use seekdb::meta::stored_config;
use seekdb::process::find_pid;
use seekdb::sql::{
    ob_state, ping, AlterDatabase, Client, ConnParams, CreateDatabase, CreateUser, DbPrivilege,
    ObState,
};
use seekdb::SeekdbError;
use serde_json::json;
use tokio::sync::OnceCell;

use common::{start_instance, Instance};

static INSTANCE: OnceCell<Instance> = OnceCell::const_new();

async fn instance() -> &'static Instance {
    INSTANCE.get_or_init(|| start_instance("sql")).await
}

async fn client() -> Client {
    Client::new(instance().await.root())
}

fn code<T: std::fmt::Debug>(r: Result<T, SeekdbError>) -> &'static str {
    r.unwrap_err().err_code()
}

#[tokio::test]
async fn locate_version_and_process_facts() {
    let inst = instance().await;
    let exe = locate(None).await.unwrap();
    let v = version(&exe).await.unwrap();
    assert!(
        !v.version.is_empty() && v.version.split('.').count() == 4,
        "{v:?}"
    );
    assert_eq!(v.ob_version(), format!("{}-{}", v.version, v.release));
    let info = client().await.server_info().await.unwrap();
    assert_eq!(info.version, v.version, "-V and select version() agree");
    assert_eq!(info.sql_port, i64::from(inst.port));
    assert_eq!(info.rpc_port, i64::from(inst.rpc_port));
    assert_eq!(info.role, "PRIMARY");
    assert!(info.user_count >= 1 && info.memory_size > 0, "{info:?}");
    let layout = inst.layout();
    assert_eq!(find_pid(&layout), Some(inst.pid));
    assert!(layout.is_initialized());
    // seekdb links the executable it runs as run/seekdb; the agent starts that
    assert!(seekdb::locate::is_executable(&layout.executable()));
    let stored = stored_config(&layout).await.unwrap();
    assert_eq!(stored.mysql_port, inst.port);
    assert_eq!(stored.rpc_port, Some(inst.rpc_port));
    eprintln!(
        "seekdb {} initialized and ready in {:.1} s",
        v.ob_version(),
        inst.init_secs
    );
}

#[tokio::test]
async fn instance_info_gathers_everything() {
    let inst = instance().await;
    let info = seekdb::instance::instance_info(&inst.layout(), "").await;
    assert_eq!(info.pid, Some(inst.pid));
    assert!(info.initialized);
    assert_eq!(info.ob_state, ObState::Available);
    assert!(info.bin_path.is_some() && info.user.is_some() && info.start_time.is_some());
    assert_eq!(info.stored.as_ref().map(|s| s.mysql_port), Some(inst.port));
    let server = info.server.expect("server facts");
    assert_eq!(server.sql_port, i64::from(inst.port));
    let bad = seekdb::instance::instance_info(&inst.layout(), "wrong").await;
    assert_eq!(bad.ob_state, ObState::Restricted);
    assert!(bad.server.is_none() && bad.server_error.is_some());
}

#[tokio::test]
async fn ob_state_from_real_checks() {
    let inst = instance().await;
    let layout = inst.layout();
    assert_eq!(
        ob_state(&inst.root(), Some(&layout)).await,
        ObState::Available
    );
    assert_eq!(ob_state(&inst.root(), None).await, ObState::Available);
    // the server answers, but not to us: restricted
    let wrong = inst.root().password("not-the-password");
    assert_eq!(ob_state(&wrong, Some(&layout)).await, ObState::Restricted);
    assert_eq!(
        code(ping(&wrong).await),
        "Seekdb.AccessDenied",
        "a refused login is its own error"
    );
}

#[tokio::test]
async fn parameters_set_and_visible() {
    let c = client().await;
    let all = c.parameters(None).await.unwrap();
    assert!(all.len() > 100, "{} parameters", all.len());
    let some = c.parameters(Some("%print_length%")).await.unwrap();
    assert!(
        some.iter().any(|p| p.name == "max_string_print_length"),
        "{some:?}"
    );

    let mut set = BTreeMap::new();
    set.insert("max_string_print_length".to_string(), "600".to_string());
    set.insert(
        "trace_log_slow_query_watermark".to_string(),
        "2s".to_string(),
    );
    c.set_parameters(&set).await.unwrap();
    assert_eq!(c.parameter("max_string_print_length").await.unwrap(), "600");
    assert_eq!(
        c.parameter("trace_log_slow_query_watermark").await.unwrap(),
        "2s"
    );
    set.insert("max_string_print_length".into(), "500".into());
    set.insert("trace_log_slow_query_watermark".into(), "1s".into());
    c.set_parameters(&set).await.unwrap();
    assert_eq!(c.parameter("max_string_print_length").await.unwrap(), "500");

    // unknown names are named; hostile names and values never reach seekdb
    let mut bad = BTreeMap::new();
    bad.insert("no_such_parameter_x".to_string(), "1".to_string());
    let e = c.set_parameters(&bad).await.unwrap_err();
    assert_eq!(e.err_code(), "Common.NotFound");
    assert!(e.to_string().contains("no_such_parameter_x"));
    for (k, v) in [
        ("max_string_print_length = 1, syslog_level", "INFO"),
        ("max_string_print_length`", "1"),
        ("max_string_print_length", "1'; DROP DATABASE test; --"),
        ("max_string_print_length", "1\n2"),
    ] {
        let mut m = BTreeMap::new();
        m.insert(k.to_string(), v.to_string());
        assert_eq!(
            code(c.set_parameters(&m).await),
            "Common.BadRequest",
            "{k} = {v}"
        );
    }
    assert_eq!(
        code(c.parameters(Some("x' OR '1'='1")).await),
        "Common.BadRequest"
    );
    assert_eq!(c.parameter("max_string_print_length").await.unwrap(), "500");
}

#[tokio::test]
async fn variables_and_whitelist_set_and_visible() {
    let c = client().await;
    let vars = c.variables(Some("ob_query_timeout")).await.unwrap();
    assert_eq!(vars.len(), 1);

    let mut set = BTreeMap::new();
    set.insert("ob_query_timeout".to_string(), json!(20000000));
    c.set_variables(&set).await.unwrap();
    assert_eq!(c.variable("ob_query_timeout").await.unwrap(), "20000000");
    // a number given as a string is accepted for a numeric variable
    set.insert("ob_query_timeout".to_string(), json!("10000000"));
    c.set_variables(&set).await.unwrap();
    assert_eq!(c.variable("ob_query_timeout").await.unwrap(), "10000000");

    // a bound value stays a value: seekdb refuses it, nothing runs
    set.insert(
        "ob_query_timeout".to_string(),
        json!("1; DROP DATABASE test"),
    );
    assert_eq!(code(c.set_variables(&set).await), "MySQL.Error");
    assert!(c.database("test").await.is_ok());
    assert_eq!(c.variable("ob_query_timeout").await.unwrap(), "10000000");

    let mut bad = BTreeMap::new();
    bad.insert("ob_query_timeout = 1, autocommit".to_string(), json!(1));
    assert_eq!(code(c.set_variables(&bad).await), "Common.BadRequest");
    let mut unknown = BTreeMap::new();
    unknown.insert("no_such_variable_x".to_string(), json!(1));
    assert_eq!(code(c.set_variables(&unknown).await), "Common.NotFound");

    // whitelist: 127.0.0.1 is always kept, so the agent never locks itself out
    assert_eq!(
        c.set_whitelist("10.1.2.3").await.unwrap(),
        "127.0.0.1,10.1.2.3"
    );
    assert_eq!(c.whitelist().await.unwrap(), "127.0.0.1,10.1.2.3");
    ping(&instance().await.root()).await.unwrap();
    assert_eq!(
        code(c.set_whitelist("10.1.2.3'; --").await),
        "Common.BadRequest"
    );
    assert_eq!(c.set_whitelist("%").await.unwrap(), "%");
    assert_eq!(c.whitelist().await.unwrap(), "%");
}

#[tokio::test]
async fn databases_created_altered_and_dropped() {
    let c = client().await;
    c.create_database(&CreateDatabase {
        db_name: "it_db-1".into(),
        collation: Some("utf8mb4_bin".into()),
        read_only: true,
    })
    .await
    .unwrap();
    let d = c.database("it_db-1").await.unwrap();
    assert_eq!((d.collation.as_str(), d.read_only), ("utf8mb4_bin", true));
    assert!(c
        .databases()
        .await
        .unwrap()
        .iter()
        .any(|d| d.db_name == "it_db-1"));
    assert_eq!(
        code(
            c.create_database(&CreateDatabase {
                db_name: "it_db-1".into(),
                ..Default::default()
            })
            .await
        ),
        "Seekdb.Conflict"
    );
    c.alter_database(
        "it_db-1",
        &AlterDatabase {
            collation: Some("utf8mb4_general_ci".into()),
            read_only: Some(false),
        },
    )
    .await
    .unwrap();
    let d = c.database("it_db-1").await.unwrap();
    assert_eq!(
        (d.collation.as_str(), d.read_only),
        ("utf8mb4_general_ci", false)
    );
    c.drop_database("it_db-1").await.unwrap();
    assert_eq!(code(c.database("it_db-1").await), "Common.NotFound");
    assert_eq!(code(c.drop_database("it_db-1").await), "Common.NotFound");

    for bad in ["x", "a`b", "test; DROP DATABASE test", "a b", "../etc", ""] {
        let r = c
            .create_database(&CreateDatabase {
                db_name: bad.into(),
                ..Default::default()
            })
            .await;
        assert_eq!(code(r), "Common.BadRequest", "{bad:?}");
        assert_eq!(
            code(c.drop_database(bad).await),
            "Common.BadRequest",
            "{bad:?}"
        );
    }
    let r = c
        .create_database(&CreateDatabase {
            db_name: "it_db_2".into(),
            collation: Some("utf8mb4_bin; DROP DATABASE test".into()),
            read_only: false,
        })
        .await;
    assert_eq!(code(r), "Common.BadRequest");
    assert_eq!(
        code(c.drop_database("oceanbase").await),
        "Common.BadRequest"
    );
    assert!(c.database("test").await.is_ok(), "nothing hostile ran");
}

#[tokio::test]
async fn users_created_locked_and_dropped() {
    let inst = instance().await;
    let c = client().await;
    c.create_database(&CreateDatabase {
        db_name: "it_user_db".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    // quotes in a password survive the quoting (IDENTIFIED BY takes no placeholder)
    let pw = "Pw'1\"x`y%";
    c.create_user(&CreateUser {
        user_name: "it_alice".into(),
        password: pw.into(),
        host_name: None,
        global_privileges: vec!["select".into(), "process".into()],
        db_privileges: vec![DbPrivilege {
            db_name: "it_user_db".into(),
            privileges: vec!["INSERT".into(), "create view".into()],
        }],
    })
    .await
    .unwrap();
    let u = c.user("it_alice").await.unwrap();
    assert_eq!(u.host_name, "%");
    assert!(!u.is_locked);
    assert_eq!(u.global_privileges, vec!["SELECT", "PROCESS"], "{u:?}");
    assert_eq!(u.db_privileges.len(), 1);
    assert_eq!(u.db_privileges[0].db_name, "it_user_db");
    assert!(u.db_privileges[0]
        .privileges
        .contains(&"CREATE VIEW".to_string()));
    assert!(c
        .users()
        .await
        .unwrap()
        .iter()
        .any(|u| u.user_name == "it_alice"));

    let as_alice = ConnParams::root(inst.port)
        .user("it_alice")
        .password(pw)
        .database(None);
    ping(&as_alice).await.unwrap();
    // the ping's session closes without waiting for the server: it may be listed a moment longer
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while c.user_stats("it_alice").await.unwrap().total != 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "it_alice's session still listed after 10 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    c.lock_user("it_alice", true).await.unwrap();
    assert!(c.user("it_alice").await.unwrap().is_locked);
    assert_eq!(code(ping(&as_alice).await), "Seekdb.AccessDenied");
    c.lock_user("it_alice", false).await.unwrap();
    ping(&as_alice).await.unwrap();

    c.set_user_password("it_alice", "N3w-pass").await.unwrap();
    assert_eq!(code(ping(&as_alice).await), "Seekdb.AccessDenied");
    ping(&as_alice.clone().password("N3w-pass")).await.unwrap();

    c.set_global_privileges("it_alice", &["SELECT".into(), "SHOW VIEW".into()])
        .await
        .unwrap();
    let u = c.user("it_alice").await.unwrap();
    assert_eq!(u.global_privileges, vec!["SELECT", "SHOW VIEW"]);
    c.set_db_privileges(
        "it_alice",
        &[DbPrivilege {
            db_name: "it_user_db".into(),
            privileges: vec!["SELECT".into()],
        }],
    )
    .await
    .unwrap();
    let u = c.user("it_alice").await.unwrap();
    assert_eq!(u.db_privileges[0].privileges, vec!["SELECT"]);

    // hostile or invalid input is refused before anything is sent
    for (name, host, pwd, privs) in [
        ("a'@'%' IDENTIFIED BY 'x'; --", "%", "x", vec![]),
        ("it_bob", "%' IDENTIFIED BY 'x", "x", vec![]),
        ("it_bob", "%", "x\\' OR 1", vec![]),
        (
            "it_bob",
            "%",
            "x",
            vec!["ALL PRIVILEGES ON *.* TO 'it_alice'@'%'; --"],
        ),
        ("1bob", "%", "x", vec![]),
        ("root", "%", "x", vec![]),
    ] {
        let r = c
            .create_user(&CreateUser {
                user_name: name.into(),
                password: pwd.into(),
                host_name: Some(host.into()),
                global_privileges: privs.into_iter().map(String::from).collect(),
                db_privileges: vec![],
            })
            .await;
        assert_eq!(code(r), "Common.BadRequest", "{name} {host} {pwd}");
    }
    assert_eq!(code(c.user("it_bob").await), "Common.NotFound");
    assert_eq!(code(c.drop_user("root").await), "Common.BadRequest");
    assert_eq!(code(c.lock_user("root", true).await), "Common.BadRequest");
    assert_eq!(
        code(c.drop_user("x'; DROP USER root; --").await),
        "Common.BadRequest"
    );

    c.drop_user("it_alice").await.unwrap();
    assert_eq!(code(c.user("it_alice").await), "Common.NotFound");
    assert_eq!(code(ping(&as_alice).await), "Seekdb.AccessDenied");
    c.drop_database("it_user_db").await.unwrap();
    ping(&inst.root()).await.unwrap();
}

#[tokio::test]
async fn compaction_status_and_trigger() {
    let c = client().await;
    let before = c.compaction_status().await.unwrap();
    assert!(!before.status.is_empty());
    assert!(!before.is_error);
    if before.status == "IDLE" {
        c.major_compaction().await.unwrap();
        // a freeze moves the frozen scn forward
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let s = c.compaction_status().await.unwrap();
            if s.frozen_scn > before.frozen_scn {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "frozen scn never moved: {s:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    c.clear_compaction_error().await.unwrap();
}
