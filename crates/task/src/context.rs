//! The task context: the data that flows through a DAG (spec/task-engine.md §2.2, §2.4, §5.3).
//!
//! Serialized with upstream's Go field names (`Params`, `Data`, `AgentData`,
//! `AgentDataUpdateCount`). Values stay `serde_json::Value` until a typed getter converts them,
//! which avoids upstream's "type assertion only works before persistence" pitfall.

use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Result, TaskError};
use crate::generic_id::AgentInfo;

/// Per-sub-task timeout in seconds.
pub const PARAM_TIMEOUT: &str = "timeout";
/// List of `{ip, port}` agents a node runs on.
pub const PARAM_EXECUTE_AGENTS: &str = "execute_agents";
/// When set on a node, a failure there releases the DAG's maintenance lock.
pub const PARAM_FAILURE_EXIT_MAINTENANCE: &str = "failure_exit_maintenance";
/// Default sub-task timeout (seconds).
pub const DEFAULT_TIMEOUT_SECS: u64 = 3600;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskContext {
    #[serde(rename = "Params", default, deserialize_with = "null_as_empty")]
    pub params: Map<String, Value>,
    #[serde(rename = "Data", default, deserialize_with = "null_as_empty")]
    pub data: Map<String, Value>,
    #[serde(rename = "AgentData", default, deserialize_with = "null_as_empty")]
    pub agent_data: Map<String, Value>,
    #[serde(
        rename = "AgentDataUpdateCount",
        default,
        deserialize_with = "null_as_empty"
    )]
    pub agent_data_update_count: Map<String, Value>,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Map<String, Value>, D::Error> {
    Ok(Option::<Map<String, Value>>::deserialize(d)?.unwrap_or_default())
}

fn convert<T: DeserializeOwned>(v: &Value) -> std::result::Result<T, String> {
    // Upstream stores numbers as json.Number strings after a round trip; accept "42" for 42.
    match serde_json::from_value::<T>(v.clone()) {
        Ok(t) => Ok(t),
        Err(e) => match v {
            Value::String(s) => serde_json::from_str::<T>(s).map_err(|_| e.to_string()),
            _ => Err(e.to_string()),
        },
    }
}

impl TaskContext {
    pub fn new() -> TaskContext {
        TaskContext::default()
    }

    /// Decodes a stored context: base64(JSON) as upstream writes at creation, or raw JSON.
    /// Empty or NULL columns give an empty context.
    pub fn decode(stored: Option<&str>) -> Result<TaskContext> {
        let raw = match stored.map(str::trim) {
            None | Some("") | Some("null") => return Ok(TaskContext::default()),
            Some(s) => s,
        };
        if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(raw) {
            if let Ok(ctx) = serde_json::from_slice::<TaskContext>(&bytes) {
                return Ok(ctx);
            }
        }
        serde_json::from_str(raw)
            .map_err(|e| TaskError::Unexpected(format!("invalid task context: {e}")))
    }

