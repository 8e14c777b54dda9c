#!/usr/bin/env python3
"""Side-by-side comparison of Affinity's bandit policies with MABWiser 2.7.4 on the MovieLens rating simulator.

What it measures
----------------
The issue's protocol, as ``docs/benchmarks/bandits.md``: MovieLens-100k (RecBole
``ml-100k.inter`` and ``ml-100k.user``); the arms are the 20 most-rated movies (ties by first
appearance in the file); each round a user is drawn uniformly from the 943 users; the reward
is 1 iff that user rated the arm >= 4 (unrated = 0); T = 10,000 rounds; seeds 1-5. Mean reward
per round over the seeds with a 95 % t-interval, regret = T * (best fixed arm - mean reward).

- Affinity: ``affinity simulate --policy random,epsilon-greedy,ucb1,thompson,linucb --rounds
  10000 --seeds 5 --format json`` (its defaults: epsilon 0.1, UCB1 alpha 1, Beta(1, 1), LinUCB
  alpha 0.5 with regularisation 1), and once more ``--policy linucb --param linucb.alpha=1``
  (MABWiser's default alpha). Affinity draws its own user sequence from its own generator.
- MABWiser: ``MAB(arms, LearningPolicy.X, seed=seed)`` for ``Random()``,
  ``EpsilonGreedy(epsilon=0.1)``, ``UCB1(alpha=1)``, ``ThompsonSampling()`` (binary rewards, no
  binarizer) and ``LinUCB(alpha=0.5 | 1, l2_lambda=1)``. Online: every round one ``predict``
  (LinUCB with the round's context) and one ``partial_fit`` with that single decision and reward.
  Within a seed every MABWiser policy sees the same user sequence, drawn from a generator of its
  own (``numpy.random.default_rng(SeedSequence([seed, 91]))``, so it is independent of the
  ``seed=`` stream MABWiser uses for its decisions).
- Warm start: MABWiser refuses ``predict`` before ``fit``, and its UCB1 gives an arm it has never
  seen an expectation of 0 (not +inf), so it never plays every arm once by itself. Every MABWiser
  policy therefore plays arm 0, 1, ..., 19 in rounds 1-20 (the seed's first 20 users, their real
  rewards, counted in the mean like every other round) and is ``fit`` on exactly those 20
  decisions; rounds 21-10,000 are predict / partial_fit. This is textbook UCB1's initialisation
  (Affinity's UCB1 also plays every unplayed arm first) and costs the other policies 20 forced
  exploration rounds out of 10,000. No pseudo-observations are added.
- Context (LinUCB): one-hot gender, one-hot age bucket (MovieLens-1M buckets <18, 18-24, 25-34,
  35-44, 45-49, 50-55, 56+), one-hot occupation, and a constant 1 (zip code left out, as
  Affinity's feature encoder does for near-unique columns): 31 columns.
- Checks: the best fixed arm's value computed here must equal Affinity's ``best_fixed_arm`` (this
  checks the arm choice, ties included); the expected reward of a uniformly random arm is shown
  too.
- Agreement: a pair agrees when |Affinity - MABWiser| is smaller than the sum of the two 95 %
  half-widths (both are means over independent seeds).

Outputs: ``docs/benchmarks/bandits-comparison.md`` (table, machine, date, commit, versions, the
command) and ``docs/benchmarks/bandits-comparison.json`` (every number, per-seed rewards
included). The Markdown is printed to stdout too.

How to run
----------
    swift build -c release                    # builds .build/release/affinity
    python3 scripts/compare_mabwiser.py       # ~3-4 min on 2 cores after the install
    python3 scripts/compare_mabwiser.py --rounds 1000 --seeds 2   # smoke test

MABWiser 2.7.4 is installed into ``.venv-mab`` at the repository root (gitignored; default
``python3``) on first use and the script re-runs itself with that interpreter;
``--skip-install`` uses the venv as it is. MovieLens-100k is read from
``<repo>/../shared/datasets/ml-100k/`` unless ``--data-dir`` says otherwise. Its licence forbids
redistribution: nothing derived from it is written inside the repository (the report holds only
aggregate rewards), and the Affinity binary runs as a private copy in a temporary directory.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare_implicit import die, log, table  # noqa: E402  (shared report helpers)

REPO = Path(__file__).resolve().parent.parent
VENV = REPO / ".venv-mab"
PEER_REQUIREMENTS = ["mabwiser==2.7.4"]
DEFAULT_DATA_DIR = REPO.parent / "shared" / "datasets" / "ml-100k"
DEFAULT_BINARY = REPO / ".build" / "release" / "affinity"
DEFAULT_OUT_DIR = REPO / "docs" / "benchmarks"
REPORT_NAME = "bandits-comparison"
REEXEC_MARKER = "AFFINITY_MAB_REEXEC"
ORIGINAL_COMMAND = "AFFINITY_MAB_COMMAND"

ARMS = 20
THRESHOLD = 4.0
ROUNDS = 10_000
SEEDS = 5
USER_STREAM = 91
AGE_BUCKETS = [(18, "<18"), (25, "18-24"), (35, "25-34"), (45, "35-44"), (50, "45-49"), (56, "50-55"),
               (math.inf, "56+")]
BANDITS_MD_BEST_FIXED = 0.5313  # docs/benchmarks/bandits.md
ISSUE_RANDOM = 0.318

# (row label, Affinity policy name + params or None, MABWiser policy key or None)
ROWS = [
    ("random", ("random", {}), "random"),
    ("epsilon-greedy (ε = 0.1)", ("epsilon-greedy", {}), "epsilon-greedy"),
    ("ucb1 (α = 1)", ("ucb1", {}), "ucb1"),
    ("thompson (Beta(1, 1))", ("thompson", {}), "thompson"),
    ("linucb (α = 0.5, λ = 1)", ("linucb", {}), "linucb-0.5"),
    ("linucb (α = 1, λ = 1)", ("linucb", {"linucb.alpha": "1"}), "linucb-1"),
]
MAB_CALLS = {
    "random": "LearningPolicy.Random()",
    "epsilon-greedy": "LearningPolicy.EpsilonGreedy(epsilon=0.1)",
    "ucb1": "LearningPolicy.UCB1(alpha=1)",
    "thompson": "LearningPolicy.ThompsonSampling()",
    "linucb-0.5": "LearningPolicy.LinUCB(alpha=0.5, l2_lambda=1)",
    "linucb-1": "LearningPolicy.LinUCB(alpha=1, l2_lambda=1)",
}


class BenchError(Exception):
    """A failure that ends the run with a message instead of a traceback."""


# --------------------------------------------------------------------------
# Environment: the MABWiser venv
# --------------------------------------------------------------------------

SMOKE_TEST = ("import importlib.metadata as m, numpy\nfrom mabwiser.mab import MAB, LearningPolicy\n"
              "assert m.version('mabwiser') == '2.7.4', m.version('mabwiser')\n")


def imports(python: Path | str, code: str) -> bool:
    return subprocess.run([str(python), "-c", code], capture_output=True, text=True).returncode == 0


def ensure_peer_interpreter(skip_install: bool) -> None:
    """Re-exec this script under .venv-mab's python (creating it and installing MABWiser if needed)."""
    if os.environ.get(REEXEC_MARKER):
        return
    python = VENV / "bin" / "python"
    if skip_install:
        if not (python.exists() and imports(python, SMOKE_TEST)):
            if imports(sys.executable, SMOKE_TEST):
                return
            raise BenchError(f"--skip-install given but {python} cannot import mabwiser 2.7.4; run once without it")
    else:
        if not python.exists():
            log(f"creating {VENV}")
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        if not imports(python, SMOKE_TEST):
            log(f"installing {' '.join(PEER_REQUIREMENTS)} into {VENV}")
            subprocess.run([str(python), "-m", "pip", "install", "--quiet", *PEER_REQUIREMENTS], check=True)
        if not imports(python, SMOKE_TEST):
            raise BenchError(f"mabwiser 2.7.4 does not import in {VENV}")
    os.environ[REEXEC_MARKER] = "1"
    os.execv(str(python), [str(python), str(Path(__file__).resolve()), *sys.argv[1:]])


