//! Plans a patch (one component's version changes) across many clouds of 50
//! components each, and reports the time per cloud from 100 to 10,000 clouds.
//!
//! `cargo bench -p ankyra-plan --bench plan` runs criterion and then writes
//! `bench/results/<date>-<host>/plan.md` with a side-by-side growth table.

#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Instant;

use ankyra_catalog::ComponentKind;
use ankyra_plan::{plan, Desired, DesiredComponent, Observed};
use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};

const COMPONENTS: usize = 50;

/// One cloud whose component 0 ("keystone") moves from 30.0.0 to 30.0.1.
fn cloud(i: usize) -> (Desired, Observed) {
    let components: Vec<DesiredComponent> = (0..COMPONENTS)
        .map(|c| {
            let name = if c == 0 {
                "keystone".to_string()
            } else {
                format!("component-{c:02}")
            };
            DesiredComponent {
                service: if c == 0 {
                    "keystone".into()
                } else {
                    format!("svc-{c:02}")
                },
                kind: if c % 3 == 0 {
                    ComponentKind::Api
                } else {
                    ComponentKind::Worker
                },
                rank: c,
                version: "30.0.0".parse().unwrap(),
                image: format!("ankyra/{name}:30.0.0"),
                replicas: 1 + (c % 3) as u32,
                hosts: vec!["local".into()],
                config_hash: format!("{c:012x}"),
                config_files: vec![],
                name,
            }
        })
        .collect();
    let mut desired = Desired {
        cloud: format!("cloud-{i}"),
        components,
    };
    let observed = Observed::from_desired(&desired);
    desired.components[0].version = "30.0.1".parse().unwrap();
    desired.components[0].image = "ankyra/keystone:30.0.1".into();
    (desired, observed)
}

fn fleet(n: usize) -> Vec<(Desired, Observed)> {
    (0..n).map(cloud).collect()
}

fn plan_all(f: &[(Desired, Observed)]) -> usize {
    f.iter()
        .map(|(d, o)| plan(d, o).map(|p| p.steps.len()).unwrap_or(0))
        .sum()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("plan_patch");
    g.sample_size(10);
    for n in [100usize, 1_000, 10_000] {
        let f = fleet(n);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &f, |b, f| {
            b.iter(|| plan_all(black_box(f)))
        });
    }
    g.finish();
}

/// Median seconds of `runs` timed passes over the fleet.
fn median_secs(f: &[(Desired, Observed)], runs: usize) -> f64 {
    let mut t: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            let steps = plan_all(black_box(f));
            assert_eq!(steps, f.len(), "one step per cloud");
            start.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[runs / 2]
}

fn write_table() {
    let sizes = [100usize, 1_000, 10_000];
    let mut rows = Vec::new();
    let mut base = None;
    for n in sizes {
        let f = fleet(n);
        let s = median_secs(&f, 7);
        let per = s / n as f64;
        let base_per = *base.get_or_insert(per);
        rows.push(format!(
            "| {n} | {COMPONENTS} | {:.2} | {:.2} | {:.2} |",
            s * 1e3,
            per * 1e6,
            per / base_per
        ));
    }
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_else(|_| "host".into());
    let date = std::process::Command::new("date")
        .arg("+%F")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../bench/results")
        .join(format!("{date}-{}", host.trim()));
    let _ = std::fs::create_dir_all(&dir);
    let table = format!(
        "# Planning a patch across a fleet\n\n\
         Command: `cargo bench -p ankyra-plan --bench plan` (release build, one thread).\n\
         Each cloud has {COMPONENTS} components; keystone moves 30.0.0 → 30.0.1, so every plan has one step.\n\
         Median of 7 passes, measured side by side in one run. Goal: under 1 s for 10,000 clouds, growth linear\n\
         (time per cloud roughly constant: the last column stays near 1).\n\n\
         | clouds | components each | total ms | µs per cloud | per-cloud time vs 100 clouds |\n\
         |---|---|---|---|---|\n{}\n",
        rows.join("\n")
    );
    let _ = std::fs::write(dir.join("plan.md"), &table);
    println!("{table}");
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    write_table();
}
