#!/usr/bin/env python3
"""Side-by-side comparison of Affinity's rating-prediction models with Surprise.

What it measures
----------------
1. Accuracy on MovieLens-100k. ``affinity split`` makes one random 80/20 split
   (seed 42) in a temporary directory outside the repository; both libraries
   train on the same train file and predict the same test file. For every
   model pair Surprise runs with its defaults and Affinity runs with those same
   parameters passed explicitly (``--param``). RMSE, MAE, FCP and fit time are
   recorded for both, plus |dRMSE| and the fit-time ratio affinity/surprise.
   Seeded models (SVD family, NormalPredictor) are also run with three seeds
   on both sides and reported as mean +/- std, because the two libraries'
   random number generators differ. Every Affinity model is run once more with
   no ``--param`` at all, to show its own tuned defaults.
2. Speed and memory. SVD (100 factors, 20 epochs) and item-based
   pearson_baseline KNNBaseline fit times on the ML-100k split (best of 3,
   the two libraries interleaved). Then a ~5M-rating synthetic set from
   ``affinity generate``, split 80/20 by ``affinity split``: each library
   loads it, fits SVD and predicts the test part in its own fresh process,
   which is timed (wall clock) and whose peak RSS is read from the kernel.
   Skipped with ``--quick``.

Outputs: ``docs/benchmarks/surprise-comparison.md`` (tables, machine, date,
commit, versions, the command) and ``docs/benchmarks/surprise-comparison.json``
(all raw numbers). The tables are printed to stdout too.

How to run
----------
    swift build -c release          # builds .build/release/affinity
    python3 scripts/compare_surprise.py            # full run (~4 min on 2 cores)
    python3 scripts/compare_surprise.py --quick    # no 5M-rating part (~2 min)

Surprise (scikit-surprise 1.1.5) is installed into ``.venv-bench`` at the
repository root (gitignored) on first use and the script re-runs itself with
that interpreter; ``--skip-install`` uses an existing venv (or the current
interpreter, if it already imports surprise). MovieLens-100k is read from
``<repo>/../shared/datasets/ml-100k/ml-100k.inter`` unless ``--data`` says
otherwise. Its licence forbids redistribution, so no copy or derived file is
ever written inside the repository: split files live in a temporary directory
that is removed at the end.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parent.parent
VENV = REPO / ".venv-bench"
SURPRISE_REQUIREMENT = "scikit-surprise==1.1.5"
DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "ml-100k" / "ml-100k.inter"
DEFAULT_BINARY = REPO / ".build" / "release" / "affinity"
DEFAULT_OUT_DIR = REPO / "docs" / "benchmarks"
REEXEC_MARKER = "AFFINITY_BENCH_REEXEC"
ORIGINAL_COMMAND = "AFFINITY_BENCH_COMMAND"
TOLERANCE = 0.005  # acceptance: |RMSE(affinity) - RMSE(surprise)| <= this

# Synthetic set for the speed/memory part (the brief's "~5M ratings").
BIG_USERS, BIG_ITEMS, BIG_RATINGS, BIG_SEED = 60_000, 12_000, 5_000_000, 7

# Surprise's documented defaults, spelled as Affinity's --param aliases.
SVD_PARAMS = dict(n_factors=100, n_epochs=20, lr_all=0.005, reg_all=0.02, init_std=0.1)
SVDPP_PARAMS = dict(n_factors=20, n_epochs=20, lr_all=0.007, reg_all=0.02, init_std=0.1)
# Surprise's NMF defaults to biased=False; Affinity's NMF has no biased variant (and no such parameter).
NMF_PARAMS = dict(n_factors=15, n_epochs=50, reg_pu=0.06, reg_qi=0.06)
# bsl_options (BaselineOnly, and KNNBaseline's baselines): ALS, and the SGD alternative.
ALS_PARAMS = dict(method="als", reg_i=10, reg_u=15, n_epochs=10)
SGD_PARAMS = dict(method="sgd", n_epochs=20, reg=0.02, learning_rate=0.005)
KNN_MSD_USER = dict(k=40, min_k=1, name="msd", user_based=True)
KNN_PB_ITEM = dict(k=40, min_k=1, name="pearson_baseline", user_based=False, shrinkage=100)


class BenchError(Exception):
    """A failure that ends the run with a message instead of a traceback."""


def die(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Environment: the Surprise venv
# --------------------------------------------------------------------------

SURPRISE_SMOKE_TEST = (
    "import numpy, surprise\n"
    "from surprise import Dataset, Reader, SVD, KNNBaseline\n"
    "from surprise.prediction_algorithms import matrix_factorization\n"
    "print(surprise.__version__, numpy.__version__)\n"
)


def surprise_works(python: Path | str) -> bool:
    result = subprocess.run([str(python), "-c", SURPRISE_SMOKE_TEST], capture_output=True, text=True)
    return result.returncode == 0


def install_surprise() -> Path:
    """Create .venv-bench and install Surprise into it; return its python."""
    python = VENV / "bin" / "python"
    if not python.exists():
        log(f"creating {VENV}")
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet"]
    if not surprise_works(python):
        log(f"installing {SURPRISE_REQUIREMENT} into {VENV}")
        subprocess.run(pip + [SURPRISE_REQUIREMENT, "numpy"], check=True)
    if not surprise_works(python):
        log("surprise does not import with this numpy; pinning numpy<2")
        subprocess.run(pip + ["numpy<2"], check=True)
    if not surprise_works(python):
        raise BenchError(f"{SURPRISE_REQUIREMENT} does not import in {VENV} even with numpy<2")
    return python


def ensure_surprise_interpreter(skip_install: bool) -> None:
    """Re-exec this script under an interpreter that imports Surprise."""
    if os.environ.get(REEXEC_MARKER) or surprise_works(sys.executable):
        return
    if skip_install:
        python = VENV / "bin" / "python"
        if not (python.exists() and surprise_works(python)):
            raise BenchError(f"--skip-install given but {python} cannot import surprise; run once without it")
    else:
        python = install_surprise()
    os.environ[REEXEC_MARKER] = "1"
    os.execv(str(python), [str(python), str(Path(__file__).resolve()), *sys.argv[1:]])


# --------------------------------------------------------------------------
# Affinity CLI
# --------------------------------------------------------------------------

def format_param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Affinity:
    """Thin wrapper over the `affinity` executable."""

    def __init__(self, binary: Path):
        self.binary = binary

    def run(self, *args: str, timeout: float = 7200) -> str:
        command = [str(self.binary), *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            text = (result.stderr.strip() or result.stdout.strip() or "(no output)")
            raise BenchError(f"`{shlex.join(command[1:])}` exited {result.returncode}: {text}")
        return result.stdout

    def check(self) -> None:
        if not self.binary.exists():
            raise BenchError(
                f"Affinity binary not found at {self.binary}; build it with "
                f"`swift build -c release` in {REPO} (or pass --affinity PATH)")
        try:
            self.run("evaluate", "--help", timeout=60)
        except (BenchError, OSError) as error:
            raise BenchError(f"{self.binary} does not answer `evaluate --help`: {error}") from None

    def split(self, data: Path, out_dir: Path, seed: int = 42, test_fraction: float = 0.2) -> tuple[Path, Path]:
        self.run("split", "--data", str(data), "--method", "random", "--test-fraction", str(test_fraction),
                 "--seed", str(seed), "--out", str(out_dir))
        train, test = out_dir / "train.tsv", out_dir / "test.tsv"
        for path in (train, test):
            if not path.exists():
                raise BenchError(f"`affinity split` did not write {path}")
        return train, test

    def generate(self, out: Path, users: int, items: int, ratings: int, seed: int) -> None:
        self.run("generate", "--users", str(users), "--items", str(items), "--ratings", str(ratings),
                 "--seed", str(seed), "--out", str(out))
        if not out.exists():
            raise BenchError(f"`affinity generate` did not write {out}")

    def evaluate_args(self, train: Path, test: Path, model: str, params: dict | None, seed: int | None) -> list[str]:
        args = ["evaluate", "--train", str(train), "--test", str(test), "--model", model,
                "--task", "rating", "--format", "json"]
        for key, value in (params or {}).items():
            args += ["--param", f"{key}={format_param(value)}"]
        if seed is not None:
            args += ["--seed", str(seed)]
        return args

    def evaluate(self, train: Path, test: Path, model: str, params: dict | None = None,
                 seed: int | None = 42) -> dict:
        output = self.run(*self.evaluate_args(train, test, model, params, seed))
        return parse_evaluate_json(output, model)


def parse_evaluate_json(output: str, model: str) -> dict:
    """Parse `affinity evaluate --format json` output and check the contract."""
    try:
        report = json.loads(output)
    except json.JSONDecodeError as error:
        raise BenchError(f"`affinity evaluate --model {model}` did not print one JSON object "
                         f"({error}); output began: {output[:300]!r}") from None
    missing = [key for key in ("model", "parameters", "metrics", "fit_seconds", "test_count", "fallback_count")
               if key not in report]
    missing += [f"metrics.{key}" for key in ("rmse", "mae", "fcp") if key not in report.get("metrics", {})]
    if missing:
        raise BenchError(f"`affinity evaluate --model {model}` JSON lacks {', '.join(missing)}: {output[:300]!r}")
    return report


# --------------------------------------------------------------------------
# Surprise side (runs in this process, which has Surprise importable)
# --------------------------------------------------------------------------

def surprise_reader():
    from surprise import Reader
    return Reader(line_format="user item rating timestamp", sep="\t", rating_scale=(1, 5))


def load_surprise_split(train: Path, test: Path):
    """Load Affinity's split files into a Surprise trainset and testset."""
    from surprise import Dataset
    from surprise.model_selection import PredefinedKFold
    data = Dataset.load_from_folds([(str(train), str(test))], reader=surprise_reader())
    return next(PredefinedKFold().split(data))


