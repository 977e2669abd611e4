"""``ofx-dipmatte install-plugin``: copy the bundle into an OFX plugin folder and record
which Python environment the plugin must start (a host process has no idea).

The record, ``Contents/Resources/python_env.cfg``, is a ``key=value`` file that the
C++ loader reads (see ``ofx_shim/env_record.h``).
"""

from __future__ import annotations

import os
import shutil
import site
import sys
import sysconfig
import tempfile
from pathlib import Path

from . import BUNDLE_NAME, ENV_RECORD, PLUGIN_ID, bundle_path

SYSTEM_PLUGIN_DIR = Path("/usr/OFX/Plugins")


def default_plugin_dir() -> Path:
    """The per-user plugin folder: ``~/OFX/Plugins`` (hosts find it through OFX_PLUGIN_PATH)."""
    return Path.home() / "OFX" / "Plugins"


def libpython_path() -> Path | None:
    """This Python's shared libpython, or None when it was built without one."""
    if not sysconfig.get_config_var("Py_ENABLE_SHARED"):
        return None
    libdir = Path(sysconfig.get_config_var("LIBDIR") or "")
    for name in (sysconfig.get_config_var("INSTSONAME"), sysconfig.get_config_var("LDLIBRARY")):
        if name and (libdir / name).is_file():
            return libdir / name
    return None


def record_environment() -> str:
    """The record of this Python environment, as the text of ``python_env.cfg``.

    A Python without a shared libpython is recorded too (``libpython=`` empty): the
    plugin then always runs its engine in a separate process.
    """
    libpython = libpython_path()
    # The standard library lives in the base installation, not in a venv.
    base = {"base": sys.base_prefix, "platbase": sys.base_exec_prefix,
            "installed_base": sys.base_prefix, "installed_platbase": sys.base_exec_prefix}
    stdlib = sysconfig.get_path("stdlib", vars=base)
    platstdlib = sysconfig.get_path("platstdlib", vars=base)
    paths = [str(Path(sys.base_prefix) / "lib" / f"python{sys.version_info[0]}{sys.version_info[1]}.zip"),
             stdlib, platstdlib, str(Path(platstdlib) / "lib-dynload")]
    sitedirs = list(site.getsitepackages())
    package_root = str(Path(__file__).resolve().parents[2])  # the folder holding ofx_dipmatte/
    if package_root not in sitedirs:
        sitedirs.append(package_root)
    lines = [
        "# Written by `ofx-dipmatte install-plugin`: the Python environment this plugin starts.",
        f"version={sys.version_info[0]}.{sys.version_info[1]}",
        f"executable={sys.executable}",
        f"home={sys.base_prefix}",
        f"libpython={libpython or ''}",
        *[f"path={p}" for p in dict.fromkeys(paths)],
        *[f"sitedir={d}" for d in dict.fromkeys(sitedirs)],
    ]
    return "\n".join(lines) + "\n"


def _is_our_bundle(path: Path) -> bool:
    plist = path / "Contents" / "Info.plist"
    return plist.is_file() and PLUGIN_ID in plist.read_text(errors="replace")


def install_plugin(dest: "str | Path | None" = None, system: bool = False, force: bool = False) -> Path:
    """Copy the plugin bundle into ``dest`` (default: :func:`default_plugin_dir`, or
    ``/usr/OFX/Plugins`` with ``system``) and record this Python environment in it.

    An older copy of this plugin there is replaced (atomically: a half-copied bundle is
    never visible to a host); anything else with the bundle's name is left alone unless
    ``force``. Copies, never symlinks: some hosts do not follow them.

    Returns:
        the installed bundle's path.
    """
    folder = Path(dest) if dest is not None else (SYSTEM_PLUGIN_DIR if system else default_plugin_dir())
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{BUNDLE_NAME}.ofx.bundle"
    if target.exists() and not force and not _is_our_bundle(target):
        raise FileExistsError(f"{target}: exists and is not an ofx_dipmatte bundle; pass --force to replace it")
    record = record_environment()

    # Hosts skip folders whose names start with '@', so the staging copy is invisible.
    staging = Path(tempfile.mkdtemp(prefix="@ofx_dipmatte.", dir=folder))
    try:
        staged = staging / target.name
        shutil.copytree(bundle_path(), staged)
        (staged / "Contents" / "Resources").mkdir(exist_ok=True)
        (staged / "Contents" / "Resources" / ENV_RECORD).write_text(record)
        if target.exists():
            os.rename(target, staging / "previous")  # removed with the staging folder
        os.rename(staged, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def plugin_path_hint(folder: Path) -> str:
    """The shell line that makes hosts look in ``folder``."""
    return f'export OFX_PLUGIN_PATH="{folder}${{OFX_PLUGIN_PATH:+:$OFX_PLUGIN_PATH}}"'
