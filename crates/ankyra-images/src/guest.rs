//! A tiny bootable test guest, like devstack's cirros but made from Debian
//! bookworm packages only (nothing can be downloaded here): the 6.1 cloud
//! kernel, an initramfs of `busybox-static` and the kernel's virtio modules,
//! on a 32 MiB syslinux disk, compressed to a qcow2 of about 13 MB.
//!
//! The guest prints [`GUEST_MARKER`] on its serial console (`ttyS0`) once
//! up, `ANKYRA-GUEST eth0 <address>` once DHCP answered, then
//! [`HEARTBEAT_PREFIX`]`N` every second (N counting from 1) forever. It runs
//! `telnetd -l /bin/sh`, and powers off at once on the ACPI power button
//! (busybox `acpid`), printing [`POWEROFF_LINE`] first, so a soft stop or
//! reboot is quick.
//!
//! The disk is an artifact in an image, `ankyra/guest:<version>`: one build
//! step on the base image installs the tools and the kernel, builds
//! `/guest/ankyra-guest.qcow2` (and `/guest/sha256`), and purges everything
//! it installed, so the image's own layer is little more than the disk. Its
//! recipe hash label decides whether it is built again; its role label is
//! [`ROLE`] (not `service`: [`crate::list`] does not show it).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use ankyra_runtime::{CommitOptions, ContainerSpec, Docker};
use sha2::{Digest, Sha256};
use tracing::info;

use crate::error::ImageError;
use crate::labels::{self, Labels};
use crate::report::{ImageEvent, Reporter};
use crate::step::{self, Step, BUILD_CONTAINER_PREFIX};
use crate::{base, recipe_hash, BuildOptions, BuiltImage};

/// The guest's version, in one place for the consts built from it.
macro_rules! guest_version {
    () => {
        "v1"
    };
}

/// The guest's version: bump it whenever the guest (or its build) changes.
pub const VERSION: &str = guest_version!();
/// Repository of the guest image; its tag is [`VERSION`].
pub const REPOSITORY: &str = "ankyra/guest";
/// `io.ankyra.role` of the guest image.
pub const ROLE: &str = "artifact";
/// Where the qcow2 lives in the image.
pub const QCOW2_PATH: &str = "/guest/ankyra-guest.qcow2";
/// The `sha256sum` line of the qcow2, in the image.
pub const SHA256_PATH: &str = "/guest/sha256";

/// The console line that says the guest is up.
pub const GUEST_MARKER: &str = concat!("ANKYRA-GUEST up ", guest_version!());
/// Heartbeat lines are this prefix and a number counting up from 1.
pub const HEARTBEAT_PREFIX: &str = "ANKYRA-GUEST heartbeat ";
/// Prefix of the line printed once DHCP gave eth0 an address (the address follows).
pub const ADDRESS_PREFIX: &str = "ANKYRA-GUEST eth0 ";
/// The console line printed just before the guest powers off.
pub const POWEROFF_LINE: &str = "ANKYRA-GUEST poweroff";

/// The guest disk as an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestImage {
    /// `ankyra/guest:<version>`.
    pub reference: String,
    /// The image's ID, `sha256:...`.
    pub id: String,
    /// The qcow2's sha256, lowercase hex.
    pub sha256: String,
    /// The qcow2's size in bytes.
    pub size: u64,
}

/// `ankyra/guest:<version>`.
pub fn reference() -> String {
    format!("{REPOSITORY}:{VERSION}")
}

/// Builds `ankyra/guest:<version>` when missing or built from another recipe
/// (progress through `reporter`), and returns it. The base image is made
/// first if needed; apt uses the base's sources, i.e. `opts`' mirrors.
pub async fn ensure(
    docker: &Docker,
    opts: &BuildOptions,
    reporter: &dyn Reporter,
) -> Result<GuestImage, ImageError> {
    let reference = reference();
    let result = ensure_inner(docker, opts, reporter, &reference).await;
    if let Err(e) = &result {
        reporter.event(ImageEvent::Failed {
            reference,
            error: e.to_string(),
        });
    }
    result
}

