"""Times guest boots through nova beside QEMU alone, and reads guest memory (see run.sh)."""
import json, os, re, statistics, subprocess, time

osc, cloud, out = os.environ["BENCH_OSC"], os.environ["BENCH_CLOUD"], os.environ["BENCH_OUT"]
n = int(os.environ.get("BENCH_N", "3"))
env = dict(os.environ, OS_CLIENT_CONFIG_FILE=os.environ["BENCH_CLOUDS_YAML"])
MARKER = b"ANKYRA-GUEST up"


def os_(*args):
    return subprocess.run([osc, "--os-cloud", cloud, *args], env=env, check=True,
                          capture_output=True, text=True).stdout


def docker(*args):
    return subprocess.run(["docker", *args], check=True, capture_output=True, text=True).stdout


volume = json.loads(docker("volume", "inspect", f"ankyra-{cloud}-nova-compute-state"))[0]["Mountpoint"]
libvirt = docker("ps", "--filter", f"label=io.ankyra.cloud={cloud}", "--filter",
                 "label=io.ankyra.component=nova-libvirt", "--format", "{{.Names}}").split()[0]


def wait_file(path, needle, timeout=300):
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            with open(path, "rb") as f:
                if needle in f.read():
                    return time.monotonic()
        except FileNotFoundError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{needle!r} never showed in {path}")


def qemu_pid(uuid):
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            args = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if args and b"qemu-system" in args[0] and uuid.encode() in args:
            return int(pid)
    return None


def memory(pid):
    kib = {}
    for line in open(f"/proc/{pid}/smaps_rollup"):
        m = re.match(r"(Rss|Pss):\s+(\d+) kB", line)
        if m:
            kib[m.group(1)] = int(m.group(2))
    return kib["Rss"] / 1024, kib["Pss"] / 1024


nova, direct, mem = [], [], []
for i in range(n):
    # QEMU alone on the same qcow2 (an overlay, as nova makes), in libvirt's container.
    base = docker("exec", libvirt, "sh", "-c", "ls -S /var/lib/nova/instances/_base/* 2>/dev/null | head -n 1").strip()
    if base:
        script = (f"rm -f /tmp/b.qcow2 /tmp/b.log; qemu-img create -q -f qcow2 -F raw -b {base} /tmp/b.qcow2; "
                  "t0=$(date +%s.%N); timeout 120 qemu-system-x86_64 -machine accel=tcg -m 128 -nographic "
                  "-serial file:/tmp/b.log -monitor none -drive file=/tmp/b.qcow2,if=virtio >/dev/null 2>&1 & q=$!; "
                  "until grep -q 'ANKYRA-GUEST up' /tmp/b.log 2>/dev/null; do sleep 0.1; done; "
                  "t1=$(date +%s.%N); kill $q; echo $t0 $t1")
        t0, t1 = map(float, docker("exec", libvirt, "sh", "-c", script).split()[-2:])
        direct.append(t1 - t0)
    start = time.monotonic()
    server = json.loads(os_("--os-compute-api-version", "2.37", "server", "create", "--image", "ankyra-guest",
                            "--flavor", "ankyra.tiny", "--nic", "none", "--wait", f"bench-{i}", "-f", "json"))
    active = time.monotonic()
    booted = wait_file(f"{volume}/instances/{server['id']}/console.log", MARKER)
    nova.append((active - start, booted - active, booted - start))
    time.sleep(5)  # settled: the guest idles in its heartbeat loop
    pid = qemu_pid(server["id"])
    mem.append(memory(pid))
    print(f"guest {i}: create→ACTIVE {active - start:.1f} s, ACTIVE→marker {booted - active:.1f} s, "
          f"RSS {mem[-1][0]:.0f} MiB, PSS {mem[-1][1]:.0f} MiB", flush=True)
libvirtd_rss = float(docker("exec", libvirt, "sh", "-c", "ps -o rss= -C libvirtd | head -n 1").strip() or 0) / 1024
load = open("/proc/loadavg").read().split()[0]
med = statistics.median
rows = [
    ("create → ACTIVE (nova: schedule, image, libvirt define and start)", med([x[0] for x in nova])),
    ("ACTIVE → console marker (the guest boots under TCG)", med([x[1] for x in nova])),
    ("create → console marker (through nova)", med([x[2] for x in nova])),
]
with open(out, "w") as f:
    f.write(f"# Test guest: boot through nova beside QEMU alone, and memory per guest\n\n")
    f.write(f"`bench/guest/run.sh`, {n} guests one after another on one libvirt cloud, "
            f"{time.strftime('%Y-%m-%d')}, load average {load} (2 cores). Medians.\n\n")
    f.write("| measure | seconds |\n|---|---:|\n")
    for what, v in rows:
        f.write(f"| {what} | {v:.1f} |\n")
    if direct:
        f.write(f"| QEMU alone, same image: start → console marker | {med(direct):.1f} |\n")
        f.write(f"| ratio: through nova / QEMU alone (create → marker) | {med([x[2] for x in nova]) / med(direct):.1f}× |\n")
    f.write("\n| memory (flavor ankyra.tiny, 128 MiB) | MiB |\n|---|---:|\n")
    f.write(f"| QEMU RSS per running guest | {med([m[0] for m in mem]):.0f} |\n")
    f.write(f"| QEMU PSS per running guest | {med([m[1] for m in mem]):.0f} |\n")
    f.write(f"| libvirtd RSS (one per compute) | {libvirtd_rss:.0f} |\n")
    f.write("\nEach guest: " + "; ".join(f"{a:.1f} s + {b:.1f} s" for a, b, _ in nova) + " (create→ACTIVE + ACTIVE→marker).\n")
