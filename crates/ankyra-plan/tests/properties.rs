//! Planner properties on generated records and observed worlds.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use ankyra_catalog::{Catalog, ResolvedComponent, ResolvedRecord};
use ankyra_plan::{
    diff_records, plan, Desired, DiffStatus, Observed, ObservedComponent, Plan, StepKind,
};
use proptest::prelude::*;

/// A generated component: which catalog component, which known version, replicas, a config value.
fn component() -> impl Strategy<Value = (usize, usize, u32, Option<u8>)> {
    (
        0usize..64,
        0usize..64,
        1u32..4,
        proptest::option::of(0u8..3),
    )
}

fn record(parts: Vec<(usize, usize, u32, Option<u8>)>) -> ResolvedRecord {
    let catalog = Catalog::get();
    let names = catalog.component_names();
    let mut comps: BTreeMap<String, ResolvedComponent> = BTreeMap::new();
    for (ci, vi, replicas, cfg) in parts {
        let name = names[ci % names.len()];
        let (def, svc) = catalog.component(name).unwrap();
        // Stay inside one release so every generated change is an allowed jump.
        let versions: Vec<_> = svc
            .known_versions()
            .into_iter()
            .filter(|v| svc.release_of(v) == svc.release_of(&svc.known_versions()[0]))
            .collect();
        let version = versions[vi % versions.len()].clone();
        let mut config = BTreeMap::new();
        if let Some(c) = cfg {
            config.insert(
                format!("{}.conf", svc.name()),
                BTreeMap::from([(
                    "DEFAULT".to_string(),
                    BTreeMap::from([("debug".to_string(), c.to_string())]),
                )]),
            );
        }
        comps.insert(
            name.to_string(),
            ResolvedComponent {
                name: name.to_string(),
                service: svc.name().to_string(),
                kind: def.kind,
                image: svc.image(&version, "2025.1").reference(),
                version,
                replicas,
                hosts: vec!["local".into()],
                config,
            },
        );
    }
    let mut components: Vec<ResolvedComponent> = comps.into_values().collect();
    components.sort_by_key(|c| catalog.rank(&c.name));
    ResolvedRecord {
        cloud: "prop".into(),
        release: "2025.1".into(),
        components,
        hosts: BTreeMap::new(),
        engine: ankyra_catalog::EngineTarget::local(),
        rollout: ankyra_catalog::Rollout::default(),
        compute_driver: ankyra_model::ComputeDriver::Fake,
    }
}

fn desired(r: &ResolvedRecord) -> Desired {
    Desired::from_resolved(r, |c| Catalog::get().rank(c))
}

/// What the world looks like after the engine ran `plan` perfectly.
fn apply(world: &Observed, want: &Desired, p: &Plan) -> Observed {
    let mut next = world.clone();
    for step in &p.steps {
        if step.kind == StepKind::Remove {
            next.components.remove(&step.component);
            continue;
        }
        let c = want.component(&step.component).unwrap();
        next.components.insert(
            c.name.clone(),
            ObservedComponent {
                kind: c.kind,
                rank: c.rank,
                version: Some(c.version.clone()),
                image: c.image.clone(),
                instances: c.replicas,
                healthy: c.replicas,
                config_hash: c.config_hash.clone(),
            },
        );
    }
    next
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_cloud_that_runs_as_wanted_plans_nothing(parts in proptest::collection::vec(component(), 0..12)) {
        let d = desired(&record(parts));
        let p = plan(&d, &Observed::from_desired(&d)).unwrap();
        prop_assert!(p.is_empty(), "{:?}", p.steps);
        prop_assert_eq!(p.unchanged.len(), d.components.len());
    }

    #[test]
    fn only_changed_components_get_steps_in_dependency_order(
        a in proptest::collection::vec(component(), 0..12),
        b in proptest::collection::vec(component(), 0..12),
    ) {
        let (ra, rb) = (record(a), record(b));
        let (da, db) = (desired(&ra), desired(&rb));
        let p = plan(&db, &Observed::from_desired(&da)).unwrap();
        let mut stepped: Vec<&str> = p.steps.iter().map(|s| s.component.as_str()).collect();
        let diffs = diff_records(&ra, &rb);
        let mut changed: Vec<&str> = diffs.iter().map(|d| d.component.as_str()).collect();
        stepped.sort();
        changed.sort();
        prop_assert_eq!(stepped, changed);
        // Creates and replacements go in dependency order; removals last, reversed.
        let ranks: Vec<(bool, i64)> = p.steps.iter().map(|s| {
            let r = Catalog::get().rank(&s.component) as i64;
            if s.kind == StepKind::Remove { (true, -r) } else { (false, r) }
        }).collect();
        let mut sorted = ranks.clone();
        sorted.sort();
        prop_assert_eq!(ranks, sorted);
    }

    #[test]
    fn applying_a_plan_then_replanning_gives_nothing(
        a in proptest::collection::vec(component(), 0..12),
        b in proptest::collection::vec(component(), 0..12),
    ) {
        let (da, db) = (desired(&record(a)), desired(&record(b)));
        let world = Observed::from_desired(&da);
        let p = plan(&db, &world).unwrap();
        let after = apply(&world, &db, &p);
        prop_assert!(plan(&db, &after).unwrap().is_empty());
    }

    #[test]
    fn diff_mirrors(
        a in proptest::collection::vec(component(), 0..12),
        b in proptest::collection::vec(component(), 0..12),
    ) {
        let (ra, rb) = (record(a), record(b));
        let mut ab = diff_records(&ra, &rb);
        let mut ba = diff_records(&rb, &ra);
        ab.sort_by(|x, y| x.component.cmp(&y.component));
        ba.sort_by(|x, y| x.component.cmp(&y.component));
        prop_assert_eq!(ab.len(), ba.len());
        for (x, y) in ab.iter().zip(&ba) {
            prop_assert_eq!(&x.component, &y.component);
            let mirrored = match x.status {
                DiffStatus::Added => DiffStatus::Removed,
                DiffStatus::Removed => DiffStatus::Added,
                DiffStatus::Changed => DiffStatus::Changed,
            };
            prop_assert_eq!(y.status, mirrored);
            prop_assert_eq!(x.fields.len(), y.fields.len());
            for (fx, fy) in x.fields.iter().zip(&y.fields) {
                prop_assert_eq!(&fx.field, &fy.field);
                prop_assert_eq!(&fx.from, &fy.to);
                prop_assert_eq!(&fx.to, &fy.from);
            }
        }
    }
}

#[test]
fn a_keystone_patch_is_one_replace_with_its_reason() {
    let names = Catalog::get().component_names();
    let ki = names.iter().position(|n| *n == "keystone").unwrap();
    let mi = names.iter().position(|n| *n == "mariadb").unwrap();
    let before = record(vec![(mi, 0, 1, None), (ki, 0, 2, None)]);
    let after = record(vec![(mi, 0, 1, None), (ki, 3, 2, None)]);
    let p = plan(&desired(&after), &Observed::from_desired(&desired(&before))).unwrap();
    assert_eq!(p.steps.len(), 1);
    assert_eq!(
        p.steps[0].reason(),
        "keystone: 27.0.0 → 27.1.0, image changed"
    );
    assert_eq!(p.unchanged.len(), 1);
}
