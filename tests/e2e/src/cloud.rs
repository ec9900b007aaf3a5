//! The `Cloud` guard (a cloud deployed through the real `ankyra` binary, destroyed on drop)
//! and the `Serve` guard (`ankyra serve` as a child process).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};
use serde_json::Value;
use tempfile::TempDir;

use crate::e2e_log;
use crate::paths::{ankyra_bin, openstack_bin};
use crate::process::{run, Output, RunOptions};
use crate::status::Status;
use crate::wait::poll_until;

/// `ANKYRA_E2E_KEEP=1`: leave the cloud and its files in place after the test.
pub fn keep_requested() -> bool {
    std::env::var("ANKYRA_E2E_KEEP").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// A duration from the environment in seconds, else `default`.
pub fn env_secs(var: &str, default: u64) -> Duration {
    Duration::from_secs(
        std::env::var(var)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default),
    )
}

/// The unique cloud name of this test process: `$ANKYRA_E2E_CLOUD`, else `e2e-<pid>`.
pub fn unique_cloud_name() -> String {
    std::env::var("ANKYRA_E2E_CLOUD").unwrap_or_else(|_| format!("e2e-{}", std::process::id()))
}

/// `ankyra init`'s record with `spec.compute.driver: fake` and without the
/// nova-libvirt component (its comment line, name, version and replicas).
pub fn fake_driver_record(init: &str) -> Result<String> {
    let mut out = Vec::new();
    let mut lines = init.lines().peekable();
    let mut found = (false, false);
    while let Some(line) = lines.next() {
        if line == "    driver: libvirt" {
            out.push("    driver: fake");
            found.0 = true;
            continue;
        }
        if line.starts_with("    # ") && lines.peek() == Some(&"    nova-libvirt:") {
            continue;
        }
        if line == "    nova-libvirt:" {
            found.1 = true;
            while lines.peek().is_some_and(|l| l.starts_with("      ")) {
                lines.next();
            }
            continue;
        }
        out.push(line);
    }
    ensure!(
        found == (true, true),
        "`ankyra init` printed no libvirt driver or no nova-libvirt component:\n{init}"
    );
    Ok(out.join("\n") + "\n")
}

/// A cloud with its own store (a SQLite file in a temporary folder; Ankyra writes its
/// configs and clouds.yaml next to it). Drop runs `ankyra destroy NAME --purge` unless
/// `ANKYRA_E2E_KEEP=1`.
pub struct Cloud {
    pub name: String,
    pub dir: PathBuf,
    pub store: PathBuf,
    pub record: PathBuf,
    ankyra: PathBuf,
    openstack: Option<PathBuf>,
    clouds_yaml: Option<PathBuf>,
    tmp: Option<TempDir>,
    destroyed: bool,
}

impl Cloud {
    /// A fresh store and the record `ankyra init --name NAME` prints, written to a file.
    /// Nothing is deployed yet: call [`Cloud::apply`]. The guard exists before the
    /// deployment starts, so a failed apply is still cleaned up.
    pub fn init() -> Result<Cloud> {
        let ankyra = ankyra_bin()?;
        let name = unique_cloud_name();
        let tmp = tempfile::Builder::new()
            .prefix(&format!("ankyra-{name}-"))
            .tempdir()
            .context("creating the test's temporary folder")?;
        let dir = tmp.path().to_path_buf();
        let cloud = Cloud {
            store: dir.join("store.db"),
            record: dir.join(format!("{name}.yaml")),
            name,
            dir,
            ankyra,
            openstack: None,
            clouds_yaml: None,
            tmp: Some(tmp),
            // Nothing to destroy until apply has run.
            destroyed: true,
        };
        e2e_log!(
            "cloud {}: store {}, ankyra {}",
            cloud.name,
            cloud.store.display(),
            cloud.ankyra.display()
        );
        let out = cloud.ankyra_run(
            &["init", "--name", &cloud.name],
            Duration::from_secs(60),
            false,
        )?;
        out.check().context("`ankyra init` failed")?;
        std::fs::write(&cloud.record, &out.stdout)
            .with_context(|| format!("writing {}", cloud.record.display()))?;
        Ok(cloud)
    }

    /// [`Cloud::init`] with nova's fake driver and no nova-libvirt: for the tests
    /// that need no guests (upgrades of other services, crashes), which are then
    /// cheaper on CI's two cores.
    pub fn init_fake_driver() -> Result<Cloud> {
        let cloud = Cloud::init()?;
        let record = std::fs::read_to_string(&cloud.record)?;
        std::fs::write(&cloud.record, fake_driver_record(&record)?)?;
        Ok(cloud)
    }