    /// Encodes for storage: always raw JSON (upstream reads both).
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_string())
    }

    pub fn set_param(&mut self, key: &str, value: impl Serialize) -> &mut Self {
        self.params.insert(key.to_string(), to_value(value));
        self
    }

    pub fn set_data(&mut self, key: &str, value: impl Serialize) -> &mut Self {
        self.data.insert(key.to_string(), to_value(value));
        self
    }

    /// Sets `AgentData[agent][key]` and bumps `AgentDataUpdateCount[agent]`, which decides who
    /// wins when contexts merge.
    pub fn set_agent_data(&mut self, agent: &AgentInfo, key: &str, value: impl Serialize) {
        let agent_key = agent.to_string();
        let inner = self
            .agent_data
            .entry(agent_key.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if !inner.is_object() {
            *inner = Value::Object(Map::new());
        }
        if let Value::Object(m) = inner {
            m.insert(key.to_string(), to_value(value));
        }
        let count = self
            .agent_data_update_count
            .get(&agent_key)
            .and_then(value_as_i64)
            .unwrap_or(0);
        self.agent_data_update_count
            .insert(agent_key, Value::from(count + 1));
    }

    pub fn param(&self, key: &str) -> Option<&Value> {
        self.params.get(key).filter(|v| !v.is_null())
    }

    pub fn get_param<T: DeserializeOwned>(&self, key: &str) -> Result<T> {
        let v = self
            .param(key)
            .ok_or_else(|| TaskError::ParamNotSet(key.into()))?;
        convert(v).map_err(|e| TaskError::ParamConvertFailed(key.into(), e))
    }

    pub fn get_data<T: DeserializeOwned>(&self, key: &str) -> Result<T> {
        let v = self
            .data
            .get(key)
            .filter(|v| !v.is_null())
            .ok_or_else(|| TaskError::DataNotSet(key.into()))?;
        convert(v).map_err(|e| TaskError::DataConvertFailed(key.into(), e))
    }

    pub fn get_agent_data<T: DeserializeOwned>(&self, agent: &AgentInfo, key: &str) -> Result<T> {
        let agent_key = agent.to_string();
        let v = self
            .agent_data
            .get(&agent_key)
            .and_then(|m| m.get(key))
            .filter(|v| !v.is_null())
            .ok_or_else(|| TaskError::AgentDataNotSet(agent_key.clone(), key.into()))?;
        convert(v).map_err(|e| TaskError::AgentDataConvertFailed(agent_key, key.into(), e))
    }

    /// The sub-task timeout: `Params.timeout` seconds, default 3600.
    pub fn timeout_secs(&self) -> u64 {
        self.param(PARAM_TIMEOUT)
            .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
            .filter(|s| *s > 0)
            .unwrap_or(DEFAULT_TIMEOUT_SECS)
    }

    /// `Params.execute_agents`, whatever form it was stored in.
    pub fn execute_agents(&self) -> Result<Vec<AgentInfo>> {
        match self.param(PARAM_EXECUTE_AGENTS) {
            None => Ok(Vec::new()),
            Some(v) => convert(v)
                .map_err(|e| TaskError::ParamConvertFailed(PARAM_EXECUTE_AGENTS.into(), e)),
        }
    }

    pub fn has_failure_exit_maintenance(&self) -> bool {
        self.param(PARAM_FAILURE_EXIT_MAINTENANCE).is_some()
    }

    /// Upstream `MergeContext`: merges everything.
    pub fn merge(&mut self, other: &TaskContext) {
        self.merge_excluding(other, &[]);
    }

    /// Upstream `MergeContextWithoutExecAgents`.
    pub fn merge_without_exec_agents(&mut self, other: &TaskContext) {
        self.merge_excluding(other, &[PARAM_EXECUTE_AGENTS]);
    }

    /// Upstream `MergeContextWithoutKeyords`: what a node inherits from its upstream sub-tasks.
    pub fn merge_without_keywords(&mut self, other: &TaskContext) {
        self.merge_excluding(
            other,
            &[PARAM_EXECUTE_AGENTS, PARAM_FAILURE_EXIT_MAINTENANCE],
        );
    }

    /// The merge rules of spec §2.2: Params only fill gaps, Data deep-merges (other wins),
    /// AgentData takes the other side's map when its update count is higher.
    fn merge_excluding(&mut self, other: &TaskContext, excluded: &[&str]) {
        for (k, v) in &other.params {
            if excluded.contains(&k.as_str()) {
                continue;
            }
            if self.params.get(k).is_none_or(Value::is_null) {
                self.params.insert(k.clone(), v.clone());
            }
        }
        deep_merge(&mut self.data, &other.data);
        for (k, v) in &other.agent_data {
            let theirs = other
                .agent_data_update_count
                .get(k)
                .and_then(value_as_i64)
                .unwrap_or(0);
            let ours = self
                .agent_data_update_count
                .get(k)
                .and_then(value_as_i64)
                .unwrap_or(0);
            if theirs > ours {
                self.agent_data.insert(k.clone(), v.clone());
                self.agent_data_update_count
                    .insert(k.clone(), Value::from(theirs));
            }
        }
    }
}

fn to_value(v: impl Serialize) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn value_as_i64(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| v.as_str()?.parse().ok())
}

