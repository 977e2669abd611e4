"""Solve windows that follow the unknown band, and the weights that blend them.

On a plate the unknown band is a ribbon around the subject while its bounding box covers
most of the frame. A grid of ``cell``-sized cells is laid over the frame; every cell the
band touches gets a window: the bounding box of its unknown pixels plus ``margin`` pixels
of context, or as many as the band is deep there (:func:`band_depth`, up to
:func:`deep_context`'s limits). Cost and memory then follow the band: cells inside the subject
or in the clear background are never solved, and no window is larger than a cell plus
its margins.

Neighbouring windows overlap by about twice the margin. Near its edge a window's solve
sees less context, so each window's pixels count with a weight that ramps from near 0
at an edge it shares with the rest of the frame up to 1 at ``margin`` pixels inside;
every pixel's value is the weighted mean of the windows covering it, and no seam shows
(:func:`blend`, :class:`WeightedSum`). On a CPU the windows are solved side by side on
threads (:func:`solve_in_threads`).

A classical preset solves a plate in two stages (:meth:`.frame_solve.FrameSolver._refine_tiles`):
each window's closed-form matte needs the deep context, and is blended; the refinement
after it reads its colours from the frame, so each tile refines that blend on its cell
and :data:`REFINED_MARGIN` pixels alone (:func:`tile_core`): the deep windows hold each band
pixel of the 1080p plate 2.47 times, the cores 1.12 times. The stages run side by side
(:func:`solve_in_stages`).
"""

from __future__ import annotations

import dataclasses
import threading
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Callable, Collection, Sequence

import numpy as np
from scipy import ndimage

from .alpha_solve import DIRECT_SOLVE_LIMIT
from .region import Window, inside, keep_or_box, reach_box
from .results import Cancelled, FitResult, ProgressCallback


#: Context (pixels) a tile gets as deep as its band, whatever its window holds (half a
#: default 256 px cell). dev512's *hair_b* enlarged to 1024² (a band 128 px deep, 256 px
#: cells): SAD 21.03 with 32 px margins, 19.62 with up to 64, 17.72 with up to 128
#: (closed-form 18.29, one window 16.88); 11.9 / 17.3 / 27.4 s (docs/benchmarks.md).
FULL_CONTEXT = 128
#: The most context a tile gets: beyond :data:`FULL_CONTEXT` only while its window holds at
#: most :data:`~.alpha_solve.DIRECT_SOLVE_LIMIT` unknown pixels (:func:`deep_context`). The
#: 4K plate, whose band is over 128 px deep in 33 of its 61 cells: SAD 421.2 → 395.2 (0.74 →
#: 0.69× closed-form's), 48.5 → 54.9 s; dev *smoke* enlarged 4×, whose windows its band
#: fills, would take 8.6 → 52.9 s unbounded, and keeps 128 (docs/benchmarks.md).
DEEPEST_CONTEXT = 192