    /// A `Command` for the ankyra binary with this cloud's store.
    pub fn ankyra_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.ankyra);
        cmd.args(args)
            .env("ANKYRA_STORE", &self.store)
            .env("NO_COLOR", "1");
        cmd
    }

    /// Runs ankyra to completion (not checking the exit code).
    pub fn ankyra_run(&self, args: &[&str], timeout: Duration, echo: bool) -> Result<Output> {
        let label = format!("ankyra {}", args.first().copied().unwrap_or(""));
        let mut opts = RunOptions::new(label, timeout);
        if echo {
            opts = opts.echo_stderr();
        }
        run(&mut self.ankyra_cmd(args), opts)
    }

    /// `ankyra apply -f RECORD -m MSG`, its progress (stderr) echoed live. Returns the
    /// output whatever the exit code (the caller asserts), or an error on timeout
    /// (`ANKYRA_E2E_APPLY_TIMEOUT`, seconds, default 3600: cold image builds are slow).
    pub fn apply(&mut self, message: &str) -> Result<Output> {
        let record = self.record.display().to_string();
        let timeout = env_secs("ANKYRA_E2E_APPLY_TIMEOUT", 3600);
        e2e_log!("ankyra apply -f {record} (timeout {}s)", timeout.as_secs());
        // From here on there may be containers to clean up.
        self.destroyed = false;
        let out = self.ankyra_run(&["apply", "-f", &record, "-m", message], timeout, true)?;
        e2e_log!(
            "ankyra apply exited with {} after {:.1}s",
            out.status,
            out.elapsed.as_secs_f64()
        );
        Ok(out)
    }

    /// `ankyra status NAME -o json`, parsed.
    pub fn status(&self) -> Result<Status> {
        let out = self.ankyra_run(
            &["status", &self.name, "-o", "json"],
            Duration::from_secs(120),
            false,
        )?;
        out.check().context("`ankyra status -o json` failed")?;
        Status::parse(&out.stdout)
    }

    /// The clouds.yaml Ankyra wrote for this cloud (from `status`), checked to exist.
    pub fn clouds_yaml(&mut self) -> Result<PathBuf> {
        if let Some(p) = &self.clouds_yaml {
            return Ok(p.clone());
        }
        let status = self.status()?;
        let path = PathBuf::from(
            status
                .clouds_yaml
                .context("`ankyra status` names no clouds_yaml")?,
        );
        if !path.is_file() {
            bail!(
                "`ankyra status` names clouds_yaml {}, which does not exist",
                path.display()
            );
        }
        self.clouds_yaml = Some(path.clone());
        Ok(path)
    }

    fn openstack_path(&mut self) -> Result<PathBuf> {
        if let Some(p) = &self.openstack {
            return Ok(p.clone());
        }
        let p = openstack_bin()?;
        e2e_log!("openstack client: {}", p.display());
        self.openstack = Some(p.clone());
        Ok(p)
    }

    /// `openstack --os-cloud NAME ARGS...` with `OS_CLIENT_CONFIG_FILE` = this cloud's
    /// clouds.yaml; stdout on success, an error with stderr otherwise.
    pub fn openstack(&mut self, args: &[&str]) -> Result<String> {
        let config = self.clouds_yaml()?;
        let name = self.name.clone();
        self.openstack_with(&config, &name, args)
    }

    /// Like [`Cloud::openstack`] with `-f json` appended, parsed.
    pub fn openstack_json(&mut self, args: &[&str]) -> Result<Value> {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["-f", "json"]);
        let text = self.openstack(&all)?;
        serde_json::from_str(&text)
            .with_context(|| format!("`openstack {}` did not print JSON:\n{text}", all.join(" ")))
    }

    /// `openstack --os-cloud CLOUD ARGS...` against any clouds file (e.g. another user's).
    pub fn openstack_with(&mut self, config: &Path, cloud: &str, args: &[&str]) -> Result<String> {
        let out = self.openstack_output(config, cloud, args)?;
        out.check()?;
        Ok(out.stdout)
    }

    /// Runs the client and returns its output whatever the exit code.
    pub fn openstack_output(
        &mut self,
        config: &Path,
        cloud: &str,
        args: &[&str],
    ) -> Result<Output> {
        let bin = self.openstack_path()?;
        let mut cmd = Command::new(bin);
        // Nothing from the caller's environment may pick another cloud or user.
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("OS_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("OS_CLIENT_CONFIG_FILE", config)
            .arg("--os-cloud")
            .arg(cloud)
            .args(args);
        let shown: Vec<&str> = args
            .iter()
            .copied()
            .filter(|a| !a.starts_with("--os-"))
            .take(3)
            .collect();
        run(
            &mut cmd,
            RunOptions::new(
                format!("openstack {}", shown.join(" ")),
                env_secs("ANKYRA_E2E_OSC_TIMEOUT", 300),
            ),
        )
    }

    /// `ankyra serve --cloud NAME --interval SECS` as a child process, its output in a
    /// log file in the test folder.
    pub fn serve(&self, interval_secs: u64) -> Result<Serve> {
        let log = self.dir.join("serve.log");
        let file = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let err = file.try_clone()?;
        let interval = interval_secs.to_string();
        let child = self
            .ankyra_cmd(&["serve", "--cloud", &self.name, "--interval", &interval])
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .spawn()
            .context("starting `ankyra serve`")?;
        e2e_log!(
            "ankyra serve started (pid {}, log {})",
            child.id(),
            log.display()
        );
        Ok(Serve {
            child: Some(child),
            log,
        })
    }

    /// Uploads `data` to glance as a raw image named `name` and waits until it is
    /// active (a killed, deleted or deactivated image fails at once). Returns the
    /// image as `image show` prints it.
    pub fn upload_image(&mut self, data: &[u8], name: &str) -> Result<Value> {
        let upload = self.dir.join(format!("{name}.raw"));
        std::fs::write(&upload, data)?;
        let upload_s = upload.display().to_string();
        let image = self.openstack_json(&[
            "image",
            "create",
            "--file",
            &upload_s,
            "--disk-format",
            "raw",
            "--container-format",
            "bare",
            name,
        ])?;
        let id = str_field(&image, "id")?;
        e2e_log!("image {name} ({id}) uploaded");
        poll_until(
            "the image to become active",
            Duration::from_secs(180),
            Duration::from_secs(2),
            || {
                let v = self.openstack_json(&["image", "show", &id])?;
                let status = str_field(&v, "status")?;
                if matches!(status.as_str(), "killed" | "deleted" | "deactivated") {
                    // Not worth waiting for: final, through a recognisable message.
                    return Ok(Err(anyhow!(
                        "expected image {id} active, found {status}: {v}"
                    )));
                }
                ensure!(status == "active", "status {status}");
                Ok(Ok(v))
            },
        )?
    }

    /// `ankyra destroy NAME --purge`.
    pub fn destroy(&mut self) -> Result<()> {
        self.destroyed = true;
        e2e_log!("ankyra destroy {} --purge", self.name);
        let name = self.name.clone();
        let out = self.ankyra_run(
            &["destroy", &name, "--purge"],
            Duration::from_secs(600),
            true,
        )?;
        out.check().context("`ankyra destroy --purge` failed")?;
        Ok(())
    }
}

