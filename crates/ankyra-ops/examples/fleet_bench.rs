//! Fleet benchmark (issue 10): a store with N recorded clouds (records only, no
//! containers), then `fleet ls --where` and the planning of `fleet set` timed on
//! it, with the peak memory of the process that did them.
//!
//! ```text
//! fleet_bench fill STORE N        # N clouds × 3 revisions (SQLite path or postgres:// URL)
//! fleet_bench measure STORE       # one Markdown row fragment: ls ms, plan ms, peak RSS
//! ```
//! `bench/fleet/run.sh` runs both on SQLite and PostgreSQL and writes the table.
//! Each measure runs in a fresh process so its peak memory is its own.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::BTreeMap;
use std::time::Instant;

use ankyra_store::{NewRevision, Store};

const REGIONS: [&str; 4] = ["eu-west", "eu-north", "us-east", "ap-south"];
const KEYSTONE: [&str; 3] = ["27.0.2", "27.1.0", "29.1.0"];

fn record(name: &str, region: &str, tier: &str, keystone: &str) -> String {
    format!(
        "apiVersion: ankyra/v1\nkind: Cloud\nmetadata:\n  name: {name}\n  labels:\n    region: {region}\n    tier: {tier}\n\
         spec:\n  release: \"2025.1\"\n  components:\n    mariadb: {{}}\n    memcached: {{}}\n    haproxy: {{}}\n    \
         keystone:\n      version: {keystone}\n"
    )
}

fn fill(store: &mut dyn Store, n: usize) -> anyhow::Result<()> {
    let started = Instant::now();
    for i in 0..n {
        let name = format!("cloud-{i:05}");
        let region = REGIONS[i % REGIONS.len()];
        let tier = if i % 10 == 0 { "gold" } else { "silver" };
        // Three revisions each, the last at one of three keystone versions.
        for (r, keystone) in ["27.0.2", "27.1.0", KEYSTONE[i % KEYSTONE.len()]]
            .iter()
            .enumerate()
        {
            let text = record(&name, region, tier, keystone);
            let rec = ankyra_model::parse_record("bench.yaml", text.as_bytes())
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let resolved = ankyra_catalog::resolve(&rec).map_err(|e| anyhow::anyhow!("{e}"))?;
            let new = NewRevision {
                cloud: name.clone(),
                record_json: rec.canonical_json(),
                content_hash: format!("{}-{r}", rec.content_hash()),
                author: "bench".into(),
                message: format!("revision {r}"),
                labels: rec.metadata.labels.clone(),
                versions: resolved
                    .components
                    .iter()
                    .map(|c| (c.name.clone(), c.version.to_string()))
                    .collect::<BTreeMap<_, _>>(),
            };
            store.put_revision(new)?;
        }
        if i % 1000 == 999 {
            eprintln!(
                "  filled {} clouds in {:.1}s",
                i + 1,
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(())
}

/// Peak resident memory of this process, in MiB.
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn best_ms(
    runs: usize,
    mut f: impl FnMut() -> anyhow::Result<usize>,
) -> anyhow::Result<(f64, usize)> {
    let mut best = f64::MAX;
    let mut count = 0;
    for _ in 0..runs {
        let t = Instant::now();
        count = f()?;
        best = best.min(t.elapsed().as_secs_f64() * 1000.0);
    }
    Ok((best, count))
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: fleet_bench fill STORE N | measure STORE";
    let (Some(mode), Some(location)) = (args.get(1), args.get(2)) else {
        anyhow::bail!(usage);
    };
    let mut store = ankyra_ops::open_store(location)?;
    match mode.as_str() {
        "fill" => {
            let n: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(10_000);
            fill(store.as_mut(), n)
        }
        "measure" => {
            let selector = "keystone<29.1.0,region=eu-west";
            let (ls_ms, listed) = best_ms(5, || {
                Ok(ankyra_ops::fleet_ls(store.as_ref(), Some(selector), &[])?.len())
            })?;
            let (plan_ms, planned) = best_ms(5, || {
                Ok(ankyra_ops::fleet_plan(
                    store.as_ref(),
                    selector,
                    &["keystone=29.1.0".to_string()],
                    Some("1,10%,50%,100%"),
                )?
                .clouds
                .len())
            })?;
            let clouds = store.clouds()?.len();
            println!(
                "| {clouds} | `{selector}` | {listed} | {ls_ms:.0} | {planned} | {plan_ms:.0} | {:.0} |",
                peak_rss_mib()
            );
            Ok(())
        }
        _ => anyhow::bail!(usage),
    }
}