def global_mean_algorithm():
    """Surprise has no global-mean predictor; this is the canonical AlgoBase one."""
    from surprise import AlgoBase

    class GlobalMean(AlgoBase):
        def fit(self, trainset):
            AlgoBase.fit(self, trainset)
            self.mean = trainset.global_mean
            return self

        def estimate(self, u, i):
            return self.mean

    return GlobalMean()


def run_surprise(factory: Callable[[int], Any], seed: int, trainset, testset) -> dict:
    import numpy as np
    from surprise import accuracy
    np.random.seed(seed)  # NormalPredictor draws from numpy's global RNG
    algo = factory(seed)
    start = time.perf_counter()
    algo.fit(trainset)
    fit_seconds = time.perf_counter() - start
    predictions = algo.test(testset)
    return {
        "metrics": {
            "rmse": accuracy.rmse(predictions, verbose=False),
            "mae": accuracy.mae(predictions, verbose=False),
            "fcp": accuracy.fcp(predictions, verbose=False),
        },
        "fit_seconds": fit_seconds,
        "test_count": len(predictions),
        "fallback_count": sum(1 for p in predictions if p.details.get("was_impossible")),
    }


# --------------------------------------------------------------------------
# Model pairs
# --------------------------------------------------------------------------

@dataclass
class Pair:
    key: str                      # row label
    surprise_label: str           # how Surprise is called, for the table
    surprise: Callable[[int], Any]  # seed -> unfitted Surprise algorithm
    model: str                    # Affinity --model
    params: dict = field(default_factory=dict)  # Affinity --param, = Surprise's defaults
    seeded: bool = False          # stochastic: also run with several seeds


