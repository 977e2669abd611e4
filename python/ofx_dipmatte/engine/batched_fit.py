"""Several windows' fits as one: the tiles of a plate stepped together (on a GPU).

A 32-channel DIP step on one 256² tile keeps a GPU mostly idle: it is a few hundred small
kernels, each launched for little work. The tiles of a plate that have the same size are
independent problems of the same shape, so their nets are stacked (``torch.func``) and one
vmapped forward and backward pass steps them all: every convolution becomes one grouped
convolution over the tiles.

Each tile keeps what :func:`.solver.fit` would give it alone: its own Adam step count (a
warm tile continues its previous frame's Adam state), its own cap and loss threshold. A
tile that stops is frozen (its weights and Adam state no longer change) and returns the
outputs, losses, weights and Adam state of the step it stopped at, in the formats a lone
fit uses, so the next frame may warm-start it either way.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import torch
from torch.func import functional_call, stack_module_state, vmap

from .presets import Preset
from .solver import (Cancelled, FitResult, Nets, ProgressCallback, WindowInputs, fit, to_numpy, loss_terms,
                     predict, weighted_total, window_noise_tensors, window_targets)

BETAS = (0.9, 0.999)  # torch.optim.Adam's defaults, which solver.fit uses
EPS = 1e-8


@dataclass
class TileJob:
    """One window's fit: nets (warm or fresh), inputs, and when to stop."""

    nets: Nets
    inputs: WindowInputs
    max_iterations: int
    threshold: float | None
    optimizer_state: dict | None = None


class _StackedAdam:
    """Adam over parameters stacked along a leading tile axis, with a step count per tile
    and updates only for the tiles still running: for each tile, the arithmetic of
    ``torch.optim.Adam`` (no weight decay, no amsgrad). The moments of all parameters are
    held as one tiles × P array each, so an update is a few kernels over all of them, then
    one subtraction per parameter: per parameter it was a dozen small kernels each, 91 ms
    of a 0.23 s batched step on a GPU (measured on an H200, docs/benchmarks.md)."""

    def __init__(self, params: list[torch.Tensor], states: list[list[dict] | None], lr: float):
        self.params, self.lr = params, lr
        tiles, device = params[0].shape[0], params[0].device
        self.sizes = [p[0].numel() for p in params]
        self.step = torch.zeros(tiles, device=device)
        self.exp_avg = torch.zeros(tiles, sum(self.sizes), device=device, dtype=params[0].dtype)
        self.exp_avg_sq = torch.zeros_like(self.exp_avg)
        for tile, per_param in enumerate(states):
            if per_param is None:
                continue
            self.step[tile] = float(per_param[0]["step"])
            self.exp_avg[tile] = torch.cat([s["exp_avg"].reshape(-1) for s in per_param]).to(device)
            self.exp_avg_sq[tile] = torch.cat([s["exp_avg_sq"].reshape(-1) for s in per_param]).to(device)

    @torch.no_grad()
    def update(self, grads: "tuple[torch.Tensor, ...] | list[torch.Tensor]", running: torch.Tensor) -> None:
        beta1, beta2 = BETAS
        self.step += running.float()
        step = self.step.clamp_min(1.0)  # frozen tiles that never ran: no division by zero
        bias1, bias2_sqrt = (1 - beta1 ** step).view(-1, 1), (1 - beta2 ** step).sqrt().view(-1, 1)
        g = torch.cat([grad.reshape(grad.shape[0], -1) for grad in grads], dim=1)
        keep = running.view(-1, 1)
        m, v = self.exp_avg, self.exp_avg_sq
        m.copy_(torch.where(keep, beta1 * m + (1 - beta1) * g, m))
        v.copy_(torch.where(keep, beta2 * v + (1 - beta2) * g * g, v))
        denom = v.sqrt() / bias2_sqrt + EPS
        change = torch.where(keep, (self.lr / bias1) * m / denom, torch.zeros_like(m))
        for p, part in zip(self.params, change.split(self.sizes, dim=1)):
            p.sub_(part.reshape(p.shape))

    def tile_state(self, tile: int) -> list[dict]:
        step = self.step[tile].detach().cpu().clone()
        means = self.exp_avg[tile].detach().cpu().split(self.sizes)
        squares = self.exp_avg_sq[tile].detach().cpu().split(self.sizes)
        return [{"step": step.clone(), "exp_avg": m.reshape(p.shape[1:]).clone(),
                 "exp_avg_sq": v.reshape(p.shape[1:]).clone()} for p, m, v in zip(self.params, means, squares)]