async fn ensure_inner(
    docker: &Docker,
    opts: &BuildOptions,
    reporter: &dyn Reporter,
    reference: &str,
) -> Result<GuestImage, ImageError> {
    let start = Instant::now();
    let base_ref = base::base_reference(opts);
    let script = build_script();
    let hash = recipe_hash(&serde_json::json!({
        "guest": VERSION,
        "base": base_ref,
        "script": script,
    }));
    let done = |id: &str, size: i64, created: bool| {
        reporter.event(ImageEvent::Done {
            image: BuiltImage {
                reference: reference.to_string(),
                id: id.to_string(),
                size,
                created,
                seconds: start.elapsed().as_secs_f64(),
            },
        })
    };
    if let Some((id, size)) = existing(docker, reference, &hash).await? {
        let image = describe(docker, reference, &id).await?;
        done(&id, size, false);
        return Ok(image);
    }
    reporter.event(ImageEvent::Started {
        reference: reference.to_string(),
    });
    // Another process may be building it: wait for it, then look again.
    let _lock = crate::build::lock_reference(opts, reference).await?;
    if let Some((id, size)) = existing(docker, reference, &hash).await? {
        let image = describe(docker, reference, &id).await?;
        done(&id, size, false);
        return Ok(image);
    }
    step::remove_leftovers(docker).await?;
    reporter.event(ImageEvent::Step {
        reference: reference.to_string(),
        step: "base image".into(),
    });
    let base = base::ensure_base(docker, opts).await?;
    reporter.event(ImageEvent::Step {
        reference: reference.to_string(),
        step: "build the guest disk".into(),
    });
    let source = format!(
        "https://packages.debian.org/{}/linux-image-cloud-amd64",
        base::SUITE
    );
    let labels = Labels {
        role: ROLE,
        reference,
        component: "guest",
        service: "guest",
        version: VERSION,
        release: "debian-12",
        source: &source,
        hash: &hash,
    }
    .build();
    let temp = Step {
        image: reference,
        what: "build the guest disk",
        from: &base,
        script,
        binds: vec![],
        commit: CommitOptions {
            labels,
            cmd: Some(vec!["/bin/sh".into()]),
            comment: Some(format!("ankyra: guest disk {VERSION} ({QCOW2_PATH})")),
            ..Default::default()
        },
    }
    .run(docker)
    .await?;
    step::tag_or_discard(docker, &temp, reference).await?;
    let details = docker
        .require_image(reference)
        .await
        .map_err(ImageError::docker(reference))?;
    let image = describe(docker, reference, &details.id).await?;
    info!(
        %reference,
        id = %details.id,
        qcow2_bytes = image.size,
        seconds = start.elapsed().as_secs_f64(),
        "built the guest image"
    );
    done(&details.id, details.size, true);
    Ok(image)
}

/// The qcow2's bytes, read out of `image` (through a container that is
/// created, never started, and removed). Checked against its sha256.
pub async fn qcow2(docker: &Docker, image: &GuestImage) -> Result<Vec<u8>, ImageError> {
    let bytes = read_files(docker, &image.reference, &image.id, &[QCOW2_PATH])
        .await?
        .remove(0);
    let sha = hex::encode(Sha256::digest(&bytes));
    if sha != image.sha256 {
        return Err(invalid(format!(
            "{}:{QCOW2_PATH} has sha256 {sha}, the image says {}",
            image.reference, image.sha256
        )));
    }
    Ok(bytes)
}

