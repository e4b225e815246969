//! How `obshell task show` prints DAGs: YAML (default, like upstream but with nodes as a
//! list instead of a map with repeated keys), JSON, or a table.

use clap::ValueEnum;
use client::{Dag, Node, SubTask};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    #[default]
    Yaml,
    Json,
    Table,
}

#[derive(Serialize)]
struct DagView<'a> {
    id: &'a str,
    dag_id: i64,
    name: &'a str,
    stage: i64,
    max_stage: i64,
    state: &'a str,
    operator: &'a str,
    start_time: &'a str,
    end_time: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    nodes: Option<Vec<NodeView<'a>>>,
}

#[derive(Serialize)]
struct NodeView<'a> {
    id: &'a str,
    node_id: i64,
    name: &'a str,
    state: &'a str,
    operator: &'a str,
    start_time: &'a str,
    end_time: &'a str,
    subtasks: Vec<SubTaskView<'a>>,
}

#[derive(Serialize)]
struct SubTaskView<'a> {
    id: &'a str,
    task_id: i64,
    name: &'a str,
    state: &'a str,
    operator: &'a str,
    start_time: &'a str,
    end_time: &'a str,
    execute_times: i64,
    execute_agent: String,
    task_logs: &'a [String],
}

fn sub_view(s: &SubTask) -> SubTaskView<'_> {
    SubTaskView {
        id: &s.id,
        task_id: s.task_id,
        name: &s.name,
        state: &s.state,
        operator: &s.operator,
        start_time: &s.start_time,
        end_time: &s.end_time,
        execute_times: s.execute_times,
        execute_agent: s.execute_agent.to_string(),
        task_logs: s.task_logs.as_deref().unwrap_or(&[]),
    }
}

fn node_view(n: &Node) -> NodeView<'_> {
    NodeView {
        id: &n.id,
        node_id: n.node_id,
        name: &n.name,
        state: &n.state,
        operator: &n.operator,
        start_time: &n.start_time,
        end_time: &n.end_time,
        subtasks: n.sub_tasks.iter().flatten().map(sub_view).collect(),
    }
}

fn dag_view(d: &Dag, detail: bool) -> DagView<'_> {
    DagView {
        id: &d.id,
        dag_id: d.dag_id,
        name: &d.name,
        stage: d.stage,
        max_stage: d.max_stage,
        state: &d.state,
        operator: &d.operator,
        start_time: &d.start_time,
        end_time: &d.end_time,
        nodes: detail.then(|| d.nodes.iter().flatten().map(node_view).collect()),
    }
}

/// Renders DAGs in `format`. `single` is true for one DAG asked by id (a JSON object rather
/// than an array).
pub fn render(dags: &[Dag], detail: bool, format: Format, single: bool) -> String {
    match format {
        // one YAML document per DAG, so several DAGs stay valid YAML (no repeated keys)
        Format::Yaml => dags
            .iter()
            .map(|d| serde_yaml_ng::to_string(&dag_view(d, detail)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("---\n"),
        Format::Json => {
            let views: Vec<_> = dags.iter().map(|d| dag_view(d, detail)).collect();
            // `-i` gives one object; a list (even of one or none) stays an array
            let text = if single {
                serde_json::to_string_pretty(&views[0])
            } else {
                serde_json::to_string_pretty(&views)
            };
            text.unwrap_or_default() + "\n"
        }
        Format::Table => table(dags, detail),
    }
}

fn table(dags: &[Dag], detail: bool) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "ID",
        "NAME",
        "STATE",
        "OPERATOR",
        "STAGE",
        "START TIME",
        "END TIME",
    ]);
    for d in dags {
        t.add_row(vec![
            d.id.clone(),
            d.name.clone(),
            d.state.clone(),
            d.operator.clone(),
            format!("{}/{}", d.stage, d.max_stage),
            d.start_time.clone(),
            d.end_time.clone(),
        ]);
    }
    let mut out = t.to_string() + "\n";
    if detail {
        for d in dags {
            let mut nt = Table::new();
            nt.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
                "STAGE", "NODE", "STATE", "OPERATOR", "AGENT", "TIMES", "LAST LOG",
            ]);
            for (i, n) in d.nodes.iter().flatten().enumerate() {
                for s in n.sub_tasks.iter().flatten() {
                    nt.add_row(vec![
                        (i + 1).to_string(),
                        n.name.clone(),
                        s.state.clone(),
                        s.operator.clone(),
                        s.execute_agent.to_string(),
                        s.execute_times.to_string(),
                        s.task_logs
                            .as_ref()
                            .and_then(|l| l.last().cloned())
                            .unwrap_or_default(),
                    ]);
                }
            }
            out.push_str(&format!("{} ({})\n{nt}\n", d.name, d.id));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dag() -> Dag {
        serde_json::from_value(serde_json::json!({
            "id": "22130706433028861", "dag_id": 1, "name": "Demo", "stage": 2, "max_stage": 2,
            "state": "FAILED", "operator": "RUN", "start_time": "t0", "end_time": "t1",
            "nodes": [
                {"id": "n1", "node_id": 1, "name": "A", "state": "SUCCEED", "operator": "RUN",
                 "sub_tasks": [{"id": "s1", "task_id": 1, "name": "A", "state": "SUCCEED",
                   "operator": "RUN", "execute_times": 1,
                   "execute_agent": {"ip": "127.0.0.1", "port": 2886}, "task_logs": ["ok"]}]},
                {"id": "n2", "node_id": 2, "name": "B", "state": "FAILED", "operator": "RUN",
                 "sub_tasks": [{"id": "s2", "task_id": 2, "name": "B", "state": "FAILED",
                   "operator": "RUN", "execute_times": 1,
                   "execute_agent": {"ip": "127.0.0.1", "port": 2886}, "task_logs": ["ERROR: boom"]}]}
            ]
        }))
        .unwrap()
    }

    #[test]
    fn yaml_lists_nodes_and_hides_them_without_detail() {
        let d = dag();
        let short = render(std::slice::from_ref(&d), false, Format::Yaml, true);
        assert!(short.contains("name: Demo") && !short.contains("nodes"));
        let long = render(&[d], true, Format::Yaml, true);
        assert!(long.contains("nodes:\n- id: n1"), "{long}");
        assert!(long.contains("execute_agent: 127.0.0.1:2886"));
        assert!(
            long.contains("- 'ERROR: boom'") || long.contains("- \"ERROR: boom\""),
            "{long}"
        );
    }

    #[test]
    fn json_and_table() {
        let d = dag();
        let j: serde_json::Value =
            serde_json::from_str(&render(std::slice::from_ref(&d), true, Format::Json, true))
                .unwrap();
        assert_eq!(j["nodes"][1]["subtasks"][0]["task_logs"][0], "ERROR: boom");
        let t = render(&[d], true, Format::Table, true);
        assert!(t.contains("ERROR: boom") && t.contains("2/2"));
    }
}