# Affinity models with no Surprise counterpart, reported at their own defaults.
AFFINITY_ONLY_MODELS = ["blend"]


def model_pairs() -> list[Pair]:
    import surprise as s
    quiet = dict(verbose=False)
    return [
        Pair("normal", "NormalPredictor()", lambda seed: s.NormalPredictor(), "normal", {}, seeded=True),
        Pair("global-mean", "AlgoBase returning global_mean", lambda seed: global_mean_algorithm(),
             "global-mean"),
        Pair("baseline (als)", "BaselineOnly()",
             lambda seed: s.BaselineOnly(bsl_options={"method": "als"}, **quiet), "baseline", ALS_PARAMS),
        Pair("baseline (sgd)", "BaselineOnly(bsl_options={'method': 'sgd'})",
             lambda seed: s.BaselineOnly(bsl_options={"method": "sgd"}, **quiet), "baseline", SGD_PARAMS),
        Pair("knn-basic", "KNNBasic(msd, user)",
             lambda seed: s.KNNBasic(k=40, min_k=1, sim_options={"name": "msd", "user_based": True}, **quiet),
             "knn-basic", KNN_MSD_USER),
        Pair("knn-means", "KNNWithMeans(msd, user)",
             lambda seed: s.KNNWithMeans(k=40, min_k=1, sim_options={"name": "msd", "user_based": True}, **quiet),
             "knn-means", KNN_MSD_USER),
        Pair("knn-zscore", "KNNWithZScore(msd, user)",
             lambda seed: s.KNNWithZScore(k=40, min_k=1, sim_options={"name": "msd", "user_based": True}, **quiet),
             "knn-zscore", KNN_MSD_USER),
        Pair("knn-baseline (msd, user)", "KNNBaseline(msd, user)",
             lambda seed: s.KNNBaseline(k=40, min_k=1, sim_options={"name": "msd", "user_based": True}, **quiet),
             "knn-baseline", {**KNN_MSD_USER, **ALS_PARAMS}),
        Pair("knn-baseline (pearson_baseline, item)", "KNNBaseline(pearson_baseline, item)",
             lambda seed: s.KNNBaseline(k=40, min_k=1, sim_options={"name": "pearson_baseline",
                                                                     "user_based": False}, **quiet),
             "knn-baseline", {**KNN_PB_ITEM, **ALS_PARAMS}),
        Pair("svd", "SVD()", lambda seed: s.SVD(random_state=seed), "svd",
             {**SVD_PARAMS, "biased": True}, seeded=True),
        Pair("pmf (svd unbiased)", "SVD(biased=False)", lambda seed: s.SVD(biased=False, random_state=seed),
             "pmf", SVD_PARAMS, seeded=True),
        Pair("svdpp", "SVDpp()", lambda seed: s.SVDpp(random_state=seed), "svdpp", SVDPP_PARAMS, seeded=True),
        Pair("nmf", "NMF()", lambda seed: s.NMF(random_state=seed), "nmf", NMF_PARAMS, seeded=True),
        Pair("slope-one", "SlopeOne()", lambda seed: s.SlopeOne(), "slope-one"),
    ]