# --------------------------------------------------------------------------
# The MovieLens rating simulator (Python side)
# --------------------------------------------------------------------------

def read_recbole(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(encoding="utf-8", errors="replace") as handle:
        header = [name.split(":")[0] for name in handle.readline().rstrip("\n").split("\t")]
        rows = [line.rstrip("\n").split("\t") for line in handle if line.strip()]
    return header, rows


def age_bucket(age: float) -> str:
    return next(label for upper, label in AGE_BUCKETS if age < upper)


class World:
    """Users x arms liked matrix and user contexts, built as the issue describes."""

    def __init__(self, inter: Path, users_file: Path, arms: int, threshold: float):
        import numpy as np
        header, rows = read_recbole(inter)
        col = {name: header.index(name) for name in ("user_id", "item_id", "rating")}
        user_order: dict[str, int] = {}
        item_order: dict[str, int] = {}
        counts: dict[str, int] = {}
        for row in rows:
            user_order.setdefault(row[col["user_id"]], len(user_order))
            item = row[col["item_id"]]
            item_order.setdefault(item, len(item_order))
            counts[item] = counts.get(item, 0) + 1
        ranked = sorted(counts, key=lambda item: (-counts[item], item_order[item]))
        self.arm_items = ranked[:arms]
        # Is the last arm's count tied with the first item left out? Then the tie rule matters.
        self.tie_at_cut = len(ranked) > arms and counts[ranked[arms - 1]] == counts[ranked[arms]]
        self.arm_counts = [counts[item] for item in self.arm_items]
        arm_of = {item: k for k, item in enumerate(self.arm_items)}
        self.user_ids = list(user_order)
        liked = np.zeros((len(self.user_ids), arms), dtype=np.int8)
        for row in rows:
            k = arm_of.get(row[col["item_id"]])
            if k is not None and float(row[col["rating"]]) >= threshold:
                liked[user_order[row[col["user_id"]]], k] = 1
        self.liked = liked
        self.arm_values = liked.mean(axis=0)
        self.best_fixed_arm = float(self.arm_values.max())
        self.random_value = float(self.arm_values.mean())
        # The other tie rule's arm set (the first item left out replaces the last arm), as a random
        # policy would see it: its expected reward tells the two sets apart.
        self.alternative_random_value = None
        if self.tie_at_cut:
            swapped = ranked[arms]
            alt = np.zeros(len(self.user_ids), dtype=np.int8)
            for row in rows:
                if row[col["item_id"]] == swapped and float(row[col["rating"]]) >= threshold:
                    alt[user_order[row[col["user_id"]]]] = 1
            self.alternative_random_value = float((self.arm_values[:-1].sum() + alt.mean()) / arms)

        uheader, urows = read_recbole(users_file)
        ucol = {name: uheader.index(name) for name in ("user_id", "age", "gender", "occupation")}
        features = {row[ucol["user_id"]]: [f"gender={row[ucol['gender']]}",
                                           f"age={age_bucket(float(row[ucol['age']]))}",
                                           f"occupation={row[ucol['occupation']]}"] for row in urows}
        missing = [u for u in self.user_ids if u not in features]
        if missing:
            raise BenchError(f"{len(missing)} users of {inter.name} have no row in {users_file.name}")
        self.feature_names = sorted({f for u in self.user_ids for f in features[u]})
        index = {name: j for j, name in enumerate(self.feature_names)}
        contexts = np.zeros((len(self.user_ids), len(self.feature_names) + 1))
        for u, user in enumerate(self.user_ids):
            for f in features[user]:
                contexts[u, index[f]] = 1.0
        contexts[:, -1] = 1.0
        self.contexts = contexts

    def users(self, seed: int, rounds: int):
        import numpy as np
        rng = np.random.default_rng(np.random.SeedSequence([seed, USER_STREAM]))
        return rng.integers(0, len(self.user_ids), size=rounds)


def make_mab(key: str, arms: list[int], seed: int):
    from mabwiser.mab import MAB, LearningPolicy
    policy = {
        "random": lambda: LearningPolicy.Random(),
        "epsilon-greedy": lambda: LearningPolicy.EpsilonGreedy(epsilon=0.1),
        "ucb1": lambda: LearningPolicy.UCB1(alpha=1),
        "thompson": lambda: LearningPolicy.ThompsonSampling(),
        "linucb-0.5": lambda: LearningPolicy.LinUCB(alpha=0.5, l2_lambda=1),
        "linucb-1": lambda: LearningPolicy.LinUCB(alpha=1, l2_lambda=1),
    }[key]()
    return MAB(arms=arms, learning_policy=policy, seed=seed)


def run_mabwiser(key: str, world: World, rounds: int, seed: int) -> float:
    """One online run; returns the mean reward per round."""
    import numpy as np
    contextual = key.startswith("linucb")
    arms = list(range(world.liked.shape[1]))
    users = world.users(seed, rounds)
    liked, contexts = world.liked, world.contexts
    mab = make_mab(key, arms, seed)
    warm = min(len(arms), rounds)
    decisions = arms[:warm]
    rewards = [int(liked[users[t], decisions[t]]) for t in range(warm)]
    total = sum(rewards)
    if contextual:
        mab.fit(decisions, rewards, contexts[users[:warm]])
    else:
        mab.fit(decisions, rewards)
    for t in range(warm, rounds):
        u = users[t]
        if contextual:
            x = contexts[u:u + 1]
            arm = mab.predict(x)
            reward = int(liked[u, arm])
            mab.partial_fit([arm], [reward], x)
        else:
            arm = mab.predict()
            reward = int(liked[u, arm])
            mab.partial_fit([arm], [reward])
        total += reward
    return total / rounds


# --------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------

T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228]  # as Affinity's table


