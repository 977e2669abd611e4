"""The plugin in a host process with no Python of its own: the standalone test host
loads the bundle, and the plugin finds the recorded environment, dlopens libpython and
starts its own isolated interpreter. Also install-plugin and doctor."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import ofx_dipmatte
from ofx_dipmatte import ofx
from ofx_dipmatte.ofx import ENV_OVERRIDE, install_plugin
from ofx_dipmatte.ofx.doctor import bundle_version, engine_choice, run_doctor
from ofx_dipmatte.ofx.install import record_environment


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    return install_plugin(tmp_path_factory.mktemp("plugins"))


def run_host(bundle: Path, *args: str, env: "dict | None" = None) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != ENV_OVERRIDE}
    environ.update(env or {})
    return subprocess.run([str(ofx.testhost_executable()), str(bundle), "--size", "32", *args],
                          capture_output=True, text=True, timeout=600, env=environ)


def test_install_plugin_writes_a_bundle_with_the_environment_record(installed):
    contents = installed / "Contents"
    assert (contents / ofx.ARCH_DIR / "DIPMatte.ofx").is_file()
    assert (contents / "Info.plist").read_text().count("com.ofxdipmatte.DIPMatte") == 1
    assert (contents / "Resources" / "com.ofxdipmatte.DIPMatte.png").is_file()
    record = (contents / "Resources" / "python_env.cfg").read_text()
    assert f"executable={sys.executable}" in record
    assert f"version={sys.version_info[0]}.{sys.version_info[1]}" in record
    # Only the three OFX entry points are exported.
    nm = subprocess.run(["nm", "-D", "--defined-only", str(contents / ofx.ARCH_DIR / "DIPMatte.ofx")],
                        capture_output=True, text=True)
    if nm.returncode == 0:
        symbols = {line.split()[-1] for line in nm.stdout.splitlines() if line.strip()}
        assert symbols == {"OfxGetNumberOfPlugins", "OfxGetPlugin", "OfxSetHost"}


def test_a_host_without_python_renders_a_warm_started_sequence(installed):
    proc = run_host(installed, "--frames", "3", "--iterations", "8")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "contexts: OfxImageEffectContextGeneral,OfxImageEffectContextFilter" in proc.stdout
    for frame in range(3):
        assert f"frame {frame} (float): status 0" in proc.stdout
    assert "progress: 3 starts" in proc.stdout
    assert "unreleased images: 0" in proc.stdout
    assert proc.stdout.rstrip().endswith("OK")


def test_filter_context_in_a_host_without_python(installed):
    proc = run_host(installed, "--context", "filter", "--iterations", "5")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def broken_record(tmp_path, problem: str) -> dict:
    record = record_environment()
    if problem == "missing libpython":
        record = "\n".join("libpython=/nonexistent/libpython3.so" if line.startswith("libpython=") else line
                           for line in record.splitlines())
    elif problem == "other Python version":
        record = "\n".join("version=3.99" if line.startswith("version=") else line for line in record.splitlines())
    else:  # the standard library only (no venv, no site dirs), and no interpreter to start a worker with
        record = "\n".join(f"executable={tmp_path / 'bin' / 'python'}" if line.startswith("executable=") else line
                           for line in record.splitlines() if not line.startswith("sitedir="))
    path = tmp_path / "python_env.cfg"
    path.write_text(record + "\n")
    return {ENV_OVERRIDE: str(path)}


@pytest.mark.parametrize("problem", ["missing libpython", "other Python version"])
def test_when_python_cannot_run_in_the_host_automatic_uses_the_worker(installed, tmp_path, problem):
    env = broken_record(tmp_path, problem)
    proc = run_host(installed, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    forced = run_host(installed, "--engine", "in_process", env=env)
    assert forced.returncode == 1, forced.stdout + forced.stderr  # loaded and described; the render failed
    assert "contexts: OfxImageEffectContextGeneral,OfxImageEffectContextFilter" in forced.stdout
    assert ("persistent message: ofx_dipmatte: the Engine is set to 'In host process', but Python cannot run "
            "inside this host") in forced.stdout
    assert "Choose 'Automatic' or 'Separate process'" in forced.stdout


def test_a_broken_environment_fails_the_render_with_a_persistent_message(installed, tmp_path):
    proc = run_host(installed, env=broken_record(tmp_path, "no ofx_dipmatte"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "persistent message: ofx_dipmatte: cannot start the engine process" in proc.stdout
    assert "install-plugin" in proc.stdout
    assert "it cannot run in this host: could not import ofx_dipmatte" in proc.stdout  # why not in process
    assert "RENDER FAILED" in proc.stdout


def other_release(tmp_path: Path) -> Path:
    """A folder whose ``ofx_dipmatte`` is this package numbered as another release (0.0.9):
    a bundle left installed when the package was upgraded meets such a package."""
    real = Path(ofx_dipmatte.__file__).parent
    package = tmp_path / "other_release" / "ofx_dipmatte"
    package.mkdir(parents=True)
    init = str(real / "__init__.py")
    (package / "__init__.py").write_text(f"__path__ = [{str(real)!r}]\n"
                                         f"exec(compile(open({init!r}).read(), {init!r}, 'exec'))\n"
                                         "__version__ = '0.0.9'\n")
    return package.parent


def test_a_package_of_another_release_fails_the_render_and_says_to_reinstall(installed, tmp_path):
    folder = other_release(tmp_path)
    lines = record_environment().splitlines()
    first_path = next(i for i, line in enumerate(lines) if line.startswith("path="))
    in_host = tmp_path / "in_host.cfg"  # the interpreter in the host finds that package first
    in_host.write_text("\n".join([*lines[:first_path], f"path={folder}", *lines[first_path:]]) + "\n")
    wrapper = tmp_path / "python"  # the worker's Python, finding it first too
    wrapper.write_text(f"#!/bin/sh\nexec {sys.executable} -c \"import sys, runpy; sys.path.insert(0, '{folder}'); "
                       "runpy.run_module('ofx_dipmatte.worker', run_name='__main__')\" \"$4\" \"$5\"\n")
    wrapper.chmod(0o755)
    in_worker = tmp_path / "worker.cfg"
    in_worker.write_text("\n".join(f"executable={wrapper}" if line.startswith("executable=") else line
                                   for line in lines) + "\n")
    for engine, record, where in (("in_process", in_host, "its Python environment holds 0.0.9"),
                                  ("worker", in_worker, f"the engine process {wrapper} runs 0.0.9")):
        proc = run_host(installed, "--engine", engine, env={ENV_OVERRIDE: str(record)})
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert f"this plugin is from ofx_dipmatte {ofx_dipmatte.__version__} but {where}" in proc.stdout, proc.stdout
        assert "run `ofx-dipmatte install-plugin` again" in proc.stdout
        assert "RENDER FAILED" in proc.stdout


def test_install_plugin_replaces_its_own_bundle_but_not_a_foreign_folder(tmp_path):
    first = install_plugin(tmp_path)
    (first / "Contents" / "Resources" / "marker").write_text("old")
    again = install_plugin(tmp_path)
    assert again == first and not (again / "Contents" / "Resources" / "marker").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["DIPMatte.ofx.bundle"]  # no staging left behind

    foreign = tmp_path / "foreign"
    (foreign / "DIPMatte.ofx.bundle").mkdir(parents=True)
    (foreign / "DIPMatte.ofx.bundle" / "mine.txt").write_text("keep")
    with pytest.raises(FileExistsError):
        install_plugin(foreign)
    assert (foreign / "DIPMatte.ofx.bundle" / "mine.txt").read_text() == "keep"


def test_doctor_renders_through_the_installed_bundle(installed):
    lines: list[str] = []
    assert run_doctor(installed, print_fn=lines.append), "\n".join(lines)
    assert lines[-1] == "OK"
    for engine in ("in the host process", "in a separate process"):
        for preset in ("Balanced", "Draft"):  # the default, then torch loaded in the host
            assert f"[ok] test render {engine} ({preset}): OK" in lines, "\n".join(lines)
    assert "[ok] the presets with networks (Draft, DIP, Paper) render wherever Balanced does" in lines
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert engine_choice(version) in lines
    assert any(line.startswith("[--] threads: ") for line in lines)
    assert f"ofx_dipmatte {ofx_dipmatte.__version__}" in lines[0]
    assert bundle_version(installed) == ofx_dipmatte.__version__


def test_doctor_names_a_containers_cpu_quota(tmp_path, monkeypatch):
    from ofx_dipmatte.engine import device

    (tmp_path / "cpu.max").write_text("150000 100000\n")  # docker --cpus 1.5
    monkeypatch.setattr(device, "CGROUP_CPU_MAX", str(tmp_path / "cpu.max"))
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("CUE_THREADS", raising=False)
    lines: list[str] = []
    run_doctor(tmp_path / "missing.ofx.bundle", print_fn=lines.append, timeout=60)
    threads = next(line for line in lines if line.startswith("[--] threads: "))
    assert threads.endswith(f"{device.available_cores()} cores available (a CPU quota of 2)"), threads
    assert device.available_cores() <= 2


@pytest.mark.parametrize("version, same, others", [
    ("3.10", "(Natron 2.5, Nuke 15)", "(Nuke 16: 3.11, Flame: 3.11)"),
    ("3.11", "(Nuke 16, Flame)", "(Natron 2.5: 3.10, Nuke 15: 3.10)"),
    ("3.13", None, "(Natron 2.5: 3.10, Nuke 15: 3.10, Nuke 16: 3.11, Flame: 3.11)"),
])
def test_doctor_names_hosts_by_the_environments_python(version, same, others):
    line = engine_choice(version)
    in_host, separate = line.split("; in a separate process")
    assert f"with Python {version}" in in_host and (same is None or in_host.endswith(same))
    assert others in separate and f": {version}" not in separate


def test_doctor_reports_a_bundle_left_from_another_release(tmp_path):
    bundle = install_plugin(tmp_path)
    plist = bundle / "Contents" / "Info.plist"
    plist.write_text(plist.read_text().replace(f"<string>{ofx_dipmatte.__version__}</string>", "<string>0.0.9</string>"))
    lines: list[str] = []
    run_doctor(bundle, print_fn=lines.append)
    assert lines[-1] != "OK"
    assert any(line.startswith("[FAIL] the bundle is from ofx_dipmatte 0.0.9") and "install-plugin" in line
               for line in lines), "\n".join(lines)


def test_doctor_command_reports_a_missing_record(tmp_path):
    bundle = install_plugin(tmp_path)
    (bundle / "Contents" / "Resources" / "python_env.cfg").unlink()
    environ = {k: v for k, v in os.environ.items() if k != ENV_OVERRIDE}
    proc = subprocess.run([sys.executable, "-m", "ofx_dipmatte", "doctor", "--bundle", str(bundle)],
                          capture_output=True, text=True, timeout=600, env=environ)
    assert proc.returncode == 1
    assert "python_env.cfg: missing" in proc.stdout
    assert "no Python environment is recorded" in proc.stdout


def test_hosts_without_the_v2_suites_get_progress_v1_and_plain_messages(installed, tmp_path):
    proc = run_host(installed, "--no-progress-v2", "--no-message-v2", "--iterations", "4")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # One update a step, and the abort polls of the nets' prior (Draft's is Balanced's matte).
    progress = re.search(r"progress: 1 starts \(1 through V1\), (\d+) updates, 1 ends", proc.stdout)
    assert progress and int(progress.group(1)) >= 4 + 1, proc.stdout

    broken = tmp_path / "python_env.cfg"
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    broken.write_text(f"version={version}\nhome=/nonexistent\nlibpython=/nonexistent/libpython{version}.so\n")
    proc = run_host(installed, "--no-message-v2", env={ENV_OVERRIDE: str(broken)})
    assert proc.returncode == 1
    assert "message: OfxMessageError ofx_dipmatte: " in proc.stdout  # the error still shows
    assert "the environment record" in proc.stdout and "has no 'executable' line" in proc.stdout
    assert "persistent message:" not in proc.stdout


def test_the_host_environment_does_not_leak_into_the_plugins_python(installed):
    # Natron and studio pipelines set these for their own Python; ours is isolated.
    proc = run_host(installed, "--iterations", "3",
                    env={"PYTHONHOME": "/nonexistent", "PYTHONPATH": "/nonexistent/site", "PYTHONSAFEPATH": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_plugins_python_leaves_the_hosts_signal_handling_alone(installed):
    # A long solve; Ctrl-C must still end the host as if no Python were there.
    environ = {k: v for k, v in os.environ.items() if k != ENV_OVERRIDE}
    proc = subprocess.Popen([str(ofx.testhost_executable()), str(installed), "--size", "48", "--iterations",
                             "100000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environ,
                            # a host starts with SIGINT at its default, whatever ran this test
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        time.sleep(8)  # Python started (it imports torch, which imports `signal`) and solving
        if proc.poll() is not None:  # it ended on its own: say how
            out, err = proc.communicate()
            pytest.fail(f"the host ended before the signal (status {proc.returncode}):\n{out.decode()[-2000:]}"
                        f"\n{err.decode()[-4000:]}")
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
        assert proc.returncode == -signal.SIGINT
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


ADOPTING_HOST = r"""
import importlib.util, struct, sys
spec = importlib.util.spec_from_file_location("_testhost", sys.argv[1])
testhost = importlib.util.module_from_spec(spec)
spec.loader.exec_module(testhost)
assert "ofx_dipmatte" not in sys.modules and "numpy" not in sys.modules
host = testhost.Host(sys.argv[2])
inst = host.create_instance("OfxImageEffectContextFilter")
host.set_param(inst, "preset", 0)
host.set_param(inst, "maxIterations", 3)
n = 24
pixels = []
for y in range(n):
    for x in range(n):
        d = ((x - n / 2) ** 2 + (y - n / 2) ** 2) ** 0.5
        tri = 1.0 if d < 5 else 0.0 if d > 9 else 0.5
        pixels += [0.8, 0.5, 0.2, tri] if d < 7 else [0.1, 0.3, 0.6, tri]
data = struct.pack(f"{len(pixels)}f", *pixels)
host.set_image(inst, "Source", 0.0, data, 0, (0, 0, n, n), n * 16, "OfxBitDepthFloat", "OfxImageComponentRGBA")
status = host.render(inst, 0.0)
print("status", status, host.persistent_message(inst))
"""


def test_a_hosts_own_python_without_our_packages_imports_them_from_the_record(installed, tmp_path):
    # Like Natron: the host already runs Python (same version) with its own sys.path.
    module = next(Path(ofx.__file__).parent.glob("_testhost*.so"))
    script = tmp_path / "adopting_host.py"
    script.write_text(ADOPTING_HOST)
    environ = {k: v for k, v in os.environ.items() if k not in (ENV_OVERRIDE, "PYTHONPATH")}
    proc = subprocess.run([sys.executable, "-I", "-S", str(script), str(module), str(installed)],
                          capture_output=True, text=True, timeout=600, env=environ)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "status 0" in proc.stdout, proc.stdout