# --------------------------------------------------------------------------
# Section 1: accuracy
# --------------------------------------------------------------------------

def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def run_affinity_safely(affinity: Affinity, issues: list[str], *args, **kwargs) -> dict | None:
    """`affinity.evaluate(...)`, or None with the error recorded: one failing model must not end the run."""
    try:
        return affinity.evaluate(*args, **kwargs)
    except (BenchError, subprocess.TimeoutExpired) as error:
        issues.append(str(error))
        log(f"  affinity failed: {error}")
        return None


def accuracy_section(pairs: list[Pair], affinity: Affinity, train: Path, test: Path,
                     seeds: list[int], issues: list[str]) -> dict:
    trainset, testset = load_surprise_split(train, test)
    log(f"split: {trainset.n_ratings} train ratings, {len(testset)} test ratings")
    rows = []
    for pair in pairs:
        pair_seeds = seeds if pair.seeded else seeds[:1]
        runs = []
        for seed in pair_seeds:
            log(f"{pair.key}: seed {seed}")
            surprise_run = run_surprise(pair.surprise, seed, trainset, testset)
            affinity_run = run_affinity_safely(affinity, issues, train, test, pair.model, pair.params, seed=seed)
            runs.append({"seed": seed, "surprise": surprise_run, "affinity": affinity_run})
        rows.append({"key": pair.key, "surprise_algorithm": pair.surprise_label, "affinity_model": pair.model,
                     "affinity_params": pair.params, "seeded": pair.seeded, "runs": runs})

    defaults = {}
    for model in dict.fromkeys(pair.model for pair in pairs):
        log(f"{model}: Affinity tuned defaults")
        defaults[model] = run_affinity_safely(affinity, issues, train, test, model, None, seed=seeds[0])
    # Models with no Surprise counterpart, at their defaults.
    affinity_only = {}
    for model in AFFINITY_ONLY_MODELS:
        log(f"{model}: Affinity only, defaults")
        affinity_only[model] = run_affinity_safely(affinity, issues, train, test, model, None, seed=seeds[0])
    return {"train_count": trainset.n_ratings, "test_count": len(testset), "seeds": seeds,
            "models": rows, "affinity_defaults": defaults, "affinity_only": affinity_only}


def summarize_accuracy(accuracy: dict) -> list[dict]:
    """One summary per model: seed-0 numbers and, where seeded, mean/std."""
    summaries = []
    for row in accuracy["models"]:
        first = row["runs"][0]
        s_rmses = [run["surprise"]["metrics"]["rmse"] for run in row["runs"]]
        a_rmses = [run["affinity"]["metrics"]["rmse"] for run in row["runs"] if run["affinity"]]
        summary = {
            "key": row["key"], "seeded": row["seeded"],
            "surprise": first["surprise"], "affinity": first["affinity"],
            "surprise_rmse_mean_std": mean_std(s_rmses),
            "affinity_rmse_mean_std": mean_std(a_rmses) if len(a_rmses) == len(s_rmses) else None,
        }
        # Acceptance compares seed means for stochastic models, single runs otherwise.
        if summary["affinity_rmse_mean_std"] is not None:
            summary["delta_rmse"] = abs(summary["affinity_rmse_mean_std"][0] - summary["surprise_rmse_mean_std"][0])
            summary["within_tolerance"] = summary["delta_rmse"] <= TOLERANCE
        else:
            summary["delta_rmse"] = None
            summary["within_tolerance"] = None
        summaries.append(summary)
    return summaries


# --------------------------------------------------------------------------
# Section 2: speed and memory
# --------------------------------------------------------------------------

def fit_time_section(pairs: dict[str, Pair], affinity: Affinity, train: Path, test: Path,
                     repeats: int, issues: list[str]) -> dict:
    """Best-of-N fit times on the ML-100k split, the two libraries interleaved."""
    trainset, testset = load_surprise_split(train, test)
    results = {}
    for key in ("svd", "knn-baseline (pearson_baseline, item)"):
        pair = pairs[key]
        surprise_times, affinity_times = [], []
        for attempt in range(repeats):
            log(f"fit time {key}: attempt {attempt + 1}/{repeats}")
            surprise_times.append(run_surprise(pair.surprise, 42, trainset, testset)["fit_seconds"])
            report = run_affinity_safely(affinity, issues, train, test, pair.model, pair.params, seed=42)
            if report:
                affinity_times.append(report["fit_seconds"])
        results[key] = {"surprise_fit_seconds": surprise_times, "affinity_fit_seconds": affinity_times}
    return results


