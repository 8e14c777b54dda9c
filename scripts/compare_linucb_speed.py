#!/usr/bin/env python3
"""LinUCB at scale: Affinity against MABWiser 2.7.4 on the same data, in one run.

What it measures (the issue's "1,000,000 decisions of LinUCB with 20 arms and 40 context
features in <= 0.2x MABWiser's time for the same work"):

- Data, drawn here with numpy (seed 7) and handed to both libraries byte for byte: a log of
  N events (Gaussian contexts, uniformly logged arms, Bernoulli rewards from a hidden logistic
  model) and N fresh contexts to decide for.
- Fit: ``MAB(arms, LearningPolicy.LinUCB(alpha, l2_lambda=1)).fit(decisions, rewards, contexts)``
  against ``affinity bench-bandits --log`` (per-arm ridge statistics, one refactorisation per arm).
- Decide: ``mab.predict(contexts)`` on the N contexts against Affinity's batch decision
  (``LinUCB.bestArms``), 1 and 2 threads. Both start from the fitted model; the chosen arms are
  compared one by one (they should agree except for floating-point near-ties).
- Online: one ``predict`` and one ``partial_fit`` per round, the way a live service learns;
  MABWiser for --online-mab rounds, Affinity for --online-affinity rounds, compared per round.

numpy's BLAS threads are left at their default (both cores). Outputs
``docs/benchmarks/linucb-speed.md`` and ``.json``; the Markdown is printed too.

    swift build -c release
    python3 scripts/compare_linucb_speed.py            # ~1 min after the install
    python3 scripts/compare_linucb_speed.py --decisions 100000 --online-mab 200   # smoke test

MABWiser is installed into ``.venv-mab`` (gitignored) on first use, as compare_mabwiser.py does.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare_implicit import die, log, table  # noqa: E402
from compare_mabwiser import PEER_REQUIREMENTS, SMOKE_TEST, VENV, imports, machine_info  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
MARKER = "AFFINITY_LINUCB_SPEED_REEXEC"


def ensure_peer_interpreter(skip_install: bool) -> None:
    if os.environ.get(MARKER):
        return
    python = VENV / "bin" / "python"
    if not skip_install:
        if not python.exists():
            log(f"creating {VENV}")
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        if not imports(python, SMOKE_TEST):
            log(f"installing {' '.join(PEER_REQUIREMENTS)} into {VENV}")
            subprocess.run([str(python), "-m", "pip", "install", "--quiet", *PEER_REQUIREMENTS], check=True)
    if not imports(python, SMOKE_TEST):
        die(f"mabwiser 2.7.4 does not import in {VENV}; run without --skip-install")
    os.environ[MARKER] = "1"
    os.execv(str(python), [str(python), str(Path(__file__).resolve()), *sys.argv[1:]])


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--decisions", type=int, default=1_000_000)
    p.add_argument("--arms", type=int, default=20)
    p.add_argument("--features", type=int, default=40)
    p.add_argument("--alpha", type=float, default=1.0)
    p.add_argument("--online-mab", type=int, default=2_000)
    p.add_argument("--online-affinity", type=int, default=100_000)
    p.add_argument("--affinity", type=Path, default=REPO / ".build" / "release" / "affinity")
    p.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks")
    p.add_argument("--skip-install", action="store_true")
    return p.parse_args()


def main() -> None:
    args = parse_args()
    ensure_peer_interpreter(args.skip_install)
    import numpy as np
    from mabwiser.mab import MAB, LearningPolicy

    if not args.affinity.exists():
        die(f"{args.affinity} not found; run `swift build -c release` first")
    n, d, k = args.decisions, args.features, args.arms
    rng = np.random.default_rng(7)
    hidden = rng.standard_normal((k, d)) / np.sqrt(d)
    x_log = rng.standard_normal((n, d))
    arms = rng.integers(0, k, n)
    logits = np.einsum("ij,ij->i", x_log, hidden[arms])
    rewards = (rng.random(n) < 1 / (1 + np.exp(-logits))).astype(np.float64)
    x_new = rng.standard_normal((n, d))
    info = machine_info(args.affinity, subprocess.run([str(args.affinity), "--version"], capture_output=True,
                                                      text=True).stdout.strip())
    results: dict = {"machine": info, "decisions": n, "arms": k, "features": d, "alpha": args.alpha}

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        log_rows = np.column_stack([arms.astype(np.float64), rewards, x_log]).astype("<f8")
        log_rows.tofile(tmp / "log.f64")
        x_new.astype("<f8").tofile(tmp / "contexts.f64")

        log(f"MABWiser: fit on {n} events")
        mab = MAB(list(range(k)), LearningPolicy.LinUCB(alpha=args.alpha, l2_lambda=1.0), seed=1)
        start = time.perf_counter()
        mab.fit(arms, rewards, x_log)
        mab_fit = time.perf_counter() - start
        log(f"MABWiser: predict for {n} contexts")
        start = time.perf_counter()
        mab_choice = np.asarray(mab.predict(x_new))
        mab_decide = time.perf_counter() - start
        log(f"MABWiser: {args.online_mab} online rounds")
        online = MAB(list(range(k)), LearningPolicy.LinUCB(alpha=args.alpha, l2_lambda=1.0), seed=1)
        online.fit(arms[:k], rewards[:k], x_log[:k])
        start = time.perf_counter()
        for t in range(args.online_mab):
            x = x_new[t:t + 1]
            arm = online.predict(x)
            r = float(rng.random() < 1 / (1 + np.exp(-(x[0] @ hidden[arm]))))
            online.partial_fit([arm], [r], x)
        mab_online = time.perf_counter() - start
        results["mabwiser"] = {"fit_seconds": mab_fit, "decide_seconds": mab_decide,
                               "online_rounds": args.online_mab, "online_seconds": mab_online}

        runs = {}
        for threads in (1, 2):
            log(f"Affinity: fit, decide ({threads} thread(s)), online")
            out = subprocess.run(
                [str(args.affinity), "bench-bandits", "--decisions", str(n), "--arms", str(k), "--features", str(d),
                 "--alpha", str(args.alpha), "--threads", str(threads), "--online",
                 str(args.online_affinity if threads == 2 else 0), "--log", str(tmp / "log.f64"),
                 "--contexts", str(tmp / "contexts.f64"), "--decisions-out", str(tmp / f"arms{threads}.i32"),
                 "--format", "json"], capture_output=True, text=True)
            if out.returncode != 0:
                die(f"affinity bench-bandits failed: {out.stderr}")
            runs[threads] = json.loads(out.stdout.strip().splitlines()[-1])
            chosen = np.fromfile(tmp / f"arms{threads}.i32", dtype="<i4")
            runs[threads]["agreement_with_mabwiser"] = float(np.mean(chosen == mab_choice))
        results["affinity"] = runs

    a1, a2, m = runs[1], runs[2], results["mabwiser"]
    per_mab = m["online_seconds"] / max(m["online_rounds"], 1)
    per_aff = a2["online_seconds"] / max(a2["online_rounds"], 1)
    rows = [
        ["fit on the log", f"{m['fit_seconds']:.3f} s", f"{a2['fit_seconds']:.3f} s",
         f"{a2['fit_seconds'] / m['fit_seconds']:.3f}x"],
        [f"decide for {n:,} contexts, 1 thread", f"{m['decide_seconds']:.3f} s", f"{a1['decide_seconds']:.3f} s",
         f"{a1['decide_seconds'] / m['decide_seconds']:.3f}x"],
        [f"decide for {n:,} contexts, 2 threads", f"{m['decide_seconds']:.3f} s", f"{a2['decide_seconds']:.3f} s",
         f"{a2['decide_seconds'] / m['decide_seconds']:.3f}x"],
        ["fit + decide (2 threads)", f"{m['fit_seconds'] + m['decide_seconds']:.3f} s",
         f"{a2['fit_seconds'] + a2['decide_seconds']:.3f} s",
         f"{(a2['fit_seconds'] + a2['decide_seconds']) / (m['fit_seconds'] + m['decide_seconds']):.3f}x"],
        ["online, per round (predict + partial_fit)", f"{per_mab * 1e6:.0f} µs ({m['online_rounds']:,} rounds)",
         f"{per_aff * 1e6:.1f} µs ({a2['online_rounds']:,} rounds)", f"{per_aff / per_mab:.4f}x"],
    ]
    target = (a2["fit_seconds"] + a2["decide_seconds"]) / (m["fit_seconds"] + m["decide_seconds"])
    md = [
        "# LinUCB at scale: Affinity vs MABWiser 2.7.4",
        "",
        f"- Date: {info['date']}; machine: {info['cpu']}, {info['nproc']} cores, {info['platform']}; "
        f"load average at start {', '.join(f'{v:.2f}' for v in info['load_average_at_start'])}",
        f"- Affinity {info['versions']['affinity']}, commit {info['commit']}",
        f"- MABWiser {info['versions']['mabwiser']}, numpy {info['versions']['numpy']}, Python {info['versions']['python']}",
        f"- Produced by: `python3 scripts/compare_linucb_speed.py` ({n:,} decisions, {k} arms, {d} features, "
        f"alpha {args.alpha}, lambda 1)",
        "",
        "Same data for both (written by the script as Float64 files). Ratios are Affinity / MABWiser, "
        "measured in this one run.",
        "",
        table(["work", "MABWiser", "Affinity", "ratio"], rows),
        "",
        f"Decisions identical to MABWiser's: {a1['agreement_with_mabwiser']:.6f} (1 thread), "
        f"{a2['agreement_with_mabwiser']:.6f} (2 threads) of {n:,}.",
        "",
        f"Target: fit + 1,000,000 decisions in <= 0.2x MABWiser's time: {target:.3f}x — "
        + ("met." if target <= 0.2 else "**not met**."),
        "",
        "How: per-arm statistics in flat buffers. A batch fit buckets the log by arm and "
        "accumulates each arm's Gram matrix from blocks of 64 rows in SIMD registers (arms in "
        "parallel), then refactorises each arm once. A batch decision whitens the contexts with "
        "each arm's L^-1 (A = L L^T, so x^T A^-1 x = |L^-1 x|^2) on SIMD lanes of eight contexts, "
        "over both cores. MABWiser computes `x A^-1` with numpy per arm, then builds the answer in "
        "Python; its online loop pays Python call overhead on every round.",
        "",
    ]
    text = "\n".join(md)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "linucb-speed.md").write_text(text)
    (args.out / "linucb-speed.json").write_text(json.dumps(results, indent=2) + "\n")
    print(text)


if __name__ == "__main__":
    main()
