//! A second, real Docker Engine ("another site") managed from here (feature `docker`):
//! the test brings up host `ankyra-mh0` (its own network namespace and dockerd, TLS API
//! on 198.51.100.10:2376, scripts/docker-host.sh) and then, through ankyra-runtime:
//! connects with a client certificate, and is refused without one, with a stranger's
//! certificate, or when trusting the wrong CA; fails within seconds on an address
//! where nothing answers and on one that drops packets; builds a tiny image on the main engine (a static C program,
//! no registry, no internet) and copies it over with `copy_image`; makes a network in
//! the host's routed pool 10.232.0.0/16, runs the program there with its reply file
//! copied in (`ContainerSpec::files`, not a bind mount) and reads that file's content
//! from here through the route; replaces the file in the running container
//! (`put_files`) and reads the new content, and copies it back out (`download_file`).
//! Everything it made is removed, the host taken down (kept with `ANKYRA_E2E_KEEP=1`).
#![cfg(feature = "docker")]

use std::collections::HashMap;
use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use ankyra_e2e::e2e_log;
use ankyra_e2e::multihost::RemoteHost;
use ankyra_runtime::{
    ContainerFile, ContainerSpec, Docker, EngineAddress, NetworkAttachment, TlsFiles,
};
use anyhow::{bail, ensure, Context, Result};

const HOST: &str = "ankyra-mh0";
const HOST_INDEX: u8 = 0;
const PORT: u16 = 8080;
const REPO: &str = "ankyra-e2e/multihost-probe";

/// Replies to each TCP connection with the mode and owner of a file, then its content,
/// read afresh each time (so a replaced file shows at once).
const PROBE_C: &str = r#"
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "/srv/reply.txt";
    int port = argc > 2 ? atoi(argv[2]) : 8080;
    int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 16)) { perror("listen"); return 1; }
    fprintf(stderr, "probe: serving %s on port %d\n", path, port);
    for (;;) {
        int c = accept(s, 0, 0);
        if (c < 0) continue;
        struct stat st;
        int fd = open(path, O_RDONLY);
        if (fd < 0 || fstat(fd, &st)) {
            dprintf(c, "error: cannot open %s\n", path);
        } else {
            char buf[65536];
            ssize_t n;
            dprintf(c, "mode=%o uid=%d\n", (unsigned)(st.st_mode & 07777), (int)st.st_uid);
            while ((n = read(fd, buf, sizeof buf)) > 0) write(c, buf, n);
        }
        if (fd >= 0) close(fd);
        close(c);
    }
}
"#;

