#!/usr/bin/env python3
"""Affinity's CTR models (LR, Poly2, FM, FFM) against Python peers on a MovieLens-100k CTR task.

What it measures
----------------
``affinity split --data ml-100k.inter --method random --test-fraction 0.2 --seed 42`` writes
train/test files into a temporary directory. Each rating becomes a row labelled 1 when the
rating is >= 4, with five fields: user id, item id, genres (the RecBole ``class`` column, each of
an item's n genres weighted 1/sqrt(n)), occupation and age (MovieLens-1M buckets <18, 18-24,
25-34, 35-44, 45-49, 50-55, 56+). Test features never seen in training are dropped. Metrics on
the test rows: global ROC AUC (ties share their average rank) and log-loss (probabilities
clipped to [1e-7, 1 - 1e-7]). The Affinity rows report what ``affinity ctr --format json``
prints; the peers are scored here with the same definitions. The script builds the peers' rows
itself and checks that its feature vocabulary and unseen-feature count equal what
``affinity ctr`` reports.

Rows
----
- Affinity: ``affinity ctr --model lr|poly2|fm|ffm`` with its defaults (chosen on the
  validation split below; see docs/benchmarks/ctr-comparison.md), seeds 42, 43, 44.
- scikit-learn ``LogisticRegression`` (lbfgs) on the same one-hot features; C picked on the
  validation split.
- Python FM/FFM peers from PyPI, each only if it installs: fastFM (MCMC, ALS and SGD
  classification), myFM (Bayesian FM, Gibbs sampling), pyFFM (numba FFM). Small grids where a
  peer has hyperparameters that matter are picked on the validation split too.
- The validation split is ``affinity split --data TRAIN --method random --test-fraction 0.2
  --seed 7`` of the training file: nothing is tuned on the test rows.

Peers that were tried and how they fared are written to the report (install status and the
last error line). pyFM (coreylynch) is not on PyPI (the PyPI name ``pyfm`` is a douban.fm
player); torchfm/pytorch-fm need torch, whose PyPI Linux wheel is the CUDA build (gigabytes);
both are listed as not tried.

How to run
----------
    swift build -c release                   # builds .build/release/affinity
    python3 scripts/compare_ctr.py           # ~3 min on 2 idle cores after the install
    python3 scripts/compare_ctr.py --quick   # one seed, no validation grids

Peers are installed into ``.venv-ctr`` at the repository root (created on first run; the script
re-runs itself with that interpreter; ``--skip-install`` uses the venv as it is). MovieLens-100k
is read from ``<repo>/../shared/datasets/ml-100k/`` unless ``--data-dir`` says otherwise. Its
licence forbids redistribution, so split files and libffm files live in a temporary directory
that is removed at the end; nothing derived from the data is written inside the repository.

Outputs: ``docs/benchmarks/ctr-comparison.md`` and ``.json`` (tables, machine, date, commit,
versions, the command). The Markdown is printed to stdout too.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import io
import json
import math
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare_implicit import table  # noqa: E402  (shared report helper)

REPO = Path(__file__).resolve().parent.parent
VENV = REPO / ".venv-ctr"
INSTALL_STATUS = VENV / "ctr-install-status.json"  # inside the gitignored venv
DEFAULT_DATA_DIR = REPO.parent / "shared" / "datasets" / "ml-100k"
DEFAULT_BINARY = REPO / ".build" / "release" / "affinity"
DEFAULT_OUT_DIR = REPO / "docs" / "benchmarks"
REPORT_NAME = "ctr-comparison"
REEXEC_MARKER = "AFFINITY_CTR_REEXEC"
ORIGINAL_COMMAND = "AFFINITY_CTR_COMMAND"

SPLIT_SEED = 42
VALIDATION_SEED = 7
TEST_FRACTION = 0.2
THRESHOLD = 4.0
SEEDS = [42, 43, 44]
USER_COLUMNS = "age,occupation"
ITEM_COLUMNS = "class"
AFFINITY_MODELS = ["lr", "poly2", "fm", "ffm"]
EPSILON = 1e-7
AGE_BUCKETS = [(18, "<18"), (25, "18-24"), (35, "25-34"), (45, "35-44"), (50, "45-49"), (56, "50-55")]

# name -> how to install it into the venv (pip arguments, extra environment), the import that
# proves it works, and the note printed with it.
PEERS: dict[str, dict[str, Any]] = {
    "scikit-learn": dict(pip=[["scikit-learn", "numpy", "scipy"]], check="import sklearn, numpy, scipy"),
    "fastFM": dict(
        pip=[["cython", "wheel", "setuptools"], ["--no-build-isolation", "fastFM"]],
        check="from fastFM import mcmc, als, sgd",
        note="its sdist imports Cython at build time, so it is built with --no-build-isolation"),
    "myfm": dict(pip=[["myfm"]], check="import myfm"),
    "pyffm": dict(
        pip=[["numba"], ["--no-deps", "pyffm"]], check="import pyffm",
        note="installed with --no-deps: it pins numpy~=1.18 and pandas~=1.4, which would downgrade "
             "myfm's numpy 2; it runs on numpy 2 as is"),
    "xlearn": dict(
        pip=[["cmake"], ["--no-build-isolation", "xlearn"]],
        env={"CMAKE_POLICY_VERSION_MINIMUM": "3.5"},
        check=("import os, tempfile, xlearn\n"
               "d = tempfile.mkdtemp(); p = os.path.join(d, 't.ffm')\n"
               "open(p, 'w').write('1 0:1:1 1:3:1\\n0 0:2:1 1:4:1\\n')\n"
               "m = xlearn.create_ffm(); m.setTrain(p); m.setValidate(p); m.setQuiet()\n"
               "m.fit({'task': 'binary', 'k': 4, 'epoch': 1, 'nthread': 1}, os.path.join(d, 'm.out'))"),
        note="it builds (cmake from PyPI, CMAKE_POLICY_VERSION_MINIMUM=3.5 because cmake 4 refuses its old "
             "cmake_minimum_required), but fit aborts on two rows too, with or without a validation file, "
             "log path or metric"),
}
# Peers the script does not install, with what stands in the way (found when this was written).
NOT_TRIED = {
    "pyFM (coreylynch)": ("not on PyPI", "the PyPI name 'pyfm' is an unrelated douban.fm terminal player, and "
                                         "the GitHub source cannot be fetched from this machine"),
    "torchfm / pytorch-fm": ("not tried", "needs torch; PyPI's Linux torch wheel is the CUDA build with nvidia-* "
                                          "wheels (several GB), and the CPU-only index is not reachable"),
    "polylearn": ("not on PyPI", "`pip install polylearn`: 'No matching distribution found'"),
}


class BenchError(RuntimeError):
    pass


def log(message: str) -> None:
    print(f"[compare_ctr] {message}", file=sys.stderr, flush=True)


def last_line(text: str, limit: int = 300) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    interesting = [line for line in lines if "error" in line.lower() or "what():" in line]
    line = (interesting or lines or ["(no output)"])[-1]
    return line[:limit]


# --------------------------------------------------------------------------
# Environment
# --------------------------------------------------------------------------

def imports(python: Path | str, code: str, env: dict | None = None) -> tuple[bool, str]:
    result = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=600,
                            env={**os.environ, **(env or {})})
    return result.returncode == 0, last_line(result.stdout + result.stderr)


def install_peers() -> Path:
    """Create .venv-ctr and try every peer; record what installed and why the others did not."""
    python = VENV / "bin" / "python"
    if not python.exists():
        log(f"creating {VENV}")
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=False)
    status = {}
    for name, spec in PEERS.items():
        env = {**os.environ, "PATH": f"{VENV / 'bin'}:{os.environ.get('PATH', '')}", **spec.get("env", {})}
        ok, why = imports(python, spec["check"], env)
        if not ok:
            log(f"installing {name}")
            for args in spec["pip"]:
                result = subprocess.run([str(python), "-m", "pip", "install", "-q", *args], capture_output=True,
                                        text=True, env=env, timeout=1800)
                if result.returncode != 0:
                    why = f"pip install {' '.join(args)} failed: {last_line(result.stdout + result.stderr)}"
                    break
            else:
                ok, why = imports(python, spec["check"], env)
                if not ok:
                    why = f"installed, but the check failed: {why}"
        status[name] = {"ok": ok, "detail": "" if ok else why, "note": spec.get("note", "")}
        log(f"{name}: {'ok' if ok else 'not available: ' + why}")
    INSTALL_STATUS.write_text(json.dumps(status, indent=1))
    return python


def ensure_peer_interpreter(skip_install: bool) -> None:
    """Re-exec this script under .venv-ctr's python (installing the peers first unless told not to)."""
    if os.environ.get(REEXEC_MARKER):
        return
    os.environ.setdefault(ORIGINAL_COMMAND, shlex.join(["python3", *sys.argv]))
    python = VENV / "bin" / "python"
    if skip_install:
        if not (python.exists() and imports(python, PEERS["scikit-learn"]["check"])[0]):
            raise BenchError(f"--skip-install given but {python} lacks scikit-learn; run once without it")
    else:
        python = install_peers()
    os.environ[REEXEC_MARKER] = "1"
    os.execv(str(python), [str(python), str(Path(__file__).resolve()), *sys.argv[1:]])


