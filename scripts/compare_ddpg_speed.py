#!/usr/bin/env python3
"""One DDPG update (DRR-ave actor-critic): PyTorch on the CPU against `affinity rl bench`, in one run.

What it measures
----------------
The time of one DDPG update of the DRR actor-critic with the DRR-ave state (3 x embedding wide):

- Embedding d (``--embedding``, 100): state width 3d, action width d; batch ``--batch`` (64);
  hidden width ``--hidden`` (256).
- Actor: Linear(3d, h) ReLU Linear(h, h) ReLU Linear(h, d) Tanh.
- Critic: concat(state, action) (4d) -> Linear(4d, h) ReLU Linear(h, h) ReLU Linear(h, 1).
- Target copies of both; Adam (actor lr 0.0005, critic lr 0.001), gamma 0.9, tau 0.001.
- One update:
  (a) without gradients: a' = target_actor(s'), y = r + gamma (1 - done) target_critic(s', a');
  (b) critic loss mean(w (critic(s, a) - y)^2) with importance weights w (prioritized replay),
      backward, Adam step; the TD errors |critic(s, a) - y| are returned, detached (for the
      priority updates);
  (c) actor loss -mean(critic(s, actor(s))), backward, Adam step on the actor only (the critic's
      parameters are frozen for this backward pass, as Spinning Up's DDPG does, so no time goes
      into critic weight gradients that would be thrown away; ``--no-freeze-critic`` keeps them);
  (d) soft update of both targets, theta' <- tau theta + (1 - tau) theta' (``torch._foreach_lerp_``).

PyTorch side: eager mode, float32 (``--dtype``), Adam as PyTorch picks it by default for CPU
tensors (``--adam`` to force for-loop, foreach or fused). Inputs (s, a, r, s', done, w) are drawn
once from ``--seed`` and reused for every update. Each thread count runs in a fresh process with
``torch.set_num_threads(n)`` and OMP/MKL_NUM_THREADS=n: ``--warmup`` updates (50), then
``--trials`` (3) timed runs of ``--updates`` (2,000) updates; the best trial gives microseconds
per update. One more, instrumented run splits an update into its phases (target, critic step,
actor step, soft update); ``--no-phases`` skips it.

Affinity side: ``affinity rl bench --embedding d --batch B --hidden h --updates N --threads n
--json``, run ``--trials`` times per thread count (best kept). It must print one JSON object on
stdout with at least ``seconds_per_update`` (float, timed updates only, after its own warm-up),
``updates`` (int, = N) and ``threads`` (int, = n); see AFFINITY_CONTRACT below for the optional
fields the report uses. Without ``--affinity PATH`` the binary is built first with
``swift build -c release --scratch-path .build-release --product affinity``. A thread count the
binary refuses (non-zero exit) or reports differently is shown as "not supported"; 1 thread must
work.

Before each measurement the script waits (up to ``--max-wait`` seconds) for other processes to
leave the CPUs idle, and records how many cores they kept busy during it.

Outputs ``docs/benchmarks/ddpg-speed.md`` and ``.json`` (command, machine, versions, every trial,
ratios Affinity / PyTorch); the Markdown is printed too. ``--torch-only`` runs the PyTorch side
alone, prints its table and writes nothing.

    python3 scripts/compare_ddpg_speed.py                  # ~3 min after the install and the build
    python3 scripts/compare_ddpg_speed.py --torch-only     # PyTorch figures only (~1.5 min)
    python3 scripts/compare_ddpg_speed.py --updates 200 --trials 1 --no-phases   # smoke test

PyTorch and numpy are installed into ``.venv-torch`` at the repository root (gitignored) on first
use with ``pip install torch numpy`` (``--torch-index-url URL`` installs torch from another index,
for example a CPU-only one) and the script re-runs itself with that interpreter;
``--skip-install`` uses an existing venv, ``--venv PATH`` another one.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gc
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare_implicit import (  # noqa: E402
    BUSY_WARNING, BenchError, cpu_busy_seconds, die, git_commit, log, table, wait_for_quiet_machine)

REPO = Path(__file__).resolve().parent.parent
DEFAULT_VENV = REPO / ".venv-torch"
DEFAULT_OUT_DIR = REPO / "docs" / "benchmarks"
BUILD_DIR = REPO / ".build-release"
BUILD_COMMAND = ["swift", "build", "-c", "release", "--scratch-path", str(BUILD_DIR), "--product", "affinity"]
REPORT_NAME = "ddpg-speed"
REEXEC_MARKER = "AFFINITY_DDPG_REEXEC"
ORIGINAL_COMMAND = "AFFINITY_DDPG_COMMAND"
SMOKE_TEST = "import torch, numpy\n"

GAMMA, TAU, ACTOR_LR, CRITIC_LR = 0.9, 0.001, 0.0005, 0.001
DONE_PROBABILITY = 0.1
PHASES = ["target", "critic", "actor", "soft_update"]
PHASE_LABELS = {"target": "(a) target y (no grad)", "critic": "(b) critic loss, backward, Adam, TD errors",
                "actor": "(c) actor loss, backward, Adam", "soft_update": "(d) soft update of both targets"}

# What `affinity rl bench ... --json` must print: one JSON object on stdout.
AFFINITY_CONTRACT = {
    "required": {"seconds_per_update": "float > 0: wall seconds per timed update (after warm-up), best of "
                                       "its own trials if it runs several",
                 "updates": "int: timed updates, = --updates",
                 "threads": "int: threads used, = --threads"},
    "optional": {"embedding": "int, = --embedding", "batch": "int, = --batch", "hidden": "int, = --hidden",
                 "warmup": "int: untimed updates before the timed ones",
                 "dtype": "'float32' or 'float64': the parameters' and activations' type",
                 "phases": "object: seconds per update of 'target', 'critic', 'actor', 'soft_update'",
                 "seconds": "float: wall seconds of all timed updates"},
}


# --------------------------------------------------------------------------
# Environment: the PyTorch venv
# --------------------------------------------------------------------------

def imports(python: Path | str, code: str) -> bool:
    return subprocess.run([str(python), "-c", code], capture_output=True, text=True).returncode == 0


def ensure_torch_interpreter(venv: Path, skip_install: bool, index_url: str | None) -> None:
    """Re-exec this script under the venv's python (creating it and installing torch if needed)."""
    if os.environ.get(REEXEC_MARKER):
        return
    python = venv / "bin" / "python"
    if skip_install:
        if not (python.exists() and imports(python, SMOKE_TEST)):
            if imports(sys.executable, SMOKE_TEST):
                return
            raise BenchError(f"--skip-install given but {python} cannot import torch and numpy; run once without it")
    else:
        if not python.exists():
            log(f"creating {venv}")
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        if not imports(python, SMOKE_TEST):
            pip = [str(python), "-m", "pip", "install", "--quiet"]
            if index_url:
                log(f"installing torch from {index_url}, and numpy, into {venv}")
                subprocess.run(pip + ["torch", "--index-url", index_url], check=True)
                subprocess.run(pip + ["numpy"], check=True)
            else:
                log(f"installing torch and numpy into {venv} (several GB with its CUDA libraries)")
                subprocess.run(pip + ["torch", "numpy"], check=True)
        if not imports(python, SMOKE_TEST):
            raise BenchError(f"torch and numpy do not import in {venv}")
    os.environ[REEXEC_MARKER] = "1"
    os.execv(str(python), [str(python), str(Path(__file__).resolve()), *sys.argv[1:]])


