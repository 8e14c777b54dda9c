#!/usr/bin/env python3
"""Side-by-side comparison of Affinity's off-policy estimators with Open Bandit Pipeline (obp) 0.5.7.

What it measures
----------------
Data: the Open Bandit Dataset sample ("all" campaign, 10,000 rounds per log, 80 items, 3
positions) logged by two policies, uniform Random and Bernoulli Thompson sampling (BTS). Two
directions, as in obp's ``examples/obd/evaluate_off_policy_estimators.py``:

- BTS <- random: evaluate BernoulliTS (``is_zozotown_prior=True, campaign="all",
  random_state=12345``, action distribution by ``compute_batch_action_dist(n_sim=100000)``) on
  the random log; the truth is the BTS log's mean click.
- random <- BTS: evaluate obp's Random policy (1/80 everywhere) on the BTS log; the truth is the
  random log's mean click.

Truths are obp's ``OpenBanditDataset.calc_on_policy_policy_value_estimate``. obp's reward
model everywhere is ``RegressionModel(n_actions, len_list, action_context=dataset.action_context,
base_model=LogisticRegression(max_iter=10000, C=100, random_state=12345),
fitting_method="normal")`` with ``fit_predict(..., n_folds=3, random_state=12345)``.

1. Identical inputs. obp's IPW, SNIPW, DM, DR, SNDR and Switch-DR (``lambda_=inf``)
   ``estimate_policy_value`` on the full log, and ``affinity ope`` given the same evaluation
   policy and the same reward predictions as raw float64 files. Acceptance: relative difference
   <= 1e-9 for IPS, SNIPS and DR (the others are reported with the same tolerance). The
   importance weights' effective sample size (sum w)^2 / sum w^2 and the 95% intervals of both
   sides are shown too (they resample differently, so the intervals only need to be close).
2. Relative estimation error |estimate - truth| / truth over bootstrap resamples of the log
   (100; 10 with ``--quick``). obp: the example's loop, ``sample_bootstrap_bandit_feedback(
   random_state=run)``, the regression model refitted on every resample, mean and standard
   deviation per estimator. Affinity: ``affinity ope --resamples N --reward-model logistic``,
   which resamples and refits with its own generator. obp's published small-sample figures for
   BTS <- random are quoted next to them.
3. Each library's own reward model on the full log: DM and the DR family with obp's logistic
   regression (as above) and with Affinity's ``--reward-model logistic`` (per-position logistic
   regression, cross-fitted, at Affinity's defaults), against the truth.

Outputs: ``docs/benchmarks/ope-comparison.md`` (tables, machine, date, commit, versions, the
command) and ``docs/benchmarks/ope-comparison.json`` (every number, including each bootstrap
run). The tables are printed to stdout too. If the Affinity binary or its ``ope`` subcommand is
missing, or a call fails, its rows say "not available" and the run goes on.

How to run
----------
    swift build -c release                 # builds .build/release/affinity
    python3 scripts/compare_obp.py         # obp's part ~3 min on 2 cores, plus Affinity's runs
    python3 scripts/compare_obp.py --quick # 10 bootstrap resamples instead of 100 (obp's part ~45 s)

obp 0.5.7 needs Python < 3.11 and pins numpy 1.23.5, scipy 1.9.3, scikit-learn 1.1.3,
pandas 1.5.2 and torch 1.12. The script creates ``.venv-obp`` at the repository root
(gitignored) with Python 3.10 on first use, installs ``obp==0.5.7`` with
``matplotlib==3.6.3`` (the only extra pin: obp allows matplotlib < 4, but the seaborn 0.11 it
pins calls ``matplotlib.cm.register_cmap``, which matplotlib 3.9 removed, so ``import obp``
fails with pip's choice of 3.10), and re-runs itself with that interpreter;
``--skip-install`` uses an existing venv. The Open Bandit Dataset sample is read from
``<repo>/../shared/datasets/open-bandit/{random,bts}/{all.csv,item_context.csv}`` unless
``--data`` says otherwise. obp expects ``<data>/<policy>/<campaign>/<campaign>.csv``, so the
files are symlinked into that layout in a temporary directory; nothing derived from the data
(action distributions, predictions) is ever written inside the repository.
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
from compare_implicit import die, imports, log, table  # noqa: E402  (shared report helpers)

REPO = Path(__file__).resolve().parent.parent
VENV = REPO / ".venv-obp"
PYTHON_310 = [Path("/root/.pyenv/versions/3.10.13/bin/python3.10"), "python3.10"]
PEER_REQUIREMENTS = ["obp==0.5.7", "matplotlib==3.6.3"]
PINS = {"matplotlib==3.6.3": "obp 0.5.7 allows matplotlib < 4, but the seaborn 0.11.2 it pins calls "
                             "matplotlib.cm.register_cmap, removed in matplotlib 3.9: with pip's choice "
                             "(3.10) `import obp` fails"}
DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "open-bandit"
DEFAULT_BINARY = REPO / ".build" / "release" / "affinity"
DEFAULT_OUT_DIR = REPO / "docs" / "benchmarks"
REPORT_NAME = "ope-comparison"
REEXEC_MARKER = "AFFINITY_OBP_REEXEC"
ORIGINAL_COMMAND = "AFFINITY_OBP_COMMAND"

CAMPAIGN = "all"
RANDOM_STATE = 12345
N_SIM = 100_000                 # Monte Carlo draws for BernoulliTS's action distribution
N_FOLDS = 3                     # cross-fitting folds of obp's regression model
RESAMPLES, QUICK_RESAMPLES = 100, 10
OBP_CI_RESAMPLES = 10_000       # obp's estimate_interval default
CHECK_TOLERANCE = 1e-9
ACCEPTANCE = ["ips", "snips", "dr"]
# Affinity's names (obp's minus the W) -> obp's estimator class names.
ESTIMATORS = {"ips": "InverseProbabilityWeighting", "snips": "SelfNormalizedInverseProbabilityWeighting",
              "dm": "DirectMethod", "dr": "DoublyRobust", "sndr": "SelfNormalizedDoublyRobust",
              "switch-dr": "SwitchDoublyRobust"}
OBP_LABEL = {"ips": "IPW", "snips": "SNIPW", "dm": "DM", "dr": "DR", "sndr": "SNDR", "switch-dr": "Switch-DR"}
MODEL_BASED = ["dm", "dr", "sndr", "switch-dr"]
DIRECTIONS = {
    # key: (behaviour policy = the log, evaluation policy; the truth is the evaluation policy's own log)
    "bts<-random": ("random", "bts"),
    "random<-bts": ("bts", "random"),
}
TITLES = {"bts<-random": "BTS ← random (BernoulliTS evaluated on the random log)",
          "random<-bts": "random ← BTS (uniform Random evaluated on the BTS log)"}
# obp's examples/obd README, BTS <- random, small sample, logistic regression (quoted in the issue).
PUBLISHED = {"dm": 0.173, "ips": 0.330, "dr": 0.332}
ISSUE_RANDOM_TRUTH = 0.00380
REGRESSION_CALL = (f"RegressionModel(n_actions, len_list, action_context=dataset.action_context, "
                   f"base_model=LogisticRegression(max_iter=10000, C=100, random_state={RANDOM_STATE}), "
                   f"fitting_method=\"normal\").fit_predict(context, action, reward, pscore, position, "
                   f"n_folds={N_FOLDS}, random_state={RANDOM_STATE})")


class BenchError(Exception):
    """A failure that ends the run with a message instead of a traceback."""


# --------------------------------------------------------------------------
# Environment: the obp venv (Python 3.10)
# --------------------------------------------------------------------------

OBP_SMOKE_TEST = (
    "import warnings; warnings.simplefilter('ignore')\n"
    "import numpy, sklearn, obp\n"
    "from obp.dataset import OpenBanditDataset\n"
    "from obp.policy import BernoulliTS, Random\n"
    "from obp.ope import RegressionModel, DoublyRobust\n"
    "assert obp.__version__ == '0.5.7', obp.__version__\n"
)


def python_310() -> str:
    for candidate in PYTHON_310:
        found = shutil.which(str(candidate))
        if found:
            return found
    raise BenchError("obp 0.5.7 needs Python 3.8-3.10 and no python3.10 was found "
                     f"(tried {', '.join(map(str, PYTHON_310))})")


def install_peers() -> Path:
    """Create .venv-obp with Python 3.10 and install obp 0.5.7; return its python."""
    python = VENV / "bin" / "python"
    if not python.exists():
        interpreter = python_310()
        log(f"creating {VENV} with {interpreter}")
        subprocess.run([interpreter, "-m", "venv", str(VENV)], check=True)
    if not imports(python, OBP_SMOKE_TEST):
        log(f"installing {', '.join(PEER_REQUIREMENTS)} into {VENV} (obp pins numpy, scipy, scikit-learn, "
            f"pandas, torch; this takes a few minutes)")
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *PEER_REQUIREMENTS], check=True)
    if not imports(python, OBP_SMOKE_TEST):
        failure = subprocess.run([str(python), "-c", OBP_SMOKE_TEST], capture_output=True, text=True)
        raise BenchError(f"obp 0.5.7 does not import in {VENV}: {failure.stderr.strip()[-1500:]}")
    return python


def ensure_peer_interpreter(skip_install: bool) -> None:
    """Re-exec this script under an interpreter that imports obp 0.5.7."""
    if os.environ.get(REEXEC_MARKER):
        return
    python = VENV / "bin" / "python"
    if skip_install:
        if python.exists() and imports(python, OBP_SMOKE_TEST):
            pass
        elif imports(sys.executable, OBP_SMOKE_TEST):
            return
        else:
            raise BenchError(f"--skip-install given but {python} cannot import obp 0.5.7; run once without it")
    else:
        python = install_peers()
    os.environ[REEXEC_MARKER] = "1"
    os.execv(str(python), [str(python), str(Path(__file__).resolve()), *sys.argv[1:]])


def quiet_imports() -> None:
    """obp's imports (seaborn, pyparsing, sklearn) print deprecation warnings; matplotlib logs."""
    import logging
    import warnings
    warnings.simplefilter("ignore")
    logging.getLogger("matplotlib").setLevel(logging.WARNING)
    os.environ.setdefault("MPLBACKEND", "Agg")
    os.environ.setdefault("MPLCONFIGDIR", tempfile.mkdtemp(prefix="affinity-obp-mpl-"))


