"""``ofx-dipmatte doctor``: check the plugin end to end and say exactly what is wrong.

It reports the bundle, the Python environment recorded in it and whether that Python's
libpython is shared, then loads the bundle in the standalone test host (a process with
no Python of its own, like a real host) and renders a small frame with each engine: in
the host process and in a worker process, with the default preset (Balanced, no torch
needed) and, where torch imports, with Draft (torch loaded there too). Last it says which
engine the plugin's Automatic setting will give a host.
"""

from __future__ import annotations

import os
import plistlib
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

from .. import __version__
from . import ARCH_DIR, BUNDLE_NAME, ENV_OVERRIDE, ENV_RECORD, bundle_path, testhost_executable

ENGINE_VARIABLE = "OFX_DIPMATTE_ENGINE"  # read by the plugin (ofx_shim/plugin.cpp)
from .install import SYSTEM_PLUGIN_DIR, default_plugin_dir, libpython_path, record_environment

#: The Python some hosts carry in their process (README, *The OFX plugin*): with
#: another version, Automatic runs the engine in a separate process there.
HOST_PYTHONS = {"Natron 2.5": "3.10", "Nuke 15": "3.10", "Nuke 16": "3.11", "Flame": "3.11"}


def engine_choice(version: str) -> str:
    """The line saying where Automatic runs the engine, for an environment of Python
    ``version`` ("3.11") whose both engines work: the hosts named by their Python."""
    same = ", ".join(host for host, python in HOST_PYTHONS.items() if python == version)
    other = ", ".join(f"{host}: {python}" for host, python in HOST_PYTHONS.items() if python != version)
    return (f"[--] engine: Automatic solves in the host process in hosts without a Python of their own or "
            f"with Python {version}" + (f" ({same})" if same else "") + "; in a separate process in hosts "
            "that hold another Python" + (f" ({other})" if other else "") + " or when the in-process start fails")


def installed_bundles() -> list[Path]:
    """Copies of the plugin in OFX_PLUGIN_PATH, the per-user folder and /usr/OFX/Plugins."""
    folders = [Path(p) for p in os.environ.get("OFX_PLUGIN_PATH", "").split(os.pathsep) if p]
    folders += [default_plugin_dir(), SYSTEM_PLUGIN_DIR]
    found = []
    for folder in dict.fromkeys(folders):
        candidate = folder / f"{BUNDLE_NAME}.ofx.bundle"
        if candidate.is_dir():
            found.append(candidate)
    return found


def read_record(bundle: Path) -> dict[str, list[str]]:
    record: dict[str, list[str]] = {}
    path = bundle / "Contents" / "Resources" / ENV_RECORD
    for line in path.read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            record.setdefault(key, []).append(value)
    return record


def bundle_version(bundle: Path) -> "str | None":
    """The release a bundle was built from (its Info.plist's CFBundleShortVersionString);
    None when that cannot be read."""
    try:
        with open(bundle / "Contents" / "Info.plist", "rb") as f:
            version = plistlib.load(f).get("CFBundleShortVersionString")
    except (OSError, plistlib.InvalidFileException, ValueError):
        return None
    return version if isinstance(version, str) else None


#: The engines a test render is run with, and how the lines name them.
ENGINES = {"in_process": "in the host process", "worker": "in a separate process"}


def _test_render(host: Path, bundle: Path, env: dict[str, str], engine: str, preset: str, label: str,
                 timeout: float, print_fn: Callable[[str], None]) -> bool:
    """Renders a small frame with ``preset`` in the standalone test host, the engine
    forced to ``engine``; prints what the host said and whether it worked."""
    cmd = [str(host), str(bundle), "--size", "32", "--iterations", "5", "--engine", engine, "--preset", preset]
    name = f"test render {label} ({preset.capitalize()})"
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        print_fn(f"[--] {name}: did not finish in {timeout:.0f} s")
        return False
    for line in proc.stdout.splitlines():
        if line.startswith(("frame", "persistent message", "message", "error")):
            print_fn(f"     {line}")
    if proc.returncode != 0 and proc.stderr.strip():
        for line in proc.stderr.strip().splitlines()[-15:]:
            print_fn(f"     stderr: {line}")
    # One engine working is enough for the plugin to work: the caller judges.
    print_fn(f"[{'ok' if proc.returncode == 0 else '--'}] {name}: " +
             ("OK" if proc.returncode == 0 else f"failed (exit {proc.returncode})"))
    return proc.returncode == 0


