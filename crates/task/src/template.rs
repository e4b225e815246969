//! Templates: the linear chain of nodes a DAG is created from (spec/task-engine.md §2.2, §7.1).

use std::sync::Arc;

use crate::context::TaskContext;
use crate::kind::TaskKind;
use crate::model::Capabilities;
use crate::state::{MaintenanceType, NodeType};

/// The lock a template asks for: a type plus a key (tenant name for tenant locks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Maintenance {
    pub kind: MaintenanceType,
    pub key: String,
}

impl Maintenance {
    pub fn none() -> Maintenance {
        Maintenance {
            kind: MaintenanceType::NotUnderMaintenance,
            key: String::new(),
        }
    }

    pub fn global() -> Maintenance {
        Maintenance {
            kind: MaintenanceType::GlobalMaintenance,
            key: String::new(),
        }
    }

    /// Upstream's merge when templates are concatenated: unmaintained + X = X; global wins;
    /// two different non-global locks (or one type with different keys) become global.
    pub fn merge(&self, other: &Maintenance) -> Maintenance {
        if !other.kind.is_maintenance() {
            return self.clone();
        }
        if !self.kind.is_maintenance() {
            return other.clone();
        }
        if self == other {
            return self.clone();
        }
        Maintenance::global()
    }
}

/// One node of a template: which kind runs, under which display name, how.
#[derive(Clone)]
pub struct NodeSpec {
    pub name: String,
    pub kind: Arc<dyn TaskKind>,
    pub node_type: NodeType,
    pub caps: Capabilities,
    pub context: TaskContext,
}

impl NodeSpec {
    /// A serial node of `kind`, named after the kind.
    pub fn new(kind: Arc<dyn TaskKind>) -> NodeSpec {
        NodeSpec {
            name: kind.name().to_string(),
            caps: kind.capabilities(),
            kind,
            node_type: NodeType::Normal,
            context: TaskContext::new(),
        }
    }

    pub fn named(mut self, name: impl Into<String>) -> NodeSpec {
        self.name = name.into();
        self
    }

    /// One sub-task per execute agent instead of one.
    pub fn parallel(mut self) -> NodeSpec {
        self.node_type = NodeType::Parallel;
        self
    }

    /// Node-level context (params for this node only, node-level `execute_agents`, ...).
    pub fn with_context(mut self, ctx: TaskContext) -> NodeSpec {
        self.context = ctx;
        self
    }

    /// Overrides the capability flags the kind declares.
    pub fn with_caps(mut self, caps: Capabilities) -> NodeSpec {
        self.caps = caps;
        self
    }
}

/// A named chain of nodes with a maintenance lock and a DAG type.
#[derive(Clone)]
pub struct Template {
    pub name: String,
    pub dag_type: String,
    pub maintenance: Maintenance,
    pub nodes: Vec<NodeSpec>,
}

impl Template {
    pub fn new(name: impl Into<String>) -> Template {
        Template {
            name: name.into(),
            dag_type: String::new(),
            maintenance: Maintenance::none(),
            nodes: Vec::new(),
        }
    }

    pub fn node(mut self, node: NodeSpec) -> Template {
        self.nodes.push(node);
        self
    }

    /// Wraps a kind in a new node (`AddTask`).
    pub fn task(self, kind: Arc<dyn TaskKind>, parallel: bool) -> Template {
        let n = NodeSpec::new(kind);
        self.node(if parallel { n.parallel() } else { n })
    }

    /// Appends all of `other`'s nodes and merges its maintenance (`AddTemplate`).
    pub fn append(mut self, other: Template) -> Template {
        self.maintenance = self.maintenance.merge(&other.maintenance);
        self.nodes.extend(other.nodes);
        self
    }

    pub fn global_maintenance(mut self) -> Template {
        self.maintenance = Maintenance::global();
        self
    }

    pub fn maintenance(mut self, m: Maintenance) -> Template {
        self.maintenance = m;
        self
    }

    pub fn dag_type(mut self, t: impl Into<String>) -> Template {
        self.dag_type = t.into();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maintenance_merge_rules() {
        let none = Maintenance::none();
        let g = Maintenance::global();
        let t1 = Maintenance {
            kind: MaintenanceType::TenantMaintenance,
            key: "t1".into(),
        };
        let t2 = Maintenance {
            kind: MaintenanceType::TenantMaintenance,
            key: "t2".into(),
        };
        assert_eq!(none.merge(&t1), t1);
        assert_eq!(t1.merge(&none), t1);
        assert_eq!(t1.merge(&t1), t1);
        assert_eq!(t1.merge(&t2), g);
        assert_eq!(g.merge(&t1), g);
        assert_eq!(none.merge(&none), none);
    }
}
