//! Benchmark of image builds: cold (no images, empty cache), warm (everything
//! built: no-ops), image size against the venv inside it, and the bytes a
//! keystone point release adds on its libraries layer.
//!
//! Usage (bench/images/run.sh calls it): `images_bench OUT_DIR`. It REMOVES
//! every image labelled `io.ankyra.role` first: run it on a bench machine.

#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::fmt::Write as _;
use std::time::Instant;

use ankyra_catalog::services::{
    glance::Glance, haproxy::HaProxy, keystone::Keystone, mariadb::MariaDb, memcached::Memcached,
    neutron::Neutron, nova::Nova, placement::Placement, rabbitmq::RabbitMq,
};
use ankyra_catalog::{ImageRecipe, Service};
use ankyra_images::{
    added_bytes, build, labels, libs_layer_of, BuildOptions, BuiltImage, NoReporter,
};
use ankyra_runtime::{ContainerSpec, Docker};

fn recipes() -> Vec<ImageRecipe> {
    let v = |s: &str| s.parse().unwrap();
    vec![
        MariaDb.image(&v("10.11"), "2026.2"),
        Memcached.image(&v("1.6"), "2026.2"),
        RabbitMq.image(&v("3.10"), "2026.2"),
        HaProxy.image(&v("2.6"), "2026.2"),
        Keystone.image(&v("27.0.2"), "2025.1"),
        Keystone.image(&v("27.1.0"), "2025.1"),
        Glance.image(&v("33.0.0"), "2026.2"),
        Placement.image(&v("16.0.0"), "2026.2"),
        Nova.image(&v("34.0.0"), "2026.2"),
        Neutron.image(&v("29.0.0"), "2026.2"),
    ]
}

async fn venv_bytes(docker: &Docker, image: &str) -> Option<i64> {
    let name = format!("ankyra-bench-du-{}", std::process::id());
    let spec = ContainerSpec {
        name: name.clone(),
        image: image.into(),
        cmd: Some(vec![
            "sh".into(),
            "-c".into(),
            "du -sb /opt/openstack 2>/dev/null | cut -f1".into(),
        ]),
        ..Default::default()
    };
    let out = docker.run_to_completion(&spec, 5).await.ok();
    let _ = docker.remove_container(&name).await;
    out.and_then(|o| o.output_tail.trim().parse().ok())
}

#[tokio::main]
async fn main() {
    let out_dir = std::env::args()
        .nth(1)
        .expect("usage: images_bench OUT_DIR");
    std::fs::create_dir_all(&out_dir).unwrap();
    let docker = Docker::connect().await.unwrap();
    for i in docker
        .list_images_by_label(labels::ROLE, None)
        .await
        .unwrap()
    {
        docker.remove_image(&i.id, true).await.unwrap();
    }
    let cache = tempfile::tempdir().unwrap();
    let opts = BuildOptions {
        cache_dir: cache.path().to_path_buf(),
        ..BuildOptions::default()
    };
    let recipes = recipes();

    let t = Instant::now();
    let cold = build(&docker, &recipes, &opts, &NoReporter).await.unwrap();
    let cold_total = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let warm = build(&docker, &recipes, &opts, &NoReporter).await.unwrap();
    let warm_total = t.elapsed().as_secs_f64();

    // Each image alone, one after another, with the caches (wheels, root fs
    // tar) kept but the images gone: what one more image costs.
    for i in docker
        .list_images_by_label(labels::ROLE, None)
        .await
        .unwrap()
    {
        docker.remove_image(&i.id, true).await.unwrap();
    }
    let mut alone: Vec<BuiltImage> = Vec::new();
    for r in &recipes {
        alone.extend(
            build(&docker, std::slice::from_ref(r), &opts, &NoReporter)
                .await
                .unwrap(),
        );
    }

    let mut csv = String::from("image,cold_parallel_s,cached_alone_s,warm_s,size_bytes,venv_bytes,added_on_libs_bytes,id\n");
    let mut md = String::new();
    writeln!(md, "# Image builds\n").unwrap();
    writeln!(md, "All {} images cold (empty cache, no images, parallelism 2): **{cold_total:.0} s**; warm (all present): **{warm_total:.1} s**.\n", recipes.len()).unwrap();
    writeln!(md, "| image | cold, in the parallel run (s) | alone, caches warm (s) | warm (s) | size (MB) | venv (MB) | added on libs layer (MB) |").unwrap();
    writeln!(md, "|---|---|---|---|---|---|---|").unwrap();
    for ((c, w), a) in cold.iter().zip(&warm).zip(&alone) {
        let venv = venv_bytes(&docker, &a.id).await;
        let libs = libs_layer_of(&docker, &a.id).await.unwrap();
        let added = match &libs {
            Some(l) => Some(added_bytes(&docker, &a.id, l).await.unwrap()),
            None => None,
        };
        let mb = |b: Option<i64>| {
            b.map(|b| format!("{:.1}", b as f64 / 1e6))
                .unwrap_or_else(|| "-".into())
        };
        writeln!(
            csv,
            "{},{:.1},{:.1},{:.2},{},{},{},{}",
            c.reference,
            c.seconds,
            a.seconds,
            w.seconds,
            a.size,
            venv.map(|v| v.to_string()).unwrap_or_default(),
            added.map(|v| v.to_string()).unwrap_or_default(),
            a.id
        )
        .unwrap();
        writeln!(
            md,
            "| {} | {:.0} | {:.0} | {:.2} | {} | {} | {} |",
            c.reference,
            c.seconds,
            a.seconds,
            w.seconds,
            mb(Some(a.size)),
            mb(venv),
            mb(added)
        )
        .unwrap();
    }
    writeln!(md, "\nCold per-image times overlap (two builds at once) and include waiting for the shared base and libraries layers; \
        \"alone\" builds each image by itself after the others were removed, with the wheel cache and base root file system tar kept \
        (base import and libraries layers are rebuilt when first needed). Sizes include shared layers (base, libraries).").unwrap();
    std::fs::write(format!("{out_dir}/images.md"), &md).unwrap();
    std::fs::write(format!("{out_dir}/raw.csv"), &csv).unwrap();
    print!("{md}");
}
