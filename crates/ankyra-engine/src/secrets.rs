//! Secrets: generated once per cloud with the OS's CSPRNG, kept in the store,
//! reused on every later apply.

use std::collections::BTreeMap;

use ankyra_store::Store;
use rand::distributions::Alphanumeric;
use rand::Rng;

use crate::EngineError;

fn generate(length: usize) -> String {
    rand::rngs::OsRng
        .sample_iter(&Alphanumeric)
        .take(length)
        .map(char::from)
        .collect()
}

/// Every secret the services present need, creating the missing ones.
pub fn ensure(store: &mut dyn Store, cloud: &str) -> Result<BTreeMap<String, String>, EngineError> {
    collect(store, cloud, true)
}

/// The secrets that exist, without creating any (missing ones read as empty):
/// for planning, which must not change anything.
pub fn existing(
    store: &mut dyn Store,
    cloud: &str,
) -> Result<BTreeMap<String, String>, EngineError> {
    collect(store, cloud, false)
}

fn collect(
    store: &mut dyn Store,
    cloud: &str,
    create: bool,
) -> Result<BTreeMap<String, String>, EngineError> {
    let present = store.secrets(cloud)?;
    let mut out = BTreeMap::new();
    // Every service's secrets, present or not: configs of one service may
    // name another's (the mariadb root password), and generating is cheap.
    for svc in ankyra_catalog::ALL {
        for spec in svc.secrets() {
            if !create && !present.iter().any(|n| n == spec.name) {
                out.insert(spec.name.to_string(), String::new());
                continue;
            }
            let len = spec.length.max(16);
            let value = store.secret(cloud, spec.name, &mut || generate(len))?;
            out.insert(spec.name.to_string(), value);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn generated_secrets_differ_and_have_the_length_asked() {
        let a = super::generate(32);
        let b = super::generate(32);
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