impl Drop for Cloud {
    fn drop(&mut self) {
        if keep_requested() {
            if let Some(tmp) = self.tmp.take() {
                let dir = tmp.keep();
                e2e_log!(
                    "ANKYRA_E2E_KEEP: cloud {} left running; store {} (in {})",
                    self.name,
                    self.store.display(),
                    dir.display()
                );
            }
            return;
        }
        if !self.destroyed {
            if let Err(e) = self.destroy() {
                e2e_log!("cleanup: destroying cloud {} failed: {e:#}", self.name);
            }
        }
    }
}

/// `ankyra serve` running as our child. Stopped with SIGTERM by its PID (on drop too).
pub struct Serve {
    child: Option<Child>,
    log: PathBuf,
}

impl Serve {
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Ok(None) while it runs, its exit status once it has exited.
    pub fn exited(&mut self) -> Result<Option<ExitStatus>> {
        match self.child.as_mut() {
            Some(c) => Ok(c.try_wait()?),
            None => bail!("ankyra serve was already stopped"),
        }
    }

    /// What serve printed so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM by PID, then wait up to `timeout` for it to exit. An error if it did not
    /// exit in time (it is then killed).
    pub fn terminate(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let mut child = self
            .child
            .take()
            .context("ankyra serve was already stopped")?;
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        let pid = child.id().to_string();
        let sent = Command::new("kill").args(["-s", "TERM", &pid]).status();
        if !sent.is_ok_and(|s| s.success()) {
            let _ = child.kill();
            let _ = child.wait();
            bail!("could not send SIGTERM to ankyra serve (pid {pid})");
        }
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            if start.elapsed() > timeout {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "ankyra serve (pid {pid}) did not exit within {}s of SIGTERM; killed it",
                    timeout.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if self.child.is_some() {
            if let Err(e) = self.terminate(Duration::from_secs(30)) {
                e2e_log!("cleanup: {e:#}");
            }
        }
    }
}

/// A string field of a JSON object, by exact key or case-insensitively (OSC mixes
/// `ID`/`id` between commands and versions); numbers are rendered as text.
pub fn str_field(v: &Value, key: &str) -> Result<String> {
    let obj = v
        .as_object()
        .with_context(|| format!("expected a JSON object with `{key}`, found {v}"))?;
    let found = obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    });
    match found {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        other => bail!("expected a string `{key}` in {v}, found {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fake_driver_record_drops_nova_libvirt_and_nothing_else() {
        let init = "spec:\n  compute:\n    driver: libvirt\n  components:\n    # n.\n    neutron-server:\n      version: 29.0.0\n      replicas: 1\n    # libvirtd; version 9.0.0.\n    nova-libvirt:\n      version: 9.0.0\n      replicas: 1\n    # c.\n    nova-conductor:\n      version: 34.0.0\n";
        let fake = fake_driver_record(init).expect("rewritten");
        assert_eq!(
            fake,
            "spec:\n  compute:\n    driver: fake\n  components:\n    # n.\n    neutron-server:\n      version: 29.0.0\n      replicas: 1\n    # c.\n    nova-conductor:\n      version: 34.0.0\n"
        );
        assert!(fake_driver_record("spec:\n  components:\n").is_err());
    }
}