# --------------------------------------------------------------------------
# Affinity CLI
# --------------------------------------------------------------------------

class Affinity:
    """Thin wrapper over the `affinity` executable."""

    def __init__(self, binary: Path):
        self.binary = binary

    def run(self, *args: str, timeout: float = 3600) -> str:
        command = [str(self.binary), *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            text = (result.stderr.strip() or result.stdout.strip() or "(no output)")
            raise BenchError(f"`affinity {shlex.join(command[1:])}` exited {result.returncode}: {text[-1500:]}")
        return result.stdout

    def version(self) -> str:
        try:
            return self.run("--version", timeout=60).strip()
        except (BenchError, OSError):
            return "unknown"

    def has_subcommand(self, name: str) -> bool:
        """Whether `affinity --help` lists the subcommand (unknown ones print the top-level help)."""
        listing = self.run("--help", timeout=60)
        section = listing.split("SUBCOMMANDS:", 1)[-1]
        return any(line.split()[:1] == [name] for line in section.splitlines())

    def ope(self, log_csv: Path, item_context: Path, policy: str, reward_model: str, truth: float,
            resamples: int | None = None) -> dict:
        args = ["ope", "--log", str(log_csv), "--item-context", str(item_context), "--evaluation-policy", policy,
                "--reward-model", reward_model, "--truth", repr(truth), "--seed", str(RANDOM_STATE)]
        if resamples:
            args += ["--resamples", str(resamples)]
        args += ["--format", "json"]
        started = time.perf_counter()
        output = self.run(*args)
        report = parse_ope_json(output, resamples)
        report["_seconds"] = time.perf_counter() - started
        report["_command"] = shlex.join(["affinity", *args])
        return report


def parse_ope_json(output: str, resamples: int | None) -> dict:
    """Parse `affinity ope --format json` and check the contract."""
    what = "affinity ope --format json"
    try:
        report = json.loads(output)
    except json.JSONDecodeError as error:
        raise BenchError(f"`{what}` did not print one JSON object ({error}); output began: {output[:300]!r}") from None
    if not isinstance(report, dict):
        raise BenchError(f"`{what}` printed JSON that is not an object: {output[:300]!r}")
    missing = [key for key in ("rounds", "actions", "positions", "truth", "estimators") if key not in report]
    for name, entry in (report.get("estimators") or {}).items():
        missing += [f"estimators.{name}.{key}" for key in ("value", "ci_low", "ci_high", "relative_error", "ess")
                    if key not in entry]
    missing += [f"estimators.{name}" for name in ESTIMATORS if name not in (report.get("estimators") or {})]
    if resamples:
        boot = report.get("bootstrap") or {}
        if boot.get("resamples") != resamples or not isinstance(boot.get("relative_error"), dict):
            missing.append(f"bootstrap (resamples = {resamples}, relative_error per estimator)")
    if missing:
        raise BenchError(f"`{what}` JSON lacks {', '.join(missing)}: {output[:300]!r}")
    return report


# --------------------------------------------------------------------------
# obp side
# --------------------------------------------------------------------------

def obd_layout(data: Path, tmp: Path) -> Path:
    """Symlink the sample into obp's layout: <root>/<policy>/<campaign>/{<campaign>.csv,item_context.csv}."""
    root = tmp / "obd"
    for policy in ("random", "bts"):
        source = data / policy
        for name in ("all.csv", "item_context.csv"):
            if not (source / name).is_file():
                raise BenchError(f"{source / name} not found; pass --data DIR holding random/ and bts/ "
                                 f"with all.csv and item_context.csv")
        target = root / policy / CAMPAIGN
        target.mkdir(parents=True)
        (target / f"{CAMPAIGN}.csv").symlink_to((source / "all.csv").resolve())
        (target / "item_context.csv").symlink_to((source / "item_context.csv").resolve())
    return root


class Log:
    """One behaviour policy's log as obp loads it, plus the map from obp's row order to the CSV's."""

    def __init__(self, root: Path, policy: str, csv: Path):
        import numpy as np
        import pandas as pd
        from obp.dataset import OpenBanditDataset
        self.policy, self.csv = policy, csv
        self.item_context = csv.parent / "item_context.csv"
        self.dataset = OpenBanditDataset(behavior_policy=policy, campaign=CAMPAIGN, data_path=root)
        self.feedback = self.dataset.obtain_batch_bandit_feedback()
        # obp sorts the rows by timestamp (pandas quicksort: ties may move); Affinity reads the CSV in
        # file order. csv_row[i] = the CSV row (0-based, after the header) of obp's row i.
        raw = pd.read_csv(csv, index_col=0)
        if not raw.index.is_unique:
            raise BenchError(f"{csv}: the leading index column has repeated labels; obp's rows cannot be "
                             f"matched to the file's")
        row_of = pd.Series(np.arange(len(raw)), index=raw.index)
        self.csv_row = row_of.loc[self.dataset.data.index].to_numpy()
        self.identity_order = bool((self.csv_row == np.arange(len(raw))).all())
        fb = self.feedback
        self.checks = {
            "rows": int(len(raw)),
            "obp_row_order_is_file_order": self.identity_order,
            "action_matches_item_id": bool((self.to_file_order(fb["action"]) == raw["item_id"].to_numpy()).all()),
            "position_is_csv_position_minus_1": bool(
                (self.to_file_order(fb["position"]) == raw["position"].to_numpy() - 1).all()),
            "reward_matches_click": bool((self.to_file_order(fb["reward"]) == raw["click"].to_numpy()).all()),
            "pscore_matches_propensity_score": bool(
                (self.to_file_order(fb["pscore"]) == raw["propensity_score"].to_numpy()).all()),
        }
        failed = [name for name, ok in self.checks.items() if ok is False and name != "obp_row_order_is_file_order"]
        if failed:
            raise BenchError(f"{csv}: obp's loaded log does not match the file ({', '.join(failed)})")

    def to_file_order(self, values):
        """Rows of an obp-ordered array (first axis) rearranged into the CSV's order."""
        import numpy as np
        out = np.empty_like(values)
        out[self.csv_row] = values
        return out

    def write_f64(self, values, path: Path) -> Path:
        """(n_rounds, n_actions, len_list) in CSV row order as raw little-endian float64, C order."""
        import numpy as np
        np.ascontiguousarray(self.to_file_order(values), dtype="<f8").tofile(path)
        return path


def evaluation_policy_single_round(name: str, n_actions: int, len_list: int):
    """Action distribution of one round, shape (1, n_actions, len_list); both policies are context-free."""
    from obp.policy import BernoulliTS, Random
    if name == "bts":
        policy = BernoulliTS(n_actions=n_actions, len_list=len_list, is_zozotown_prior=True, campaign=CAMPAIGN,
                             random_state=RANDOM_STATE)
        return policy.compute_batch_action_dist(n_sim=N_SIM, n_rounds=1)
    return Random(n_actions=n_actions, len_list=len_list, random_state=RANDOM_STATE).compute_batch_action_dist(
        n_rounds=1)


def regression_model(dataset):
    from obp.ope import RegressionModel
    from sklearn.linear_model import LogisticRegression
    return RegressionModel(n_actions=dataset.n_actions, len_list=dataset.len_list,
                           action_context=dataset.action_context,
                           base_model=LogisticRegression(max_iter=10000, C=100, random_state=RANDOM_STATE),
                           fitting_method="normal")


def fit_predict(dataset, feedback):
    return regression_model(dataset).fit_predict(
        context=feedback["context"], action=feedback["action"], reward=feedback["reward"],
        pscore=feedback["pscore"], position=feedback["position"], n_folds=N_FOLDS, random_state=RANDOM_STATE)


def obp_estimators() -> dict:
    import obp.ope as ope
    return {name: getattr(ope, cls)() for name, cls in ESTIMATORS.items()}


def obp_inputs(feedback, action_dist, q_hat) -> dict:
    return dict(reward=feedback["reward"], action=feedback["action"], position=feedback["position"],
                pscore=feedback["pscore"], action_dist=action_dist, estimated_rewards_by_reg_model=q_hat)


def obp_estimates(feedback, action_dist, q_hat) -> dict[str, float]:
    inputs = obp_inputs(feedback, action_dist, q_hat)
    return {name: float(estimator.estimate_policy_value(**inputs)) for name, estimator in obp_estimators().items()}


def obp_intervals(feedback, action_dist, q_hat) -> dict[str, dict]:
    inputs = obp_inputs(feedback, action_dist, q_hat)
    out = {}
    for name, estimator in obp_estimators().items():
        ci = estimator.estimate_interval(**inputs, alpha=0.05, n_bootstrap_samples=OBP_CI_RESAMPLES,
                                         random_state=RANDOM_STATE)
        out[name] = {"mean": float(ci["mean"]), "low": float(ci["95.0% CI (lower)"]),
                     "high": float(ci["95.0% CI (upper)"])}
    return out


def effective_sample_size(feedback, action_dist) -> float:
    import numpy as np
    n = feedback["n_rounds"]
    w = action_dist[np.arange(n), feedback["action"], feedback["position"]] / feedback["pscore"]
    return float(w.sum() ** 2 / (w * w).sum())


def obp_bootstrap(log_: Log, single_round, truth: float, resamples: int) -> dict:
    """obp's examples/obd loop: resample the log (random_state=run), refit, estimate, relative error."""
    import numpy as np
    errors: dict[str, list[float]] = {name: [] for name in ESTIMATORS}
    unfitted: dict[int, str] = {}
    started = time.perf_counter()
    for run in range(resamples):
        feedback = log_.dataset.sample_bootstrap_bandit_feedback(random_state=run)
        action_dist = np.tile(single_round, (feedback["n_rounds"], 1, 1))
        try:
            q_hat = fit_predict(log_.dataset, feedback)
        except ValueError as error:
            # ~40 clicks in 10,000 rounds: a training fold can hold no click at some position, and
            # scikit-learn's LogisticRegression refuses one class (obp's example would stop here).
            # The model-free estimators still count; the model-based ones skip this resample.
            unfitted[run] = str(error)
            q_hat = None
        if q_hat is None:
            inputs = obp_inputs(feedback, action_dist, None)
            values = {name: float(obp_estimators()[name].estimate_policy_value(**inputs))
                      for name in ESTIMATORS if name not in MODEL_BASED}
        else:
            values = obp_estimates(feedback, action_dist, q_hat)
        for name, value in values.items():
            errors[name].append(abs(value - truth) / truth)
        if (run + 1) % 20 == 0:
            log(f"  obp bootstrap {run + 1}/{resamples}" + (f" ({len(unfitted)} without a reward model)"
                                                             if unfitted else ""))
    return {"resamples": resamples, "seconds": time.perf_counter() - started, "runs": errors,
            "unfitted_runs": unfitted,
            "counts": {name: len(v) for name, v in errors.items()},
            "mean": {name: statistics.fmean(v) for name, v in errors.items()},
            "std": {name: statistics.stdev(v) if len(v) > 1 else 0.0 for name, v in errors.items()}}


# --------------------------------------------------------------------------
# One direction
# --------------------------------------------------------------------------

def relative_difference(a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return None
    if a == b:
        return 0.0
    return abs(a - b) / max(abs(b), 1e-300)


def run_direction(key: str, logs: dict[str, Log], truths: dict[str, float], affinity: Affinity | None,
                  tmp: Path, resamples: int, issues: list[str]) -> dict:
    import numpy as np
    behaviour, evaluation = DIRECTIONS[key]
    log_ = logs[behaviour]
    truth = truths[evaluation]
    fb, ds = log_.feedback, log_.dataset
    log(f"{key}: evaluation policy {evaluation} on the {behaviour} log (truth {truth:.6g})")

    started = time.perf_counter()
    single_round = evaluation_policy_single_round(evaluation, ds.n_actions, ds.len_list)
    policy_seconds = time.perf_counter() - started
    action_dist = np.tile(single_round, (fb["n_rounds"], 1, 1))
    started = time.perf_counter()
    q_hat = fit_predict(ds, fb)
    fit_seconds = time.perf_counter() - started
    estimates = obp_estimates(fb, action_dist, q_hat)
    intervals = obp_intervals(fb, action_dist, q_hat)
    result: dict[str, Any] = {
        "behaviour_policy": behaviour, "evaluation_policy": evaluation, "truth": truth,
        "rounds": int(fb["n_rounds"]), "actions": int(ds.n_actions), "positions": int(ds.len_list),
        "log_mean_click": float(fb["reward"].mean()),
        "obp": {"estimates": estimates, "intervals": intervals, "ess": effective_sample_size(fb, action_dist),
                "relative_error": {name: abs(v - truth) / truth for name, v in estimates.items()},
                "policy_seconds": policy_seconds, "regression_fit_predict_seconds": fit_seconds,
                "action_dist_single_round": single_round[0].tolist()},
        "affinity_identical": None, "affinity_own_model": None,
    }
    log(f"  obp: " + ", ".join(f"{OBP_LABEL[n]} {v:.6g}" for n, v in estimates.items()))

    if affinity is not None:
        policy_file = log_.write_f64(action_dist, tmp / f"{key.replace('<-', '-from-')}-policy.f64")
        q_file = log_.write_f64(q_hat, tmp / f"{key.replace('<-', '-from-')}-reward-model.f64")
        try:
            report = affinity.ope(log_.csv, log_.item_context, str(policy_file), str(q_file), truth)
            check_shape(report, result, issues)
            result["affinity_identical"] = report
            log("  affinity (same inputs): " + ", ".join(
                f"{n} {report['estimators'][n]['value']:.6g}" for n in ESTIMATORS))
        except (BenchError, OSError, subprocess.TimeoutExpired) as error:
            issues.append(f"{key}, identical inputs: {error}")
            log(f"  affinity (same inputs) failed: {error}")
        # The evaluation policy as Affinity users would give it: BTS is context-free, so the file computed
        # for the full log holds the same row everywhere and Affinity's resamples of it are still right.
        own_policy = "uniform" if evaluation == "random" else str(policy_file)
        try:
            report = affinity.ope(log_.csv, log_.item_context, own_policy, "logistic", truth, resamples=resamples)
            check_shape(report, result, issues)
            result["affinity_own_model"] = report
            log(f"  affinity (logistic, {resamples} resamples, {report['_seconds']:.0f} s): " + ", ".join(
                f"{n} {report['bootstrap']['relative_error'].get(n, float('nan')):.3f}" for n in ESTIMATORS))
        except (BenchError, OSError, subprocess.TimeoutExpired) as error:
            issues.append(f"{key}, own reward model with --resamples {resamples}: {error}")
            log(f"  affinity (logistic) failed: {error}")

    log(f"  obp bootstrap, {resamples} resamples")
    result["obp_bootstrap"] = obp_bootstrap(log_, single_round, truth, resamples)
    return result


def check_shape(report: dict, result: dict, issues: list[str]) -> None:
    for key in ("rounds", "actions", "positions"):
        if report.get(key) != result[key]:
            issues.append(f"`affinity ope` reports {key} = {report.get(key)}, obp {result[key]}")
    if report.get("truth") is None or abs(report["truth"] - result["truth"]) > 1e-15:
        issues.append(f"`affinity ope` echoes truth {report.get('truth')}, expected {result['truth']}")


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------

NA = "not available"


def fmt(value: float | None, digits: int = 6) -> str:
    return NA if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}g}"


