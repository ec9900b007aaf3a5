//! How fast `Store::fleet_index` is on a big fleet, per backend.
//!
//! ```text
//! cargo run --release -p ankyra-store --example fleet_index_bench [CLOUDS]
//! ANKYRA_TEST_POSTGRES_URL=postgres://... cargo run --release ... (adds PostgreSQL)
//! ```
//!
//! Fills a new store with CLOUDS (default 10000) clouds of 3 revisions each
//! (labels `region` (one of 4) and `tier`; versions of mariadb, memcached,
//! haproxy and keystone spread over 27.0.2, 27.1.0 and 29.1.0): the first
//! revisions one `put_revision` each, the second and third as one fleet
//! operation over every cloud each (one transaction), every tenth cloud's
//! second revision marked applied. Then times `fleet_index` (best of 5) and
//! prints one markdown table row per backend. Each backend runs in a child
//! process of its own, so its peak RSS (VmHWM) is its own.

#![allow(clippy::print_stdout, reason = "a benchmark prints its table")]

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use ankyra_store::{NewFleetMember, NewFleetOp, NewRevision, Store};

const KEYSTONE: [&str; 3] = ["27.0.2", "27.1.0", "29.1.0"];
const REGIONS: [&str; 4] = ["east", "west", "north", "south"];

fn revision(cloud: usize, round: usize) -> NewRevision {
    let name = format!("cloud-{cloud:06}");
    let labels: BTreeMap<String, String> = [
        ("region", REGIONS[cloud % 4]),
        (
            "tier",
            match cloud % 3 {
                0 => "prod",
                _ => "dev",
            },
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let keystone = KEYSTONE[(cloud + round) % 3];
    let versions: BTreeMap<String, String> = [
        ("mariadb", "10.11.6"),
        ("memcached", "1.6.21"),
        ("haproxy", "2.6.12"),
        ("keystone", keystone),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    // About the size of a real record, so rows are not unrealistically small.
    let record_json = format!(
        "{{\"name\":\"{name}\",\"round\":{round},\"keystone\":\"{keystone}\",\"padding\":\"{}\"}}",
        "x".repeat(1500)
    );
    NewRevision {
        content_hash: format!("{name}-{round}"),
        cloud: name,
        record_json,
        author: "bench".to_owned(),
        message: format!("round {round}"),
        labels,
        versions,
    }
}

/// Fills `store`; returns the time the first revisions took and the time
/// the two fleet operations took.
fn fill(store: &mut dyn Store, clouds: usize) -> (Duration, Duration) {
    let started = Instant::now();
    for cloud in 0..clouds {
        store.put_revision(revision(cloud, 0)).expect("put");
    }
    let puts = started.elapsed();
    let started = Instant::now();
    for round in 1..3 {
        let members = (0..clouds)
            .map(|cloud| NewFleetMember {
                cloud: format!("cloud-{cloud:06}"),
                wave: u32::try_from(cloud % 3).expect("small"),
                from_revision: round as u64,
                from_version: KEYSTONE[(cloud + round - 1) % 3].to_owned(),
                revision: revision(cloud, round),
            })
            .collect();
        store
            .create_fleet_op(NewFleetOp {
                kind: "set".to_owned(),
                selector: "all".to_owned(),
                change: format!("round {round}"),
                waves: "1,rest".to_owned(),
                max_parallel: 10,
                author: "bench".to_owned(),
                message: String::new(),
                members,
            })
            .expect("fleet op");
    }
    let fleet_ops = started.elapsed();
    for cloud in (0..clouds).step_by(10) {
        store
            .set_revision_status(&format!("cloud-{cloud:06}"), 2, "applied")
            .expect("status");
    }
    (puts, fleet_ops)
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

fn run(backend: &str, clouds: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut pg_database = None;
    let mut store: Box<dyn Store> = match backend {
        "sqlite" => {
            ankyra_store::open(&dir.path().join("store.db").to_string_lossy()).expect("open SQLite")
        }
        _ => {
            let url = std::env::var("ANKYRA_TEST_POSTGRES_URL").expect("the URL is set");
            let name = format!("ankyra_bench_{}", std::process::id());
            let mut admin = postgres::Client::connect(&url, postgres::NoTls).expect("admin");
            admin
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .expect("create database");
            let (head, _) = url.rsplit_once('/').expect("a URL with a database");
            let store = ankyra_store::open(&format!("{head}/{name}")).expect("open PostgreSQL");
            pg_database = Some((admin, name));
            store
        }
    };
    let (puts, fleet_ops) = fill(store.as_mut(), clouds);
    let mut best = Duration::MAX;
    for _ in 0..5 {
        let started = Instant::now();
        let index = store.fleet_index().expect("fleet_index");
        best = best.min(started.elapsed());
        assert_eq!(index.len(), clouds);
    }
    drop(store);
    println!(
        "| {backend} | {clouds} | {:.1} | {:.1} | {:.1} | {:.0} |",
        puts.as_secs_f64(),
        fleet_ops.as_secs_f64(),
        best.as_secs_f64() * 1000.0,
        peak_rss_mib()
    );
    if let Some((mut admin, name)) = pg_database {
        admin
            .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
            .expect("drop database");
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, backend, clouds] = args.as_slice() {
        if flag == "--backend" {
            run(backend, clouds.parse().expect("a number of clouds"));
            return;
        }
    }
    let clouds: usize = args
        .first()
        .map_or(10_000, |n| n.parse().expect("CLOUDS is a number"));
    let mut backends = vec!["sqlite"];
    if std::env::var_os("ANKYRA_TEST_POSTGRES_URL").is_some() {
        backends.push("postgres");
    }
    println!("| backend | clouds | fill: first revisions, one put each (s) | fill: 2 fleet ops over all clouds (s) | fleet_index best of 5 (ms) | peak RSS (MiB) |");
    println!("|---|---|---|---|---|---|");
    let me = std::env::current_exe().expect("this program");
    for backend in backends {
        let status = Command::new(&me)
            .args(["--backend", backend, &clouds.to_string()])
            .status()
            .expect("run a backend");
        assert!(status.success(), "{backend} failed");
    }
}
