//! seekdb's version as `seekdb -V` prints it, and the `obVersion` string `/api/v1/info` shows.
//!
//! `-V` prints `seekdb (OceanBase seekdb 1.4.0.0)` and `REVISION: 1-<git hash>`; upstream reads
//! the same two facts (spec §3.2). `obVersion` is `<version>-<release>` (e.g. `1.4.0.0-1`), the
//! shape OceanBase's agents report (`4.2.1.0-100000102023...`), so clients split it the same way.

use serde::Serialize;

/// A parsed seekdb version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeekdbVersion {
    /// Dotted version, e.g. `1.4.0.0`.
    pub version: String,
    /// The number before the dash of `REVISION:`, e.g. `1` (empty when absent).
    pub release: String,
    /// The source revision hash after the dash (empty when absent).
    pub revision: String,
}

impl SeekdbVersion {
    /// Parses the output of `seekdb -V`. `None` when the `(OceanBase seekdb x.y.z)` marker is
    /// missing.
    pub fn parse_v_output(out: &str) -> Option<SeekdbVersion> {
        let version = out.lines().find_map(|l| {
            let start = l.find("(OceanBase seekdb ")? + "(OceanBase seekdb ".len();
            let rest = &l[start..];
            let v = &rest[..rest.find(')')?];
            is_dotted(v).then(|| v.to_string())
        })?;
        let (release, revision) = out
            .lines()
            .find_map(|l| l.trim().strip_prefix("REVISION:"))
            .map(|r| {
                let r = r.trim();
                match r.split_once('-') {
                    Some((n, h)) => (n.to_string(), h.to_string()),
                    None => (r.to_string(), String::new()),
                }
            })
            .unwrap_or_default();
        Some(SeekdbVersion {
            version,
            release,
            revision,
        })
    }

    /// The version from `select version()`: `5.7.25-OceanBase seekdb-v1.4.0.0` -> `1.4.0.0`.
    pub fn from_sql_version(s: &str) -> Option<String> {
        let start = s.find("seekdb-v")? + "seekdb-v".len();
        let v: String = s[start..]
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        is_dotted(&v).then_some(v)
    }

    /// `obVersion` of `/api/v1/info`: `<version>-<release>`, or just the version.
    pub fn ob_version(&self) -> String {
        if self.release.is_empty() {
            self.version.clone()
        } else {
            format!("{}-{}", self.version, self.release)
        }
    }
}

fn is_dotted(v: &str) -> bool {
    !v.is_empty()
        && v.split('.')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const V: &str = "seekdb (OceanBase seekdb 1.4.0.0)\n\nREVISION: 1-d0cbdf0e9931f46f68fd4ff4aec955c8c3b8efd2\nBUILD_BRANCH: HEAD\n";

    #[test]
    fn parses_dash_v() {
        let v = SeekdbVersion::parse_v_output(V).unwrap();
        assert_eq!(v.version, "1.4.0.0");
        assert_eq!(v.release, "1");
        assert_eq!(v.revision, "d0cbdf0e9931f46f68fd4ff4aec955c8c3b8efd2");
        assert_eq!(v.ob_version(), "1.4.0.0-1");
    }

    #[test]
    fn rejects_garbage() {
        assert!(SeekdbVersion::parse_v_output("hello").is_none());
        assert!(SeekdbVersion::parse_v_output("(OceanBase seekdb x.y)").is_none());
        let v = SeekdbVersion::parse_v_output("(OceanBase seekdb 2.0)").unwrap();
        assert_eq!(v.ob_version(), "2.0");
    }

    #[test]
    fn sql_version() {
        assert_eq!(
            SeekdbVersion::from_sql_version("5.7.25-OceanBase seekdb-v1.4.0.0").as_deref(),
            Some("1.4.0.0")
        );
        assert_eq!(SeekdbVersion::from_sql_version("8.0.36"), None);
    }
}
