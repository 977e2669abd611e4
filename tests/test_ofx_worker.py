"""The engine in a separate process (``python -m ofx_dipmatte.worker``).

First the protocol on its own (a socket, JSON messages, frames in a memfd), then the
plugin in the situations the worker exists for: a host holding another Python (played
by the standalone test host with a preloaded library that answers ``Py_GetVersion``
with another version), host environments that must not reach the worker, a worker that
is killed or hangs, and a host killed with ``kill -9``.
"""

from __future__ import annotations

import json
import mmap
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from ofx_dipmatte import ofx
from ofx_dipmatte.ofx import ENV_OVERRIDE, bundle_path, install_plugin, record_environment
from ofx_dipmatte.ofx.bridge import InstanceSession

from conftest import make_case
from ofx_layout import to_host

_testhost = pytest.importorskip("ofx_dipmatte.ofx._testhost")

WORKER = 2  # the Engine parameter's "Separate process"
FAILED = 1
PARAMS = dict(preset="draft", max_iterations=4, loss_threshold=0.0, seed=0, device="cpu",
              trimap_source="source_alpha", band=10.0, render_scale=1.0, output_mode="premultiplied")


# ---------------------------------------------------------------------------------
# The protocol, spoken from Python


class Peer:
    """The plugin's side of the protocol, for tests: a worker started on a socketpair."""

    def __init__(self, env: "dict | None" = None):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock = ours
        self.proc = subprocess.Popen([sys.executable, "-I", "-m", "ofx_dipmatte.worker", "--fd", str(theirs.fileno())],
                                     pass_fds=[theirs.fileno()], env=env)
        theirs.close()
        self.sock.settimeout(120)

    def send(self, message: dict, fds: tuple = ()) -> None:
        body = json.dumps(message).encode()
        data = struct.pack("<I", len(body)) + body
        sent = socket.send_fds(self.sock, [data], list(fds)) if fds else self.sock.send(data)
        assert sent == len(data)

    def recv(self) -> dict:
        header = self._exactly(4)
        return json.loads(self._exactly(struct.unpack("<I", header)[0]))

    def _exactly(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            assert chunk, "the worker closed the connection"
            data += chunk
        return data

    def render(self, request_id: int, source: np.ndarray, params: dict):
        """Sends a render of ``source`` (float32 RGBA) and returns the shared memory and output view."""
        h, w, _ = source.shape
        size = source.nbytes * 2
        fd = os.memfd_create("test.frame")
        os.ftruncate(fd, size)
        memory = mmap.mmap(fd, size)
        np.ndarray(source.shape, np.float32, buffer=memory)[...] = source
        layout = dict(width=w, height=h, channels=4, dtype="float32")
        self.send({"op": "render", "id": request_id, "session": 1, "time": 0.0, "params": params,
                   "source": dict(layout, offset=0), "guide": None,
                   "output": dict(layout, offset=source.nbytes)}, fds=(fd,))
        os.close(fd)
        return memory, np.ndarray(source.shape, np.float32, buffer=memory, offset=source.nbytes)

    def close(self) -> int:
        self.sock.close()
        return self.proc.wait(timeout=10)


def test_the_protocol_renders_in_shared_memory_reports_progress_and_cancels():
    image, trimap, *_ = make_case(24, band=3)
    source = np.dstack([image, trimap]).astype(np.float32)
    peer = Peer()
    try:
        ready = peer.recv()
        assert ready["op"] == "ready" and ready["pid"] == peer.proc.pid and ready["protocol"] == 1
        # Out of memory, the kernel takes the worker before its host.
        assert Path(f"/proc/{peer.proc.pid}/oom_score_adj").read_text().strip() == "500"

        memory, output = peer.render(7, source, PARAMS)
        while (reply := peer.recv())["op"] == "progress":
            assert reply["id"] == 7 and 0.0 <= reply["fraction"] <= 1.0
        assert reply == {"op": "done", "id": 7, "status": "ok", "message": ""}
        expected = InstanceSession().render(0.0, source, None, PARAMS, lambda f: True, 24, 24, 4, "float32")
        np.testing.assert_allclose(output, expected, atol=1e-6)
        del output
        memory.close()

        # A long solve stops soon after a cancel.
        memory, output = peer.render(8, source, dict(PARAMS, max_iterations=100000, seed=1))
        assert peer.recv()["op"] == "progress"
        time.sleep(1.0)
        cancelled = time.perf_counter()
        peer.send({"op": "cancel", "id": 8})
        while (reply := peer.recv())["op"] == "progress":
            pass
        assert reply["id"] == 8 and reply["status"] == "cancelled"
        assert time.perf_counter() - cancelled < 1.0

        # Bad input is a reply that says what is wrong, never a dead worker.
        bad = source.copy()
        bad[..., 3] = 0.0  # no foreground, no unknown pixels: still a valid trimap
        bad[2, 2, 0] = np.nan
        del output
        memory.close()
        memory, output = peer.render(9, bad, PARAMS)
        reply = peer.recv()
        assert reply["status"] == "input" and "NaN" in reply["message"]
        del output
        memory.close()
    finally:
        # The worker leaves as soon as its host's end of the socket closes.
        assert peer.close() == 0


# ---------------------------------------------------------------------------------
# The plugin through the worker


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    return install_plugin(tmp_path_factory.mktemp("plugins"))


@pytest.fixture(scope="module")
def foreign_python(tmp_path_factory) -> Path:
    """A library that makes a process look like a host with its own Python 3.99."""
    folder = tmp_path_factory.mktemp("foreign")
    source = folder / "foreign_python.c"
    source.write_text('const char* Py_GetVersion(void) { return "3.99.0 (a host\'s own Python)"; }\n')
    library = folder / "libforeign_python.so"
    try:
        subprocess.run(["cc", "-shared", "-fPIC", "-o", str(library), str(source)], check=True,
                       capture_output=True, timeout=120)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"no C compiler to build the fake host Python: {exc}")
    return library


