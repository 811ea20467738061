"""/proc readings: memory, CPU and I/O of a process tree, and waiting for a quiet machine."""

from __future__ import annotations

import os
import threading
import time

# =============================================================================== /proc helpers


def _status_kb(pid: int | str, fields: tuple[str, ...] = ("VmHWM", "VmRSS")) -> dict[str, int]:
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in fields:
                out[key] = int(value.split()[0])
    return out


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _io_counters(pid: int | str = "self") -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/io", encoding="ascii") as f:
            for line in f:
                key, _, value = line.partition(":")
                out[key] = int(value)
    except OSError:
        pass
    return out


CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_jiffies() -> tuple[int, int]:
    """(busy, steal) jiffies of the whole machine, all cores, from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal (guest time is already inside user)
    return v[0] + v[1] + v[2] + v[5] + v[6], (v[7] if len(v) > 7 else 0)


def _proc_cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def wait_for_quiet(max_wait: float, threshold: float = 0.15) -> dict[str, float]:
    """Wait (up to max_wait s) until other processes use less than `threshold` cores over 1 s.

    The machine may be shared (tests run by other people): a busy core halves what --workers 2
    can show and inflates every time. Returns the last measured load and the time waited."""
    t0 = time.monotonic()
    announced = False
    while True:
        b0, _ = _cpu_jiffies()
        time.sleep(1.0)
        b1, _ = _cpu_jiffies()
        load = (b1 - b0) / CLK_TCK
        waited = time.monotonic() - t0
        if load < threshold or waited >= max_wait:
            if announced:
                print(
                    f" {'settled' if load < threshold else 'still busy, measuring anyway'} "
                    f"({load:.2f} cores, waited {waited:.0f} s)",
                    flush=True,
                )
            return {"load_before": load, "waited_s": waited}
        if not announced:
            print(f"    waiting for background CPU load ({load:.2f} cores) to settle ...", end="", flush=True)
            announced = True


def _descendants(root: int) -> list[int]:
    """root and every process below it, from the ppid field of /proc/*/stat."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", encoding="ascii", errors="replace") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


class TreeSampler(threading.Thread):
    """Samples a process tree: per-process VmHWM (a kernel high-water mark, so sampling cannot miss
    a peak of a process still alive at the next sample) and the tree's total RSS and PSS."""

    def __init__(self, root: int, interval: float = 0.25, pss_every: int = 1) -> None:
        """`pss_every`: PSS is read every this many samples. /proc/PID/smaps_rollup walks the page
        tables under the process's mmap lock: for three ~1 GB build processes every 0.25 s that
        cost the sampler 0.12 cores and slowed the workers' page faults. VmHWM and VmRSS (from
        /proc/PID/status, cheap) are read at every sample."""
        super().__init__(daemon=True)
        self.root = root
        self.interval = interval
        self.pss_every = max(1, pss_every)
        self._samples = 0
        self.hwm_kb: dict[int, int] = {}
        self.cpu_s: dict[int, float] = {}
        self.peak_total_rss_kb = 0
        self.peak_total_pss_kb = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.sample()
            self._stop_event.wait(self.interval)

    def sample(self) -> None:
        total_rss = total_pss = 0
        with_pss = self._samples % self.pss_every == 0
        self._samples += 1
        for pid in _descendants(self.root):
            try:
                st = _status_kb(pid)
            except (OSError, ValueError):
                continue
            if "VmHWM" not in st:  # a zombie
                continue
            self.hwm_kb[pid] = max(self.hwm_kb.get(pid, 0), st["VmHWM"])
            try:
                self.cpu_s[pid] = _proc_cpu_s(pid)
            except (OSError, ValueError, IndexError):
                pass
            total_rss += st.get("VmRSS", 0)
            total_pss += _pss_kb(pid) if with_pss else 0
        self.peak_total_rss_kb = max(self.peak_total_rss_kb, total_rss)
        self.peak_total_pss_kb = max(self.peak_total_pss_kb, total_pss)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()