fn deep_merge(dst: &mut Map<String, Value>, src: &Map<String, Value>) {
    for (k, v) in src {
        match (dst.get_mut(k), v) {
            (Some(Value::Object(d)), Value::Object(s)) => deep_merge(d, s),
            _ => {
                dst.insert(k.clone(), v.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_base64_and_raw_json_writes_raw_json() {
        let mut c = TaskContext::new();
        c.set_param("timeout", 5).set_data("x", "y");
        let raw = c.encode();
        assert!(raw.starts_with('{'));
        assert!(raw.contains("\"Params\""));
        let b64 = base64::engine::general_purpose::STANDARD.encode(raw.as_bytes());
        assert_eq!(TaskContext::decode(Some(&raw)).unwrap(), c);
        assert_eq!(TaskContext::decode(Some(&b64)).unwrap(), c);
        assert_eq!(TaskContext::decode(None).unwrap(), TaskContext::new());
        let go = r#"{"Params":null,"Data":{"a":1},"AgentData":null,"AgentDataUpdateCount":null}"#;
        assert_eq!(TaskContext::decode(Some(go)).unwrap().data["a"], json!(1));
        assert!(TaskContext::decode(Some("{not json")).is_err());
    }

    #[test]
    fn params_only_fill_gaps_and_exclusions_hold() {
        let mut a = TaskContext::new();
        a.set_param("p", 1);
        let mut b = TaskContext::new();
        b.set_param("p", 2).set_param("q", 3);
        b.set_param(PARAM_EXECUTE_AGENTS, vec![AgentInfo::new("1.1.1.1", 1)]);
        b.set_param(PARAM_FAILURE_EXIT_MAINTENANCE, true);
        let mut keep = a.clone();
        keep.merge_without_keywords(&b);
        assert_eq!(keep.params["p"], json!(1));
        assert_eq!(keep.params["q"], json!(3));
        assert!(keep.param(PARAM_EXECUTE_AGENTS).is_none());
        assert!(!keep.has_failure_exit_maintenance());
        let mut exec = a.clone();
        exec.merge_without_exec_agents(&b);
        assert!(exec.has_failure_exit_maintenance());
        assert!(exec.param(PARAM_EXECUTE_AGENTS).is_none());
        a.merge(&b);
        assert_eq!(a.execute_agents().unwrap().len(), 1);
    }

    #[test]
    fn data_deep_merges_and_agent_data_follows_counts() {
        let mut a = TaskContext::new();
        a.set_data("m", json!({"x": 1, "y": {"z": 1}}));
        let agent = AgentInfo::new("10.0.0.1", 2886);
        a.set_agent_data(&agent, "k", "old");
        let mut b = TaskContext::new();
        b.set_data("m", json!({"y": {"w": 2}, "x": 5}));
        b.set_agent_data(&agent, "k", "stale");
        a.merge(&b);
        assert_eq!(a.data["m"], json!({"x": 5, "y": {"z": 1, "w": 2}}));
        // equal counts: ours stays
        assert_eq!(a.get_agent_data::<String>(&agent, "k").unwrap(), "old");
        b.set_agent_data(&agent, "k", "new");
        a.merge(&b);
        assert_eq!(a.get_agent_data::<String>(&agent, "k").unwrap(), "new");
        assert_eq!(a.agent_data_update_count["10.0.0.1:2886"], json!(2));
    }

    #[test]
    fn typed_getters_report_upstream_errors() {
        let mut c = TaskContext::new();
        c.set_param("n", "42").set_param("s", "abc");
        assert_eq!(c.get_param::<i64>("n").unwrap(), 42);
        assert_eq!(
            c.get_param::<i64>("missing").unwrap_err().err_code(),
            "Task.Param.NotSet"
        );
        assert_eq!(
            c.get_param::<i64>("s").unwrap_err().err_code(),
            "Task.Param.ConvertFailed"
        );
        assert_eq!(
            c.get_data::<i64>("d").unwrap_err().err_code(),
            "Task.Data.NotSet"
        );
        let agent = AgentInfo::new("::1", 1);
        assert_eq!(
            c.get_agent_data::<i64>(&agent, "d").unwrap_err().err_code(),
            "Task.AgentData.NotSet"
        );
        assert_eq!(c.timeout_secs(), DEFAULT_TIMEOUT_SECS);
        c.set_param(PARAM_TIMEOUT, "7");
        assert_eq!(c.timeout_secs(), 7);
    }
}