def _stack(jobs: list[TileJob], device: torch.device):
    """Per net (image + alpha, F, B): an empty copy to call functionally, and the jobs'
    parameters and buffers stacked along a leading tile axis."""
    bases, params, buffers = [], [], []
    for k in range(3):
        modules = [job.nets.modules()[k] for job in jobs]
        for m in modules:
            m.to(device)
            m.train()  # DIP keeps BatchNorm in batch-statistics mode throughout
        p, b = stack_module_state(modules)
        bases.append(copy.deepcopy(modules[0]).to("meta"))
        params.append(p)
        buffers.append(b)
    return bases, params, buffers


def _torch_optimizer_state(nets: Nets, per_param: list[dict], lr: float) -> dict:
    """A tile's Adam state in ``torch.optim.Adam.state_dict()``'s format (what solver.fit loads)."""
    template = torch.optim.Adam([p for m in nets.modules() for p in m.parameters()], lr=lr).state_dict()
    template["state"] = dict(enumerate(per_param))
    return template


def fit_batch(jobs: list[TileJob], cfg: Preset, device: torch.device,
              progress: ProgressCallback | None = None) -> list[FitResult]:
    """Fit every job's nets on its window, all in one batched step, until each reaches its
    threshold (after ``cfg.min_iterations``) or its own cap. The windows must have the same
    size. Each job's nets end with the weights of the step it stopped at (as after
    :func:`.solver.fit`); if the batch raises, they are left as they were. Computed in
    float32 whatever ``cfg.bf16`` says: torch's autocast does not reach inside vmap.

    ``progress(iteration, cap, losses)``: after every batched step, ``cap`` the largest of
    the jobs' caps, ``losses`` the running tiles' mean terms; False cancels.

    Raises:
        Cancelled: ``progress`` returned False.
        ValueError: windows of different sizes.
    """
    if len({job.inputs.image.shape for job in jobs}) != 1:
        raise ValueError("fit_batch: every window must have the same size")
    start = time.perf_counter()
    # Float32, and plain layout for vmap's 5-D tensors: autocast does not reach inside vmap.
    cfg = cfg.replace(bf16=False, channels_last=False)
    tiles = len(jobs)
    bases, params, buffers = _stack(jobs, device)
    flat = [p for group in params for p in group.values()]
    states = [None if job.optimizer_state is None else
              [job.optimizer_state["state"][i] for i in range(len(flat))] for job in jobs]
    adam = _StackedAdam(flat, states, cfg.lr)
    per_tile = [window_targets(job.inputs, device) for job in jobs]
    targets = {key: torch.stack([t[key] for t in per_tile]) for key in per_tile[0]}
    flat_noise = [window_noise_tensors(job.inputs, cfg, device) for job in jobs]
    noise = [torch.stack([n[k] for n in flat_noise]) for k in range(3)]

    def one_tile(tile_params, tile_buffers, tile_noise, tile_targets):
        def run(k: int, x: torch.Tensor) -> dict:
            return functional_call(bases[k], (tile_params[k], tile_buffers[k]), (x,))

        outputs = predict(run, tile_noise, tile_targets, cfg, device.type)
        terms = loss_terms(tile_targets, cfg, *outputs)
        return weighted_total(terms, cfg), terms, outputs

    step_all = vmap(one_tile)
    caps = [job.max_iterations for job in jobs]
    thresholds = [job.threshold for job in jobs]
    running = torch.ones(tiles, dtype=torch.bool)
    results: list[FitResult | None] = [None] * tiles
    frozen: list[list[dict] | None] = [None] * tiles  # each tile's weights at the step it stopped
    iteration = 0
    while running.any():
        iteration += 1
        totals, terms, (image_hat, alpha, fg, bg) = step_all(params, buffers, noise, targets)
        if not torch.isfinite(totals[running.to(totals.device)]).all():
            raise FloatingPointError(f"loss became non-finite at iteration {iteration} of a batch of tiles; "
                                     "try a lower lr")
        grads = torch.autograd.grad(totals.sum(), flat)
        adam.update(grads, running.to(device))
        values = {name: term.detach().float().cpu() for name, term in terms.items()}
        values["total"] = totals.detach().float().cpu()
        for tile in torch.nonzero(running).flatten().tolist():
            total = float(values["total"][tile])
            reached = (thresholds[tile] is not None and iteration >= cfg.min_iterations
                       and total <= thresholds[tile])
            if not reached and iteration < caps[tile]:
                continue
            running[tile] = False
            frozen[tile] = _tile_state(params, buffers, tile)
            results[tile] = FitResult(
                alpha=to_numpy(alpha[tile]), fg=to_numpy(fg[tile]), bg=to_numpy(bg[tile]),
                losses={name: float(v[tile]) for name, v in values.items()}, iterations=iteration,
                stop_reason="threshold" if reached else "max_iterations", seconds=0.0,
                optimizer_state=_torch_optimizer_state(jobs[tile].nets, adam.tile_state(tile), cfg.lr))
        if progress is not None:
            live = running if running.any() else torch.ones(tiles, dtype=torch.bool)
            mean = {name: float(v[live].mean()) for name, v in values.items()}
            if progress(iteration, max(caps), mean) is False:
                raise Cancelled(f"solve cancelled at iteration {iteration}")
    # Only now, all tiles done: a batch that fails on the way (out of memory, cancelled)
    # leaves every job's nets as they were, so the tiles can be fitted again.
    seconds = time.perf_counter() - start
    done: list[FitResult] = []
    for job, state, result in zip(jobs, frozen, results):
        assert state is not None and result is not None  # every tile stopped
        job.nets.load(state)
        result.seconds = seconds
        done.append(result)
    return done


