"""The engine's sparse solvers against scipy's on the systems a plate's frame really solves.

One frame of a synthetic plate (bench/plate_case.py) is matted with the default preset,
tiles one after another, and every system its windows solve is kept: the closed-form
solves (direct: our supernodal Cholesky, kernels/sparse_cholesky.cpp) and the refinement
rounds' (conjugate gradients on the stencil, kernels/stencil_cg.cpp). Each is then solved
again, timed (best of ``--repeat``), by the engine's solver and by scipy's — SuperLU in the
same elimination order, and ``scipy.sparse.linalg.cg`` with the same Jacobi preconditioner,
start and tolerance — and the answers compared.

Usage:
    python bench/bench_solvers.py [--size 960x540] [--repeat 3] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

sys.path.insert(0, str(Path(__file__).resolve().parent))


def capture(width: int, height: int) -> tuple[list, list]:
    """(direct systems, iterative systems) of one frame of the plate, as solved."""
    from plate_case import make_plate

    import ofx_dipmatte
    from ofx_dipmatte.engine import alpha_solve, clip

    direct, iterative = [], []
    solve_direct, solve_iterative = alpha_solve.direct_solve, alpha_solve._iterative_solve

    def keep_direct(matrix, rhs, order=None):
        direct.append((matrix.tocsr().copy(), rhs.copy(), None if order is None else order.copy()))
        return solve_direct(matrix, rhs, order)

    def keep_iterative(system, c_u, rhs, x0, rtol, should_stop):
        iterative.append((system, None if c_u is None else c_u.copy(), rhs.copy(), x0.copy(), rtol))
        return solve_iterative(system, c_u, rhs, x0, rtol, should_stop)

    alpha_solve.direct_solve, alpha_solve._iterative_solve = keep_direct, keep_iterative
    workers = clip.tile_workers
    clip.tile_workers = lambda: 1  # one tile at a time: the timings below are one thread's
    try:
        image, trimap, _ = make_plate(height, width)
        ofx_dipmatte.ClipSession("balanced").matte(0, np.round(image * 255).astype(np.uint8), trimap)
    finally:
        alpha_solve.direct_solve, alpha_solve._iterative_solve = solve_direct, solve_iterative
        clip.tile_workers = workers
    return direct, iterative


def best_time(run, repeat: int):
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="960x540", help="plate WxH (default 960x540)")
    parser.add_argument("--repeat", type=int, default=3, help="timings per system: the best counts")
    parser.add_argument("--markdown", help="also write the tables here")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))

    from ofx_dipmatte.engine import alpha_solve
    from ofx_dipmatte.engine._stencil_cg import conjugate_gradients
    from ofx_dipmatte.engine.device import single_threaded_blas

    direct, iterative = capture(width, height)
    lines = [f"### Solvers on a {width}×{height} plate's frame (`bench/bench_solvers.py`)", "",
             "| solve | systems | unknowns | engine s | scipy s | engine ×scipy | steps equal | max abs Δx |",
             "|---|---|---|---|---|---|---|---|"]
    with single_threaded_blas():
        ours = theirs = 0.0
        worst = 0.0
        for matrix, rhs, order in direct:
            if order is None:
                continue
            t_ours, x = best_time(lambda: alpha_solve.direct_solve(matrix, rhs, order), args.repeat)
            permuted = matrix[order][:, order].tocsc()

            def superlu():
                y = np.empty_like(rhs)
                y[order] = alpha_solve._solve(permuted, rhs[order], "NATURAL")
                return y

            t_theirs, y = best_time(superlu, args.repeat)
            ours, theirs, worst = ours + t_ours, theirs + t_theirs, max(worst, float(np.abs(x - y).max()))
        sizes = [m.shape[0] for m, _, o in direct if o is not None]
        lines.append(f"| closed-form (Cholesky vs SuperLU) | {len(sizes)} | {min(sizes)}–{max(sizes)} | "
                     f"{ours:.3f} | {theirs:.3f} | {ours / theirs:.2f} | | {worst:.1e} |")

        ours = theirs = 0.0
        worst, same_steps, counted = 0.0, 0, 0
        for system, c_u, rhs, x0, rtol in iterative:
            if system.stencil is None:
                continue
            extra = np.zeros(rhs.shape) if c_u is None else c_u
            t_ours, (x, steps, _) = best_time(
                lambda: conjugate_gradients(*system.stencil, extra, rhs, x0, rtol, alpha_solve.MAX_CG_STEPS),
                args.repeat)
            a = system.a_uu if c_u is None else system.plus_diagonal(c_u)
            preconditioner = sp.diags(1.0 / np.maximum(a.diagonal(), 1e-12))
            taken = []

            def scipy_cg():
                taken.clear()
                return spla.cg(a, rhs, x0=x0, M=preconditioner, rtol=rtol, maxiter=alpha_solve.MAX_CG_STEPS,
                               callback=lambda _: taken.append(1))[0]

            t_theirs, y = best_time(scipy_cg, args.repeat)
            ours, theirs = ours + t_ours, theirs + t_theirs
            worst = max(worst, float(np.abs(np.clip(x, 0, 1) - np.clip(y, 0, 1)).max()))
            same_steps += int(steps == len(taken))
            counted += 1
        sizes = [s.a_uu.shape[0] for s, *_ in iterative if s.stencil is not None]
        lines.append(f"| refinement (stencil CG vs scipy cg) | {counted} | {min(sizes)}–{max(sizes)} | "
                     f"{ours:.3f} | {theirs:.3f} | {ours / theirs:.2f} | {same_steps}/{counted} | {worst:.1e} |")
    lines += ["", "Times are the best of each system's runs, summed; Δx of the refinement is on alpha "
              "(clipped to [0, 1]), of the closed-form on the solution."]
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
