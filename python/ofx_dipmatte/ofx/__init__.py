"""The OpenFX plugin that ships inside this package, and how to install and check it.

    from ofx_dipmatte import ofx
    ofx.bundle_path()          # …/ofx_dipmatte/ofx/DIPMatte.ofx.bundle
    ofx.install_plugin()       # copy it to ~/OFX/Plugins and record this Python
"""

from __future__ import annotations

import platform
from pathlib import Path

BUNDLE_NAME = "DIPMatte"
PLUGIN_ID = "com.ofxdipmatte.DIPMatte"
ENV_RECORD = "python_env.cfg"  # in Contents/Resources; read by ofx_shim/python_loader.cpp
ENV_OVERRIDE = "OFX_DIPMATTE_ENV"  # a path to another record, for developers

_HERE = Path(__file__).resolve().parent
#: The bundle's folder for this machine's binaries (the OFX packaging convention, as
#: ofx_shim/CMakeLists.txt installs them): Linux-x86-64, else Linux-<uname -m>.
ARCH_DIR = "Linux-x86-64" if platform.machine() in ("x86_64", "AMD64", "amd64") else f"Linux-{platform.machine()}"


def bundle_path() -> Path:
    """The plugin bundle built into this installation (``DIPMatte.ofx.bundle``).

    Raises:
        FileNotFoundError: the package was installed without its compiled parts.
    """
    path = _HERE / f"{BUNDLE_NAME}.ofx.bundle"
    if not (path / "Contents").is_dir():
        raise FileNotFoundError(f"{path}: no plugin bundle; reinstall with `pip install .` so CMake builds it")
    return path


def testhost_executable() -> Path:
    """The standalone test host (no Python in its process) used by tests and doctor."""
    path = _HERE / "bin" / "ofx-dipmatte-testhost"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no test host; reinstall with `pip install .`")
    return path


from .install import default_plugin_dir, install_plugin, record_environment  # noqa: E402

__all__ = ["BUNDLE_NAME", "PLUGIN_ID", "ARCH_DIR", "bundle_path", "testhost_executable", "install_plugin",
           "record_environment", "default_plugin_dir"]
