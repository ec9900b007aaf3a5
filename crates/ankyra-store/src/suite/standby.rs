//! Checks of standby sets: one per component, replaced, listed, cleared.

use super::Make;
use crate::{Standby, Store};

/// A standby set of `component` in `cloud`, on containers `containers`.
fn standby(cloud: &str, component: &str, containers: &[&str], version: &str) -> Standby {
    Standby {
        cloud: cloud.to_owned(),
        component: component.to_owned(),
        containers: containers.iter().map(|c| (*c).to_owned()).collect(),
        version: version.to_owned(),
        from_revision: 3,
        to_revision: 4,
        until_unix: 1_767_225_600,
    }
}

/// A component has at most one standby set: putting another replaces it.
/// Sets are listed per cloud by component, read back as put, and cleared
/// one component at a time, clearing a missing one being no error.
pub fn a_standby_set_is_put_replaced_listed_and_cleared<S: Store>(make: &Make<'_, S>) {
    let mut store = make();
    assert!(store.standbys("standby-a").expect("list").is_empty());
    let nova = standby(
        "standby-a",
        "nova-api",
        &["nova-api-2", "nova-api-1"],
        "29.0.0",
    );
    let keystone = standby("standby-a", "keystone", &["keystone-1"], "26.0.0");
    let mut other_cloud = standby("standby-b", "keystone", &[], "25.0.0");
    other_cloud.until_unix = -1;
    for set in [&nova, &keystone, &other_cloud] {
        store.put_standby(set).expect("put");
    }
    assert_eq!(
        make().standbys("standby-a").expect("list"),
        [keystone.clone(), nova.clone()],
        "by component, containers in the order put"
    );
    let replacement = Standby {
        containers: vec!["keystone-7".to_owned(), "keystone-8".to_owned()],
        version: "26.1.0".to_owned(),
        from_revision: 4,
        to_revision: 5,
        until_unix: keystone.until_unix + 3600,
        ..keystone.clone()
    };
    store.put_standby(&replacement).expect("replace");
    assert_eq!(
        store.standbys("standby-a").expect("list"),
        [replacement, nova.clone()]
    );
    store.clear_standby("standby-a", "keystone").expect("clear");
    assert_eq!(store.standbys("standby-a").expect("list"), [nova]);
    store
        .clear_standby("standby-a", "keystone")
        .expect("clearing again is no error");
    store
        .clear_standby("standby-none", "keystone")
        .expect("clearing in an unknown cloud is no error");
    store.clear_standby("standby-a", "nova-api").expect("clear");
    assert!(store.standbys("standby-a").expect("list").is_empty());
    assert_eq!(
        store.standbys("standby-b").expect("list"),
        [other_cloud],
        "other clouds keep their sets"
    );
}