/// The heartbeat numbers in a console log, in the order they appear (for
/// tests that look for gaps). Lines may carry a prefix (a timestamp, a log
/// tag) before [`HEARTBEAT_PREFIX`]; a line cut short by the end of the log
/// is left out.
pub fn heartbeats(console: &str) -> Vec<u64> {
    let complete = match console.rfind('\n') {
        Some(end) => &console[..end],
        None => "",
    };
    complete
        .lines()
        .filter_map(|line| {
            let (_, rest) = line.trim_end_matches('\r').split_once(HEARTBEAT_PREFIX)?;
            let digits: &str = rest.trim();
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            digits.parse().ok()
        })
        .collect()
}

/// The image tagged `reference` (ID and size) if it was built from `hash`.
async fn existing(
    docker: &Docker,
    reference: &str,
    hash: &str,
) -> Result<Option<(String, i64)>, ImageError> {
    let found = docker
        .inspect_image(reference)
        .await
        .map_err(ImageError::docker(reference))?;
    Ok(found
        .filter(|d| d.labels.get(labels::RECIPE_HASH).map(String::as_str) == Some(hash))
        .map(|d| (d.id, d.size)))
}

/// Reads the qcow2's checksum and size from the image.
async fn describe(docker: &Docker, reference: &str, id: &str) -> Result<GuestImage, ImageError> {
    let sums = read_files(docker, reference, id, &[SHA256_PATH])
        .await?
        .remove(0);
    let text = String::from_utf8_lossy(&sums);
    let (sha256, size) = parse_sums(&text)
        .ok_or_else(|| invalid(format!("{reference}:{SHA256_PATH} is malformed: {text:?}")))?;
    Ok(GuestImage {
        reference: reference.to_string(),
        id: id.to_string(),
        sha256,
        size,
    })
}

/// `/guest/sha256` holds a `sha256sum` line and, on the next line, the size in bytes.
fn parse_sums(text: &str) -> Option<(String, u64)> {
    let mut lines = text.lines();
    let sha = lines.next()?.split_whitespace().next()?;
    let size = lines.next()?.trim().parse().ok()?;
    (sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| (sha.to_ascii_lowercase(), size))
}

fn invalid(message: String) -> ImageError {
    ImageError::Io {
        path: QCOW2_PATH.into(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, message),
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The contents of `paths` in image `id`, through a created (never started)
/// container. Named like build containers, so a crash's leftover is removed
/// by the next build.
async fn read_files(
    docker: &Docker,
    reference: &str,
    id: &str,
    paths: &[&str],
) -> Result<Vec<Vec<u8>>, ImageError> {
    let name = format!(
        "{BUILD_CONTAINER_PREFIX}guest-read-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let spec = ContainerSpec {
        name: name.clone(),
        image: id.to_string(),
        cmd: Some(vec!["/bin/true".into()]),
        network_disabled: true,
        ..Default::default()
    };
    docker
        .create_container(&spec)
        .await
        .map_err(ImageError::docker(reference))?;
    let mut remove = crate::step::Cleanup {
        docker: docker.clone(),
        name: name.clone(),
        armed: true,
    };
    let mut out = Vec::with_capacity(paths.len());
    for path in paths {
        out.push(
            docker
                .download_file(&name, path)
                .await
                .map_err(ImageError::docker(reference))?,
        );
    }
    remove.armed = false;
    docker
        .remove_container(&name)
        .await
        .map_err(ImageError::docker(reference))?;
    Ok(out)
}

/// What the build step installs, and purges again before the commit.
const PACKAGES: &[&str] = &[
    "linux-image-cloud-amd64",
    "busybox-static",
    "fdisk",
    "syslinux",
    "syslinux-common",
    "mtools",
    "dosfstools",
    "qemu-utils",
];

/// Kernel modules the guest loads, in this order; a missing one is built in.
/// The virtio stack for the disk and the network, then the ACPI power button
/// and evdev, for `acpid`.
const MODULES: &[&str] = &[
    "virtio_ring",
    "virtio",
    "virtio_pci_legacy_dev",
    "virtio_pci_modern_dev",
    "virtio_pci",
    "failover",
    "net_failover",
    "virtio_net",
    "virtio_blk",
    "button",
    "evdev",
];

/// The guest's `/init` (busybox sh, PID 1).
const INIT: &str = r#"#!/bin/sh
# Ankyra's test guest (PID 1): marker, DHCP, telnetd, heartbeats; powers off
# on the ACPI power button.
export PATH=/bin
mkdir -p /proc /sys /dev /tmp /run /var/log /etc
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts
mount -t devpts devpts /dev/pts
exec </dev/console >/dev/console 2>&1
echo "@MARKER@"
for m in @MODULES@; do
    [ -f "/lib/modules/$m.ko" ] && insmod "/lib/modules/$m.ko" 2>/dev/null
done
hostname ankyra-guest
ip link set lo up
# The power button: busybox acpid runs /etc/acpi/poweroff on PWRF. It opens
# the event devices there are when it starts: wait for their nodes.
i=0
while [ $i -lt 20 ]; do
    missing=0
    for e in /sys/class/input/event*; do
        [ -e "$e" ] && [ ! -e "/dev/input/${e##*/}" ] && missing=1
    done
    [ $missing = 0 ] && break
    sleep 0.1
    i=$((i + 1))
done
acpid -c /etc/acpi -a /etc/acpid.conf -l /var/log/acpid.log
i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 20 ]; do sleep 0.1; i=$((i + 1)); done
if [ -e /sys/class/net/eth0 ]; then
    ip link set eth0 up
    udhcpc -i eth0 -s /usr/share/udhcpc/default.script >/var/log/udhcpc.log 2>&1 &
fi
telnetd -l /bin/sh
n=0
while :; do
    n=$((n + 1))
    echo "@HEARTBEAT@$n"
    sleep 1
done
"#;

/// udhcpc's script: sets the address, the default route and DNS; prints the
/// address once bound.
const UDHCPC_SCRIPT: &str = r#"#!/bin/sh
case "$1" in
deconfig)
    ip -4 addr flush dev "$interface"
    ip link set "$interface" up
    ;;
