//! The test guest: built once as `ankyra/guest:v1`, read out as a qcow2, and
//! booted under QEMU (TCG) in a throwaway container: marker, DHCP address,
//! heartbeats, and a quick poweroff on the ACPI power button. Real Docker.

#![allow(clippy::print_stdout)] // the timings are the point: run with --nocapture

mod common;

use std::time::{Duration, Instant};

use ankyra_catalog::{ImageRecipe, ImageSource};
use ankyra_images::guest::{self, GuestImage, ADDRESS_PREFIX, GUEST_MARKER, POWEROFF_LINE};
use ankyra_images::{BuildOptions, ImageEvent};
use ankyra_runtime::{ContainerFile, ContainerSpec, Docker};
use common::{docker, TestContainer};

/// Where qemu's user network puts the guest (its DHCP server's first address).
const GUEST_ADDRESS: &str = "10.0.2.15";

async fn ensure_guest(docker: &Docker) -> GuestImage {
    let reporter = |e: ImageEvent| tracing::info!(event = ?e, "image event");
    match guest::ensure(docker, &BuildOptions::default(), &reporter).await {
        Ok(g) => g,
        Err(e) => panic!("guest build failed: {}", common::chain(&e)),
    }
}

/// A test image with QEMU (and socat, to talk to its monitor), from Debian.
async fn qemu_image(docker: &Docker) -> String {
    let recipe = ImageRecipe {
        service: "qemu",
        version: "7.2".into(),
        repository: "ankyra-test/qemu".into(),
        tag: "7.2".into(),
        source: ImageSource::Debian {
            packages: vec!["qemu-system-x86", "qemu-utils", "socat"],
        },
        healthcheck: vec!["NONE".into()],
    };
    let reporter = |e: ImageEvent| tracing::info!(event = ?e, "image event");
    let built = ankyra_images::build(docker, &[recipe], &BuildOptions::default(), &reporter)
        .await
        .unwrap_or_else(|e| panic!("qemu test image: {e}"));
    built[0].reference.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guest_image_is_built_once_and_holds_a_qcow2() {
    let docker = docker().await;
    let t = Instant::now();
    let first = ensure_guest(&docker).await;
    let first_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let second = ensure_guest(&docker).await;
    let second_s = t.elapsed().as_secs_f64();
    println!(
        "guest image {} ({}): qcow2 {} bytes, sha256 {}; ensure {first_s:.1} s, again {second_s:.2} s",
        first.reference, first.id, first.size, first.sha256
    );
    assert_eq!(first, second, "the second ensure found the same image");
    assert!(second_s < 10.0, "a no-op ensure took {second_s} s");
    assert_eq!(first.reference, "ankyra/guest:v1");

    let details = docker.require_image(&first.id).await.expect("inspect");
    assert_eq!(
        details
            .labels
            .get(ankyra_images::labels::ROLE)
            .map(String::as_str),
        Some(guest::ROLE)
    );
    let listed = ankyra_images::list(&docker).await.expect("list");
    assert!(
        listed.iter().all(|i| i.id != first.id),
        "the guest is not a service image"
    );

    let bytes = guest::qcow2(&docker, &first).await.expect("read the qcow2");
    assert_eq!(&bytes[..4], b"QFI\xfb", "a qcow2");
    assert_eq!(bytes.len() as u64, first.size);
    assert!(
        (4_000_000..40_000_000).contains(&bytes.len()),
        "{} bytes",
        bytes.len()
    );
    // The layer on the base holds little more than the disk.
    let layers = docker.image_layer_sizes(&first.id).await.expect("history");
    println!("guest layer sizes (newest first): {layers:?}");
    assert!(
        (layers[0] as u64) < first.size + 3_000_000,
        "the guest layer is {} bytes for a {} byte disk",
        layers[0],
        first.size
    );
}

/// Runs `cmd` in the container; its output, or None once the container is gone.
async fn exec(docker: &Docker, name: &str, cmd: &str) -> Option<(i64, String)> {
    docker
        .exec(name, &["/bin/sh".into(), "-c".into(), cmd.into()])
        .await
        .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guest_boots_gets_an_address_beats_and_powers_off_on_the_button() {
    let docker = docker().await;
    let image = ensure_guest(&docker).await;
    let qemu = qemu_image(&docker).await;
    let disk = guest::qcow2(&docker, &image).await.expect("qcow2");

    let container = TestContainer::new(&docker, "guest-boot");
    let script = "qemu-system-x86_64 -machine accel=tcg -m 128 -nographic \
         -serial file:/tmp/console.log -monitor unix:/tmp/mon,server,nowait \
         -drive file=/tmp/guest.qcow2,if=virtio \
         -netdev user,id=n0,hostfwd=tcp:127.0.0.1:2323-:23 -device virtio-net-pci,netdev=n0 </dev/null; \
         echo qemu exited with $?";
    let spec = ContainerSpec {
        name: container.name.clone(),
        image: qemu,
        cmd: Some(vec!["/bin/sh".into(), "-c".into(), script.into()]),
        files: vec![ContainerFile {
            path: "/tmp/guest.qcow2".into(),
            content: disk,
            mode: 0o644,
        }],
        ..Default::default()
    };
    docker.create_container(&spec).await.expect("create");
    docker
        .start_container(&container.name)
        .await
        .expect("start");
    let start = Instant::now();

    let mut marker = None;
    let mut address = None;
    let mut console = String::new();
    while start.elapsed() < Duration::from_secs(120) {
        if let Some((_, out)) =
            exec(&docker, &container.name, "cat /tmp/console.log 2>/dev/null").await
        {
            console = out;
        }
        let now = start.elapsed().as_secs_f64();
        if marker.is_none() && console.contains(GUEST_MARKER) {
            marker = Some(now);
        }
        if address.is_none() && console.contains(ADDRESS_PREFIX) {
            address = Some(now);
        }
        if marker.is_some() && guest::heartbeats(&console).len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let logs = docker
        .container_logs(&container.name, 40)
        .await
        .unwrap_or_default();
    let Some(marker) = marker else {
        panic!("no marker within 120 s; console:\n{console}\ncontainer:\n{logs}")
    };
    let beats = guest::heartbeats(&console);
    assert!(
        beats.len() >= 3,
        "fewer than 3 heartbeats within 120 s; console:\n{console}"
    );
    assert_eq!(
        beats,
        (1..=beats.len() as u64).collect::<Vec<_>>(),
        "{console}"
    );
    let beats_at = start.elapsed().as_secs_f64();
    // DHCP runs in the background: give it a few more seconds if needed.
    while address.is_none() && start.elapsed() < Duration::from_secs(150) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if let Some((_, out)) = exec(&docker, &container.name, "cat /tmp/console.log").await {
            console = out;
        }
        if console.contains(ADDRESS_PREFIX) {
            address = Some(start.elapsed().as_secs_f64());
        }
    }
    assert!(
        console.contains(&format!("{ADDRESS_PREFIX}{GUEST_ADDRESS}")),
        "no DHCP address; console:\n{console}"
    );

    // telnetd gives a shell: the answer is computed in the guest.
    let telnet = Instant::now();
    let (_, out) = exec(
        &docker,
        &container.name,
        "(sleep 2; echo 'echo TELNET-$((6 * 7))'; sleep 2) | socat - TCP:127.0.0.1:2323",
    )
    .await
    .expect("exec socat");
    assert!(out.contains("TELNET-42"), "no shell over telnet: {out:?}");
    let telnet_s = telnet.elapsed().as_secs_f64();

    let (code, out) = exec(
        &docker,
        &container.name,
        "echo system_powerdown | socat - UNIX-CONNECT:/tmp/mon",
    )
    .await
    .expect("exec socat");
    assert_eq!(code, 0, "socat: {out}");
    let pressed = Instant::now();
    let exit = tokio::time::timeout(
        Duration::from_secs(30),
        docker.wait_container(&container.name),
    )
    .await;
    let poweroff_s = pressed.elapsed().as_secs_f64();
    let console = docker
        .download_file(&container.name, "/tmp/console.log")
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or(console);
    let logs = docker
        .container_logs(&container.name, 40)
        .await
        .unwrap_or_default();
    let exit = exit.unwrap_or_else(|_| {
        panic!(
            "QEMU still runs 30 s after system_powerdown; console:\n{console}\ncontainer:\n{logs}"
        )
    });
    assert_eq!(exit.expect("wait"), 0, "{logs}");
    assert!(
        logs.contains("qemu exited with 0"),
        "QEMU exited cleanly: {logs}"
    );
    assert!(
        console.contains(POWEROFF_LINE),
        "no poweroff line; console:\n{console}"
    );
    println!(
        "guest boot (TCG, 128 MB): marker {marker:.1} s, DHCP address {:.1} s, \
         3 heartbeats by {beats_at:.1} s, telnet shell {telnet_s:.1} s (4 s of it waiting), poweroff {poweroff_s:.1} s after system_powerdown",
        address.unwrap_or(f64::NAN)
    );
    println!("console:\n{console}");
}