def t_interval(values: list[float]) -> tuple[float, float, float]:
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, math.nan, math.nan
    half = (T975[len(values) - 2] if len(values) - 1 <= len(T975) else 1.96) * statistics.stdev(values) / math.sqrt(len(values))
    return mean, mean - half, mean + half


# --------------------------------------------------------------------------
# Affinity
# --------------------------------------------------------------------------

def parse_json_stream(text: str) -> list[dict]:
    """Affinity prints one (pretty-printed) JSON object per policy; read them all."""
    decoder = json.JSONDecoder()
    objects, position = [], 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            return objects
        obj, position = decoder.raw_decode(text, position)
        objects.append(obj)


def run_affinity(binary: Path, data_dir: Path, policies: list[str], params: dict, rounds: int, seeds: int,
                 issues: list[str]) -> tuple[list[dict], str, float]:
    command = [str(binary), "simulate", "--data", str(data_dir / "ml-100k.inter"),
               "--user-features", str(data_dir / "ml-100k.user"), "--policy", ",".join(policies),
               "--rounds", str(rounds), "--seeds", str(seeds), "--format", "json"]
    for key, value in params.items():
        command += ["--param", f"{key}={value}"]
    shown = shlex.join(["affinity", *command[1:]]).replace(str(data_dir), "$DATA")
    log(f"running {shown}")
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, timeout=3600)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        issues.append(f"`{shown}` failed (exit {result.returncode}): {result.stderr.strip()[-500:]}")
        return [], shown, wall
    try:
        objects = parse_json_stream(result.stdout)
    except json.JSONDecodeError as error:
        issues.append(f"`{shown}` printed output that is not JSON ({error})")
        return [], shown, wall
    expected = {"policy", "rounds", "seeds", "mean_reward", "ci_low", "ci_high", "regret", "best_fixed_arm",
                "curve", "seconds"}
    for obj in objects:
        if not expected <= obj.keys():
            issues.append(f"`{shown}`: object for {obj.get('policy')} lacks {sorted(expected - obj.keys())}")
    return objects, shown, wall


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------