def band_windows(unknown: np.ndarray, canvas: tuple[int, int], cell: int, margin: int, size_unit: int,
                 origin_unit: int, previous: dict[tuple[int, int], Window] | None = None,
                 same_size: bool = False, depth: np.ndarray | None = None) -> list[Window]:
    """One window per ``cell``×``cell`` cell of the frame that holds unknown pixels, in
    row-major order, each holding its cell's (row, column) (see the module's docstring).
    ``previous``: cell → the window its nets were last fitted on, kept while it still
    fits (:func:`.region.keep_or_box`). ``same_size``: every window as large as a whole
    cell's with its margins (as the canvas allows), moved inside the canvas, so that
    tiles fitted as batches of one size (:mod:`.batched_fit`) make few batches: on a GPU a
    720p plate's 8 tiles came in 4 sizes, batches of 1–3 (docs/benchmarks.md).
    ``depth``: H×W, each unknown pixel's distance to the nearest known one
    (:func:`band_depth`): a cell's margin is then at least its band's depth there, up to
    :func:`deep_context`'s limits."""
    previous = previous or {}
    h, w = unknown.shape
    windows = []
    counts = None if depth is None else _unknowns_table(unknown)
    rows_any = [np.asarray(unknown[y:y + cell].any(axis=0)) for y in range(0, h, cell)]
    for i, y in enumerate(range(0, h, cell)):
        if not rows_any[i].any():
            continue
        for x in range(0, w, cell):
            part = unknown[y:y + cell, x:x + cell]
            if not rows_any[i][x:x + cell].any():
                continue
            rows = np.flatnonzero(part.any(axis=1))
            cols = np.flatnonzero(part.any(axis=0))
            key = (y // cell, x // cell)
            box = (y + int(rows[0]), y + int(rows[-1]) + 1, x + int(cols[0]), x + int(cols[-1]) + 1)
            context = margin
            if depth is not None and counts is not None:
                deepest = int(np.ceil(float(depth[y:y + cell, x:x + cell].max())))
                context = max(margin, deep_context(deepest, box, counts))
            window = keep_or_box(previous.get(key), *box, canvas, context, size_unit, origin_unit,
                                 cell + 2 * margin if same_size else 0)
            windows.append(dataclasses.replace(window, cell=key))
    return windows


def deep_context(deepest: int, box: tuple[int, int, int, int], counts: np.ndarray) -> int:
    """The context for a cell whose band is ``deepest`` pixels deep and whose unknown
    pixels lie in ``box`` (y0, y1, x0, x1): as deep as the band, up to :data:`FULL_CONTEXT`
    always and up to :data:`DEEPEST_CONTEXT` in steps of 16 px while the window (the box
    grown by the context, within the frame) holds at most
    :data:`~.alpha_solve.DIRECT_SOLVE_LIMIT` unknown pixels (``counts``: the frame's
    unknown pixels summed, :func:`_unknowns_table`). A band that fills its window (smoke)
    would pay for a deeper context with direct solves far larger than the cell's."""
    context = min(DEEPEST_CONTEXT, deepest)
    h, w = counts.shape[0] - 1, counts.shape[1] - 1
    y0, y1, x0, x1 = box
    while context > FULL_CONTEXT:
        top, bottom = max(y0 - context, 0), min(y1 + context, h)
        left, right = max(x0 - context, 0), min(x1 + context, w)
        held = counts[bottom, right] - counts[top, right] - counts[bottom, left] + counts[top, left]
        if held <= DIRECT_SOLVE_LIMIT:
            break
        context = max(FULL_CONTEXT, context - 16)
    return context


def _unknowns_table(unknown: np.ndarray) -> np.ndarray:
    """(H + 1)×(W + 1): the unknown pixels above and left of each corner, for box counts."""
    table = np.zeros((unknown.shape[0] + 1, unknown.shape[1] + 1), np.int32)  # counts of a frame under 2³¹ px
    np.cumsum(np.cumsum(unknown, axis=0, dtype=np.int32), axis=1, out=table[1:, 1:])
    return table


def band_depth(unknown: np.ndarray, limit: int = DEEPEST_CONTEXT) -> np.ndarray:
    """Each unknown pixel's distance (pixels) to the nearest known one, exact up to
    ``limit`` and above it beyond; 0 on known pixels. It is computed over the band's
    bounding box grown by ``limit`` + 1 pixels, which holds every known pixel that near:
    a frame-sized distance transform was an eighth of a thin-band 1080p frame.
    Closed-form's alpha at a band pixel is set by known pixels up to about this far, and
    further along the band where its colours are ambiguous: a tile cut closer than that
    solves another problem than the whole band. On dev512's *hair_b* (a band up to 64 px
    deep) cut into 192 px cells with 32 px margins, the default's SAD was 3.43 against 2.50
    as one window (closed-form alone 4.21 against 3.32); with margins of the band's depth,
    2.27 (docs/benchmarks.md). The plates of ``bench/plate_case.py`` hid this: their
    foreground is one smooth colour field."""
    depth = np.zeros(unknown.shape, np.float32)
    box = reach_box(unknown, limit + 1)
    if box is not None:
        depth[box] = ndimage.distance_transform_edt(unknown[box])
    return depth


#: Pixels around its cell that a plate tile's refinement covers (:func:`tile_core`): enough
#: for the blend's ramps to overlap. On the 1080p plate of ``bench/plate_case.py`` with 32 /
#: 16 / 8 px, SAD 84.69 / 84.21 / 83.98 cold and 74.88 / 74.45 / 74.01 warm; the same order
#: or a tie on every other plate and enlarged still measured (docs/benchmarks.md), and on
#: ``tests/test_tiles.py``'s ring in 128 px cells.
REFINED_MARGIN = 8
#: ... but a core at least this wide: in 64 px cells (``tests/test_clean_plate.py``'s hair
#: with a plate) 8 px lost 4.7 % against 32 px (445 against 430, the deep windows refined
#: through 425): the refinement weighs each pixel's confidence against its window's median
#: (:func:`.classical.trusted_pass`), and a small window's band is a small sample.
SMALLEST_CORE = 128


def tile_core(window: Window, cell: int, margin: int | None = None) -> Window:
    """The part of a tile's ``window`` whose refined matte it hands on: its grid cell
    (``cell`` px square) grown by ``margin`` pixels (default :data:`REFINED_MARGIN`, or
    more to make the core :data:`SMALLEST_CORE` wide), within the window."""
    assert window.cell is not None
    if margin is None:
        margin = max(REFINED_MARGIN, -(-(SMALLEST_CORE - cell) // 2))
    row, col = window.cell
    y0, x0 = max(row * cell - margin, window.y0), max(col * cell - margin, window.x0)
    y1 = min((row + 1) * cell + margin, window.y0 + window.height)
    x1 = min((col + 1) * cell + margin, window.x0 + window.width)
    return Window(y0, x0, y1 - y0, x1 - x0, cell=window.cell)


def overlapping(windows: list[Window], box: Window) -> set[int]:
    """The indices of ``windows`` that share a pixel with ``box``."""
    return {i for i, w in enumerate(windows)
            if w.y0 < box.y0 + box.height and box.y0 < w.y0 + w.height
            and w.x0 < box.x0 + box.width and box.x0 < w.x0 + w.width}


def union_window(windows: list[Window]) -> Window:
    """The smallest window holding all of ``windows``."""
    y0 = min(w.y0 for w in windows)
    x0 = min(w.x0 for w in windows)
    y1 = max(w.y0 + w.height for w in windows)
    x1 = max(w.x0 + w.width for w in windows)
    return Window(y0, x0, y1 - y0, x1 - x0)


def blend_weight(window: Window, canvas: tuple[int, int], ramp: int) -> np.ndarray:
    """height×width float32 weights: a linear ramp over ``ramp`` pixels at each edge of
    the window that lies inside the canvas, 1 elsewhere (an edge on the canvas border
    has no neighbour to hand over to)."""
    def axis(start: int, size: int, limit: int) -> np.ndarray:
        pos = np.arange(size, dtype=np.float32)
        weight = np.ones(size, np.float32)
        if ramp > 0:
            if start > 0:
                weight = np.minimum(weight, (pos + 1) / (ramp + 1))
            if start + size < limit:
                weight = np.minimum(weight, (size - pos) / (ramp + 1))
        return weight

    return np.outer(axis(window.y0, window.height, canvas[0]), axis(window.x0, window.width, canvas[1]))


def edge_anchor(window: Window, canvas: tuple[int, int], guide: np.ndarray, width: int,
                strength: float) -> tuple[np.ndarray, np.ndarray]:
    """A data term (confidence, estimate) on ``window``: ``guide`` (the window's crop of a
    matte of the whole band) held with ``strength`` on the ``width`` pixels along each edge
    shared with the rest of the frame. It hands each tile the boundary values the whole
    solve would have, so a tile whose unknown pixels see only one known region (a strip
    of background beside the hair) still gets the alpha the subject's side implies."""
    ring = blend_weight(window, canvas, width) < 1.0
    return (strength * ring).astype(np.float32), guide.astype(np.float32)


class WeightedSum:
    """Arrays of windows summed over ``union`` by their :func:`blend_weight`, read back as
    the weighted mean: the blend of overlapping windows' results (:func:`blend`), or of
    their priors on one tile's part (:meth:`.frame_solve.FrameSolver._refine_tiles`). Windows
    are added in the caller's order, which fixes the sums' rounding."""

    def __init__(self, union: Window, canvas: tuple[int, int], ramp: int, channels: tuple[int, ...]):
        self.union, self.canvas, self.ramp = union, canvas, ramp
        self.weight = np.zeros((union.height, union.width), np.float32)
        self.sums = [np.zeros((union.height, union.width) + ((c,) if c > 1 else ()), np.float32) for c in channels]

    def add(self, window: Window, *arrays: np.ndarray) -> None:
        """Add ``arrays`` (each on ``window``, H×W or H×W×C as the channels say; a () array
        counts as that value everywhere) where ``window`` meets the union."""
        y0, x0 = max(window.y0, self.union.y0), max(window.x0, self.union.x0)
        y1 = min(window.y0 + window.height, self.union.y0 + self.union.height)
        x1 = min(window.x0 + window.width, self.union.x0 + self.union.width)
        if y1 <= y0 or x1 <= x0:
            return
        common = Window(y0, x0, y1 - y0, x1 - x0)
        at, own = inside(common, self.union), inside(common, window)
        weight = blend_weight(window, self.canvas, self.ramp)[own]
        self.weight[at] += weight
        for total, array in zip(self.sums, arrays):
            part = array[own] if np.ndim(array) else array
            total[at] += (weight[..., None] if total.ndim == 3 else weight) * part

    def mean(self) -> list[np.ndarray]:
        """The weighted means, 0 where no window added."""
        safe = np.where(self.weight > 0, self.weight, 1.0)
        return [total / (safe[..., None] if total.ndim == 3 else safe) for total in self.sums]


def blend(windows: list[Window], union: Window, image: np.ndarray, fits: list[FitResult],
          margin: int) -> FitResult:
    """The windows' results as one on ``union``: weighted by :func:`blend_weight` where
    they overlap; pixels no window covers are known, and keep the colours of ``image``
    (the frame padded to the canvas the windows lie on)."""
    total = WeightedSum(union, image.shape[:2], margin, (1, 3, 3))
    for win, result in zip(windows, fits):
        total.add(win, result.alpha, result.fg, result.bg)
    alpha, fg, bg = total.mean()
    covered = (total.weight > 0)[..., None]
    image = image[union.slices]
    # Iterations of all tiles (the frame's cost); "max_iterations" if any tile ran to its cap.
    reasons = {fit.stop_reason for fit in fits}
    return FitResult(alpha=alpha, fg=np.where(covered, fg, image), bg=np.where(covered, bg, image),
                     losses=fits[-1].losses, iterations=sum(fit.iterations for fit in fits),
                     stop_reason=reasons.pop() if len(reasons) == 1 else "max_iterations", seconds=0.0)


def solve_in_threads(jobs: list[Callable], workers: int, progress: ProgressCallback | None,
                     should_stop, rounds: int) -> list:
    """Run ``jobs`` (each called with a ``should_stop`` of its own) on ``workers`` threads
    (one: in this thread); their results in order. The classical solves spend their time in the sparse Cholesky and numpy,
    the nets' fits in torch's ops, and all three release the GIL, so tiles run side by
    side. The host's callbacks are only ever called from this (the caller's) thread:
    progress once per finished tile (``rounds`` steps each, as a serial solve counts
    them), and its abort is polled here and passed on to the workers."""
    results: list = [None] * len(jobs)
    queued = deque(enumerate(jobs))
    done = 0

    def finish(index: int, result: Any) -> None:
        nonlocal done
        results[index] = result
        done += 1
        if progress is not None and progress(done * rounds, len(jobs) * rounds, {}) is False:
            raise Cancelled(f"solve cancelled after {done} of {len(jobs)} tiles")

    _run_jobs(lambda: queued.popleft() if queued else None, finish, workers, should_stop,
              lambda: f"solve cancelled after {done} of {len(jobs)} tiles")
    return results


def solve_in_stages(first: list[Callable], second: Callable[[int], Callable], needs: Sequence[Collection[int]],
                    absorb: Callable[[int, Any], None], workers: int, progress: ProgressCallback | None,
                    should_stop, rounds: int) -> list:
    """Two stages of jobs (each called with a ``should_stop`` of its own) on ``workers``
    threads, with no wait between them: every ``first[i]``, whose result ``absorb(i,
    result)`` takes in this thread as it comes; and for each j, as soon as the first jobs
    ``needs[j]`` are absorbed, the job ``second(j)`` makes (in this thread, then: it may
    read what they left). A free thread takes a waiting second job before the next first
    one, so the two stages' work runs side by side: a plate's closed-form solves spend
    their time in the sparse Cholesky, which releases the GIL, its refinements in many
    small numpy calls, which hold it between them (docs/benchmarks.md). Returns the
    second jobs' results in order. Progress, abort and errors as :func:`solve_in_threads`;
    a tile's ``rounds`` steps are split between its two stages."""
    waiting = [set(need) for need in needs]
    ready = deque(j for j, need in enumerate(waiting) if not need)
    queued = deque(range(len(first)))
    results: list = [None] * len(needs)
    total = max(len(first), len(needs)) * rounds
    done = 0

    def take() -> tuple[tuple[int, int], Callable] | None:
        if ready:
            j = ready.popleft()
            return (1, j), second(j)
        if queued:
            i = queued.popleft()
            return (0, i), first[i]
        return None  # what is left waits for first jobs still running

    def finish(key: tuple[int, int], result: Any) -> None:
        nonlocal done
        stage, index = key
        if stage == 0:
            absorb(index, result)
            for j, need in enumerate(waiting):
                if index in need:
                    need.discard(index)
                    if not need:
                        ready.append(j)
        else:
            results[index] = result
        done += rounds // 2 if stage == 0 else rounds - rounds // 2
        if progress is not None and progress(done, total, {}) is False:
            raise Cancelled(f"solve cancelled after {done} of {total} tile steps")

    _run_jobs(take, finish, workers, should_stop, lambda: f"solve cancelled after {done} of {total} tile steps")
    return results


def _run_jobs(take: Callable[[], tuple[Any, Callable] | None], finish: Callable[[Any, Any], None], workers: int,
              should_stop, cancelled: Callable[[], str]) -> None:
    """Run the jobs ``take`` hands out ((key, job), or None while none is ready), each
    called with a ``should_stop`` of its own, up to ``workers`` at a time on threads (one
    worker: in this thread); ``finish(key, result)`` in this thread as each ends (it may
    make more ready, and raise to end them all). ``should_stop`` (the host's abort) is
    polled here; :class:`Cancelled` (message ``cancelled()``) when it says so, and the
    running jobs are told to stop, the waiting ones never start."""
    if workers <= 1:
        stop = should_stop if should_stop is not None else (lambda: False)
        while (item := take()) is not None:
            finish(item[0], item[1](stop))
            if stop():
                raise Cancelled(cancelled())
        return
    cancel = threading.Event()
    with ThreadPoolExecutor(workers, thread_name_prefix="ofx_dipmatte-tile") as pool:
        running: dict[Future, Any] = {}
        try:
            while True:
                while len(running) < workers and (item := take()) is not None:
                    running[pool.submit(item[1], cancel.is_set)] = item[0]
                if not running:
                    return
                finished, _ = wait(running, timeout=0.05, return_when=FIRST_COMPLETED)
                for future in finished:
                    finish(running.pop(future), future.result())  # a worker's error ends the frame here
                if should_stop is not None and should_stop():
                    raise Cancelled(cancelled())
        except BaseException:
            cancel.set()  # the running jobs stop at their next poll; the waiting ones never start
            for future in running:
                future.cancel()
            raise
