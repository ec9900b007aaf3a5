//! Real guests (feature `docker`): servers booted from Ankyra's test guest, their
//! QEMU processes (found by UUID in /proc: QEMU runs in the host's PID namespace),
//! and a watch on their console logs that timestamps every heartbeat line, so a
//! test can say whether a change stopped a guest, even for a moment.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::cloud::str_field;
use crate::engine::Engine;
use crate::wait::poll_until;
use crate::{e2e_log, Cloud};

/// The image and flavor every libvirt cloud offers.
pub const GUEST_IMAGE: &str = "ankyra-guest";
pub const GUEST_FLAVOR: &str = "ankyra.tiny";
/// What the guest prints once booted, and before each heartbeat number.
pub const MARKER: &str = "ANKYRA-GUEST up";
pub const HEARTBEAT: &str = "ANKYRA-GUEST heartbeat ";

/// The heartbeat numbers in a console log, in order (a last line without its
/// newline may be cut and is left out).
pub fn heartbeats(console: &str) -> Vec<u64> {
    let complete = match console.rfind('\n') {
        Some(i) => &console[..i],
        None => "",
    };
    complete
        .lines()
        .filter_map(|l| l.split_once(HEARTBEAT))
        .filter_map(|(_, n)| n.trim().parse().ok())
        .collect()
}

/// Boots a server from the test guest (`--nic none`) to ACTIVE; its ID.
pub fn boot(cloud: &mut Cloud, name: &str) -> Result<String> {
    let created = match cloud.openstack_json(&[
        "--os-compute-api-version",
        "2.37",
        "server",
        "create",
        "--image",
        GUEST_IMAGE,
        "--flavor",
        GUEST_FLAVOR,
        "--nic",
        "none",
        "--wait",
        name,
    ]) {
        Ok(v) => v,
        Err(e) => {
            // What nova says of it: its status and fault.
            let fault = cloud
                .openstack_json(&["server", "show", name])
                .map(|v| format!("status {:?}, fault {:?}", v.get("status"), v.get("fault")))
                .unwrap_or_else(|e2| format!("server show failed too: {e2:#}"));
            return Err(e.context(format!("booting {name} from {GUEST_IMAGE}: {fault}")));
        }
    };
    let status = str_field(&created, "status")?;
    if status != "ACTIVE" {
        bail!("server {name} is {status}, not ACTIVE: {created}");
    }
    str_field(&created, "id")
}

/// Waits until `openstack console log show` of the server shows the marker and
/// at least one heartbeat after it; returns the console text.
pub fn wait_booted(cloud: &mut Cloud, id: &str, timeout: Duration) -> Result<String> {
    poll_until(
        &format!("server {id}'s console shows the guest booted"),
        timeout,
        Duration::from_secs(2),
        || {
            let log = cloud.openstack(&["console", "log", "show", id])?;
            let after = log.rfind(MARKER).map(|i| &log[i..]).with_context(|| {
                format!("no `{MARKER}` yet:\n{}", crate::process::tail(&log, 5))
            })?;
            anyhow::ensure!(
                after.contains(HEARTBEAT),
                "no heartbeat after the marker yet"
            );
            Ok(log.clone())
        },
    )
}

/// The PID of the QEMU process running the guest with this UUID.
pub fn qemu_pid(uuid: &str) -> Result<Option<u32>> {
    for entry in std::fs::read_dir("/proc").context("reading /proc")? {
        let entry = entry?;
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        let qemu = args
            .first()
            .is_some_and(|a| a.windows(11).any(|w| w == b"qemu-system"));
        let ours = args
            .windows(2)
            .any(|w| w[0] == b"-uuid" && w[1] == uuid.as_bytes());
        if qemu && ours {
            return Ok(Some(pid));
        }
    }
    Ok(None)
}

/// Every QEMU process on this machine (any cloud's).
pub fn qemu_count() -> usize {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            std::fs::read(e.path().join("cmdline")).is_ok_and(|c| {
                c.split(|b| *b == 0)
                    .next()
                    .is_some_and(|a| a.windows(11).any(|w| w == b"qemu-system"))
            })
        })
        .count()
}

/// Where the host sees a server's console log: nova-compute's state volume.
pub fn console_path(engine: &Engine, cloud: &str, server: &str) -> Result<PathBuf> {
    let mount = engine.volume_mountpoint(&format!("ankyra-{cloud}-nova-compute-state"))?;
    Ok(PathBuf::from(mount)
        .join("instances")
        .join(server)
        .join("console.log"))
}

/// One guest's heartbeats during one phase.
#[derive(Debug, Clone)]
pub struct Beats {
    pub server: String,
    /// Heartbeat lines seen in the phase.
    pub lines: usize,
    /// The longest time between two heartbeats seen (the last one before the
    /// phase included), as polled every 0.2 s.
    pub longest_gap: Duration,
    /// Heartbeat numbers that never showed up.
    pub missing: u64,
}