def peer_status() -> dict:
    status = json.loads(INSTALL_STATUS.read_text()) if INSTALL_STATUS.exists() else {}
    for name, spec in PEERS.items():
        if name not in status:
            ok, why = imports(sys.executable, spec["check"])
            status[name] = {"ok": ok, "detail": "" if ok else why, "note": spec.get("note", "")}
    return status


# --------------------------------------------------------------------------
# Data and features (the same rows affinity ctr builds)
# --------------------------------------------------------------------------

def read_recbole(path: Path) -> tuple[list[str], list[list[str]]]:
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    header = [name.split(":", 1)[0] for name in lines[0].split("\t")]
    rows = [line.split("\t") for line in lines[1:] if line.strip()]
    return header, [row + [""] * (len(header) - len(row)) for row in rows]


def age_bucket(age: float) -> str:
    return next((label for upper, label in AGE_BUCKETS if age < upper), "56+")


def side_features(data_dir: Path) -> tuple[dict, dict]:
    """user id -> [(field, name, value)], item id -> [(field, name, value)]."""
    header, rows = read_recbole(data_dir / "ml-100k.user")
    col = {name: k for k, name in enumerate(header)}
    users = {}
    for row in rows:
        feats = []
        if row[col["age"]]:
            feats.append(("age", f"age={age_bucket(float(row[col['age']]))}", 1.0))
        if row[col["occupation"]]:
            feats.append(("occupation", f"occupation={row[col['occupation']]}", 1.0))
        users[row[0]] = feats
    header, rows = read_recbole(data_dir / "ml-100k.item")
    col = {name: k for k, name in enumerate(header)}
    items = {}
    for row in rows:
        labels = row[col["class"]].split()
        weight = 1 / math.sqrt(len(labels)) if labels else 0.0
        items[row[0]] = [("class", f"class={g}", weight) for g in sorted(set(labels))]
    return users, items