def fmt_err(mean: float | None, std: float | None) -> str:
    if mean is None:
        return NA
    return f"{mean:.3f} ± {std:.3f}" if std is not None else f"{mean:.3f}"


def affinity_value(report: dict | None, name: str, key: str = "value") -> float | None:
    if not report:
        return None
    entry = report["estimators"].get(name)
    return None if entry is None or entry.get(key) is None else float(entry[key])


def identical_section(result: dict) -> tuple[str, dict]:
    obp, aff = result["obp"], result["affinity_identical"]
    rows, verdicts = [], {}
    for name in ESTIMATORS:
        o, a = obp["estimates"][name], affinity_value(aff, name)
        diff = relative_difference(a, o)
        ok = None if diff is None else diff <= CHECK_TOLERANCE
        verdicts[name] = {"obp": o, "affinity": a, "relative_difference": diff, "within_tolerance": ok}
        ci = obp["intervals"][name]
        aff_ci = (f"[{fmt(affinity_value(aff, name, 'ci_low'))}, {fmt(affinity_value(aff, name, 'ci_high'))}]"
                  if aff else NA)
        rows.append([f"{name} (obp {OBP_LABEL[name]})" + (" *" if name in ACCEPTANCE else ""),
                     f"{o:.12g}", fmt(a, 12), NA if diff is None else f"{diff:.1e}",
                     NA if ok is None else ("✅" if ok else "❌"),
                     f"[{fmt(ci['low'])}, {fmt(ci['high'])}]", aff_ci])
    ess_a = affinity_value(aff, "ips", "ess")
    ess_diff = relative_difference(ess_a, obp["ess"])
    verdicts["ess"] = {"obp": obp["ess"], "affinity": ess_a, "relative_difference": ess_diff,
                       "within_tolerance": None if ess_diff is None else ess_diff <= CHECK_TOLERANCE}
    rows.append(["ESS (Σw)²/Σw² (numpy)", f"{obp['ess']:.12g}", fmt(ess_a, 12),
                 NA if ess_diff is None else f"{ess_diff:.1e}",
                 NA if ess_diff is None else ("✅" if ess_diff <= CHECK_TOLERANCE else "❌"), "", ""])
    text = table(["estimator", "obp", "Affinity", "rel. diff", f"≤ {CHECK_TOLERANCE:g}", "obp 95% CI",
                  "Affinity 95% CI"], rows)
    return text, verdicts