#[derive(Default)]
struct Track {
    /// (number, when first seen), since the last take; the last one of the
    /// previous take stays first.
    seen: Vec<(u64, Instant)>,
}

/// Polls the console logs of some servers every 0.2 s, in a thread, and
/// timestamps each new heartbeat.
pub struct HeartbeatWatch {
    tracks: Arc<Mutex<BTreeMap<String, Track>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HeartbeatWatch {
    /// Watches `servers` (name → console log path).
    pub fn start(servers: BTreeMap<String, PathBuf>) -> HeartbeatWatch {
        let tracks: Arc<Mutex<BTreeMap<String, Track>>> = Arc::new(Mutex::new(
            servers
                .keys()
                .map(|k| (k.clone(), Track::default()))
                .collect(),
        ));
        let stop = Arc::new(AtomicBool::new(false));
        let (t, s) = (tracks.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut last: BTreeMap<String, u64> = BTreeMap::new();
            while !s.load(Ordering::Relaxed) {
                for (name, path) in &servers {
                    let Ok(bytes) = std::fs::read(path) else {
                        continue;
                    };
                    let text = String::from_utf8_lossy(&bytes);
                    let now = Instant::now();
                    let prev = last.get(name).copied();
                    let new: Vec<u64> = heartbeats(&text)
                        .into_iter()
                        .filter(|n| prev.is_none_or(|p| *n > p))
                        .collect();
                    if let Some(max) = new.iter().max() {
                        last.insert(name.clone(), *max);
                    }
                    if let Ok(mut tracks) = t.lock() {
                        if let Some(track) = tracks.get_mut(name) {
                            track.seen.extend(new.into_iter().map(|n| (n, now)));
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        HeartbeatWatch {
            tracks,
            stop,
            thread: Some(thread),
        }
    }

    /// The beats of each guest since the last take.
    pub fn take(&self) -> Vec<Beats> {
        let Ok(mut tracks) = self.tracks.lock() else {
            return Vec::new();
        };
        let now = Instant::now();
        tracks
            .iter_mut()
            .map(|(name, track)| {
                let seen = std::mem::take(&mut track.seen);
                let mut longest = Duration::ZERO;
                let mut missing = 0;
                for w in seen.windows(2) {
                    longest = longest.max(w[1].1 - w[0].1);
                    missing += w[1].0.saturating_sub(w[0].0 + 1);
                }
                // Silence since the last beat counts too.
                if let Some(last) = seen.last() {
                    longest = longest.max(now - last.1);
                    track.seen.push(*last);
                }
                Beats {
                    server: name.clone(),
                    // The carried-over beat of the previous take is not new.
                    lines: seen.len().saturating_sub(1),
                    longest_gap: if seen.is_empty() {
                        now.elapsed()
                    } else {
                        longest
                    },
                    missing,
                }
            })
            .collect()
    }

    /// Takes the beats and fails when a guest missed a line, beat no line,
    /// or was silent longer than `max_gap`.
    pub fn check(&self, phase: &str, max_gap: Duration) -> Result<Vec<Beats>> {
        let beats = self.take();
        for b in &beats {
            e2e_log!(
                "{phase}: guest {}: {} heartbeat lines, longest gap {:.2} s, {} missing",
                b.server,
                b.lines,
                b.longest_gap.as_secs_f64(),
                b.missing
            );
        }
        for b in &beats {
            if b.lines == 0 || b.missing > 0 || b.longest_gap > max_gap {
                bail!(
                    "{phase}: guest {} stopped beating: {} lines, longest gap {:.2} s (at most {:.0} s), {} missing",
                    b.server,
                    b.lines,
                    b.longest_gap.as_secs_f64(),
                    max_gap.as_secs_f64(),
                    b.missing
                );
            }
        }
        Ok(beats)
    }
}

impl Drop for HeartbeatWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeats_are_read_in_order_and_a_cut_line_is_left_out() {
        let log = "SeaBIOS\nANKYRA-GUEST up v1\nANKYRA-GUEST heartbeat 1\r\nANKYRA-GUEST heartbeat 2\nANKYRA-GUEST heartbeat 3";
        assert_eq!(heartbeats(log), [1, 2]);
        assert!(heartbeats("").is_empty());
    }

    #[test]
    fn a_gap_and_missing_lines_are_counted_across_takes() {
        let w = HeartbeatWatch {
            tracks: Arc::new(Mutex::new(BTreeMap::new())),
            stop: Arc::new(AtomicBool::new(true)),
            thread: None,
        };
        let t0 = Instant::now();
        w.tracks.lock().expect("lock").insert(
            "g".into(),
            Track {
                seen: vec![
                    (1, t0),
                    (2, t0 + Duration::from_secs(1)),
                    (5, t0 + Duration::from_secs(2)),
                ],
            },
        );
        let b = &w.take()[0];
        assert_eq!((b.lines, b.missing), (2, 2));
        // Nothing new: the last beat is carried over, no new line.
        let b = &w.take()[0];
        assert_eq!((b.lines, b.missing), (0, 0));
    }
}
