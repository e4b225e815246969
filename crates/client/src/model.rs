//! The task DTOs as a client reads them (spec/task-engine.md §8.2). Unknown fields are
//! ignored and missing ones default, so newer or older agents still parse.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Dag {
    pub id: String,
    pub dag_id: i64,
    pub name: String,
    pub stage: i64,
    pub max_stage: i64,
    pub state: String,
    pub operator: String,
    pub start_time: String,
    pub end_time: String,
    pub additional_data: Option<Value>,
    pub nodes: Option<Vec<Node>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Node {
    pub id: String,
    pub node_id: i64,
    pub name: String,
    pub state: String,
    pub operator: String,
    pub start_time: String,
    pub end_time: String,
    pub additional_data: Option<Value>,
    pub sub_tasks: Option<Vec<SubTask>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ExecuteAgent {
    pub ip: String,
    pub port: u16,
}

impl std::fmt::Display for ExecuteAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.ip.contains(':') {
            write!(f, "[{}]:{}", self.ip, self.port)
        } else {
            write!(f, "{}:{}", self.ip, self.port)
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct SubTask {
    pub id: String,
    pub task_id: i64,
    pub name: String,
    pub state: String,
    pub operator: String,
    pub start_time: String,
    pub end_time: String,
    pub additional_data: Option<Value>,
    pub execute_times: i64,
    pub execute_agent: ExecuteAgent,
    pub task_logs: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct TaskLog {
    pub id: i64,
    pub sub_task_id: i64,
    pub execute_times: i64,
    pub log_content: String,
    pub is_sync: bool,
    pub create_time: String,
    pub update_time: String,
}

impl Dag {
    pub fn is_finished_state(&self) -> bool {
        self.state == "SUCCEED" || self.state == "FAILED"
    }
}