# --------------------------------------------------------------------------
# The PyTorch side (runs in a child process per thread count: --worker THREADS)
# --------------------------------------------------------------------------

def torch_worker(args: argparse.Namespace) -> dict:
    threads = args.worker
    import torch
    from torch import nn
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:
        pass  # already set; eager CPU kernels do not use the inter-op pool anyway
    dtype = {"float32": torch.float32, "float64": torch.float64}[args.dtype]
    torch.set_default_dtype(dtype)
    d, b, h = args.embedding, args.batch, args.hidden
    torch.manual_seed(args.seed)

    def mlp(inputs: int, outputs: int, *last: nn.Module) -> nn.Sequential:
        return nn.Sequential(nn.Linear(inputs, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, outputs), *last)

    actor, critic = mlp(3 * d, d, nn.Tanh()), mlp(4 * d, 1)
    import copy
    target_actor, target_critic = copy.deepcopy(actor), copy.deepcopy(critic)
    for p in [*target_actor.parameters(), *target_critic.parameters()]:
        p.requires_grad_(False)
    adam = {"default": {}, "for-loop": {"foreach": False}, "foreach": {"foreach": True},
            "fused": {"fused": True}}[args.adam]
    actor_opt = torch.optim.Adam(actor.parameters(), lr=ACTOR_LR, **adam)
    critic_opt = torch.optim.Adam(critic.parameters(), lr=CRITIC_LR, **adam)
    actor_params, critic_params = list(actor.parameters()), list(critic.parameters())
    target_actor_params, target_critic_params = list(target_actor.parameters()), list(target_critic.parameters())

    g = torch.Generator().manual_seed(args.seed + 1)
    s = torch.randn(b, 3 * d, generator=g)
    a = torch.rand(b, d, generator=g) * 2 - 1
    r = torch.rand(b, generator=g)
    s2 = torch.randn(b, 3 * d, generator=g)
    done = (torch.rand(b, generator=g) < DONE_PROBABILITY).to(dtype)
    w = torch.rand(b, generator=g) * 0.9 + 0.1
    w = w / w.max()  # prioritized replay normalises the importance weights by their maximum
    freeze = not args.no_freeze_critic

    def target() -> "torch.Tensor":
        with torch.no_grad():
            a2 = target_actor(s2)
            return r + GAMMA * (1 - done) * target_critic(torch.cat([s2, a2], 1)).squeeze(1)

    def critic_step(y: "torch.Tensor") -> "torch.Tensor":
        diff = critic(torch.cat([s, a], 1)).squeeze(1) - y
        loss = (w * diff * diff).mean()
        critic_opt.zero_grad(set_to_none=True)
        loss.backward()
        critic_opt.step()
        return diff.detach().abs()

    def actor_step() -> "torch.Tensor":
        if freeze:
            for p in critic_params:
                p.requires_grad_(False)
        loss = -critic(torch.cat([s, actor(s)], 1)).mean()
        actor_opt.zero_grad(set_to_none=True)
        loss.backward()
        actor_opt.step()
        if freeze:
            for p in critic_params:
                p.requires_grad_(True)
        return loss.detach()

    def soft_update() -> None:
        with torch.no_grad():
            torch._foreach_lerp_(target_critic_params, critic_params, TAU)
            torch._foreach_lerp_(target_actor_params, actor_params, TAU)

    def update() -> "torch.Tensor":
        td = critic_step(target())
        actor_step()
        soft_update()
        return td

    for _ in range(args.warmup):
        update()
    trials = []
    for _ in range(args.trials):
        gc.collect()
        start = time.perf_counter()
        for _ in range(args.updates):
            td = update()
        trials.append(time.perf_counter() - start)
    result = {"threads": threads, "torch_threads": torch.get_num_threads(), "updates": args.updates,
              "warmup": args.warmup, "trial_seconds": trials, "seconds_per_update": min(trials) / args.updates,
              "median_seconds_per_update": statistics.median(trials) / args.updates,
              "last_td_error_mean": float(td.mean())}
    if not args.no_phases:
        totals = dict.fromkeys(PHASES, 0.0)
        gc.collect()
        start = time.perf_counter()
        for _ in range(args.updates):
            t0 = time.perf_counter()
            y = target()
            t1 = time.perf_counter()
            critic_step(y)
            t2 = time.perf_counter()
            actor_step()
            t3 = time.perf_counter()
            soft_update()
            t4 = time.perf_counter()
            totals["target"] += t1 - t0
            totals["critic"] += t2 - t1
            totals["actor"] += t3 - t2
            totals["soft_update"] += t4 - t3
        result["phases"] = {k: v / args.updates for k, v in totals.items()}
        result["phases_run_seconds_per_update"] = (time.perf_counter() - start) / args.updates
    try:
        from torch.optim.optimizer import _default_to_fused_or_foreach
        fused, foreach = _default_to_fused_or_foreach(actor_params, differentiable=False, use_fused=False)
        default_adam = "fused" if fused else "foreach" if foreach else "for-loop"
    except Exception:  # private helper: its name or signature may change
        default_adam = "unknown"
    result["adam"] = args.adam if args.adam != "default" else f"default ({default_adam})"
    return result