def git_commit(binary: Path) -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True).stdout.strip()
    commit = git("rev-parse", "--short", "HEAD") or "none"
    changed = [line for line in git("status", "--porcelain", "--", "Sources", "Package.swift").splitlines()
               if line.strip()]
    if changed:
        commit += f" + uncommitted changes under Sources/ ({len(changed)} paths)"
    if binary.exists():
        built = _dt.datetime.fromtimestamp(binary.stat().st_mtime).astimezone().isoformat(timespec="seconds")
        commit += f"; binary built {built}"
    return commit


def machine_info(binary: Path, affinity_version: str) -> dict:
    import importlib.metadata as metadata
    cpu = "unknown"
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        cpu = next(line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration):
        pass
    versions = {name: metadata.version(name) for name in ("mabwiser", "numpy", "pandas", "scikit-learn", "joblib")}
    versions["python"] = platform.python_version()
    versions["affinity"] = affinity_version
    return {"cpu": cpu, "nproc": os.cpu_count(), "platform": platform.platform(), "versions": versions,
            "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "commit": git_commit(binary), "load_average_at_start": os.getloadavg()}


def fmt_ci(entry: dict | None) -> tuple[str, str]:
    if not entry:
        return "n/a", ""
    return f"{entry['mean']:.4f}", f"[{entry['ci_low']:.4f}, {entry['ci_high']:.4f}]"


def arm_check_text(results: dict) -> str:
    check = results.get("arm_set_check")
    if not check:
        return "- Arm-set check: not available (the long Affinity random run failed).\n"
    other = check["other_tie_rule_value"]
    return (f"- Arm-set check (the best fixed arm does not see the tie): `{check['command']}` gives "
            f"{check['mean_reward']:.5f} [{check['ci_low']:.5f}, {check['ci_high']:.5f}]; a random arm is worth "
            f"{check['first_appearance_value']:.5f} with ties by first appearance"
            + (f" and {other:.5f} with the other movie as the 20th arm" if other is not None else "")
            + f": Affinity's arms are the {check['verdict']} set.\n")


def write_report(out_dir: Path, results: dict) -> str:
    info, v = results["machine"], results["machine"]["versions"]
    s = results["settings"]
    header = (
        "# Affinity vs MABWiser (bandits on the MovieLens rating simulator)\n\n"
        f"- Date: {info['date']}\n"
        f"- Machine: {info['cpu']}, {info['nproc']} cores (`nproc`), {info['platform']}; load average at start "
        f"{info['load_average_at_start'][0]:.2f}\n"
        f"- Affinity {v['affinity']}, commit {info['commit']}\n"
        f"- MABWiser {v['mabwiser']} (numpy {v['numpy']}, pandas {v['pandas']}, scikit-learn {v['scikit-learn']}, "
        f"joblib {v['joblib']}, Python {v['python']}); installed as `pip install {' '.join(PEER_REQUIREMENTS)}`\n"
        f"- Data: MovieLens-100k (RecBole `ml-100k.inter`, `ml-100k.user`), `$DATA` below is "
        f"`{results['data']}`; never copied into the repository\n"
        f"- Produced by: `{results['command']}` (runtime {results['seconds'] / 60:.1f} min)\n"
    )
    w = results["world"]
    mab_seeds = sorted({len(e["per_seed"]) for e in results["mabwiser"].values()})
    protocol = (
        "## Protocol\n\n"
        f"- Arms: the {s['arms']} most-rated movies (ties by first appearance in the file"
        + ("; the 20th and 21st are tied" if w["tie_at_cut"] else "; no tie at the cut") + "). Each round a user "
        f"is drawn uniformly from the {w['users']} users; reward 1 iff they rated the arm ≥ {s['threshold']:g} "
        f"(unrated 0). T = {s['rounds']:,} rounds, seeds 1–{s['seeds']}. Mean reward per round over seeds with a "
        "95 % t-interval; regret = T · (best fixed arm − mean reward).\n"
        f"- Best fixed arm: {w['best_fixed_arm']:.4f} here, {w['affinity_best_fixed_arm']} from Affinity "
        f"({'equal' if w['best_fixed_arm_matches'] else '**different**'}); a uniformly random arm is worth "
        f"{w['random_value']:.4f} in expectation (the issue quotes ≈ {ISSUE_RANDOM}).\n"
        + arm_check_text(results) +
        f"- LinUCB context ({w['context_dimension']} columns): one-hot gender, age bucket (<18, 18-24, 25-34, "
        "35-44, 45-49, 50-55, 56+) and occupation, plus a constant 1.\n"
        f"- Affinity: `{results['affinity_commands'][0]}` and `{results['affinity_commands'][1]}`. Its defaults: "
        "ε-greedy ε 0.1 (ties broken uniformly; unplayed arms have mean 0), UCB1 α 1 (every arm once first), "
        "Thompson Beta(1, 1), LinUCB α 0.5, regularisation 1. Affinity draws its users from its own generator, "
        "so its user sequence differs from the Python side's.\n"
        "- MABWiser: `MAB(arms=[0..19], learning_policy=..., seed=seed)` with "
        + ", ".join(f"`{call}`" for call in MAB_CALLS.values()) + ". Online: each round one `predict` (LinUCB "
        "with the 1×31 context row) then one `partial_fit` with that single decision and reward. Warm start: "
        "rounds 1–20 play arms 0, 1, …, 19 in order for the seed's first 20 users (real rewards, counted in "
        "the mean), and the policy is `fit` on exactly those 20 decisions; no pseudo-observations. (MABWiser "
        "needs a `fit` before `predict`, and its UCB1 scores an arm it has never seen 0 rather than +∞, so "
        "without this it would not try every arm.) Within a seed all MABWiser policies see the same users, "
        f"drawn from `default_rng(SeedSequence([seed, {USER_STREAM}]))`, independent of MABWiser's own "
        "`seed=` stream. MABWiser breaks ties by the first arm (lowest index); Affinity uniformly at random.\n"
        "- Agrees: |Affinity − MABWiser| < the sum of the two 95 % half-widths.\n"
    )
    if mab_seeds != [s["seeds"]]:
        protocol += f"- MABWiser ran with fewer seeds for some policies (see the seeds column).\n"
    rows = []
    for label, _, key in ROWS:
        a, m = results["affinity"].get(key), results["mabwiser"].get(key)
        a_mean, a_ci = fmt_ci(a)
        m_mean, m_ci = fmt_ci(m)
        if a and m:
            diff = a["mean"] - m["mean"]
            allowance = (a["ci_high"] - a["ci_low"]) / 2 + (m["ci_high"] - m["ci_low"]) / 2
            agree = f"{'yes' if abs(diff) < allowance else '**no**'} ({diff:+.4f} vs ±{allowance:.4f})"
        else:
            agree = "n/a"
        a_sec = f"{a['seconds']:.3f}" if a else "n/a"
        m_sec = f"{m['seconds']:.1f}" if m else "n/a"
        rows.append([label, a_mean, a_ci, m_mean, m_ci, str(len(m["per_seed"])) if m else "0", agree,
                     f"{a['regret']:.1f}" if a else "n/a", f"{m['regret']:.1f}" if m else "n/a", a_sec, m_sec])
    main_table = table(["policy", "Affinity", "95 % CI", "MABWiser", "95 % CI", "MABWiser seeds", "agree",
                        "regret Affinity", "regret MABWiser", "Affinity s", "MABWiser s"], rows)
    results_text = (
        "## Results\n\n"
        "Mean reward per round (higher is better). Seconds are wall time for all seeds of a policy: Affinity's "
        "`seconds` field (simulation only, one process for all policies; the whole `affinity simulate` call "
        f"including reading the data took {results['affinity_wall'][0]:.2f} s and "
        f"{results['affinity_wall'][1]:.2f} s), and MABWiser's predict/partial_fit loop timed here "
        "(simulator set-up excluded).\n\n" + main_table
        + f"\n\nBest fixed arm: {w['best_fixed_arm']:.4f}. "
    )
    per_seed = table(["policy", "Affinity per seed", "MABWiser per seed"],
                     [[label, "n/a (Affinity reports only the aggregate)",
                       ", ".join(f"{x:.4f}" for x in results["mabwiser"][key]["per_seed"])
                       if key in results["mabwiser"] else "n/a"] for label, _, key in ROWS])
    parts = [header, protocol, results_text, "### MABWiser per seed\n\n" + per_seed]
    if results["notes"]:
        parts.append("## Notes\n\n" + "\n".join(f"- {note}" for note in results["notes"]))
    if results["issues"]:
        parts.append("## Affinity CLI output that did not match the contract, or failed\n\n"
                     + "\n".join(f"- {issue}" for issue in results["issues"]))
    markdown = "\n\n".join(parts) + "\n"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{REPORT_NAME}.md").write_text(markdown)
    (out_dir / f"{REPORT_NAME}.json").write_text(json.dumps(results, indent=1, sort_keys=True, default=str) + "\n")
    return markdown


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                        help="directory holding ml-100k.inter and ml-100k.user")
    parser.add_argument("--affinity", type=Path, default=DEFAULT_BINARY, help="affinity executable")
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR, help="where the .md/.json go")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--seeds", type=int, default=SEEDS, help="seeds 1..N for both sides")
    parser.add_argument("--mabwiser-seeds", type=int, default=None,
                        help="fewer seeds (1..N) for MABWiser's LinUCB rows, if its loop is too slow")
    parser.add_argument("--skip-install", action="store_true", help="do not create or update .venv-mab")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    os.environ.setdefault(ORIGINAL_COMMAND, shlex.join(["python3", "scripts/compare_mabwiser.py", *sys.argv[1:]]))
    data_dir = args.data_dir.resolve()
    inter, users_file = data_dir / "ml-100k.inter", data_dir / "ml-100k.user"
    for path in (inter, users_file):
        if not path.is_file():
            raise BenchError(f"{path} not found; pass --data-dir DIR")
    original_binary = args.affinity.absolute()
    if not original_binary.is_file():
        raise BenchError(f"no binary at {original_binary} (build with `swift build -c release`)")
    ensure_peer_interpreter(args.skip_install)  # may re-exec; everything below imports mabwiser
    import warnings
    warnings.filterwarnings("ignore")
    started = time.perf_counter()
    machine = machine_info(original_binary, "unknown")  # before the work: load average, binary as run
    issues: list[str] = []
    notes: list[str] = []
    tmp = Path(tempfile.mkdtemp(prefix="affinity-vs-mabwiser-"))
    try:
        # A private copy, so a rebuild of .build/release during the run cannot change it.
        binary = tmp / "affinity"
        shutil.copy2(original_binary, binary)
        version = subprocess.run([str(binary), "--version"], capture_output=True, text=True).stdout.strip() or "unknown"
        machine["versions"]["affinity"] = version

        world = World(inter, users_file, ARMS, THRESHOLD)
        log(f"world: {len(world.user_ids)} users, {ARMS} arms (counts {world.arm_counts[0]}…{world.arm_counts[-1]}), "
            f"context {world.contexts.shape[1]} columns, best fixed arm {world.best_fixed_arm:.4f}")

        # Affinity
        affinity: dict[str, dict] = {}
        commands, walls = [], []
        for policies, params in ((["random", "epsilon-greedy", "ucb1", "thompson", "linucb"], {}),
                                 (["linucb"], {"linucb.alpha": "1"})):
            objects, shown, wall = run_affinity(binary, data_dir, policies, params, args.rounds, args.seeds, issues)
            commands.append(shown)
            walls.append(wall)
            by_policy = {obj.get("policy"): obj for obj in objects}
            for label, (name, row_params), key in ROWS:
                if row_params == params and name in by_policy:
                    obj = by_policy[name]
                    affinity[key] = {"mean": obj["mean_reward"], "ci_low": obj["ci_low"], "ci_high": obj["ci_high"],
                                     "regret": obj["regret"], "best_fixed_arm": obj["best_fixed_arm"],
                                     "seconds": obj["seconds"], "rounds": obj["rounds"], "seeds": obj["seeds"],
                                     "curve": obj["curve"]}
        affinity_best = sorted({round(e["best_fixed_arm"], 12) for e in affinity.values()})
        matches = len(affinity_best) == 1 and abs(affinity_best[0] - world.best_fixed_arm) < 1e-12
        if not matches:
            issues.append(f"Affinity's best fixed arm {affinity_best} differs from this script's "
                          f"{world.best_fixed_arm:.12f}: the arm sets (or the user set) differ.")
        if abs(world.best_fixed_arm - BANDITS_MD_BEST_FIXED) > 5e-5:
            notes.append(f"The best fixed arm here ({world.best_fixed_arm:.4f}) is not bandits.md's "
                         f"{BANDITS_MD_BEST_FIXED}.")

        # The arm set, ties included: a long random-policy run estimates the mean arm value.
        check_rounds = 4_000_000
        objects, shown, _ = run_affinity(binary, data_dir, ["random"], {}, check_rounds, 5, issues)
        arm_check = None
        if objects:
            obj = objects[0]
            arm_check = {"command": shown, "mean_reward": obj["mean_reward"], "ci_low": obj["ci_low"],
                         "ci_high": obj["ci_high"], "first_appearance_value": world.random_value,
                         "other_tie_rule_value": world.alternative_random_value}
            inside = obj["ci_low"] <= world.random_value <= obj["ci_high"]
            other = world.alternative_random_value
            other_inside = other is not None and obj["ci_low"] <= other <= obj["ci_high"]
            arm_check["verdict"] = ("first appearance" if inside and not other_inside else
                                    "other tie rule" if other_inside and not inside else "undecided")
            if arm_check["verdict"] != "first appearance":
                issues.append(f"Affinity's long random run ({obj['mean_reward']:.5f}, CI [{obj['ci_low']:.5f}, "
                              f"{obj['ci_high']:.5f}]) does not single out the first-appearance arm set "
                              f"(expected {world.random_value:.5f}; other tie rule {other}).")

        # MABWiser
        mabwiser: dict[str, dict] = {}
        for label, _, key in ROWS:
            seeds = args.seeds
            if args.mabwiser_seeds and key.startswith("linucb"):
                seeds = min(seeds, args.mabwiser_seeds)
            per_seed, seconds = [], 0.0
            for seed in range(1, seeds + 1):
                t0 = time.perf_counter()
                per_seed.append(run_mabwiser(key, world, args.rounds, seed))
                seconds += time.perf_counter() - t0
            mean, low, high = t_interval(per_seed)
            mabwiser[key] = {"mean": mean, "ci_low": low, "ci_high": high, "per_seed": per_seed,
                             "regret": args.rounds * (world.best_fixed_arm - mean), "seconds": seconds,
                             "call": MAB_CALLS[key]}
            log(f"MABWiser {key}: {mean:.4f} [{low:.4f}, {high:.4f}] over {seeds} seeds, {seconds:.1f} s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    if world.tie_at_cut:
        notes.append("The 20th and 21st most-rated movies have the same count; the tie rule picks the arm set.")
    results: dict[str, Any] = {
        "command": os.environ[ORIGINAL_COMMAND],
        "data": os.path.relpath(data_dir, REPO) if data_dir.is_relative_to(REPO.parent) else str(data_dir),
        "machine": machine,
        "settings": {"arms": ARMS, "threshold": THRESHOLD, "rounds": args.rounds, "seeds": args.seeds,
                     "user_stream": USER_STREAM, "warm_start": "rounds 1-20 play arms 0..19 in order, real rewards; "
                     "fit on those 20 decisions; then predict/partial_fit per round"},
        # Aggregates only: no per-item counts or values from MovieLens go into the repository.
        "world": {"users": len(world.user_ids), "tie_at_cut": world.tie_at_cut, "best_fixed_arm": world.best_fixed_arm,
                  "affinity_best_fixed_arm": (f"{affinity_best[0]:.4f}" if len(affinity_best) == 1
                                              else str(affinity_best)),
                  "best_fixed_arm_matches": matches, "random_value": world.random_value,
                  "context_dimension": int(world.contexts.shape[1]), "context_columns": world.feature_names + ["1"]},
        "affinity_commands": commands, "affinity_wall": walls, "arm_set_check": arm_check,
        "affinity": affinity, "mabwiser": mabwiser, "issues": issues, "notes": notes,
    }
    results["seconds"] = time.perf_counter() - started
    markdown = write_report(args.out_dir, results)
    print(markdown)
    log(f"wrote {args.out_dir / (REPORT_NAME + '.md')} and .json in {results['seconds'] / 60:.1f} min")


if __name__ == "__main__":
    try:
        main()
    except BenchError as error:
        die(str(error))
    except KeyboardInterrupt:
        die("interrupted")