def own_model_section(result: dict) -> str:
    truth, obp, aff = result["truth"], result["obp"], result["affinity_own_model"]
    rows = []
    for name in MODEL_BASED:
        o = obp["estimates"][name]
        a = affinity_value(aff, name)
        rows.append([name, f"{o:.6g}", f"{abs(o - truth) / truth:.3f}", fmt(a),
                     NA if a is None else f"{abs(a - truth) / truth:.3f}"])
    return table(["estimator", "obp value (its logistic regression)", "obp rel. error",
                  "Affinity value (--reward-model logistic)", "Affinity rel. error"], rows)


def bootstrap_section(key: str, result: dict) -> str:
    boot, aff = result["obp_bootstrap"], result["affinity_own_model"]
    aff_boot = (aff or {}).get("bootstrap") or {}
    aff_mean, aff_std = aff_boot.get("relative_error", {}), aff_boot.get("relative_error_std", {})
    header = ["estimator", f"obp, {boot['resamples']} resamples (mean ± std)",
              f"Affinity, {aff_boot.get('resamples', boot['resamples'])} resamples (mean ± std)"]
    if key == "bts<-random":
        header.append("obp published (examples/obd)")
    rows = []
    for name in ESTIMATORS:
        count = boot["counts"][name]
        runs = "" if count == boot["resamples"] else f" ({count} runs)"
        row = [f"{name} (obp {OBP_LABEL[name]})", fmt_err(boot["mean"][name], boot["std"][name]) + runs,
               fmt_err(aff_mean.get(name), aff_std.get(name))]
        if key == "bts<-random":
            row.append(f"{PUBLISHED[name]:.3f}" if name in PUBLISHED else "—")
        rows.append(row)
    text = table(header, rows)
    if boot["unfitted_runs"]:
        runs = sorted(boot["unfitted_runs"])
        text += (f"\n\nobp's regression model could not be fitted on {len(runs)} of {boot['resamples']} resamples "
                 f"(random_state = {', '.join(map(str, runs))}): a cross-fitting training fold had no click at "
                 "some position, and scikit-learn's LogisticRegression refuses a single class "
                 f"(\"{next(iter(boot['unfitted_runs'].values()))}\"). obp's example script would stop there; "
                 "here those resamples count for IPW and SNIPW only.")
    return text