def run_torch(args: argparse.Namespace, threads: int) -> dict:
    """Run the PyTorch side for one thread count in a fresh process; add how busy the machine was."""
    quiet = wait_for_quiet_machine(args.max_wait)
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", str(threads),
               "--embedding", str(args.embedding), "--batch", str(args.batch), "--hidden", str(args.hidden),
               "--updates", str(args.updates), "--warmup", str(args.warmup), "--trials", str(args.trials),
               "--seed", str(args.seed), "--dtype", args.dtype, "--adam", args.adam]
    command += ["--no-phases"] * args.no_phases + ["--no-freeze-critic"] * args.no_freeze_critic
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    measured = measure(command, env)
    if measured["returncode"] != 0:
        raise BenchError(f"the PyTorch worker ({threads} thread(s)) exited {measured['returncode']}: "
                         f"{measured['stderr'][-2000:]}")
    report = json.loads(measured["stdout"].strip().splitlines()[-1])
    report.update(other_busy_cores=measured["other_busy_cores"], **quiet)
    return report


def measure(command: list[str], env: dict | None = None) -> dict:
    """Run a command; return its output and how many cores other processes kept busy meanwhile."""
    before_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy0, start = cpu_busy_seconds(), time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    wall, busy1 = time.perf_counter() - start, cpu_busy_seconds()
    after_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after_children.ru_utime - before_children.ru_utime) + (after_children.ru_stime - before_children.ru_stime)
    return {"returncode": done.returncode, "stdout": done.stdout, "stderr": done.stderr, "wall_seconds": wall,
            "cpu_seconds": cpu, "other_busy_cores": max(busy1 - busy0 - cpu, 0.0) / wall}