def read_split_file(path: Path) -> list[tuple[str, str, float]]:
    out = []
    for line in path.read_text().splitlines():
        if line.strip():
            user, item, rating = line.split("\t")[:3]
            out.append((user, item, float(rating)))
    return out


class Encoded:
    """Rows as (field, feature, value) triples with one vocabulary, as CSR and as libffm text."""

    def __init__(self, rows, users, items, vocabulary=None):
        import numpy as np
        import scipy.sparse as sp
        grow = vocabulary is None
        self.vocabulary = {} if grow else vocabulary["features"]
        self.fields = {} if grow else vocabulary["fields"]
        self.unseen = 0
        self.labels = np.array([1.0 if rating >= THRESHOLD else 0.0 for _, _, rating in rows])
        indptr, indices, values, self.triples = [0], [], [], []
        for user, item, _ in rows:
            row = []
            feats = ([("user", f"user={user}", 1.0)] + users.get(user, [])
                     + [("item", f"item={item}", 1.0)] + items.get(item, []))
            for field, name, value in feats:
                if name not in self.vocabulary:
                    if not grow:
                        self.unseen += 1
                        continue
                    self.vocabulary[name] = len(self.vocabulary)
                    self.fields.setdefault(field, len(self.fields))
                row.append((self.fields[field], self.vocabulary[name], value))
            self.triples.append(row)
            indices += [j for _, j, _ in row]
            values += [v for _, _, v in row]
            indptr.append(len(indices))
        self.matrix = sp.csr_matrix((values, indices, indptr), shape=(len(rows), len(self.vocabulary)))

    @property
    def frozen(self) -> dict:
        return {"features": self.vocabulary, "fields": self.fields}

    def write_libffm(self, path: Path) -> None:
        with path.open("w") as f:
            for label, row in zip(self.labels, self.triples):
                f.write(f"{int(label)} " + " ".join(f"{fi}:{j}:{v:.7g}" for fi, j, v in row) + "\n")


