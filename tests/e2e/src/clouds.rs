//! Reading the clouds.yaml Ankyra writes, and deriving an entry for another user.

use anyhow::{bail, Context, Result};
use serde_json::{Map, Value};
use yaml_rust2::{Yaml, YamlLoader};

/// The whole clouds.yaml as JSON (YAML's data model, enough for clouds.yaml).
pub fn parse(yaml: &str) -> Result<Value> {
    let docs = YamlLoader::load_from_str(yaml).context("clouds.yaml is not valid YAML")?;
    let doc = docs.into_iter().next().context("clouds.yaml is empty")?;
    Ok(to_json(doc))
}

fn to_json(y: Yaml) -> Value {
    match y {
        Yaml::Real(s) => s
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or(Value::String(s), Value::Number),
        Yaml::Integer(i) => Value::from(i),
        Yaml::String(s) => Value::String(s),
        Yaml::Boolean(b) => Value::Bool(b),
        Yaml::Array(a) => Value::Array(a.into_iter().map(to_json).collect()),
        Yaml::Hash(h) => {
            let mut m = Map::new();
            for (k, v) in h {
                let key = match k {
                    Yaml::String(s) | Yaml::Real(s) => s,
                    Yaml::Integer(i) => i.to_string(),
                    Yaml::Boolean(b) => b.to_string(),
                    other => format!("{other:?}"),
                };
                m.insert(key, to_json(v));
            }
            Value::Object(m)
        }
        Yaml::Alias(_) | Yaml::Null | Yaml::BadValue => Value::Null,
    }
}

/// The entry `clouds.<cloud>` of a clouds.yaml.
pub fn entry(yaml: &str, cloud: &str) -> Result<Value> {
    let all = parse(yaml)?;
    match all.get("clouds").and_then(|c| c.get(cloud)) {
        Some(e) => Ok(e.clone()),
        None => bail!("clouds.yaml has no entry `clouds.{cloud}`:\n{yaml}"),
    }
}

/// A clouds file (JSON, which every YAML loader reads) with one entry `new_name`: the
/// admin entry `cloud` with its credentials and project replaced by `user`'s, in the
/// same domains (Default when the admin entry names none).
pub fn for_user(
    admin_yaml: &str,
    cloud: &str,
    new_name: &str,
    user: &str,
    password: &str,
    project: &str,
) -> Result<String> {
    let mut e = entry(admin_yaml, cloud)?;
    let obj = e
        .as_object_mut()
        .context("the cloud entry is not a mapping")?;
    let auth = obj
        .entry("auth")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .context("the cloud entry's `auth` is not a mapping")?;
    for k in [
        "user_id",
        "username",
        "password",
        "project_id",
        "project_name",
        "token",
        "system_scope",
        "domain_id",
        "domain_name",
    ] {
        auth.remove(k);
    }
    auth.insert("username".into(), user.into());
    auth.insert("password".into(), password.into());
    auth.insert("project_name".into(), project.into());
    if !auth.contains_key("user_domain_name") && !auth.contains_key("user_domain_id") {
        auth.insert("user_domain_name".into(), "Default".into());
    }
    if !auth.contains_key("project_domain_name") && !auth.contains_key("project_domain_id") {
        auth.insert("project_domain_name".into(), "Default".into());
    }
    let mut clouds = Map::new();
    clouds.insert(new_name.into(), e);
    let mut root = Map::new();
    root.insert("clouds".into(), Value::Object(clouds));
    Ok(serde_json::to_string_pretty(&Value::Object(root))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADMIN: &str = "\
clouds:
  e2e-7:
    auth:
      auth_url: http://127.0.0.1:5000/v3
      username: admin
      password: \"s3cret: yes\"
      project_name: admin
      user_domain_name: Default
      project_domain_id: default
    region_name: RegionOne
    interface: public
    identity_api_version: 3
";

    #[test]
    fn derives_a_user_entry_keeping_endpoint_and_domains() -> Result<()> {
        let admin = entry(ADMIN, "e2e-7")?;
        assert_eq!(admin["auth"]["password"], "s3cret: yes");
        assert_eq!(admin["identity_api_version"], 3);
        let text = for_user(ADMIN, "e2e-7", "e2e-7-user", "alice", "pw", "proj")?;
        let user = entry(&text, "e2e-7-user")?;
        assert_eq!(user["auth"]["auth_url"], "http://127.0.0.1:5000/v3");
        assert_eq!(user["auth"]["username"], "alice");
        assert_eq!(user["auth"]["password"], "pw");
        assert_eq!(user["auth"]["project_name"], "proj");
        assert_eq!(user["auth"]["user_domain_name"], "Default");
        assert_eq!(user["auth"]["project_domain_id"], "default");
        assert!(user["auth"].get("project_domain_name").is_none());
        assert_eq!(user["region_name"], "RegionOne");
        Ok(())
    }

    #[test]
    fn missing_entry_is_an_error() {
        assert!(entry(ADMIN, "other").is_err());
    }
}