bound|renew)
    if ! ip -4 addr show dev "$interface" | grep -q "inet $ip/"; then
        ip -4 addr flush dev "$interface"
        ifconfig "$interface" "$ip" netmask "${subnet:-255.255.255.0}"
    fi
    if [ -n "$router" ]; then
        ip route del default 2>/dev/null
        for r in $router; do ip route add default via "$r" dev "$interface"; break; done
    fi
    : >/etc/resolv.conf
    for d in $dns; do echo "nameserver $d" >>/etc/resolv.conf; done
    [ "$1" = bound ] && echo "@ADDRESS@$ip" >/dev/console
    ;;
esac
exit 0
"#;

/// What acpid runs on the power button.
const POWEROFF_SCRIPT: &str = r#"#!/bin/sh
echo "@POWEROFF@" >/dev/console
sync
poweroff -f
"#;

/// syslinux's configuration: serial console, boot at once.
const SYSLINUX_CFG: &str = "SERIAL 0 115200
DEFAULT linux
LABEL linux
  KERNEL /vmlinuz
  INITRD /initrd.gz
  APPEND console=ttyS0,115200 quiet
";

/// The guest's files with the consts filled in.
fn init_script() -> String {
    INIT.replace("@MARKER@", GUEST_MARKER)
        .replace("@HEARTBEAT@", HEARTBEAT_PREFIX)
        .replace("@MODULES@", &MODULES.join(" "))
}