def fit_batch_within_memory(jobs: list[TileJob], cfg: Preset, device: torch.device,
                            progress: ProgressCallback | None) -> list[FitResult]:
    """:func:`fit_batch`, in halves (and their halves) when the GPU runs out of
    memory for the whole batch: a smaller GPU than the default batch was sized for still
    renders the frame. One tile that does not fit raises. A batch of one is fitted on its
    own (:func:`.solver.fit`: bf16 autocast, channels_last, torch's Adam): on an H200 a
    lone 256² ``draft`` step took 0.058 s, a batch of one 0.18 s (vmap in float32)."""
    if len(jobs) == 1:
        job = jobs[0]
        return [fit(job.nets, job.inputs, cfg, device, job.max_iterations, job.threshold, progress=progress,
                    optimizer_state=job.optimizer_state)]
    try:
        return fit_batch(jobs, cfg, device, progress)
    except torch.cuda.OutOfMemoryError:
        pass  # in halves, below
    if device.type == "cuda":
        torch.cuda.empty_cache()
    half = len(jobs) // 2

    def part(start: float, share: float) -> ProgressCallback | None:
        # Each half moves the bar over its own share of the batch's, never back.
        if progress is None:
            return None
        return lambda iteration, cap, losses: progress(round((cap or 1) * start + iteration * share), cap, losses)

    first = half / len(jobs)
    return (fit_batch_within_memory(jobs[:half], cfg, device, part(0.0, first))
            + fit_batch_within_memory(jobs[half:], cfg, device, part(first, 1.0 - first)))


def _tile_state(params, buffers, tile: int) -> list[dict]:
    """One tile's weights (and BatchNorm buffers) as :meth:`.solver.Nets.state` holds them."""
    return [{**{name: p[tile].detach().clone() for name, p in params[k].items()},
             **{name: b[tile].detach().clone() for name, b in buffers[k].items()}} for k in range(3)]