# --------------------------------------------------------------------------
# The Affinity side
# --------------------------------------------------------------------------

def build_affinity() -> Path:
    log(f"building: {shlex.join(BUILD_COMMAND)}")
    built = subprocess.run(BUILD_COMMAND, cwd=REPO, capture_output=True, text=True)
    if built.returncode != 0:
        raise BenchError(f"`{shlex.join(BUILD_COMMAND)}` failed:\n{(built.stderr or built.stdout)[-3000:]}")
    path = subprocess.run(BUILD_COMMAND + ["--show-bin-path"], cwd=REPO, capture_output=True, text=True)
    binary = Path(path.stdout.strip()) / "affinity" if path.returncode == 0 else BUILD_DIR / "release" / "affinity"
    if not binary.exists():
        raise BenchError(f"the build succeeded but {binary} does not exist")
    return binary


def affinity_bench_command(binary: Path, args: argparse.Namespace, threads: int) -> list[str]:
    return [str(binary), "rl", "bench", "--embedding", str(args.embedding), "--batch", str(args.batch),
            "--hidden", str(args.hidden), "--updates", str(args.updates), "--threads", str(threads), "--json"]


def check_affinity(binary: Path) -> str:
    """Fail clearly unless the binary runs and has `rl bench`; return its version."""
    if not binary.exists():
        raise BenchError(f"Affinity binary not found at {binary}; drop --affinity to build it, or use --torch-only")
    version = subprocess.run([str(binary), "--version"], capture_output=True, text=True)
    if version.returncode != 0:
        raise BenchError(f"`{binary} --version` exited {version.returncode}: {version.stderr.strip()[:500]}")
    # An unknown subcommand followed by --help prints the top-level help and exits 0: look at the usage line.
    usage = subprocess.run([str(binary), "rl", "bench", "--help"], capture_output=True, text=True)
    if "affinity rl bench" not in usage.stdout + usage.stderr:
        raise BenchError(
            f"{binary} (version {version.stdout.strip()}) has no `affinity rl bench` subcommand yet, so there "
            "is no Affinity side to time. Run with --torch-only for the PyTorch figures alone.")
    return version.stdout.strip()


def parse_affinity_json(output: str, command: list[str], threads: int, updates: int) -> dict:
    what = shlex.join(["affinity", *command[1:]])
    text = output.strip()
    try:
        report = json.loads(text)
    except json.JSONDecodeError:
        lines = [line for line in text.splitlines() if line.strip()]
        try:
            report = json.loads(lines[-1]) if lines else None
        except json.JSONDecodeError as error:
            raise BenchError(f"`{what}` did not print one JSON object ({error}); output began: {text[:300]!r}") from None
    if not isinstance(report, dict):
        raise BenchError(f"`{what}` did not print a JSON object: {text[:300]!r}")
    problems = []
    spu = report.get("seconds_per_update")
    if not isinstance(spu, (int, float)) or isinstance(spu, bool) or not spu > 0:
        problems.append(f"seconds_per_update is {spu!r}, not a positive number")
    for key, expected in (("updates", updates), ("threads", threads)):
        value = report.get(key)
        if not isinstance(value, int) or isinstance(value, bool):
            problems.append(f"{key} is {value!r}, not an integer")
        elif key == "updates" and value != expected:
            problems.append(f"updates is {value}, asked for {expected}")
    if problems:
        raise BenchError(f"`{what}` broke the JSON contract: {'; '.join(problems)}; it printed {text[:500]!r}")
    return report