def git_commit(binary: Path) -> str:
    """HEAD of the work tree the binary was built in (the repository itself, or a private copy of it)."""
    def git(where: Path, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", "-C", str(where), *args], capture_output=True, text=True)

    if not binary.parent.is_dir():
        return git(REPO, "rev-parse", "--short", "HEAD").stdout.strip() or "none"
    top = git(binary.parent, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        head = git(REPO, "rev-parse", "--short", "HEAD").stdout.strip() or "none"
        return f"unknown ({binary} is outside a git work tree; the repository's HEAD is {head})"
    tree = Path(top.stdout.strip())
    head = git(tree, "rev-parse", "--short", "HEAD")
    commit = head.stdout.strip() if head.returncode == 0 else "none (no commit yet)"
    changed = [line for line in git(tree, "status", "--porcelain", "--", "Sources", "Package.swift")
               .stdout.splitlines() if line.strip()]
    if changed:
        commit += f" + uncommitted changes under Sources/ ({len(changed)} paths)"
    if tree != REPO:
        commit += f" (built in a copy of the work tree at {tree})"
    return commit


def machine_info(binary: Path, affinity_version: str) -> dict:
    cpu = "unknown"
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        cpu = next(line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration):
        pass
    import numpy
    import obp
    import pandas
    import scipy
    import sklearn
    versions = {"obp": obp.__version__, "numpy": numpy.__version__, "scikit-learn": sklearn.__version__,
                "scipy": scipy.__version__, "pandas": pandas.__version__, "python": platform.python_version(),
                "affinity": affinity_version}
    return {"cpu": cpu, "nproc": os.cpu_count(), "platform": platform.platform(), "versions": versions,
            "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "commit": git_commit(binary), "load_average_at_start": os.getloadavg()}


def display_path(path: Path) -> str:
    """A path relative to the repository when it is near it (no machine-specific prefix in the report)."""
    try:
        return os.path.relpath(path, REPO) if path.is_relative_to(REPO.parent) else str(path)
    except ValueError:
        return str(path)


def write_report(out_dir: Path, results: dict) -> str:
    info, v = results["machine"], results["machine"]["versions"]
    directions = results["directions"]
    availability = ("available" if results["affinity_available"]
                    else f"**not available** — {results['affinity_problem']}")
    header = (
        "# Affinity vs Open Bandit Pipeline (off-policy evaluation)\n\n"
        f"- Date: {info['date']}\n"
        f"- Machine: {info['cpu']}, {info['nproc']} cores (`nproc`), {info['platform']}; load average at start "
        f"{info['load_average_at_start'][0]:.2f}\n"
        f"- Affinity {v['affinity']}, commit {info['commit']}; `affinity ope`: {availability}\n"
        f"- obp {v['obp']} (numpy {v['numpy']}, scikit-learn {v['scikit-learn']}, scipy {v['scipy']}, "
        f"pandas {v['pandas']}, Python {v['python']}); installed as `pip install "
        f"{' '.join(PEER_REQUIREMENTS)}`, everything else at obp's own pins. Extra pin: "
        + "; ".join(f"`{pin}`: {why}" for pin, why in PINS.items()) + "\n"
        f"- Data: Open Bandit Dataset sample, campaign \"{CAMPAIGN}\": "
        + ", ".join(f"{p} log {logs['rows']:,} rows, mean click {results['truths'][p]:.6g}"
                    for p, logs in results["log_checks"].items())
        + f"; {directions['bts<-random']['actions']} items, {directions['bts<-random']['positions']} positions; "
        f"`$DATA` below is `{results['data']}`\n"
        f"- Produced by: `{results['command']}` (runtime {results['seconds'] / 60:.1f} min)\n"
    )
    protocol = (
        "## Protocol\n\n"
        "As obp's `examples/obd/evaluate_off_policy_estimators.py`:\n\n"
        f"- Evaluation policies: `BernoulliTS(n_actions, len_list, is_zozotown_prior=True, campaign=\"{CAMPAIGN}\", "
        f"random_state={RANDOM_STATE}).compute_batch_action_dist(n_sim={N_SIM:,})` (one round, tiled over the "
        "log's rounds: it is context-free) and `Random(...).compute_batch_action_dist()` (1/80 everywhere).\n"
        "- Truths: `OpenBanditDataset.calc_on_policy_policy_value_estimate`, the evaluation policy's own log's mean "
        f"click (random: {results['truths']['random']:.6g}; the issue quotes {ISSUE_RANDOM_TRUTH:.5f}).\n"
        f"- obp's reward model: `{REGRESSION_CALL}`; one logistic regression per position on "
        "[one-hot user features (drop_first), label-encoded item features + item_feature_0], 3-fold KFold "
        "cross-fitting over all rows.\n"
        "- obp's estimators at their defaults (no weight clipping: `lambda_=inf`, so Switch-DR equals DR); "
        "obp's intervals are `estimate_interval(alpha=0.05, n_bootstrap_samples=10000, random_state=12345)`, "
        "a bootstrap of the per-round terms with the full-log normalisation (SNIPW, SNDR) held fixed.\n"
        "- Affinity gets the log as the CSV itself (`--log all.csv --item-context item_context.csv`); the "
        "evaluation policy and obp's predictions go to it as raw little-endian float64 files of shape "
        "(rounds, actions, positions) in the CSV's row order (obp sorts rows by timestamp; the script maps "
        "them back and checks item, position − 1, click and propensity row by row). Affinity's intervals: "
        "its own bootstrap (`--bootstrap` default), each resample re-estimated.\n"
        "- Relative error: |estimate − truth| / truth. Bootstrap: obp resamples with "
        "`sample_bootstrap_bandit_feedback(random_state=run)` for run = 0…N−1 and refits its regression model "
        f"each time; Affinity with `affinity ope --resamples N --reward-model logistic --seed {RANDOM_STATE}` "
        "(its own resampling and refitting; the BTS policy file computed on the full log serves every "
        "resample because all its rows are the same). Same protocol, different random draws: the means "
        "should be close, not equal.\n"
    )
    parts = [header, protocol]
    summary_rows = []
    for key, result in directions.items():
        verdicts = result["identical_check"]
        summary_rows.append([TITLES[key].split(" (")[0], f"{result['truth']:.6g}",
                             ", ".join(f"{OBP_LABEL[n]} {result['obp']['estimates'][n]:.6g}" for n in ESTIMATORS),
                             " ".join(f"{n} " + ("✅" if verdicts[n]["within_tolerance"] else
                                                 "❌" if verdicts[n]["within_tolerance"] is False else "n/a")
                                      for n in ACCEPTANCE)])
    parts.append("## Summary\n\n" + table(["direction", "truth", "obp estimates (full log)",
                                           f"Affinity = obp within {CHECK_TOLERANCE:g} (same inputs)"],
                                          summary_rows))
    for n, (key, result) in enumerate(directions.items(), start=1):
        identical_text, _ = identical_section(result)
        aff, own = result["affinity_identical"], result["affinity_own_model"]
        parts.append(f"## {n}. {TITLES[key]}\n\n"
                     f"{result['rounds']:,} rounds; truth {result['truth']:.6g}; the log's own mean click "
                     f"{result['log_mean_click']:.6g}.")
        parts.append("### Point estimates on identical inputs\n\n"
                     "Both libraries get the same action distribution and obp's cross-fitted predictions. "
                     "\\* = acceptance rows (relative difference ≤ 1e-9)."
                     + (f" Affinity: `{aff['_command']}`." if aff else "") + "\n\n"
                     + identical_text)
        parts.append("### Each library's own reward model (full log)\n\n"
                     "DM and the DR family with obp's logistic regression (C = 100, as above) on the left and "
                     "Affinity's `--reward-model logistic` at its defaults on the right"
                     + (f" (`{own['_command']}`)" if own else "") + ".\n\n" + own_model_section(result))
        parts.append("### Relative estimation error over bootstrap resamples\n\n" + bootstrap_section(key, result))
    notes = [
        "obp's published figures are those quoted in the issue for `examples/obd` (BTS ← random, small sample, "
        "logistic regression); the README version at commit 60b5337 of st-tech/zr-obp (20 runs, n_sim 10^6) "
        "shows DM 0.180 ± 0.115, IPW 0.333 ± 0.350, DR 0.304 ± 0.348.",
        "The reward models differ by design: obp's context is the one-hot user features only (the "
        "user-item affinity columns are not used), with label-encoded categorical item features; Affinity's "
        "logistic model uses one-hot user features, the affinities and one-hot item features, with its own "
        "L2 penalty and folds. Only the identical-input table is an exactness check.",
    ] + results["notes"]
    parts.append("## Notes\n\n" + "\n".join(f"- {note}" for note in notes))
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
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="directory holding random/ and bts/ with all.csv and item_context.csv")
    parser.add_argument("--affinity", type=Path, default=DEFAULT_BINARY, help="affinity executable")
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR, help="where the .md/.json go")
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_RESAMPLES} bootstrap resamples instead of {RESAMPLES}")
    parser.add_argument("--skip-install", action="store_true", help="do not create or update .venv-obp")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    os.environ.setdefault(ORIGINAL_COMMAND, shlex.join(["python3", "scripts/compare_obp.py", *sys.argv[1:]]))
    data = args.data.resolve()
    if not data.is_dir():
        raise BenchError(f"Open Bandit Dataset sample not found at {data}; pass --data DIR")
    ensure_peer_interpreter(args.skip_install)  # may re-exec; everything below imports obp
    quiet_imports()
    started = time.perf_counter()
    resamples = QUICK_RESAMPLES if args.quick else RESAMPLES
    issues: list[str] = []
    notes: list[str] = []
    original_binary = args.affinity.absolute()
    tmp = Path(tempfile.mkdtemp(prefix="affinity-vs-obp-"))
    try:
        affinity: Affinity | None = None
        problem = ""
        if not original_binary.is_file():
            problem = f"no binary at {original_binary} (build with `swift build -c release`)"
        else:
            # Run a private copy, so a rebuild of .build/release during the run cannot change or remove it.
            shutil.copy2(original_binary, tmp / "affinity")
            candidate = Affinity(tmp / "affinity")
            try:
                if candidate.has_subcommand("ope"):
                    affinity = candidate
                else:
                    problem = f"`{original_binary} --help` lists no `ope` subcommand (binary older than the feature)"
            except (BenchError, OSError, subprocess.TimeoutExpired) as error:
                problem = f"`{original_binary} --help` failed: {error}"
        version = (affinity or Affinity(tmp / "affinity")).version() if original_binary.is_file() else "unknown"
        if problem:
            log(f"Affinity: {problem}; its rows will say \"not available\"")

        root = obd_layout(data, tmp)
        from obp.dataset import OpenBanditDataset
        logs = {policy: Log(root, policy, data / policy / "all.csv") for policy in ("random", "bts")}
        truths = {policy: float(OpenBanditDataset.calc_on_policy_policy_value_estimate(
            behavior_policy=policy, campaign=CAMPAIGN, data_path=root)) for policy in ("random", "bts")}
        for policy, log_ in logs.items():
            if not log_.identity_order:
                notes.append(f"obp's timestamp sort reorders the {policy} log; the float64 files were written "
                             f"back in the CSV's order.")
        if abs(truths["random"] - ISSUE_RANDOM_TRUTH) > 5e-6:
            notes.append(f"The random log's mean click is {truths['random']:.6g}, not the "
                         f"{ISSUE_RANDOM_TRUTH} the issue quotes.")
        results: dict[str, Any] = {
            "command": os.environ[ORIGINAL_COMMAND], "data": display_path(data),
            "machine": machine_info(original_binary, version),
            "affinity_available": affinity is not None, "affinity_problem": problem,
            "settings": {"campaign": CAMPAIGN, "random_state": RANDOM_STATE, "n_sim": N_SIM, "n_folds": N_FOLDS,
                         "resamples": resamples, "obp_ci_resamples": OBP_CI_RESAMPLES,
                         "tolerance": CHECK_TOLERANCE, "regression_model": REGRESSION_CALL,
                         "requirements": PEER_REQUIREMENTS, "pins": PINS},
            "published": PUBLISHED, "truths": truths,
            "log_checks": {policy: log_.checks for policy, log_ in logs.items()},
            "issues": issues, "notes": notes, "directions": {},
        }
        for key in DIRECTIONS:
            results["directions"][key] = run_direction(key, logs, truths, affinity, tmp, resamples, issues)
            results["directions"][key]["identical_check"] = identical_section(results["directions"][key])[1]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    # Same failure, same message: keep one, and hide the temporary directory's name.
    issues[:] = dict.fromkeys(issue.replace(str(tmp), "$TMP").replace(str(data), "$DATA") for issue in issues)
    for result in results["directions"].values():
        for key in ("affinity_identical", "affinity_own_model"):
            if result.get(key):
                result[key]["_command"] = (result[key]["_command"].replace(str(tmp), "$TMP")
                                           .replace(str(data), "$DATA"))
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
