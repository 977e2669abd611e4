"""Command line: ``ofx-dipmatte`` (also ``python -m ofx_dipmatte``).

    ofx-dipmatte demo -o OUT                  matte the example that ships with the package
    ofx-dipmatte matte IMAGE TRIMAP -o OUT    matte one still
    ofx-dipmatte trimap MASK -o TRIMAP        make a trimap from a rough matte
    ofx-dipmatte install-plugin [--dest DIR]  install the OFX plugin for this Python
    ofx-dipmatte doctor                       check the OFX plugin end to end

Exit status: 0 success, 2 bad usage or input, 1 failure.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

EXAMPLES = Path(__file__).resolve().parent / "examples"


def _progress_bar(total: int, desc: str):
    from tqdm import tqdm

    bar = tqdm(total=total, desc=desc, unit="it", disable=not sys.stderr.isatty(), leave=False)

    def progress(iteration, _total, losses):
        bar.update(iteration - bar.n)
        bar.set_postfix(loss=f"{losses['total']:.4g}", refresh=False)
        return None

    return bar, progress


def _matte_still(image_path: Path, trimap_path: Path, out_dir: Path, preset: str, device: str,
                 seed: int, overwrite: bool) -> int:
    import ofx_dipmatte
    from .imageio import read_image, write_image

    image = read_image(image_path)
    trimap = read_image(trimap_path)
    cfg = ofx_dipmatte.engine.presets.resolve_preset(preset)
    targets = {"alpha": out_dir / f"{image_path.stem}.alpha.exr", "fg": out_dir / f"{image_path.stem}.fg.exr"}
    for path in targets.values():
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path}: exists; pass --overwrite to replace it")
    bar, progress = _progress_bar(cfg.max_iterations, image_path.name)
    try:
        res = ofx_dipmatte.matte(image, trimap, preset=cfg, device=device, seed=seed, progress=progress)
    finally:
        bar.close()
    write_image(targets["alpha"], res.alpha, overwrite=overwrite, channel_names=["A"])
    write_image(targets["fg"], np.dstack([res.foreground, res.alpha]), overwrite=overwrite,
                channel_names=["R", "G", "B", "A"])
    s = res.stats
    print(f"{image_path.name}: {s.iterations} iterations in {s.seconds:.1f} s ({s.stop_reason}), "
          f"final loss {s.losses.get('total', 0.0):.4g}")
    print(f"alpha:      {targets['alpha']}")
    print(f"foreground: {targets['fg']} (straight RGB + alpha)")
    return 0


def _install_plugin(dest: "Path | None", system: bool, force: bool) -> int:
    from .ofx.install import default_plugin_dir, install_plugin, plugin_path_hint

    try:
        target = install_plugin(dest, system=system, force=force)
    except (FileExistsError, RuntimeError, FileNotFoundError) as exc:
        print(f"ofx-dipmatte: error: {exc}", file=sys.stderr)
        return 2
    except PermissionError as exc:
        print(f"ofx-dipmatte: error: {exc}; run as root for --system, or use --dest", file=sys.stderr)
        return 2
    print(f"installed {target}")
    print(f"recorded Python: {sys.executable}")
    if not system and (dest is None or Path(dest) == default_plugin_dir()):
        print("hosts find it once this is in their environment (e.g. in ~/.profile):")
        print(f"  {plugin_path_hint(target.parent)}")
    print("restart the host (or clear its plugin cache); `ofx-dipmatte doctor` checks the install")
    return 0


def main(argv: "list[str] | None" = None) -> int:
    ap = argparse.ArgumentParser(prog="ofx-dipmatte", description="Training-free neural matte extraction.")
    sub = ap.add_subparsers(dest="command", required=True)

    def solver_options(p):
        p.add_argument("-o", "--out", type=Path, required=True, help="output folder")
        p.add_argument("--preset", default="balanced", help="draft, balanced (default) or paper")
        p.add_argument("--device", default="auto", help="auto (default), cpu or cuda")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--overwrite", action="store_true", help="replace existing outputs")

    p = sub.add_parser("demo", help="matte the example image that ships with the package")
    solver_options(p)
    p = sub.add_parser("matte", help="matte one still image")
    p.add_argument("image", type=Path)
    p.add_argument("trimap", type=Path)
    solver_options(p)
    p = sub.add_parser("trimap", help="make a trimap from a rough (soft or binary) matte")
    p.add_argument("mask", type=Path)
    p.add_argument("-o", "--out", type=Path, required=True, help="trimap file to write")
    p.add_argument("--band", type=float, default=10.0, help="half-width of the unknown band in pixels")
    p.add_argument("--overwrite", action="store_true")
    p = sub.add_parser("install-plugin", help="copy the OFX plugin into a plugin folder, bound to this Python")
    p.add_argument("--dest", type=Path, help="plugin folder (default: ~/OFX/Plugins)")
    p.add_argument("--system", action="store_true", help="install into /usr/OFX/Plugins (needs root)")
    p.add_argument("--force", action="store_true", help="replace a folder of the same name that is not ours")
    p = sub.add_parser("doctor", help="check the OFX plugin: bundle, Python environment, a test render")
    p.add_argument("--bundle", type=Path, help="the bundle to check (default: the installed one)")
    args = ap.parse_args(argv)

    if args.command == "install-plugin":
        return _install_plugin(args.dest, args.system, args.force)
    if args.command == "doctor":
        from .ofx.doctor import run_doctor

        return 0 if run_doctor(args.bundle) else 1

    import ofx_dipmatte

    try:
        if args.command == "trimap":
            from .imageio import read_image, write_image

            trimap = ofx_dipmatte.trimap_from_rough_matte(read_image(args.mask), band=args.band)
            print(write_image(args.out, trimap, overwrite=args.overwrite))
            return 0
        if args.command == "demo":
            image, trimap = EXAMPLES / "strands.image.png", EXAMPLES / "strands.trimap.png"
        else:
            image, trimap = args.image, args.trimap
        return _matte_still(image, trimap, args.out, args.preset, args.device, args.seed, args.overwrite)
    except (ValueError, FileExistsError) as exc:
        print(f"ofx-dipmatte: error: {exc}", file=sys.stderr)
        return 2
    except ofx_dipmatte.Cancelled as exc:
        print(f"ofx-dipmatte: cancelled: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ofx-dipmatte: interrupted; no partial output was written", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