def run_host(bundle: Path, *args: str, env: "dict | None" = None, timeout: float = 600) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in (ENV_OVERRIDE, "OFX_DIPMATTE_ENGINE")}
    environ.update(env or {})
    return subprocess.run([str(ofx.testhost_executable()), str(bundle), "--size", "24", "--iterations", "4", *args],
                          capture_output=True, text=True, timeout=timeout, env=environ)


def worker_processes(parent: int) -> list[int]:
    """Live worker processes whose parent is ``parent``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == parent and fields[0] != "Z" and b"ofx_dipmatte.worker" in cmdline:
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


@pytest.mark.parametrize("context", ["general", "filter"])
def test_a_host_with_another_python_renders_through_the_worker_as_in_process(installed, foreign_python, tmp_path,
                                                                              context):
    log = tmp_path / "renders.jsonl"
    poison = tmp_path / "host_site"  # what the host's own Python setup would put on PYTHONPATH
    poison.mkdir()
    (poison / "numpy.py").write_text("raise ImportError('the host PYTHONPATH reached the worker')\n")
    depths = "byte,short,float"
    foreign = run_host(installed, "--context", context, "--depth", depths, "--dump", str(tmp_path / "worker"),
                       env={"LD_PRELOAD": str(foreign_python), "OFX_DIPMATTE_LOG": str(log),
                            "PYTHONPATH": str(poison), "PYTHONHOME": str(tmp_path / "nowhere"),
                            "LD_LIBRARY_PATH": str(tmp_path / "nowhere")})
    assert foreign.returncode == 0, foreign.stdout + foreign.stderr
    host_pid = int(foreign.stdout.split("host pid: ")[1].split()[0])
    renders = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(renders) == 3
    # Solved in another process, by the real Python: LD_PRELOAD did not reach it either.
    assert all(r["pid"] != host_pid and r["python"] == sys.version.split()[0] for r in renders)

    own = run_host(installed, "--context", context, "--depth", depths, "--dump", str(tmp_path / "in_process"),
                   env={"OFX_DIPMATTE_LOG": str(log)})
    assert own.returncode == 0, own.stdout + own.stderr
    own_pid = int(own.stdout.split("host pid: ")[1].split()[0])
    assert [json.loads(line)["pid"] for line in log.read_text().splitlines()[3:]] == [own_pid] * 3
    for depth, dtype in (("byte", np.uint8), ("short", np.uint16), ("float", np.float32)):
        top = 1.0 if dtype is np.float32 else float(np.iinfo(dtype).max)
        worker, own_ = (np.frombuffer((tmp_path / f"{name}.{depth}").read_bytes(), dtype).astype(np.float64) / top
                        for name in ("worker", "in_process"))
        # The same pixels: once in CI (of some twenty runs) one byte of the 8-bit render
        # came out one code value apart, not reproduced in twelve reruns; two processes'
        # draft fits (torch, from the numpy prior) need not agree to the last bit.
        assert worker.shape == own_.shape and np.abs(worker - own_).max() <= 1.0 / 255 + 1e-6, depth
        assert np.mean(worker != own_) <= 1e-3, depth


def test_a_host_killed_with_kill_9_leaves_no_worker_behind(installed):
    proc = subprocess.Popen([str(ofx.testhost_executable()), str(installed), "--size", "48", "--iterations", "100000",
                             "--engine", "worker"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env={k: v for k, v in os.environ.items() if k != ENV_OVERRIDE})
    try:
        deadline = time.monotonic() + 120
        workers = []
        while not workers and time.monotonic() < deadline:
            time.sleep(0.2)
            workers = worker_processes(proc.pid)
        assert workers, "the worker never started"
        time.sleep(3.0)  # into the solve
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in workers), "the worker outlived its host"


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    record = tmp_path_factory.mktemp("record") / "python_env.cfg"
    record.write_text(record_environment())
    saved = os.environ.get(ENV_OVERRIDE)
    os.environ[ENV_OVERRIDE] = str(record)
    yield _testhost.Host(str(bundle_path()))
    if saved is None:
        os.environ.pop(ENV_OVERRIDE, None)
    else:
        os.environ[ENV_OVERRIDE] = saved


def worker_instance(host, iterations: int):
    image, trimap, *_ = make_case(32, band=4)
    inst = host.create_instance("OfxImageEffectContextFilter")
    host.set_param(inst, "preset", 0)
    host.set_param(inst, "maxIterations", iterations)
    host.set_param(inst, "engine", WORKER)
    host.set_image(inst, "Source", 0.0, **to_host(np.dstack([image, trimap]).astype(np.float32)))
    return inst


def stop_workers():
    """Kills this process's worker while idle: the next render must start a new one silently."""
    for pid in worker_processes(os.getpid()):
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)


