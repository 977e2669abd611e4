"""Choosing the torch device, and using every core we are given on the CPU.

Torch is imported by the functions that need it, not with the module: a preset that fits
no network never loads it (:attr:`.presets.Preset.fits_networks`)."""

from __future__ import annotations

import contextlib
import os
import threading
from typing import TYPE_CHECKING, Callable, Iterator

from threadpoolctl import threadpool_limits

if TYPE_CHECKING:
    import torch

    from .presets import Preset

_threads_set = False


#: Where a container's CPU quota is read: cgroup v2's ``cpu.max`` ("QUOTA PERIOD" or
#: "max PERIOD"), else cgroup v1's quota and period (quota -1: none).
CGROUP_CPU_MAX = "/sys/fs/cgroup/cpu.max"
CGROUP_V1_QUOTA = ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu/cpu.cfs_period_us")


def cpu_quota() -> int | None:
    """The cores a container's CPU quota allows (``docker --cpus 2``, a Kubernetes pod's
    CPU limit), rounded up; None where there is none. Affinity does not show a quota:
    such a container sees every core of its machine, and a worker per core would share
    the quota's few, each holding its tile's factorisation in memory."""
    try:
        with open(CGROUP_CPU_MAX) as f:
            quota, period = f.read().split()[:2]
    except (OSError, ValueError):
        try:
            with open(CGROUP_V1_QUOTA[0]) as f, open(CGROUP_V1_QUOTA[1]) as g:
                quota, period = f.read().strip(), g.read().strip()
        except (OSError, ValueError):
            return None
    try:
        q, p = int(quota), int(period)
    except ValueError:  # "max": no quota
        return None
    return max(1, -(-q // p)) if q > 0 and p > 0 else None


def available_cores() -> int:
    """Cores this process may run on: its affinity (taskset, cpusets), and no more than a
    container's CPU quota allows (:func:`cpu_quota`)."""
    try:
        cores = max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        cores = max(1, os.cpu_count() or 1)
    quota = cpu_quota()
    return cores if quota is None else min(cores, quota)


def thread_budget() -> tuple[int, str] | None:
    """The threads this process was given and the variable that said so: OMP_NUM_THREADS
    (the user), else CUE_THREADS (the cores OpenCue's RQD booked for the frame). None:
    nobody said; use the cores we may run on."""
    for name in ("OMP_NUM_THREADS", "CUE_THREADS"):
        try:
            return max(1, int(os.environ[name])), name
        except (KeyError, ValueError):
            continue
    return None


#: Most tiles solved at once where no budget is given: each one in flight holds its
#: factorisation (about 0.2 GB for a 256² tile of a dense band: the 1080p plate's peak
#: went from 0.87 to 1.07 GiB with a second one; the 4K plate with 8 at once peaked at
#: 2.7 GiB), so a many-core machine stays within the 4 GiB a 4K frame may use.
MAX_TILE_WORKERS = 8


def tile_workers() -> int:
    """Tiles of a large frame solved at once on the CPU: the :func:`thread_budget` (1
    solves the tiles one after another), else the available cores up to
    :data:`MAX_TILE_WORKERS`."""
    budget = thread_budget()
    return budget[0] if budget is not None else min(available_cores(), MAX_TILE_WORKERS)


#: Most same-size tiles fitted in one batch on a GPU where the preset does not say.
GPU_TILE_BATCH = 16


def tile_batch(cfg: "Preset", device: torch.device) -> int:
    """How many same-size tiles to fit as one batch (:mod:`.batched_fit`): the preset's
    ``tile_batch``, else :data:`GPU_TILE_BATCH` on a GPU, where one tile's small
    convolutions leave it mostly idle, and 1 on a CPU, where tiles run side by side on
    threads instead."""
    if cfg.tile_batch:
        return cfg.tile_batch
    return GPU_TILE_BATCH if device.type == "cuda" else 1


class _ProcessSetting:
    """A process-wide setting held while any solve is inside :meth:`held`: the first one
    in applies it, the last one out restores what was there before. Sessions solving at
    once share it, and none of them waits for another."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._restore: Callable[[], None] | None = None

    @contextlib.contextmanager
    def held(self, apply: Callable[[], Callable[[], None]]) -> Iterator[None]:
        """``apply()`` sets the value and returns what restores the old one."""
        with self._lock:
            if self._users == 0:
                self._restore = apply()
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0 and self._restore is not None:
                    self._restore()
                    self._restore = None


_op_threads = _ProcessSetting()


def op_threads_shared_by(tiles: int) -> "contextlib.AbstractContextManager[None]":
    """Torch's intra-op threads divided among ``tiles`` fitted side by side (at least 1
    each) while a solve is inside (:class:`_ProcessSetting`). Small convolutions are
    bound by per-op overhead, which several threads on one op do not share out: measured
    on 2 cores, two DIP tiles on two threads of one op thread each ran 1.5× the steps a
    second that the same tiles did one after another on two op threads."""
    def apply() -> Callable[[], None]:
        import torch

        before = torch.get_num_threads()
        torch.set_num_threads(max(1, before // max(1, tiles)))
        return lambda: torch.set_num_threads(before)

    return _op_threads.held(apply)


_blas_threads = _ProcessSetting()


def single_threaded_blas() -> "contextlib.AbstractContextManager[None]":
    """numpy's and scipy's BLAS (OpenBLAS in their wheels, one library each) on one
    thread while a solve is inside (:class:`_ProcessSetting`). The solves call BLAS in
    pieces too small for more threads to gain (the sparse Cholesky's dense blocks, at
    most a few thousand rows; 3×3 inverses), and OpenBLAS's idle threads spin on the
    cores waiting for the next call: measured on 2 cores, a 1080p frame of ``balanced``
    took 17.5 s and 33 s of CPU with both libraries on two threads, 12.0 s and 21 s on
    one (with its tiles solved one after another, 20 s either way: 29 against 20 s of
    CPU, so the second BLAS thread never shortened a solve); with the Cholesky, dev512's
    *hair_b* (one window) 1.07–1.10 s on one thread, 1.11 s and twice the CPU on two.
    Both libraries must be limited: either one alone spinning costs the same."""
    def apply() -> Callable[[], None]:
        try:
            limiter = threadpool_limits(limits=1, user_api="blas")
        except Exception:  # a library threadpoolctl cannot drive: solve as the process is
            return lambda: None
        return limiter.restore_original_limits

    return _blas_threads.held(apply)


def use_all_cores() -> None:
    """Set torch's intra-op threads to the :func:`thread_budget` or the available cores,
    once per process (OMP_NUM_THREADS torch reads itself)."""
    global _threads_set
    if _threads_set or "OMP_NUM_THREADS" in os.environ:
        return
    import torch

    budget = thread_budget()
    torch.set_num_threads(budget[0] if budget is not None else available_cores())
    _threads_set = True


def resolve_device(device: "str | torch.device") -> torch.device:
    """"auto" → CUDA when available, else CPU; "cpu" and "cuda[:N]" as given.

    Raises:
        ValueError: an unknown name, or CUDA asked for where torch has none.
    """
    import torch

    if isinstance(device, torch.device):
        chosen = device
    elif device == "auto":
        chosen = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        try:
            chosen = torch.device(device)
        except (RuntimeError, TypeError) as exc:
            raise ValueError(f"device: unknown device {device!r}; use 'auto', 'cpu' or 'cuda'") from exc
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device: CUDA was requested but this torch build sees no GPU; use device='auto' or 'cpu'")
    if chosen.type not in ("cpu", "cuda"):
        raise ValueError(f"device: {chosen.type!r} is not supported; use 'auto', 'cpu' or 'cuda'")
    if chosen.type == "cpu":
        use_all_cores()
    return chosen


def on_cpu_without_torch(device: "str | torch.device") -> bool:
    """Whether a solve that fits no network may take ``device`` as the CPU without asking
    torch: "auto" or "cpu" (any other name is resolved, and checked, by :func:`resolve_device`:
    a GPU asked for by name must exist, even where nothing will run on it)."""
    return isinstance(device, str) and device in ("auto", "cpu")