def measure_process(command: list[str], result_file: Path) -> dict:
    """Run `command` in a fresh wrapper process; return wall time and the child's peak RSS.

    The wrapper has exactly one child, so its RUSAGE_CHILDREN high-water mark is
    that child's peak RSS (the same number GNU time's %M reports).
    """
    wrapper = (
        "import json, resource, subprocess, sys, time\n"
        "start = time.perf_counter()\n"
        "done = subprocess.run(sys.argv[2:], capture_output=True, text=True)\n"
        "wall = time.perf_counter() - start\n"
        "usage = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "json.dump({'returncode': done.returncode, 'wall_seconds': wall, 'peak_rss_kb': usage.ru_maxrss,\n"
        "           'stdout': done.stdout, 'stderr': done.stderr[-4000:]}, open(sys.argv[1], 'w'))\n"
    )
    subprocess.run([sys.executable, "-c", wrapper, str(result_file), *command], check=True)
    return json.loads(result_file.read_text())


SURPRISE_BIG_CHILD = '''
import json, sys, time
start = time.perf_counter()
from surprise import SVD, Dataset, Reader, accuracy
from surprise.model_selection import PredefinedKFold
train, test = sys.argv[1], sys.argv[2]
params = json.loads(sys.argv[3])
import_seconds = time.perf_counter() - start
reader = Reader(line_format="user item rating timestamp", sep="\\t", rating_scale=(1, 5))
start = time.perf_counter()
trainset, testset = next(PredefinedKFold().split(Dataset.load_from_folds([(train, test)], reader=reader)))
load_seconds = time.perf_counter() - start
algo = SVD(**params)
start = time.perf_counter()
algo.fit(trainset)
fit_seconds = time.perf_counter() - start
start = time.perf_counter()
predictions = algo.test(testset)
predict_seconds = time.perf_counter() - start
print(json.dumps({"import_seconds": import_seconds, "load_seconds": load_seconds, "fit_seconds": fit_seconds,
                  "predict_seconds": predict_seconds, "train_count": trainset.n_ratings,
                  "test_count": len(predictions), "rmse": accuracy.rmse(predictions, verbose=False)}))
'''


def count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for _ in handle)


def big_section(affinity: Affinity, tmp: Path, issues: list[str]) -> dict:
    big = tmp / "big.tsv"
    log(f"generating {BIG_RATINGS:,} synthetic ratings ({BIG_USERS} users x {BIG_ITEMS} items)")
    start = time.perf_counter()
    affinity.generate(big, BIG_USERS, BIG_ITEMS, BIG_RATINGS, BIG_SEED)
    generate_seconds = time.perf_counter() - start
    split_dir = tmp / "big-split"
    split_dir.mkdir()
    start = time.perf_counter()
    train, test = affinity.split(big, split_dir, seed=42)
    split_seconds = time.perf_counter() - start
    big.unlink()  # only the split files are needed from here on
    result = {"users": BIG_USERS, "items": BIG_ITEMS, "ratings": BIG_RATINGS, "seed": BIG_SEED,
              "train_count": count_lines(train), "test_count": count_lines(test),
              "generate_seconds": generate_seconds, "split_seconds": split_seconds,
              "params": {**SVD_PARAMS, "biased": True}}

    log("big set: Affinity svd in a fresh process")
    command = [str(affinity.binary), *affinity.evaluate_args(train, test, "svd", result["params"], 42)]
    measured = measure_process(command, tmp / "affinity-big.json")
    result["affinity"] = {"wall_seconds": measured["wall_seconds"], "peak_rss_kb": measured["peak_rss_kb"]}
    if measured["returncode"] == 0:
        try:
            result["affinity"]["report"] = parse_evaluate_json(measured["stdout"], "svd")
        except BenchError as error:
            issues.append(str(error))
    else:
        issues.append(f"big-set `affinity evaluate --model svd` exited {measured['returncode']}: "
                      f"{measured['stderr'].strip()}")

    log("big set: Surprise SVD in a fresh process (takes a few minutes)")
    surprise_params = {"n_factors": 100, "n_epochs": 20, "random_state": 42}
    command = [sys.executable, "-c", SURPRISE_BIG_CHILD, str(train), str(test), json.dumps(surprise_params)]
    measured = measure_process(command, tmp / "surprise-big.json")
    if measured["returncode"] != 0:
        raise BenchError(f"Surprise big-set child failed: {measured['stderr'].strip()}")
    result["surprise"] = {"wall_seconds": measured["wall_seconds"], "peak_rss_kb": measured["peak_rss_kb"],
                          "report": json.loads(measured["stdout"])}
    return result


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------

def fmt(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def fmt_pm(pair: tuple[float, float] | None) -> str:
    return "n/a" if pair is None else f"{pair[0]:.4f} ± {pair[1]:.4f}"


def ratio(numerator: float | None, denominator: float | None) -> str:
    if numerator is None or not denominator or denominator < 1e-3:
        return "n/a"  # nothing to compare against (e.g. a global mean "fits" in microseconds)
    return f"{numerator / denominator:.2f}×"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def metric(run: dict | None, name: str) -> float | None:
    return run["metrics"][name] if run else None


def matching_row(model: str, report: dict | None, rows: list[dict], summaries: list[dict]) -> tuple[dict, dict]:
    """The comparison row for an Affinity model's defaults run: the one whose resolved parameters are
    the same (e.g. knn-baseline's default is the item-based pearson_baseline row), else the first."""
    candidates = [(row, s) for row, s in zip(rows, summaries) if row["affinity_model"] == model]
    for row, s in candidates:
        if report and s["affinity"] and s["affinity"]["parameters"] == report["parameters"]:
            return row, s
    return candidates[0]


def accuracy_tables(accuracy: dict, summaries: list[dict]) -> list[str]:
    seed = accuracy["seeds"][0]
    rows = []
    for s in summaries:
        sur, aff = s["surprise"], s["affinity"]
        delta = abs(metric(aff, "rmse") - metric(sur, "rmse")) if aff else None
        rows.append([s["key"], fmt(metric(sur, "rmse")), fmt(metric(aff, "rmse")), fmt(delta),
                     fmt(metric(sur, "mae")), fmt(metric(aff, "mae")),
                     fmt(metric(sur, "fcp")), fmt(metric(aff, "fcp")),
                     fmt(sur["fit_seconds"], 3), fmt(aff["fit_seconds"] if aff else None, 3),
                     ratio(aff["fit_seconds"] if aff else None, sur["fit_seconds"]),
                     f"{sur['fallback_count']} / {aff['fallback_count'] if aff else 'n/a'}"])
    single = table(["model", "Surprise RMSE", "Affinity RMSE", "abs ΔRMSE", "Surprise MAE", "Affinity MAE",
                    "Surprise FCP", "Affinity FCP", "Surprise fit s", "Affinity fit s", "time ratio A/S",
                    "fallbacks S / A"], rows)

    seeded_rows = []
    for s in summaries:
        if s["seeded"]:
            seeded_rows.append([s["key"], fmt_pm(s["surprise_rmse_mean_std"]), fmt_pm(s["affinity_rmse_mean_std"]),
                                fmt(s["delta_rmse"])])
    seeds = ", ".join(str(x) for x in accuracy["seeds"])
    multi = table(["model", "Surprise RMSE mean ± std", "Affinity RMSE mean ± std", "abs Δ mean"], seeded_rows)

    verdict_rows = []
    for s in summaries:
        status = {True: "✅ within", False: "❌ over", None: "n/a"}[s["within_tolerance"]]
        basis = f"mean of {len(accuracy['seeds'])} seeds" if s["seeded"] else f"seed {seed}"
        sur_rmse = s["surprise_rmse_mean_std"][0]
        aff_rmse = s["affinity_rmse_mean_std"][0] if s["affinity_rmse_mean_std"] else None
        verdict_rows.append([s["key"], basis, fmt(sur_rmse), fmt(aff_rmse), fmt(s["delta_rmse"]), status])
    verdict = table(["model", "compared on", "Surprise RMSE", "Affinity RMSE", "abs ΔRMSE", f"≤ {TOLERANCE}"],
                    verdict_rows)

    default_rows = []
    for model, report in accuracy["affinity_defaults"].items():
        row, s = matching_row(model, report, accuracy["models"], summaries)
        reference = (s["affinity"] or {}).get("parameters", {})
        changed = {key: value for key, value in (report or {}).get("parameters", {}).items()
                   if reference.get(key) != value}
        changes = ", ".join(f"{key}={value}" for key, value in sorted(changed.items())) or "none"
        default_rows.append([model, fmt(metric(report, "rmse")), fmt(metric(report, "mae")), row["key"],
                             fmt(metric(s["affinity"], "rmse")), fmt(metric(s["surprise"], "rmse")),
                             changes if report else "n/a"])
    defaults = table(["Affinity model", "RMSE (own defaults)", "MAE (own defaults)", "compared row",
                      "Affinity RMSE (Surprise's params)", "Surprise RMSE", "own defaults that differ"],
                     default_rows)

    best_surprise = min((metric(s["surprise"], "rmse"), s["key"]) for s in summaries
                        if metric(s["surprise"], "rmse") is not None)
    only_rows = [[model, fmt(metric(report, "rmse")), fmt(metric(report, "mae")),
                  fmt(report["fit_seconds"] if report else None, 3), f"{fmt(best_surprise[0])} ({best_surprise[1]})"]
                 for model, report in accuracy.get("affinity_only", {}).items()]
    only = table(["Affinity model", "RMSE (defaults)", "MAE", "fit s", "best Surprise RMSE (model)"], only_rows)

    return [
        f"### Same parameters, seed {seed}\n\nSurprise runs with its defaults; Affinity gets the same values "
        f"through `--param`. Fit time is `algo.fit(trainset)` for Surprise and `fit_seconds` from "
        f"Affinity's JSON. Fallbacks are test ratings either library could not predict from the model "
        f"(unknown user/item, no neighbours).\n\n{single}",
        f"### Seed variation (seeds {seeds})\n\nThe two libraries' random generators differ, so stochastic "
        f"models are compared on the mean over seeds.\n\n{multi}",
        f"### Acceptance: RMSE within {TOLERANCE} of Surprise\n\n{verdict}",
        f"### Affinity's own tuned defaults (no `--param`, seed {seed})\n\n{defaults}",
        f"### Affinity models without a Surprise counterpart (defaults, seed {seed})\n\n"
        f"`blend` fits its members on 90% of the training rows, learns ridge weights on the other 10% "
        f"and refits the members on all of it; the test set is never seen.\n\n{only}",
    ]


def speed_tables(fit_times: dict, big: dict | None) -> list[str]:
    rows = []
    for key, times in fit_times.items():
        s_best = min(times["surprise_fit_seconds"])
        a_best = min(times["affinity_fit_seconds"]) if times["affinity_fit_seconds"] else None
        rows.append([key, fmt(s_best, 3), fmt(a_best, 3), ratio(a_best, s_best),
                     ", ".join(fmt(t, 3) for t in times["surprise_fit_seconds"]),
                     ", ".join(fmt(t, 3) for t in times["affinity_fit_seconds"]) or "n/a"])
    sections = [
        "### Fit time on the ML-100k split (best of 3, interleaved)\n\n"
        + table(["model", "Surprise best s", "Affinity best s", "ratio A/S", "Surprise runs", "Affinity runs"],
                rows)
    ]
    if big:
        s, a = big["surprise"], big["affinity"]
        s_rep, a_rep = s["report"], a.get("report") or {}
        s_fit, a_fit = s_rep["fit_seconds"], a_rep.get("fit_seconds")
        s_predict, a_predict = s_rep["predict_seconds"], a_rep.get("evaluate_seconds")
        s_rest = s["wall_seconds"] - s_fit - s_predict
        a_rest = a["wall_seconds"] - a_fit - a_predict if a_fit is not None and a_predict is not None else None
        rows = [
            ["wall time, whole process (s)", fmt(s["wall_seconds"], 1), fmt(a["wall_seconds"], 1),
             ratio(a["wall_seconds"], s["wall_seconds"])],
            ["fit only (s)", fmt(s_fit, 1), fmt(a_fit, 1), ratio(a_fit, s_fit)],
            ["predict test + metrics (s)", fmt(s_predict, 1), fmt(a_predict, 1), ratio(a_predict, s_predict)],
            ["start-up + loading the files (s)", fmt(s_rest, 1), fmt(a_rest, 1), ratio(a_rest, s_rest)],
            ["peak RSS (MiB)", fmt(s["peak_rss_kb"] / 1024, 0), fmt(a["peak_rss_kb"] / 1024, 0),
             ratio(a["peak_rss_kb"], s["peak_rss_kb"])],
            ["test RMSE", fmt(s_rep["rmse"]), fmt(a_rep.get("metrics", {}).get("rmse")), ""],
        ]
        sections.append(
            f"### SVD on {big['ratings']:,} synthetic ratings\n\n`affinity generate --users {big['users']} "
            f"--items {big['items']} --ratings {big['ratings']} --seed {big['seed']}`, split 80/20 by "
            f"`affinity split --method random --seed 42` into {big['train_count']:,} train / "
            f"{big['test_count']:,} test ratings (generate {big['generate_seconds']:.1f} s, split "
            f"{big['split_seconds']:.1f} s). Each library loads the train and test files, fits SVD "
            f"(100 factors, 20 epochs, Surprise's other defaults) and predicts the test part in its own fresh "
            f"process; peak RSS is that process's high-water mark from the kernel.\n\n"
            + table(["", "Surprise", "Affinity", "ratio A/S"], rows))
    return sections


def git_commit() -> str:
    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True)

    head = git("rev-parse", "--short", "HEAD")
    commit = head.stdout.strip() if head.returncode == 0 else "none (no commit yet)"
    if git("status", "--porcelain", "--", "Sources", "Package.swift").stdout.strip():
        commit += " + uncommitted changes under Sources/"
    return commit


def machine_info() -> dict:
    cpu = "unknown"
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        cpu = next(line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration):
        pass
    import numpy
    import surprise
    return {"cpu": cpu, "nproc": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "surprise": surprise.__version__, "numpy": numpy.__version__,
            "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"), "commit": git_commit(),
            "load_average_at_start": os.getloadavg()}