def run_doctor(bundle: "Path | None" = None, print_fn: Callable[[str], None] = print, timeout: float = 600) -> bool:
    """Runs every check, printing one line each; returns True when the render worked."""
    ok = True

    def report(good: bool, text: str) -> None:
        nonlocal ok
        ok = ok and good
        print_fn(f"[{'ok' if good else 'FAIL'}] {text}")

    report(True, f"this Python: {sys.executable} ({sys.version.split()[0]}), ofx_dipmatte {__version__}")
    lib = libpython_path()
    print_fn(f"[--] shared libpython: {lib}" if lib else
             "[--] this Python has no shared libpython: the engine cannot run inside a host, only in a separate "
             "process (for both, use a Python built with --enable-shared: python.org, conda, Debian's python3)")
    torch_imports = False
    try:
        import torch

        torch_imports = True
        report(True, f"torch {torch.__version__}, CUDA {'available' if torch.cuda.is_available() else 'not available'}")
    except Exception as exc:  # a broken torch is exactly what doctor must report (the DIP presets need it)
        report(False, f"torch does not import: {exc} (Balanced runs without it; Draft, DIP and Paper need it: "
                      "reinstall torch in this environment)")
    try:  # the tiles' threads are the engine's own, torch or not
        from ..engine.device import available_cores, cpu_quota, thread_budget, tile_workers
    except Exception:  # the engine's other dependencies: the test render below says what fails
        pass
    else:
        budget, quota = thread_budget(), cpu_quota()
        source = "the cores available" if budget is None else budget[1]
        print_fn(f"[--] threads: {tile_workers()} tiles of a large frame at once (from {source}); "
                 f"{available_cores()} cores available" + ("" if quota is None else f" (a CPU quota of {quota})"))

    env = dict(os.environ)
    if bundle is None:
        installed = installed_bundles()
        bundle = installed[0] if installed else None
    with tempfile.TemporaryDirectory() as tmp:
        if bundle is None:
            bundle = bundle_path()
            print_fn(f"[--] no installed copy found (run `ofx-dipmatte install-plugin`); checking {bundle} "
                     "with this Python")
            record = Path(tmp) / ENV_RECORD
            record.write_text(record_environment())
            env[ENV_OVERRIDE] = str(record)
        else:
            report(True, f"bundle: {bundle}")
            built = bundle_version(bundle)
            if built != __version__:  # an installed copy left from another release
                report(False, f"the bundle is from ofx_dipmatte {built or '(unknown version)'}, this Python has "
                              f"{__version__}: run `ofx-dipmatte install-plugin` again to replace it")
            record_file = bundle / "Contents" / "Resources" / ENV_RECORD
            if ENV_OVERRIDE in env:
                print_fn(f"[--] {ENV_OVERRIDE}={env[ENV_OVERRIDE]} overrides the bundle's record")
            elif not record_file.is_file():
                report(False, f"{record_file}: missing; run `ofx-dipmatte install-plugin` again")
            else:
                rec = read_record(bundle)
                exe = rec.get("executable", ["?"])[0]
                libs = rec.get("libpython", [""])
                report(True, f"recorded Python: {exe} (Python {rec.get('version', ['?'])[0]})")
                print_fn(f"[--] recorded libpython: {libs[0] or 'none (the engine runs in a separate process)'}")
        binary = bundle / "Contents" / ARCH_DIR / f"{BUNDLE_NAME}.ofx"
        report(binary.is_file(), f"plugin binary: {binary}")
        try:
            host = testhost_executable()
        except FileNotFoundError as exc:
            report(False, str(exc))
            return False
        env.pop(ENGINE_VARIABLE, None)
        # The plugin's default first: whether artists get a matte at all decides the check.
        works = {engine: _test_render(host, bundle, env, engine, "balanced", label, timeout, print_fn)
                 for engine, label in ENGINES.items()}
        report(works["in_process"] or works["worker"], "the plugin renders in a host process (Balanced, its default)")
        if torch_imports and (works["in_process"] or works["worker"]):
            # The presets with networks load torch into the host (or the worker): checked
            # apart, so that a torch that fails only there is named as such.
            failed = [label for engine, label in ENGINES.items()
                      if works[engine] and not _test_render(host, bundle, env, engine, "draft", label, timeout, print_fn)]
            report(not failed, "the presets with networks (Draft, DIP, Paper) render" +
                   (f", except {' and '.join(failed)} (the lines above say why)" if failed else " wherever Balanced does"))
        elif not torch_imports:
            print_fn("[--] the presets with networks (Draft, DIP, Paper): not tried, torch does not import (above)")
        version = f"{sys.version_info[0]}.{sys.version_info[1]}"
        if works["in_process"] and works["worker"]:
            print_fn(engine_choice(version))
        elif works["worker"]:
            print_fn("[--] engine: Automatic solves in a separate process in every host (it cannot run in one)")
        elif works["in_process"]:
            report(False, f"the worker process does not start: hosts that hold a Python other than {version} "
                          "cannot use the plugin (see the lines above)")
        if os.environ.get(ENGINE_VARIABLE):
            print_fn(f"[--] {ENGINE_VARIABLE}={os.environ[ENGINE_VARIABLE]} is set here: hosts started from this "
                     "shell use that engine whatever the Engine parameter says")
    print_fn("OK" if ok else "doctor found problems (lines marked FAIL)")
    return ok