/// The one build step: install, build the disk, purge what was installed.
fn build_script() -> String {
    let udhcpc = UDHCPC_SCRIPT.replace("@ADDRESS@", ADDRESS_PREFIX);
    let poweroff = POWEROFF_SCRIPT.replace("@POWEROFF@", POWEROFF_LINE);
    format!(
        r#"export DEBIAN_FRONTEND=noninteractive INITRD=No MTOOLS_SKIP_CHECK=1
dpkg-query -W -f '${{Package}}\n' | sort >/tmp/pkgs.before
apt-get update -qq
apt-get install -y -qq --no-install-recommends {packages} >/dev/null
dpkg-query -W -f '${{Package}}\n' | sort >/tmp/pkgs.after
kv=$(ls /lib/modules)
echo "kernel $kv"
w=/tmp/guest
rm -rf $w
mkdir -p $w/root/bin $w/root/dev $w/root/lib/modules $w/root/etc/acpi $w/root/usr/share/udhcpc $w/disk
# The kernel opens it for /init before anything is mounted.
mknod -m 600 $w/root/dev/console c 5 1 || echo "no /dev/console in the initramfs (no mknod)"
cp /bin/busybox $w/root/bin/busybox
for a in $($w/root/bin/busybox --list); do
    [ "$a" = busybox ] || ln -s busybox "$w/root/bin/$a"
done
for a in sbin usr/bin usr/sbin; do ln -s /bin "$w/root/$a"; done
for m in {modules}; do
    f=$(find /lib/modules/$kv \( -name "$m.ko" -o -name "$m.ko.xz" \) | head -n 1)
    case "$f" in
    "") echo "module $m: built in" ;;
    *.xz) busybox xz -dc "$f" >"$w/root/lib/modules/$m.ko"; echo "module $m: $f (decompressed)" ;;
    *) cp "$f" "$w/root/lib/modules/$m.ko"; echo "module $m: $f" ;;
    esac