def auc(labels, scores) -> float:
    """Global ROC AUC, ties share their average rank (Mann-Whitney U)."""
    from scipy.stats import rankdata
    import numpy as np
    labels = np.asarray(labels)
    ranks = rankdata(np.asarray(scores, dtype=np.float64))
    positives = labels > 0.5
    p, n = positives.sum(), (~positives).sum()
    return float((ranks[positives].sum() - p * (p + 1) / 2) / (p * n))


def logloss(labels, probabilities) -> float:
    import numpy as np
    p = np.clip(np.asarray(probabilities, dtype=np.float64), EPSILON, 1 - EPSILON)
    y = np.asarray(labels)
    return float(-np.mean(np.where(y > 0.5, np.log(p), np.log(1 - p))))


# --------------------------------------------------------------------------
# Affinity
# --------------------------------------------------------------------------

class Affinity:
    def __init__(self, binary: Path):
        if not binary.exists():
            raise BenchError(f"{binary} does not exist; run `swift build -c release` or pass --affinity")
        self.binary = binary

    def run(self, *args: str) -> str:
        result = subprocess.run([str(self.binary), *args], capture_output=True, text=True, timeout=3600)
        if result.returncode != 0:
            raise BenchError(f"affinity {' '.join(args[:2])} failed: {last_line(result.stderr)}")
        return result.stdout

    def version(self) -> str:
        return self.run("--version").strip()

    def split(self, data: Path, out: Path, seed: int) -> tuple[Path, Path]:
        self.run("split", "--data", str(data), "--method", "random", "--test-fraction", str(TEST_FRACTION),
                 "--seed", str(seed), "--out", str(out))
        return out / "train.tsv", out / "test.tsv"

    def ctr(self, train: Path, test: Path, data_dir: Path, model: str, seed: int, params: dict | None = None) -> dict:
        args = ["ctr", "--train", str(train), "--test", str(test),
                "--user-features", str(data_dir / "ml-100k.user"), "--item-features", str(data_dir / "ml-100k.item"),
                "--user-feature-columns", USER_COLUMNS, "--item-feature-columns", ITEM_COLUMNS,
                "--model", model, "--seed", str(seed), "--positive-threshold", str(THRESHOLD), "--format", "json"]
        for key, value in (params or {}).items():
            args += ["--param", f"{key}={value}"]
        return json.loads(self.run(*args))


# --------------------------------------------------------------------------
# Peers: each is fit(train Encoded, seed, params) -> probabilities for test Encoded
# --------------------------------------------------------------------------

def sklearn_lr(train: Encoded, test: Encoded, seed: int, params: dict, scratch: Path):
    from sklearn.linear_model import LogisticRegression
    model = LogisticRegression(C=params["C"], solver="lbfgs", max_iter=5000)
    start = time.perf_counter()
    model.fit(train.matrix, train.labels)
    seconds = time.perf_counter() - start
    return model.predict_proba(test.matrix)[:, 1], seconds


def fastfm_mcmc(train: Encoded, test: Encoded, seed: int, params: dict, scratch: Path):
    from fastFM import mcmc
    model = mcmc.FMClassification(n_iter=params["n_iter"], rank=params["rank"], init_stdev=0.1, random_state=seed)
    start = time.perf_counter()
    # MCMC predicts while sampling: fit and predict are one call, so its time includes scoring.
    probabilities = model.fit_predict_proba(train.matrix.tocsc(), 2 * train.labels - 1, test.matrix.tocsc())
    return probabilities, time.perf_counter() - start


