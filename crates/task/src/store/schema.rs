//! DDL for both stores. Table and column names, types and persisted values are upstream's
//! (spec/task-engine.md §2.3); the indexes on the hot columns are ours (upstream has none).

use super::Dialect;

/// Statements that create the task tables if they are missing. Idempotent.
pub(super) fn create_statements(d: Dialect) -> Vec<String> {
    let (pk, ts, now) = match d {
        Dialect::Sqlite => (
            "INTEGER PRIMARY KEY AUTOINCREMENT",
            "TEXT",
            "'1970-01-01 00:00:00.000000+00:00'",
        ),
        Dialect::Mysql => (
            "BIGINT PRIMARY KEY AUTO_INCREMENT",
            "TIMESTAMP(6)",
            "CURRENT_TIMESTAMP(6)",
        ),
    };
    let mut v = vec![
        format!(
            "CREATE TABLE IF NOT EXISTS dag_instance (
                id {pk},
                name VARCHAR(128) NOT NULL,
                type VARCHAR(128) NOT NULL DEFAULT '',
                stage BIGINT NOT NULL,
                max_stage BIGINT NOT NULL,
                state BIGINT NOT NULL,
                executer_agent_ip VARCHAR(64) NOT NULL DEFAULT '',
                executer_agent_port INT NOT NULL DEFAULT 0,
                is_maintenance BOOLEAN NOT NULL DEFAULT 0,
                maintenance_type BIGINT NOT NULL DEFAULT 1,
                maintenance_key VARCHAR(128) NOT NULL DEFAULT '',
                is_finished BOOLEAN NOT NULL DEFAULT 0,
                context TEXT,
                operator BIGINT NOT NULL,
                start_time {ts} NOT NULL DEFAULT {now},
                end_time {ts} NOT NULL DEFAULT {now},
                gmt_create {ts} NOT NULL DEFAULT {now},
                gmt_modify {ts} NOT NULL DEFAULT {now}
            )"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS node_instance (
                id {pk},
                name VARCHAR(64) NOT NULL,
                dag_id BIGINT NOT NULL,
                dag_stage BIGINT NOT NULL,
                struct_name VARCHAR(128),
                type VARCHAR(128) NOT NULL,
                state BIGINT NOT NULL,
                max_stage BIGINT NOT NULL,
                executer_agent_ip VARCHAR(64) NOT NULL DEFAULT '',
                executer_agent_port INT NOT NULL DEFAULT 0,
                context TEXT,
                operator BIGINT NOT NULL,
                start_time {ts} NOT NULL DEFAULT {now},
                end_time {ts} NOT NULL DEFAULT {now},
                gmt_create {ts} NOT NULL DEFAULT {now},
                gmt_modify {ts} NOT NULL DEFAULT {now}
            )"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS subtask_instance (
                id {pk},
                node_id BIGINT NOT NULL,
                name VARCHAR(64) NOT NULL,
                struct_name VARCHAR(128),
                executer_agent_ip VARCHAR(64) NOT NULL DEFAULT '',
                executer_agent_port INT NOT NULL DEFAULT 0,
                execute_times INT NOT NULL DEFAULT 0,
                can_cancel BOOLEAN NOT NULL DEFAULT 0,
                can_continue BOOLEAN NOT NULL DEFAULT 0,
                can_pass BOOLEAN NOT NULL DEFAULT 0,
                can_retry BOOLEAN NOT NULL DEFAULT 0,
                can_rollback BOOLEAN NOT NULL DEFAULT 0,
                context TEXT,
                state BIGINT NOT NULL,
                operator BIGINT NOT NULL,
                start_time {ts} NOT NULL DEFAULT {now},
                end_time {ts} NOT NULL DEFAULT {now},
                gmt_create {ts} NOT NULL DEFAULT {now},
                gmt_modify {ts} NOT NULL DEFAULT {now}
            )"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS sub_task_log (
                id {pk},
                sub_task_id BIGINT NOT NULL,
                execute_times BIGINT NOT NULL,
                log_content TEXT,
                is_sync BOOLEAN NOT NULL DEFAULT 1,
                create_time {ts} NOT NULL DEFAULT {now},
                update_time {ts} NOT NULL DEFAULT {now}
            )"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS task_mapping (
                remote_task_id BIGINT PRIMARY KEY,
                local_task_id BIGINT NOT NULL,
                execute_times INT NOT NULL DEFAULT 0,
                is_sync BOOLEAN NOT NULL DEFAULT 0,
                gmt_modify {ts} NOT NULL DEFAULT {now}
            )"
        ),
    ];
    match d {
        Dialect::Sqlite => v.push(
            "CREATE TABLE IF NOT EXISTS ocs_info (
                name VARCHAR(128) NOT NULL UNIQUE,
                value VARCHAR(65536),
                info TEXT
            )"
            .to_string(),
        ),
        Dialect::Mysql => v.push(
            "CREATE TABLE IF NOT EXISTS cluster_status (
                id INT PRIMARY KEY,
                status BIGINT NOT NULL
            )"
            .to_string(),
        ),
    }
    v
}

/// Index definitions: (table, name, columns). Created separately because MySQL has no
/// `CREATE INDEX IF NOT EXISTS`.
pub(super) const INDEXES: &[(&str, &str, &str)] = &[
    ("node_instance", "idx_dag_stage", "dag_id, dag_stage"),
    ("subtask_instance", "idx_node_id", "node_id"),
    ("subtask_instance", "idx_subtask_state", "state"),
    ("sub_task_log", "idx_sub_task_id", "sub_task_id"),
    ("dag_instance", "idx_dag_finished", "is_finished"),
    ("dag_instance", "idx_dag_maintenance", "is_maintenance, id"),
    ("dag_instance", "idx_dag_end_time", "end_time"),
    ("task_mapping", "idx_gmt_modify", "gmt_modify"),
];