def run_affinity(binary: Path, args: argparse.Namespace, threads: int) -> dict:
    command = affinity_bench_command(binary, args, threads)
    runs = []
    for trial in range(args.trials):
        quiet = wait_for_quiet_machine(args.max_wait)
        measured = measure(command)
        if measured["returncode"] != 0:
            text = (measured["stderr"].strip() or measured["stdout"].strip() or "(no output)")[-2000:]
            message = f"`{shlex.join(['affinity', *command[1:]])}` exited {measured['returncode']}: {text}"
            if threads == 1:
                raise BenchError(message)
            return {"threads": threads, "supported": False, "reason": message}
        report = parse_affinity_json(measured["stdout"], command, threads, args.updates)
        if report["threads"] != threads:
            return {"threads": threads, "supported": False,
                    "reason": f"asked for {threads} threads, it reports {report['threads']}"}
        runs.append({"report": report, "wall_seconds": measured["wall_seconds"],
                     "other_busy_cores": measured["other_busy_cores"], **quiet})
        log(f"  Affinity, {threads} thread(s), trial {trial + 1}: "
            f"{report['seconds_per_update'] * 1e6:.1f} µs per update")
    per_update = [run["report"]["seconds_per_update"] for run in runs]
    best = runs[per_update.index(min(per_update))]["report"]
    return {"threads": threads, "supported": True, "command": shlex.join(["affinity", *command[1:]]),
            "seconds_per_update": min(per_update), "median_seconds_per_update": statistics.median(per_update),
            "trials": runs, "dtype": best.get("dtype"), "phases": best.get("phases"),
            "other_busy_cores": max(run["other_busy_cores"] for run in runs)}


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------