done
cat >$w/root/init <<'ANKYRA_EOF'
{init}ANKYRA_EOF
cat >$w/root/usr/share/udhcpc/default.script <<'ANKYRA_EOF'
{udhcpc}ANKYRA_EOF
cat >$w/root/etc/acpi/poweroff <<'ANKYRA_EOF'
{poweroff}ANKYRA_EOF
echo 'PWRF poweroff' >$w/root/etc/acpid.conf
chmod 755 $w/root/init $w/root/usr/share/udhcpc/default.script $w/root/etc/acpi/poweroff
(cd $w/root && find . | busybox cpio -o -H newc 2>/dev/null) | gzip -9 >$w/disk/initrd.gz
cp /boot/vmlinuz-$kv $w/disk/vmlinuz
cat >$w/disk/syslinux.cfg <<'ANKYRA_EOF'
{syslinux}ANKYRA_EOF
cd $w
truncate -s 32M disk.raw
printf 'label: dos\nstart=2048, type=e, bootable\n' | sfdisk -q disk.raw
mkfs.vfat -F 16 --offset 2048 disk.raw 31744 >/dev/null
mcopy -i disk.raw@@1048576 disk/vmlinuz disk/initrd.gz disk/syslinux.cfg ::/
syslinux --offset 1048576 --install disk.raw
dd if=/usr/lib/syslinux/mbr/mbr.bin of=disk.raw bs=440 count=1 conv=notrunc 2>/dev/null
mkdir -p /guest
qemu-img convert -c -O qcow2 disk.raw {qcow2}
cd /guest
sha256sum {name} >sha256
stat -c %s {name} >>sha256
ls -l $w/disk /guest
cat sha256
cd /
comm -13 /tmp/pkgs.before /tmp/pkgs.after >/tmp/pkgs.new
apt-get purge -y -qq $(cat /tmp/pkgs.new) >/dev/null
apt-get clean
rm -rf $w /tmp/pkgs.* /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log \
    /var/log/alternatives.log /var/cache/debconf/*-old /var/lib/dpkg/*-old /boot/* /lib/modules/*
"#,
        packages = PACKAGES.join(" "),
        modules = MODULES.join(" "),
        init = init_script(),
        qcow2 = QCOW2_PATH,
        name = QCOW2_PATH.rsplit('/').next().unwrap_or(QCOW2_PATH),
        syslinux = SYSLINUX_CFG,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeats_are_read_in_order_with_prefixes_and_noise() {
        let log = "SeaBIOS\r\nANKYRA-GUEST up v1\r\n\
                   ANKYRA-GUEST heartbeat 1\r\n\
                   [    3.1] random: crng init done\n\
                   ANKYRA-GUEST heartbeat 2\n\
                   12:00:01 ANKYRA-GUEST heartbeat 4\n\
                   ANKYRA-GUEST heartbeat x\n\
                   ANKYRA-GUEST heartbeat \n\
                   ANKYRA-GUEST heartbeat 5 extra\n\
                   ANKYRA-GUEST heartbeat 3\n\
                   ANKYRA-GUEST heartbeat 1";
        // The last line has no newline yet: it may be cut (`1` of `10`).
        assert_eq!(heartbeats(log), vec![1, 2, 4, 3]);
        assert_eq!(heartbeats(""), Vec::<u64>::new());
        assert_eq!(heartbeats("ANKYRA-GUEST heartbeat 7\n"), vec![7]);
    }

    #[test]
    fn the_marker_carries_the_version() {
        assert_eq!(GUEST_MARKER, "ANKYRA-GUEST up v1");
        assert_eq!(reference(), "ankyra/guest:v1");
        assert!(HEARTBEAT_PREFIX.ends_with(' '));
    }

    #[test]
    fn init_prints_the_marker_loads_modules_in_order_and_beats() {
        let init = init_script();
        assert!(init.starts_with("#!/bin/sh\n"));
        assert!(init.contains(&format!("echo \"{GUEST_MARKER}\"")));
        assert!(init.contains("echo \"ANKYRA-GUEST heartbeat $n\""));
        assert!(init.contains(
            "for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev \
             virtio_pci failover net_failover virtio_net virtio_blk button evdev; do"
        ));
        assert!(init.contains("mount -t devtmpfs"));
        assert!(init.contains("telnetd -l /bin/sh"));
        assert!(init.contains("acpid "));
        assert!(!init.contains('@'), "every placeholder is filled: {init}");
    }

    #[test]
    fn the_build_script_makes_the_disk_without_loop_devices_and_purges_its_tools() {
        let s = build_script();
        for needle in [
            "sfdisk -q disk.raw",
            "mkfs.vfat -F 16 --offset 2048 disk.raw 31744",
            "mcopy -i disk.raw@@1048576",
            "syslinux --offset 1048576 --install disk.raw",
            "bs=440 count=1 conv=notrunc",
            "busybox cpio -o -H newc",
            "qemu-img convert -c -O qcow2 disk.raw /guest/ankyra-guest.qcow2",
            "sha256sum ankyra-guest.qcow2 >sha256",
            "APPEND console=ttyS0,115200 quiet",
            "echo \"ANKYRA-GUEST eth0 $ip\" >/dev/console",
            "echo \"ANKYRA-GUEST poweroff\" >/dev/console",
            "poweroff -f",
            "apt-get purge -y -qq $(cat /tmp/pkgs.new)",
            "rm -rf $w ",
        ] {
            assert!(s.contains(needle), "missing {needle:?} in\n{s}");
        }
        assert!(
            !s.contains("losetup") && !s.contains("-o loop"),
            "no loop devices"
        );
        for placeholder in [
            "@MARKER@",
            "@HEARTBEAT@",
            "@MODULES@",
            "@ADDRESS@",
            "@POWEROFF@",
        ] {
            assert!(!s.contains(placeholder), "{placeholder} is filled");
        }
        // Here-documents must not end early: no line of the files is the delimiter.
        assert_eq!(s.matches("ANKYRA_EOF").count(), 8);
    }

    #[test]
    fn sums_are_parsed() {
        let sha = "a".repeat(64);
        assert_eq!(
            parse_sums(&format!("{sha}  ankyra-guest.qcow2\n13000000\n")),
            Some((sha.clone(), 13_000_000))
        );
        assert_eq!(parse_sums(&format!("{sha}  x\n")), None);
        assert_eq!(parse_sums("nothex  x\n12\n"), None);
    }
}