def test_a_worker_killed_mid_render_fails_that_render_with_a_message_then_the_next_render_works(host):
    inst = worker_instance(host, iterations=100000)
    result = {}
    render = threading.Thread(target=lambda: result.setdefault("status", host.render(inst, 0.0)))
    render.start()
    deadline = time.monotonic() + 120
    while host.progress(inst)["last"] <= 0.0 and time.monotonic() < deadline:  # solving, not starting
        time.sleep(0.1)
    workers = worker_processes(os.getpid())
    assert len(workers) == 1, "one worker serves the process"
    os.kill(workers[0], signal.SIGKILL)
    render.join(timeout=30)
    assert not render.is_alive()
    assert result["status"] == FAILED
    message = host.persistent_message(inst)
    assert f"the engine process (pid {workers[0]}) was killed by signal 9" in message
    assert "the system ran out of memory" in message  # what SIGKILL most often means for a worker
    assert "The next render starts a new one" in message

    host.set_param(inst, "maxIterations", 3)
    assert host.render(inst, 0.0) == 0, host.persistent_message(inst)
    assert host.persistent_message(inst) == ""
    assert worker_processes(os.getpid()) not in ([], workers)

    replaced = worker_processes(os.getpid())
    stop_workers()  # and a worker that died while idle is replaced without a failed render
    assert host.render(inst, 0.0) == 0, host.persistent_message(inst)
    assert worker_processes(os.getpid()) not in ([], replaced)
    host.destroy_instance(inst)