def machine_info(binary: Path | None, affinity_version: str | None) -> dict:
    import numpy
    import torch
    cpu = "unknown"
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        cpu = next(line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration):
        pass
    config = torch.__config__.parallel_info().splitlines()
    backend = next((line.split(":", 1)[1].strip() for line in config if line.startswith("ATen parallel backend")), "")
    libraries = [line.strip() for line in config if "Math Kernel" in line or "MKL-DNN" in line or "oneDNN" in line]
    swift = subprocess.run(["swift", "--version"], capture_output=True, text=True).stdout.strip().splitlines()
    versions = {"torch": torch.__version__, "numpy": numpy.__version__, "python": platform.python_version(),
                "affinity": affinity_version, "swift": swift[0] if swift else None}
    return {"cpu": cpu, "nproc": os.cpu_count(), "platform": platform.platform(), "versions": versions,
            "torch_parallel_backend": backend, "torch_libraries": libraries,
            "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "commit": git_commit(binary) if binary else None, "load_average_at_start": os.getloadavg()}


def us(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1e6:,.1f}"


def busy_note(entry: dict) -> str:
    cores = entry.get("other_busy_cores")
    return "" if cores is None else f"{cores:.2f}" + (" ⚠" if cores >= BUSY_WARNING else "")


def report_markdown(results: dict) -> str:
    a = results["arguments"]
    info = results["machine"]
    v = info["versions"]
    torch_rows, aff_rows = results["pytorch"], results.get("affinity", {})
    base = {t: r["seconds_per_update"] for t, r in torch_rows.items()}
    rows = []
    for t, r in torch_rows.items():
        rows.append([f"PyTorch {v['torch']} ({a['dtype']})", str(t), us(r["seconds_per_update"]),
                     us(r["median_seconds_per_update"]), "—", busy_note(r)])
    for t, r in aff_rows.items():
        if not r["supported"]:
            rows.append(["Affinity", str(t), "not supported", "", "", ""])
            continue
        same = base.get(t)
        rows.append([f"Affinity ({r.get('dtype') or 'dtype not reported'})", str(t), us(r["seconds_per_update"]),
                     us(r["median_seconds_per_update"]),
                     f"{r['seconds_per_update'] / same:.3f}x" if same else "n/a", busy_note(r)])
    lines = [
        "# One DDPG update: Affinity vs PyTorch (CPU)",
        "",
        f"- Date: {info['date']}; machine: {info['cpu']}, {info['nproc']} cores, {info['platform']}; "
        f"load average at start {', '.join(f'{x:.2f}' for x in info['load_average_at_start'])}",
        f"- PyTorch {v['torch']} (eager, {info['torch_parallel_backend']}; "
        f"{'; '.join(info['torch_libraries'])}), numpy {v['numpy']}, Python {v['python']}",
    ]
    if aff_rows:
        lines.append(f"- Affinity {v['affinity']}, commit {info['commit']}; {v['swift']}")
    lines += [
        f"- Produced by: `{results['command']}`",
        "",
        f"DRR-ave actor-critic: embedding {a['embedding']} (state {3 * a['embedding']}, action {a['embedding']}), "
        f"batch {a['batch']}, hidden {a['hidden']}; Adam (actor {ACTOR_LR}, critic {CRITIC_LR}), γ {GAMMA}, "
        f"τ {TAU}, importance-weighted critic loss, TD errors returned. PyTorch: Adam "
        f"{results['pytorch'][next(iter(results['pytorch']))]['adam']}, critic "
        f"{'frozen' if not a['no_freeze_critic'] else 'not frozen'} during the actor's backward pass. "
        f"{a['warmup']} warm-up updates, then {a['trials']} trial(s) of {a['updates']:,} updates; "
        "best trial (µs per update), median beside it. Ratio: Affinity / PyTorch at the same thread count, "
        "measured in this one run. \"Other cores busy\": how many cores other processes used meanwhile "
        f"(⚠ from {BUSY_WARNING}).",
        "",
        table(["implementation", "threads", "µs per update (best)", "median", "Affinity / PyTorch",
               "other cores busy"], rows),
        "",
    ]
    for t, r in aff_rows.items():
        if not r["supported"]:
            lines += [f"Affinity at {t} threads: not supported ({r['reason'][:300]}).", ""]
    one = aff_rows.get(1)
    if one and one["supported"] and 1 in base:
        lines += [f"**Affinity / PyTorch at 1 thread: {one['seconds_per_update'] / base[1]:.3f}x.**", ""]
        if one.get("dtype") and one["dtype"] != a["dtype"]:
            lines += [f"Note: Affinity reports {one['dtype']}, PyTorch ran {a['dtype']} (`--dtype`).", ""]
    phase_rows = []
    for t, r in torch_rows.items():
        if r.get("phases"):
            phase_rows.append((f"PyTorch, {t} thread(s)", r["phases"], r["phases_run_seconds_per_update"]))
    for t, r in aff_rows.items():
        if r.get("supported") and isinstance(r.get("phases"), dict):
            phase_rows.append((f"Affinity, {t} thread(s)", r["phases"], None))
    if phase_rows:
        header = ["phase"] + [label for label, _, _ in phase_rows]
        body = [[PHASE_LABELS[p]] + [us(ph.get(p)) for _, ph, _ in phase_rows] for p in PHASES]
        body.append(["sum of the phases"] + [us(sum(ph.get(p) or 0 for p in PHASES)) for _, ph, _ in phase_rows])
        body.append(["instrumented run, per update"] + [us(total) for _, _, total in phase_rows])
        lines += ["Where an update's time goes (µs per update, one extra instrumented run of "
                  f"{a['updates']:,} updates):", "", table(header, body), ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--embedding", type=int, default=100, help="embedding width d (state 3d, action d); default 100")
    p.add_argument("--batch", type=int, default=64, help="minibatch size; default 64")
    p.add_argument("--hidden", type=int, default=256, help="hidden width of actor and critic; default 256")
    p.add_argument("--updates", type=int, default=2000, help="timed updates per trial; default 2000")
    p.add_argument("--warmup", type=int, default=50, help="untimed PyTorch updates first; default 50")
    p.add_argument("--trials", type=int, default=3, help="timed trials per side and thread count (best kept)")
    p.add_argument("--threads", default="1,2", help="thread counts, comma-separated; default 1,2")
    p.add_argument("--seed", type=int, default=7, help="seed of the PyTorch weights and inputs")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32", help="PyTorch's dtype")
    p.add_argument("--adam", choices=["default", "for-loop", "foreach", "fused"], default="default",
                   help="PyTorch Adam implementation; default: what PyTorch picks for CPU tensors")
    p.add_argument("--no-freeze-critic", action="store_true",
                   help="PyTorch: also compute the critic's weight gradients in the actor's backward pass")
    p.add_argument("--no-phases", action="store_true", help="skip the instrumented per-phase run")
    p.add_argument("--affinity", type=Path, help="affinity executable (default: build it into .build-release)")
    p.add_argument("--torch-only", action="store_true",
                   help="time PyTorch only; print its table and write nothing")
    p.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR, help="where ddpg-speed.md/.json go")
    p.add_argument("--max-wait", type=float, default=120,
                   help="before each measurement, wait up to this many seconds for the CPUs to be idle")
    p.add_argument("--venv", type=Path, default=DEFAULT_VENV, help="venv with torch (default .venv-torch)")
    p.add_argument("--skip-install", action="store_true", help="do not create or update the venv")
    p.add_argument("--torch-index-url", help="install torch from this package index (numpy from the default one)")
    p.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    try:
        args.thread_counts = sorted({int(t) for t in args.threads.split(",") if t.strip()})
    except ValueError:
        p.error(f"--threads must be comma-separated integers, not {args.threads!r}")
    if not args.thread_counts or min(args.thread_counts) < 1:
        p.error("--threads needs thread counts >= 1")
    if min(args.embedding, args.batch, args.hidden, args.updates, args.trials) < 1 or args.warmup < 0:
        p.error("--embedding, --batch, --hidden, --updates and --trials must be >= 1, --warmup >= 0")
    return args


def main() -> None:
    args = parse_args()
    if args.worker:
        print(json.dumps(torch_worker(args)))
        return
    os.environ.setdefault(ORIGINAL_COMMAND, shlex.join(["python3", "scripts/compare_ddpg_speed.py", *sys.argv[1:]]))
    ensure_torch_interpreter(args.venv.resolve(), args.skip_install, args.torch_index_url)  # may re-exec
    binary, version = None, None
    if not args.torch_only:  # fail before the long PyTorch part if there is no Affinity side
        binary = args.affinity.resolve() if args.affinity else build_affinity()
        version = check_affinity(binary)
    results: dict = {"command": os.environ[ORIGINAL_COMMAND], "machine": machine_info(binary, version),
                     "arguments": {k: v for k, v in vars(args).items()
                                   if k not in ("worker", "affinity", "out_dir", "venv") and not callable(v)},
                     "affinity_contract": AFFINITY_CONTRACT, "pytorch": {}}
    results["arguments"]["affinity"] = str(binary) if binary else None
    for threads in args.thread_counts:
        log(f"PyTorch, {threads} thread(s): {args.warmup} warm-up + {args.trials} x {args.updates} updates"
            + ("" if args.no_phases else " + 1 instrumented run"))
        results["pytorch"][threads] = run_torch(args, threads)
        log(f"  {results['pytorch'][threads]['seconds_per_update'] * 1e6:.1f} µs per update")
    if binary:
        results["affinity"] = {}
        with tempfile.TemporaryDirectory(prefix="affinity-ddpg-") as tmp:
            # A private copy, so a rebuild during the run cannot change or remove the binary being timed.
            private = Path(tmp) / "affinity"
            private.write_bytes(binary.read_bytes())
            private.chmod(0o755)
            for threads in args.thread_counts:
                log(f"Affinity, {threads} thread(s): {args.trials} x {args.updates} updates")
                results["affinity"][threads] = run_affinity(private, args, threads)
                if not results["affinity"][threads]["supported"]:
                    log(f"  not supported: {results['affinity'][threads]['reason'][:300]}")
        one, base = results["affinity"].get(1), results["pytorch"].get(1)
        if one and one["supported"] and base:
            results["ratio_affinity_to_pytorch_1_thread"] = one["seconds_per_update"] / base["seconds_per_update"]
    results["machine"]["load_average_at_end"] = os.getloadavg()
    markdown = report_markdown(results)
    if not args.torch_only:
        args.out_dir.mkdir(parents=True, exist_ok=True)
        (args.out_dir / f"{REPORT_NAME}.md").write_text(markdown)
        (args.out_dir / f"{REPORT_NAME}.json").write_text(json.dumps(results, indent=2) + "\n")
        log(f"wrote {args.out_dir / (REPORT_NAME + '.md')} and .json")
    print(markdown)


if __name__ == "__main__":
    try:
        main()
    except BenchError as error:
        die(str(error))
    except KeyboardInterrupt:
        die("interrupted")
