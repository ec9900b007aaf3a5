//! A small disk of its own for a volume, so a test can fill it: a sparse file
//! with ext4 on it, attached to a loop device (needs root, `mkfs.ext4` and
//! `losetup`; scripts/ensure-host-deps.sh installs them). Detached on drop.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{ensure, Context, Result};

use crate::e2e_log;

pub struct LoopDisk {
    /// The loop device, e.g. /dev/loop3.
    pub device: String,
    file: PathBuf,
}

fn run(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    ensure!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

impl LoopDisk {
    /// An empty ext4 filesystem of `mib` MiB (no blocks reserved for root:
    /// the whole disk is the volume's), on a loop device.
    pub fn create(name: &str, mib: u64) -> Result<LoopDisk> {
        let file =
            std::env::temp_dir().join(format!("ankyra-e2e-{name}-{}.img", std::process::id()));
        let f =
            std::fs::File::create(&file).with_context(|| format!("creating {}", file.display()))?;
        f.set_len(mib * 1024 * 1024)
            .with_context(|| format!("sizing {}", file.display()))?;
        drop(f);
        run(Command::new("mkfs.ext4")
            .args(["-q", "-F", "-m", "0"])
            .arg(&file))?;
        let device = run(Command::new("losetup")
            .args(["--find", "--show"])
            .arg(&file))?;
        ensure!(
            device.starts_with("/dev/loop"),
            "losetup printed `{device}`"
        );
        e2e_log!("disk {name}: {mib} MiB of ext4 on {device}");
        Ok(LoopDisk { device, file })
    }
}

impl Drop for LoopDisk {
    fn drop(&mut self) {
        // A device still mounted is detached by the kernel once unmounted (autoclear).
        if let Err(e) = run(Command::new("losetup").args(["-d", &self.device])) {
            e2e_log!("cleanup: detaching {}: {e:#}", self.device);
        }
        let _ = std::fs::remove_file(&self.file);
    }
}