def test_a_hung_worker_is_stopped_after_the_timeout_and_replaced(host, monkeypatch):
    stop_workers()
    monkeypatch.setenv("OFX_DIPMATTE_WORKER_FAULT", "hang")  # read by the next worker started
    monkeypatch.setenv("OFX_DIPMATTE_WORKER_TIMEOUT", "2")
    inst = worker_instance(host, iterations=3)
    started = time.monotonic()
    assert host.render(inst, 0.0) == FAILED
    assert "stopped responding for 2 s" in host.persistent_message(inst)
    assert time.monotonic() - started < 60
    assert worker_processes(os.getpid()) == []  # stopped, not left behind

    monkeypatch.delenv("OFX_DIPMATTE_WORKER_FAULT")
    # The replacement renders with room to spare: 2 s between messages is tight for a
    # worker on a busy machine (a CI run beside other work failed here so).
    monkeypatch.setenv("OFX_DIPMATTE_WORKER_TIMEOUT", "60")
    assert host.render(inst, 0.0) == 0, host.persistent_message(inst)
    host.destroy_instance(inst)


def test_a_hung_worker_is_waited_for_once_not_once_per_background_frame(host, monkeypatch):
    """Background frames go to the engine before the render: an engine that fails on the
    first of them ends the showing, so a hung worker costs one timeout there (and one for
    the render), not one per frame around it (12 here)."""
    stop_workers()
    monkeypatch.setenv("OFX_DIPMATTE_WORKER_FAULT", "hang")
    monkeypatch.setenv("OFX_DIPMATTE_WORKER_TIMEOUT", "2")
    image, trimap, *_ = make_case(32, band=4)
    inst = host.create_instance("OfxImageEffectContextFilter")
    host.set_param(inst, "preset", 1)  # Balanced: it carries the background, so frames are shown
    host.set_param(inst, "engine", WORKER)
    for t in range(13):
        host.set_image(inst, "Source", float(t), **to_host(np.dstack([image, trimap]).astype(np.float32)))
    started = time.monotonic()
    assert host.render(inst, 6.0) == FAILED
    assert "stopped responding for 2 s" in host.persistent_message(inst)
    assert time.monotonic() - started < 20  # 12 timeouts would be 24 s and more
    assert host.fetched(inst, "Source")[:2] == [6.0, 5.0]
    monkeypatch.delenv("OFX_DIPMATTE_WORKER_FAULT")
    monkeypatch.setenv("OFX_DIPMATTE_WORKER_TIMEOUT", "60")  # as above: room for a busy machine
    assert host.render(inst, 6.0) == 0, host.persistent_message(inst)
    host.destroy_instance(inst)


def test_a_missing_python_fails_the_worker_render_with_what_to_do(host, tmp_path, monkeypatch):
    record = tmp_path / "python_env.cfg"
    record.write_text("\n".join(f"executable={tmp_path / 'gone' / 'python'}" if line.startswith("executable=")
                                else line for line in record_environment().splitlines()) + "\n")
    monkeypatch.setenv(ENV_OVERRIDE, str(record))
    stop_workers()
    inst = worker_instance(host, iterations=3)
    assert host.render(inst, 0.0) == FAILED
    message = host.persistent_message(inst)
    assert "cannot start the engine process" in message and "install-plugin" in message
    host.destroy_instance(inst)


def test_the_engine_variable_overrides_the_parameter_and_is_checked(host, monkeypatch):
    inst = worker_instance(host, iterations=3)
    monkeypatch.setenv("OFX_DIPMATTE_ENGINE", "in_process")
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"ofx_dipmatte_engine_{os.getpid()}.jsonl"
    monkeypatch.setenv("OFX_DIPMATTE_LOG", str(log))
    assert host.render(inst, 0.0) == 0, host.persistent_message(inst)
    assert json.loads(log.read_text().splitlines()[-1])["pid"] == os.getpid()  # not in the worker
    log.unlink()
    monkeypatch.setenv("OFX_DIPMATTE_ENGINE", "gpu-farm 100%")
    assert host.render(inst, 0.0) == FAILED
    assert "OFX_DIPMATTE_ENGINE=gpu-farm 100% is not one of auto, in_process, worker" in host.persistent_message(inst)
    host.destroy_instance(inst)