fn keep() -> bool {
    std::env::var("ANKYRA_E2E_KEEP").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Takes the host down when the test ends, passed or not (unless `ANKYRA_E2E_KEEP=1`).
struct HostGuard(RemoteHost);

impl Drop for HostGuard {
    fn drop(&mut self) {
        if keep() {
            e2e_log!("ANKYRA_E2E_KEEP: leaving host {} up", self.0.name);
        } else if let Err(e) = self.0.down() {
            e2e_log!("taking host {} down failed: {e:#}", self.0.name);
        }
    }
}

fn command(label: &str, cmd: &mut Command) -> Result<()> {
    let out = cmd.output().with_context(|| format!("running {label}"))?;
    ensure!(
        out.status.success(),
        "{label} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// A root file system tar: the static probe at /probe, plus `filler_mb` MiB of
/// incompressible bytes so the copy between engines has something to measure.
fn probe_rootfs(dir: &Path, filler_mb: usize) -> Result<Vec<u8>> {
    std::fs::write(dir.join("probe.c"), PROBE_C)?;
    command(
        "gcc -static (the probe; needs Debian's libc6-dev)",
        Command::new("gcc")
            .args(["-static", "-Os", "-o"])
            .arg(dir.join("probe"))
            .arg(dir.join("probe.c")),
    )?;
    let binary = std::fs::read(dir.join("probe"))?;
    let mut filler = vec![0u8; filler_mb << 20];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ u64::from(std::process::id());
    for chunk in filler.chunks_mut(8) {
        // xorshift64: cheap bytes that do not compress.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    let mut tar = tar::Builder::new(Vec::new());
    for (path, mode, data) in [("probe", 0o755, &binary), ("filler", 0o644, &filler)] {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_mtime(0);
        tar.append_data(&mut header, path, data.as_slice())?;
    }
    Ok(tar.into_inner()?)
}

fn stranger_certificate(dir: &Path) -> Result<(std::path::PathBuf, std::path::PathBuf)> {
    let (cert, key) = (dir.join("stranger-cert.pem"), dir.join("stranger-key.pem"));
    command(
        "openssl req (a self-signed stranger)",
        Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
            .args(["-subj", "/CN=stranger", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert),
    )?;
    Ok((cert, key))
}

/// Connects to `addr` (retrying for a while: the container just started) and reads all.
fn read_reply(addr: SocketAddr) -> Result<String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let attempt = (|| -> std::io::Result<String> {
            let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            // Send nothing: the probe closes without reading, and unread bytes would
            // turn its close into a reset.
            let mut reply = String::new();
            s.read_to_string(&mut reply)?;
            Ok(reply)
        })();
        match attempt {
            Ok(reply) if !reply.is_empty() => return Ok(reply),
            Ok(_) if Instant::now() < deadline => {}
            Err(_) if Instant::now() < deadline => {}
            Ok(_) => bail!("{addr} answered nothing"),
            Err(e) => return Err(e).with_context(|| format!("reading from {addr}")),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_container_on_a_remote_engine_gets_its_image_and_files_from_here_and_answers_through_the_route(
) -> Result<()> {
    let work = tempfile::tempdir()?;
    let t0 = Instant::now();
    let host = HostGuard(RemoteHost::up(HOST, HOST_INDEX)?);
    let host = &host.0;
    e2e_log!(
        "host {} up in {:.1}s: {} (pool {})",
        host.name,
        t0.elapsed().as_secs_f64(),
        host.address,
        host.subnet_pool
    );

    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        // 1. TLS with our client certificate works.
        let remote = Docker::connect_to(&host.address).await?;
        e2e_log!(
            "connected to {} (engine {}, API {})",
            remote.address(),
            remote.engine_version().await?,
            remote.api_version()
        );

        // 2. Refusals are errors, quickly, naming the address.
        let tls = host.address.tls.clone().context("the host speaks TLS")?;
        let (stranger_cert, stranger_key) = stranger_certificate(work.path())?;
        let refused = [
            ("no TLS", None),
            (
                "a stranger's certificate",
                Some(TlsFiles {
                    ca: tls.ca.clone(),
                    cert: stranger_cert.clone(),
                    key: stranger_key.clone(),
                }),
            ),
            (
                "trusting the wrong CA",
                Some(TlsFiles {
                    ca: stranger_cert.clone(),
                    ..tls.clone()
                }),
            ),
        ];
        for (what, tls) in refused {
            let address = EngineAddress {
                url: host.address.url.clone(),
                tls,
            };
            let start = Instant::now();
            let e = match Docker::connect_to(&address).await {
                Ok(_) => bail!("connecting with {what} worked"),
                Err(e) => e,
            };
            let took = start.elapsed();
            e2e_log!(
                "with {what}: refused in {took:.2?}: {:#}",
                anyhow::Error::from(e)
            );
            ensure!(took < Duration::from_secs(10), "refusing took {took:?}");
        }
        let nowhere = EngineAddress {
            url: "tcp://198.51.100.99:2376".into(),
            tls: Some(tls.clone()),
        };
        let start = Instant::now();
        let e = match Docker::connect_to(&nowhere).await {
            Ok(_) => bail!("an address where nothing runs answered"),
            Err(e) => e,
        };
        let took = start.elapsed();
        e2e_log!("nothing at 198.51.100.99: failed in {took:.2?}: {e}");
        ensure!(took < Duration::from_secs(10), "failing took {took:?}");
        ensure!(e.to_string().contains("198.51.100.99:2376"), "{e}");
        host.drop_api_packets(true)?;
        let start = Instant::now();
        let cut_off = Docker::connect_to(&host.address).await;
        host.drop_api_packets(false)?;
        let took = start.elapsed();
        let e = match cut_off {
            Ok(_) => bail!("a host whose API port drops packets answered"),
            Err(e) => e,
        };
        e2e_log!("API port dropping packets: failed in {took:.2?}: {e}");
        ensure!(
            matches!(e, ankyra_runtime::DockerError::ConnectTimedOut { .. }),
            "{e:?}"
        );
        ensure!(took < Duration::from_secs(10), "failing took {took:?}");

        // 3. An image built here, copied there.
        let main = Docker::connect().await?;
        let filler_mb: usize = std::env::var("ANKYRA_E2E_COPY_MB")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(32);
        let tag = format!("t{}", std::process::id());
        let reference = format!("{REPO}:{tag}");
        let rootfs = probe_rootfs(work.path(), filler_mb)?;
        let id = main
            .import_rootfs(
                rootfs.into(),
                REPO,
                &tag,
                &["CMD [\"/probe\"]", "LABEL io.ankyra.e2e=multihost"],
            )
            .await?;
        e2e_log!("built {reference} ({id}) on the main engine");
        let result = on_the_remote(&main, &remote, host, &reference, &id).await;
        let _ = main.remove_image(&reference, true).await;
        let _ = remote.remove_image(&reference, true).await;
        result
    })
}

async fn on_the_remote(
    main: &Docker,
    remote: &Docker,
    host: &RemoteHost,
    reference: &str,
    id: &str,
) -> Result<()> {
    let copy = main.copy_image(remote, reference).await?;
    e2e_log!(
        "copied {reference}: {:.1} MB in {:.2}s, {:.1} MB/s",
        copy.bytes as f64 / 1e6,
        copy.seconds,
        copy.megabytes_per_second()
    );
    ensure!(copy.id == id, "the copy has ID {} not {id}", copy.id);
    let there = remote.require_image(reference).await?;
    ensure!(there.id == id, "{reference} there is {}", there.id);
    let again = main.copy_image(remote, reference).await?;
    ensure!(
        again.bytes == 0,
        "a second copy moved {} bytes",
        again.bytes
    );

    let suffix = std::process::id();
    let network = format!("ankyra-e2e-mh-{suffix}");
    let container = format!("ankyra-e2e-mh-probe-{suffix}");
    let subnet = host.subnet(7);
    let ip = subnet.replace(".0/24", ".10");
    let labels = HashMap::from([("io.ankyra.e2e".to_string(), "multihost".to_string())]);
    remote
        .create_network(
            &network,
            &subnet,
            &subnet.replace(".0/24", ".128/25"),
            labels,
        )
        .await?;
    let result = run_probe(remote, reference, &network, &container, &ip).await;
    if let Err(e) = &result {
        if let Ok(logs) = remote.container_logs(&container, 20).await {
            e2e_log!("probe logs after failure ({e:#}):\n{logs}");
        }
    }
    remote.remove_container(&container).await?;
    remote.remove_network(&network).await?;
    ensure!(
        remote.network(&network).await?.is_none(),
        "network {network} is still there"
    );
    result
}

async fn run_probe(
    remote: &Docker,
    image: &str,
    network: &str,
    container: &str,
    ip: &str,
) -> Result<()> {
    let token = format!("ankyra-multihost-{}-{}", std::process::id(), ip);
    let spec = ContainerSpec {
        name: container.to_string(),
        image: image.to_string(),
        cmd: Some(vec![
            "/probe".into(),
            "/srv/probe/reply.txt".into(),
            PORT.to_string(),
        ]),
        network: Some(NetworkAttachment {
            network: network.to_string(),
            aliases: vec![],
            ipv4: Some(ip.to_string()),
        }),
        files: vec![ContainerFile {
            path: "/srv/probe/reply.txt".into(),
            content: format!("{token}\n").into_bytes(),
            mode: 0o640,
        }],
        ..Default::default()
    };
    remote.create_container(&spec).await?;
    remote.start_container(container).await?;
    let addr: SocketAddr = format!("{ip}:{PORT}").parse()?;
    let reply = tokio::task::spawn_blocking(move || read_reply(addr)).await??;
    e2e_log!("{addr} replied: {}", reply.trim_end().replace('\n', " | "));
    ensure!(
        reply == format!("mode=640 uid=0\n{token}\n"),
        "unexpected reply {reply:?}"
    );

    let replaced = format!("{token} (replaced)\n");
    remote
        .put_files(
            container,
            &[ContainerFile {
                path: "/srv/probe/reply.txt".into(),
                content: replaced.clone().into_bytes(),
                mode: 0o600,
            }],
        )
        .await?;
    let reply = tokio::task::spawn_blocking(move || read_reply(addr)).await??;
    e2e_log!("after put_files: {}", reply.trim_end().replace('\n', " | "));
    ensure!(
        reply == format!("mode=600 uid=0\n{replaced}"),
        "unexpected reply {reply:?}"
    );

    let back = remote
        .download_file(container, "/srv/probe/reply.txt")
        .await?;
    ensure!(back == replaced.as_bytes(), "download_file read {back:?}");
    match remote.download_file(container, "/srv/probe/none").await {
        Err(ankyra_runtime::DockerError::FileNotFound { .. }) => {}
        other => bail!("a missing file read as {other:?}"),
    }
    Ok(())
}