def fastfm_als(train: Encoded, test: Encoded, seed: int, params: dict, scratch: Path):
    from fastFM import als
    model = als.FMClassification(n_iter=params["n_iter"], rank=params["rank"], init_stdev=0.1, random_state=seed,
                                 l2_reg_w=params["l2"], l2_reg_V=params["l2"])
    start = time.perf_counter()
    model.fit(train.matrix.tocsc(), 2 * train.labels - 1)
    seconds = time.perf_counter() - start
    return model.predict_proba(test.matrix.tocsc()), seconds


def fastfm_sgd(train: Encoded, test: Encoded, seed: int, params: dict, scratch: Path):
    from fastFM import sgd
    n = train.matrix.shape[0]
    model = sgd.FMClassification(n_iter=params["epochs"] * n, rank=params["rank"], init_stdev=0.01,
                                 random_state=seed, l2_reg_w=params["l2"], l2_reg_V=params["l2"],
                                 step_size=params["step"])
    start = time.perf_counter()
    model.fit(train.matrix.tocsc(), 2 * train.labels - 1)
    seconds = time.perf_counter() - start
    return model.predict_proba(test.matrix.tocsc()), seconds


def myfm_gibbs(train: Encoded, test: Encoded, seed: int, params: dict, scratch: Path):
    import myfm
    model = myfm.MyFMClassifier(rank=params["rank"], random_seed=seed)
    start = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):  # its tqdm progress bar
        model.fit(train.matrix, train.labels.astype(int), n_iter=params["n_iter"],
                  n_kept_samples=params["n_iter"] // 2)
    seconds = time.perf_counter() - start
    return model.predict_proba(test.matrix), seconds


def pyffm_ffm(train: Encoded, test: Encoded, seed: int, params: dict, scratch: Path):
    with contextlib.redirect_stdout(io.StringIO()):  # it prints a banner on import
        from pyffm import PyFFM
    train_file, test_file = scratch / "pyffm-train.txt", scratch / "pyffm-test.txt"
    train.write_libffm(train_file)
    test.write_libffm(test_file)
    model = PyFFM(model="ffm", training_params={
        "epochs": params["epochs"], "learn_rate": 0.2, "reg_lambda": params["reg_lambda"],
        "num_latent": params["k"], "sigmoid": True, "quiet": True, "parallel": False}, log_level="WARNING")
    # PyFFM.train in quiet mode infers the model size skipping each row's first feature; set it
    # from the maps as its non-quiet path does, then train on the parsed rows (parsing untimed).
    x, y = model._format_data(str(train_file))
    model.engine.num_fields = model.field_map.max() + 1
    model.engine.num_features = model.feature_map.max() + 1
    start = time.perf_counter()
    model.engine.train(x_train=x, y_train=y)
    seconds = time.perf_counter() - start
    return model.predict(str(test_file)), seconds


# name -> (package, function, settings shown, validation grid (first entry used by --quick), seeded)
PEER_ROWS: list[tuple[str, str, Callable, list[dict], bool]] = [
    ("scikit-learn LogisticRegression (lbfgs, L2)", "scikit-learn", sklearn_lr,
     [{"C": c} for c in (0.3, 0.03, 0.1, 1.0, 3.0)], False),
    ("fastFM MCMC FMClassification", "fastFM", fastfm_mcmc,
     [{"rank": 8, "n_iter": 200}, {"rank": 4, "n_iter": 200}, {"rank": 16, "n_iter": 200},
      {"rank": 8, "n_iter": 400}], True),
    ("fastFM ALS FMClassification", "fastFM", fastfm_als,
     [{"rank": 8, "n_iter": 50, "l2": l2} for l2 in (10.0, 1.0, 3.0, 30.0, 100.0)], True),
    ("fastFM SGD FMClassification", "fastFM", fastfm_sgd,
     [{"rank": 8, "epochs": e, "l2": l2, "step": s} for e in (10, 30) for l2 in (0.01, 0.001)
      for s in (0.01, 0.003)], True),
    ("myFM MyFMClassifier (Gibbs)", "myfm", myfm_gibbs,
     [{"rank": 8, "n_iter": 200}, {"rank": 16, "n_iter": 200}], True),
    ("pyFFM FFM (numba, Adagrad)", "pyffm", pyffm_ffm,
     [{"k": k, "epochs": e, "reg_lambda": r} for k in (4, 8) for e in (3, 5, 10) for r in (2e-5, 2e-4, 2e-3)],
     False),
]


def run_peer(fit: Callable, train: Encoded, test: Encoded, seed: int, params: dict, scratch: Path) -> dict:
    probabilities, seconds = fit(train, test, seed, params, scratch)
    return {"auc": auc(test.labels, probabilities), "logloss": logloss(test.labels, probabilities),
            "fit_seconds": seconds}


def summarise(runs: list[dict]) -> dict:
    def spread(key):
        values = [r[key] for r in runs]
        return {"mean": statistics.fmean(values), "std": statistics.pstdev(values) if len(values) > 1 else 0.0}
    return {"auc": spread("auc"), "logloss": spread("logloss"), "fit_seconds": spread("fit_seconds"),
            "runs": runs}


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------

def git_commit(binary: Path) -> str:
    def git(where: Path, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", "-C", str(where), *args], capture_output=True, text=True)
    top = git(binary.parent, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        head = git(REPO, "rev-parse", "--short", "HEAD").stdout.strip() or "none"
        return f"unknown ({binary} is outside a git work tree; the repository's HEAD is {head})"
    tree = Path(top.stdout.strip())
    commit = git(tree, "rev-parse", "--short", "HEAD").stdout.strip() or "none"
    changed = [line for line in git(tree, "status", "--porcelain", "--", "Sources", "Package.swift")
               .stdout.splitlines() if line.strip()]
    if changed:
        commit += f" + uncommitted changes under Sources/ ({len(changed)} paths)"
    return commit


def machine_info(binary: Path, affinity_version: str, status: dict) -> dict:
    cpu = "unknown"
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        cpu = next(line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration):
        pass
    from importlib import metadata
    versions = {"python": platform.python_version(), "affinity": affinity_version}
    for dist in ("numpy", "scipy", "scikit-learn", "fastFM", "myfm", "pyFFM", "numba", "xlearn"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return {"cpu": cpu, "nproc": os.cpu_count(), "platform": platform.platform(), "versions": versions,
            "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "commit": git_commit(binary), "load_average_at_start": os.getloadavg()}


def fmt(summary: dict, key: str, digits: int = 4) -> str:
    mean, std = summary[key]["mean"], summary[key]["std"]
    if len(summary["runs"]) > 1:
        return f"{mean:.{digits}f} ± {std:.{digits}f}"
    return f"{mean:.{digits}f}"


def write_report(out_dir: Path, results: dict) -> str:
    info = results["machine"]
    v = info["versions"]
    peer_versions = ", ".join(f"{k} {v[k]}" for k in ("scikit-learn", "fastFM", "myfm", "pyFFM", "numba", "xlearn")
                              if v.get(k))
    rows = []
    for row in results["rows"]:
        s = row["summary"]
        rows.append([row["name"], fmt(s, "auc"), fmt(s, "logloss"), fmt(s, "fit_seconds", 2),
                     str(len(s["runs"])), row["settings"]])
    missing = [[name, "not available", status["detail"] + (f" ({status['note']})" if status["note"] else "")]
               for name, status in results["peers"].items() if not status["ok"]]
    missing += [[name, state, why] for name, (state, why) in NOT_TRIED.items()]
    notes = [[name, status["note"]] for name, status in results["peers"].items() if status["ok"] and status["note"]]
    check = results["feature_check"]
    parts = [
        "# Affinity CTR models vs Python peers on MovieLens-100k\n\n"
        f"- Date: {info['date']}; whole run {results['seconds']:.0f} s\n"
        f"- Machine: {info['cpu']}, {info['nproc']} cores (`nproc`), {info['platform']}; load average at start "
        f"{info['load_average_at_start'][0]:.2f}\n"
        f"- Affinity {v['affinity']}, commit {info['commit']}\n"
        f"- Peers: {peer_versions} (numpy {v['numpy']}, scipy {v['scipy']}, Python {v['python']})\n"
        f"- Seeds for stochastic rows: {', '.join(map(str, results['seeds']))}; split seed {SPLIT_SEED}; "
        f"validation split seed {VALIDATION_SEED}\n"
        f"- Produced by: `{results['command']}`",
        "## Task\n\n"
        f"`affinity split --data ml-100k.inter --method random --test-fraction {TEST_FRACTION} --seed {SPLIT_SEED}`: "
        f"{results['train_count']:,} train / {results['test_count']:,} test rows. Label: rating ≥ {THRESHOLD:g} "
        f"(positive rate {results['train_positive_rate']:.3f} train, {results['test_positive_rate']:.3f} test). "
        "Fields: user id, item id, genres (`class`, n genres weighted 1/√n each), occupation, age (MovieLens-1M "
        f"buckets); {check['python_features']:,} features in training. Test features never seen in training are "
        f"dropped ({check['python_unseen']} occurrences). Affinity gets the raw RecBole files with "
        f"`--user-feature-columns {USER_COLUMNS} --item-feature-columns {ITEM_COLUMNS}`; the peers get the same "
        f"rows built here. Feature check: Affinity reports {check['affinity_features']:,} features and "
        f"{check['affinity_unseen']} unseen occurrences, this script {check['python_features']:,} and "
        f"{check['python_unseen']} — {'identical' if check['match'] else '**different**'}.\n\n"
        "Metrics on the test rows: global ROC AUC (ties share their average rank) and log-loss with probabilities "
        f"clipped to [{EPSILON:g}, 1 − {EPSILON:g}]. Affinity's numbers are the ones `affinity ctr --format json` "
        "prints; the peers' are computed by this script with the same definitions. Fit seconds: training only "
        "(no file reading or feature building), mean over seeds; fastFM MCMC samples and predicts in one call, "
        "so its time includes scoring the test rows. Stochastic rows show mean ± std over the seeds.",
        "## Results\n\n" + table(["model", "AUC", "log-loss", "fit s", "runs", "settings"], rows),
        "## How the settings were chosen\n\n"
        "Nothing was tuned on the test rows. Affinity's defaults were picked by AUC from grids run with "
        "`affinity ctr --param …` on the validation split (`affinity split --data train.tsv --method random "
        f"--test-fraction {TEST_FRACTION} --seed {VALIDATION_SEED}`, 64,000 / 16,000 rows), all with Adagrad: "
        "LR learningRate {0.02 … 0.8} × regularization {0, 1e-5 … 1e-2} × epochs {3 … 20} → 0.2, 1e-4, 10 "
        "(validation AUC 0.7768); Poly2 learningRate {0.05, 0.1, 0.2} × regularization {1e-4 … 3e-2} × epochs "
        "{3, 5, 10} → 0.1, 1e-3, 3 (0.7807); FM k {4, 8, 16, 32} × learningRate {0.05, 0.1, 0.2} × "
        "regularization {1e-4 … 0.2} × epochs {5 … 40} × σ {0.01, 0.1} → 16, 0.1, 0.05, 20, 0.01 (0.7926); FFM "
        "k {4, 8, 16} × learningRate {0.05, 0.1, 0.2} × regularization {2e-5 … 3e-2} × epochs {3 … 20} × linear "
        "terms × row normalisation → 8, 0.2, 0.003, 10, on, on (0.7826; 16 gave 0.7828). "
        + ("Peers with more than one setting listed in the script had it picked on the same validation split "
           "by AUC (the `settings` column shows the winner; the full grids are in the JSON)."
           if not results["quick"] else "`--quick`: peers ran their first setting, no validation grid."),
    ]
    if notes:
        parts.append("## Install notes\n\n" + table(["peer", "note"], notes))
    parts.append("## Peers that could not run\n\n" + table(["peer", "status", "why"], missing))
    if results["issues"]:
        parts.append("## Failures during the run\n\n" + "\n".join(f"- {issue}" for issue in results["issues"]))
    markdown = "\n\n".join(parts) + "\n"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{REPORT_NAME}.md").write_text(markdown)
    (out_dir / f"{REPORT_NAME}.json").write_text(json.dumps(results, indent=1, sort_keys=True, default=str) + "\n")
    return markdown


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--affinity", type=Path, default=DEFAULT_BINARY, help="the affinity binary")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="folder with ml-100k.{inter,user,item}")
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR)
    parser.add_argument("--skip-install", action="store_true", help="use .venv-ctr as it is")
    parser.add_argument("--quick", action="store_true", help="one seed, no validation grids")
    args = parser.parse_args()
    ensure_peer_interpreter(args.skip_install)

    started = time.perf_counter()
    affinity = Affinity(args.affinity.resolve())
    status = peer_status()
    seeds = SEEDS[:1] if args.quick else SEEDS
    results: dict[str, Any] = {"seeds": seeds, "quick": args.quick, "issues": [], "rows": [], "peers": status,
                               "command": os.environ.get(ORIGINAL_COMMAND, shlex.join(["python3", *sys.argv]))}
    results["machine"] = machine_info(affinity.binary, affinity.version(), status)
    with tempfile.TemporaryDirectory(prefix="affinity-ctr-") as tmp:
        scratch = Path(tmp)
        train_file, test_file = affinity.split(args.data_dir / "ml-100k.inter", scratch / "split", SPLIT_SEED)
        val_train_file, val_test_file = affinity.split(train_file, scratch / "validation", VALIDATION_SEED)

        for model in AFFINITY_MODELS:
            log(f"affinity ctr --model {model}")
            runs, parameters, report = [], {}, {}
            for seed in seeds:
                report = affinity.ctr(train_file, test_file, args.data_dir, model, seed)
                runs.append({"seed": seed, "auc": report["metrics"]["auc"], "logloss": report["metrics"]["logloss"],
                             "fit_seconds": report["fit_seconds"]})
                parameters = report["parameters"]
            settings = ", ".join(f"{k} {v}" for k, v in sorted(parameters.items()))
            results["rows"].append({"name": f"Affinity {model}", "settings": settings, "parameters": parameters,
                                    "summary": summarise(runs)})
            results.update(train_count=report["train_count"], test_count=report["test_count"],
                           train_positive_rate=report["train_positive_rate"],
                           test_positive_rate=report["test_positive_rate"],
                           affinity_features=report["feature_count"], affinity_unseen=report["unseen_features"])

        users, items = side_features(args.data_dir)
        train = Encoded(read_split_file(train_file), users, items)
        test = Encoded(read_split_file(test_file), users, items, train.frozen)
        val_train = Encoded(read_split_file(val_train_file), users, items)
        val_test = Encoded(read_split_file(val_test_file), users, items, val_train.frozen)
        results["feature_check"] = {
            "affinity_features": results["affinity_features"], "affinity_unseen": results["affinity_unseen"],
            "python_features": len(train.vocabulary), "python_unseen": test.unseen,
            "match": results["affinity_features"] == len(train.vocabulary) and results["affinity_unseen"] == test.unseen}

        for name, package, fit, grid, seeded in PEER_ROWS:
            if not status.get(package, {}).get("ok"):
                continue
            try:
                chosen, validation = grid[0], []
                if len(grid) > 1 and not args.quick:
                    for params in grid:
                        log(f"{name}: validation {params}")
                        validation.append({"params": params, **run_peer(fit, val_train, val_test, seeds[0], params,
                                                                         scratch)})
                    chosen = max(validation, key=lambda r: r["auc"])["params"]
                log(f"{name}: {chosen}")
                if package == "pyffm":  # warm numba's JIT so compilation is not timed
                    fit(val_test, val_test, seeds[0], {**chosen, "epochs": 1}, scratch)
                runs = [{"seed": seed, **run_peer(fit, train, test, seed, chosen, scratch)}
                        for seed in (seeds if seeded else seeds[:1])]
                settings = ", ".join(f"{k} {v}" for k, v in chosen.items())
                results["rows"].append({"name": name, "settings": settings, "parameters": chosen,
                                        "validation": validation, "summary": summarise(runs)})
            except Exception as error:  # a peer failing must not stop the others
                results["issues"].append(f"{name}: {type(error).__name__}: {str(error)[:300]}")
                log(f"{name} failed: {error}")

    results["seconds"] = time.perf_counter() - started
    markdown = write_report(args.out_dir, results)
    print(markdown)


if __name__ == "__main__":
    try:
        main()
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
