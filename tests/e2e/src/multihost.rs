//! Extra, real Docker Engines on this machine, each in its own network namespace: the
//! "remote sites" of multi-host tests. A thin wrapper over `scripts/docker-host.sh`
//! (which holds the layout: addresses, TLS, routes). Facts: design/multihost.md.
//!
//! Hosts are shared between tests and outlive them: dropping a [`RemoteHost`] leaves it
//! running; [`RemoteHost::down`] takes it down.
#![cfg(feature = "docker")]

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use ankyra_runtime::{EngineAddress, TlsFiles};
use anyhow::{Context, Result};

use crate::paths::workspace_root;
use crate::process::{run, RunOptions};

/// One extra engine, up.
#[derive(Debug, Clone)]
pub struct RemoteHost {
    /// Its name (network namespace, hostname, state folder).
    pub name: String,
    /// Its index: address 198.51.100.(10+index), subnet pool 10.(232+index).0.0/16.
    pub index: u8,
    /// Its TLS API, `tcp://198.51.100.(10+index):2376` with client certificates.
    pub address: EngineAddress,
    /// Where networks made on it must take their /24s from; routed from this
    /// namespace to it, e.g. `10.232.0.0/16`.
    pub subnet_pool: String,
    /// Its address, e.g. `198.51.100.10`.
    pub ip: String,
    /// Its unix socket (`unix:///...`), reachable from this machine's file system.
    pub socket: String,
}

fn script() -> PathBuf {
    workspace_root().join("scripts/docker-host.sh")
}

fn run_script(args: &[&str], timeout: Duration) -> Result<String> {
    let mut cmd = Command::new("bash");
    cmd.arg(script()).args(args);
    let out = run(
        &mut cmd,
        RunOptions::new(format!("docker-host.sh {}", args.join(" ")), timeout).echo_stderr(),
    )?;
    out.check()?;
    Ok(out.stdout.clone())
}

impl RemoteHost {
    /// Brings host `name` up (or finds it up: quick) with index `index`.
    pub fn up(name: &str, index: u8) -> Result<RemoteHost> {
        run_script(&["up", name, &index.to_string()], Duration::from_secs(90))
            .with_context(|| format!("bringing up Docker host {name}"))?;
        RemoteHost::existing(name)
    }

    /// A host that is up already (as `docker-host.sh env` describes it).
    pub fn existing(name: &str) -> Result<RemoteHost> {
        let env = run_script(&["env", name], Duration::from_secs(10))?;
        let vars: HashMap<&str, &str> = env.lines().filter_map(|l| l.split_once('=')).collect();
        let var = |k: &str| -> Result<String> {
            vars.get(k)
                .map(|v| v.to_string())
                .with_context(|| format!("docker-host.sh env {name} printed no {k}"))
        };
        let ip = var("ANKYRA_HOST_IP")?;
        let index = ip
            .rsplit('.')
            .next()
            .and_then(|last| last.parse::<u8>().ok())
            .and_then(|last| last.checked_sub(10))
            .with_context(|| format!("host address {ip} is not 198.51.100.(10+index)"))?;
        Ok(RemoteHost {
            name: name.to_string(),
            index,
            address: EngineAddress {
                url: var("DOCKER_HOST")?,
                tls: Some(TlsFiles {
                    ca: var("ANKYRA_HOST_CA")?.into(),
                    cert: var("ANKYRA_HOST_CERT")?.into(),
                    key: var("ANKYRA_HOST_KEY")?.into(),
                }),
            },
            subnet_pool: var("ANKYRA_HOST_SUBNET_POOL")?,
            ip,
            socket: var("ANKYRA_HOST_SOCKET")?,
        })
    }

    /// The `n`th /24 of its subnet pool, e.g. `10.232.7.0/24`.
    pub fn subnet(&self, n: u8) -> String {
        format!("10.{}.{n}.0/24", 232 + u16::from(self.index))
    }

    /// Drops (silently, no reset) or again accepts packets to its API port inside its
    /// namespace: a host cut off, for tests of timeouts.
    pub fn drop_api_packets(&self, drop: bool) -> Result<()> {
        let rule = ["INPUT", "-p", "tcp", "--dport", "2376", "-j", "DROP"];
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net=/run/netns/{}", self.name))
            .arg("iptables")
            .arg(if drop { "-I" } else { "-D" })
            .args(rule);
        let label = format!(
            "iptables {} in {}",
            if drop { "-I" } else { "-D" },
            self.name
        );
        run(&mut cmd, RunOptions::new(label, Duration::from_secs(10)))?.check()?;
        Ok(())
    }

    /// Makes its engine API refuse connections (`refuse`: every packet to it
    /// answered with a TCP reset, so open connections break too), or accept
    /// them again: the engine "briefly refusing calls".
    pub fn refuse_api(&self, refuse: bool) -> Result<()> {
        let rule = [
            "INPUT",
            "-p",
            "tcp",
            "--dport",
            "2376",
            "-j",
            "REJECT",
            "--reject-with",
            "tcp-reset",
        ];
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net=/run/netns/{}", self.name))
            .arg("iptables")
            .arg(if refuse { "-I" } else { "-D" })
            .args(rule);
        let label = format!("iptables REJECT {refuse} in {}", self.name);
        run(&mut cmd, RunOptions::new(label, Duration::from_secs(10)))?.check()?;
        Ok(())
    }

    /// Stops its engine and removes its namespace, links, routes and state.
    pub fn down(&self) -> Result<()> {
        run_script(&["down", &self.name], Duration::from_secs(90))
            .with_context(|| format!("taking down Docker host {}", self.name))?;
        Ok(())
    }
}