def write_report(out_dir: Path, results: dict, summaries: list[dict] | None) -> str:
    info = results["machine"]
    header = (
        "# Affinity vs Surprise\n\n"
        f"- Date: {info['date']}\n"
        f"- Machine: {info['cpu']}, {info['nproc']} cores (`nproc`), {info['platform']}; load average at "
        f"start {info['load_average_at_start'][0]:.2f}\n"
        f"- Affinity commit: {info['commit']}\n"
        f"- Surprise {info['surprise']} (numpy {info['numpy']}, Python {info['python']})\n"
        f"- Data: MovieLens-100k, random 80/20 split by `affinity split --seed 42` "
        f"({results['accuracy']['train_count']:,} train / {results['accuracy']['test_count']:,} test ratings)\n"
        f"- Produced by: `{results['command']}`\n"
    )
    parts = [header, "## 1. Accuracy on MovieLens-100k"]
    parts += accuracy_tables(results["accuracy"], summaries)
    parts += ["## 2. Speed and memory"]
    parts += speed_tables(results["fit_times"], results.get("big"))
    if results["issues"]:
        parts += ["## Affinity CLI problems seen during the run\n\n"
                  + "\n".join(f"- {issue}" for issue in results["issues"])]
    markdown = "\n\n".join(parts) + "\n"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "surprise-comparison.md").write_text(markdown)
    (out_dir / "surprise-comparison.json").write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    return markdown


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="MovieLens-100k .inter file")
    parser.add_argument("--affinity", type=Path, default=DEFAULT_BINARY, help="affinity executable")
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR, help="where the .md/.json go")
    parser.add_argument("--quick", action="store_true", help="skip the 5M-rating speed/memory part")
    parser.add_argument("--skip-install", action="store_true", help="do not create or update .venv-bench")
    parser.add_argument("--seeds", default="42,43,44", help="seeds for stochastic models (first is the main one)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per library for the fit-time table")
    parser.add_argument("--models", help="comma-separated row keys or Affinity model names to run (default all)")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    os.environ.setdefault(ORIGINAL_COMMAND, shlex.join(["python3", "scripts/compare_surprise.py", *sys.argv[1:]]))
    data = args.data.resolve()
    if not data.is_file():
        raise BenchError(f"MovieLens-100k not found at {data}; pass --data PATH/ml-100k.inter")
    affinity = Affinity(args.affinity.resolve())
    affinity.check()
    ensure_surprise_interpreter(args.skip_install)  # may re-exec; everything below runs with Surprise

    seeds = [int(seed) for seed in args.seeds.split(",")]
    pairs = model_pairs()
    if args.models:
        wanted = {name.strip() for name in args.models.split(",")}
        pairs = [pair for pair in pairs if pair.key in wanted or pair.model in wanted]
    issues: list[str] = []
    results: dict[str, Any] = {"command": os.environ[ORIGINAL_COMMAND], "machine": machine_info(),
                               "tolerance": TOLERANCE, "issues": issues}

    tmp = Path(tempfile.mkdtemp(prefix="affinity-vs-surprise-"))
    try:
        # Run a private copy, so a rebuild of .build/release during the run cannot change or remove it.
        shutil.copy2(affinity.binary, tmp / "affinity")
        affinity = Affinity(tmp / "affinity")
        split_dir = tmp / "ml-100k-split"
        split_dir.mkdir()
        train, test = affinity.split(data, split_dir, seed=42)
        results["accuracy"] = accuracy_section(pairs, affinity, train, test, seeds, issues)
        summaries = summarize_accuracy(results["accuracy"])
        results["accuracy_summary"] = summaries
        results["fit_times"] = fit_time_section({pair.key: pair for pair in model_pairs()}, affinity, train,
                                                test, args.repeats, issues)
        if not args.quick:
            results["big"] = big_section(affinity, tmp, issues)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    # Same failure, same message: keep one, and hide the temporary directory's name.
    issues[:] = dict.fromkeys(issue.replace(str(tmp), "$TMP") for issue in issues)

    markdown = write_report(args.out_dir, results, summaries)
    print(markdown)
    over = [s for s in summaries if s["within_tolerance"] is False]
    for s in over:
        log(f"RMSE gap over {TOLERANCE}: {s['key']}: Surprise {s['surprise_rmse_mean_std'][0]:.4f}, "
            f"Affinity {s['affinity_rmse_mean_std'][0]:.4f}")
    log(f"wrote {args.out_dir / 'surprise-comparison.md'} and .json")


if __name__ == "__main__":
    try:
        main()
    except BenchError as error:
        die(str(error))
    except KeyboardInterrupt:
        die("interrupted")
