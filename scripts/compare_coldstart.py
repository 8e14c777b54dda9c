#!/usr/bin/env python3
"""Side-by-side comparison of Affinity's cold-start models with LightFM on MovieLens-100k.

What it measures
----------------
Three protocols, each on split files written by ``affinity split`` (seed 42) into a
temporary directory outside the repository; k = 10 throughout.

A. Cold users (``--method cold-users --test-fraction 0.2``): 20% of the users are held out
   entirely. Positives are their test ratings >= 4 (users without one are skipped); every
   training item is a candidate (a cold user has nothing to exclude). User features:
   gender, age bucket (<18, 18-24, 25-34, 35-44, 45-49, 50-55, 56+, the MovieLens-1M
   buckets) and occupation. Peers: LightFM 1.17 WARP with identity + feature one-hots for
   the training users (cold users get the feature one-hots only; rows normalised as
   lightfm.data.Dataset does by default, and not normalised) and with feature one-hots only;
   gender x age-bucket popularity (all train interactions, or train ratings >= 4, of the
   users in the same segment); global popularity; random.
B. Cold items (``--method cold-items --test-fraction 0.2``): 20% of the items are held out
   entirely. Only the held-out items are ranked (candidates = the items in test.tsv), for
   every user with a test row; positives are all of the user's test rows (second table:
   test rows rated >= 4). Item features: the 19 genres and the release decade (variants:
   plus title words; release year instead of decade). Peers: LightFM WARP with item features
   only (users keep their identity features; normalised and not), genre popularity (sum, and
   mean, over an item's genres of the genre's train interaction count), random.
C. Warm check (``--method user-temporal``): the Affinity models that take features, with
   and without ``--user-features/--item-features``; with them must not be worse.

Peers are scored here from their own score vectors with exactly the metric definitions of
``affinity evaluate --task ranking`` (precision, recall, NDCG, MAP, hit rate, coverage at
10); the script checks its metric code by scoring global popularity on protocol A and
comparing with ``affinity evaluate --model popular`` (must agree to 1e-9). Stochastic rows
(LightFM, random, Affinity's learned models) run with seeds 42, 43, 44 and are reported as
mean +/- std. Affinity rows are ``affinity evaluate`` output; the models and parameters
tried are in AFFINITY_MODELS below. A model that ``affinity models`` does not list, or an
``evaluate`` option this build lacks, is reported as "not available"; the run goes on.
Targets: the best Affinity row against the issue's NDCG@10 (A >= 0.42, B >= 0.20) and
against every LightFM row of the run; C: with features not worse than without.
Split sensitivity (``--split-spread``): the baselines and one LightFM row are also scored on
a few other split seeds, since one cold-user split has only ~190 test users.
Several splits (``--split-seeds 1,2,3,4,5,42``): protocol A again on each of those split seeds,
with the Affinity candidates of MULTI_SPLIT_AFFINITY and the peers of MULTI_SPLIT_PEERS on the
same split files (stochastic rows with every model seed); per-split NDCG@10 and the mean +/- std
over the splits, so Affinity is compared with the peers' own level, not only with 0.42.

Outputs: ``docs/benchmarks/coldstart-comparison.md`` and ``.json`` (tables, targets,
machine, date, commit, versions, the command). The Markdown is printed to stdout too.

How to run
----------
    swift build -c release                          # builds .build/release/affinity
    python3 scripts/compare_coldstart.py            # three seeds (about 4 min on 2 idle cores)
    python3 scripts/compare_coldstart.py --quick --split-spread 0   # one seed, about 1 min
    python3 scripts/compare_coldstart.py --split-seeds 1,2,3,4,5,42   # plus A on six splits

LightFM 1.17 comes from ``.venv-implicit`` at the repository root, which
``scripts/compare_implicit.py`` creates (this script reuses its installer and re-runs itself
with that interpreter; ``--skip-install`` only uses an existing venv). MovieLens-100k is read
from ``<repo>/../shared/datasets/ml-100k/`` (``ml-100k.inter``, ``.user``, ``.item``) unless
``--data-dir`` says otherwise. Its licence forbids redistribution, so no copy or derived file
is ever written inside the repository: split files and derived feature files live in a
temporary directory that is removed at the end.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import re
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare_implicit as shared  # noqa: E402  (venv installer, Affinity wrapper, table helpers)
from compare_implicit import BenchError, fmt, log, table, verdict  # noqa: E402

REPO = shared.REPO
DEFAULT_DATA_DIR = REPO.parent / "shared" / "datasets" / "ml-100k"
DEFAULT_BINARY = REPO / ".build" / "release" / "affinity"
DEFAULT_OUT_DIR = REPO / "docs" / "benchmarks"
REPORT_NAME = "coldstart-comparison"
REEXEC_MARKER = "AFFINITY_COLDSTART_REEXEC"
ORIGINAL_COMMAND = "AFFINITY_COLDSTART_COMMAND"

K = 10
SPLIT_SEED = 42
TEST_FRACTION = 0.2
DEFAULT_SEEDS = [42, 43, 44]  # stochastic rows; the first is the one --quick keeps
POSITIVE_DEFINITIONS = {"all": None, "rating>=4": 4.0}  # label -> --positive-threshold
METRICS = ["precision@10", "recall@10", "ndcg@10", "map@10", "hit@10", "coverage@10"]
CHECK_TOLERANCE = 1e-9

# protocol -> split method, the positive definitions reported, the one the targets use, and what
# `--candidates` says.
PROTOCOLS = {
    "A": dict(title="Cold users", method="cold-users", positives={"rating>=4": 4.0}, target_positives="rating>=4",
              candidates="all"),
    "B": dict(title="Cold items", method="cold-items", positives={"all": None, "rating>=4": 4.0},
              target_positives="all", candidates="test-items"),
    "C": dict(title="Warm check", method="user-temporal", positives={"all": None, "rating>=4": 4.0},
              target_positives="all", candidates=None),
}

# Numbers quoted in the issue (NDCG@10) and its targets for the best Affinity model.
REFERENCE = {"A": {"LightFM WARP, identity + user features": 0.406, "gender×age popularity": 0.400},
             "B": {"LightFM WARP, genres + decade": 0.184, "genre popularity": 0.076}}
TARGETS = {"A": 0.42, "B": 0.20}

# --------------------------------------------------------------------------
# Affinity models tried (edit here)
# --------------------------------------------------------------------------
# Feature sets: which raw RecBole file goes to --user-features/--item-features (format detected
# by Affinity) and what --user-feature-columns/--item-feature-columns says (None: Affinity's
# default, every column but near-unique ones such as the zip code).
FEATURE_SETS = {
    "user": ("user", None),                            # age, gender, occupation
    "item": ("item", None),                            # title, release year, genres
    "item-no-title": ("item", "release_year,class"),
}
# For each protocol, the list of feature sets to run a model with; () = no feature options.
# In C the first entry is the "without features" baseline the others are compared with.


@dataclass
class AffinityModel:
    name: str                       # --model
    params: dict = field(default_factory=dict)   # --param key=value
    seeded: bool = False            # run with every seed (--seed)
    A: list[tuple[str, ...]] = field(default_factory=list)
    B: list[tuple[str, ...]] = field(default_factory=list)
    C: list[tuple[str, ...]] = field(default_factory=list)
    label: str = ""                 # row name; defaults to the model name (set it when a model appears twice)
    cli: tuple[str, ...] = ()       # extra `affinity evaluate` options, such as ("--years", "year")


GRADED = {"usesValues": "true", "valueOffset": 2}

AFFINITY_MODELS = [
    AffinityModel("popular", A=[()], B=[()], C=[()]),
    AffinityModel("feature-popular", A=[("user",)]),
    AffinityModel("feature-popular", {"minimumValue": 4}, A=[("user",)], label="feature-popular, liked (≥ 4) only"),
    # A closed-form ridge (deterministic); it refuses to run without features, so C has no pair for it.
    # Defaults were chosen on validation splits carved from train (docs/benchmarks/coldstart.md).
    AffinityModel("inductive", A=[("user",)], B=[("item",), ("item-no-title",)]),
    AffinityModel("inductive", {"minimumValue": 4}, A=[("user",)], label="inductive, liked (≥ 4) only"),
    # The ridge blended with gender × age popularity (standardised scores); weight chosen on validation.
    AffinityModel("segment-ridge", {"minimumValue": 4}, A=[("user",)], label="segment-ridge, liked (≥ 4) only"),
    # Graded targets: each rating counts stars − 2 (5 → 3, 4 → 2, 3 → 1, 1-2 → nothing); chosen on validation.
    AffinityModel("segment-ridge", GRADED, A=[("user",)], label="segment-ridge, graded (stars − 2)"),
    AffinityModel("feature-popular", GRADED, A=[("user",)], label="feature-popular, graded (stars − 2)"),
    AffinityModel("inductive", B=[("item",), ("item-no-title",)], cli=("--years", "year"),
                  label="inductive, exact release years"),
    AffinityModel("content", B=[("item",), ("item-no-title",)], C=[("item",)]),
    AffinityModel("lightfm", seeded=True, A=[("user",)], C=[(), ("user", "item")]),
    AffinityModel("lightfm", {"minimumValue": 4}, seeded=True, A=[("user",)], label="lightfm, liked (≥ 4) only"),
    AffinityModel("lightfm", {"itemIdentity": "false"}, seeded=True, B=[("item",), ("item-no-title",)],
                  label="lightfm, item features only"),
    AffinityModel("lightfm", {"itemIdentity": "false"}, seeded=True, B=[("item-no-title",)], cli=("--years", "year"),
                  label="lightfm, item features only, exact release years"),
    # (x_iᵀW)(y_jᵀH)ᵀ + u_iᵀv_j trained jointly by implicit ALS; seeded (random start). Defaults and
    # λ_U = 300 (the cold-user best) were chosen on validation splits carved from train (docs/benchmarks/hybrid.md).
    AffinityModel("hybrid", seeded=True, B=[("item",), ("item-no-title",)], C=[(), ("user", "item")]),
    AffinityModel("hybrid", {"minimumValue": 4}, seeded=True, A=[("user",)], label="hybrid, liked (≥ 4) only"),
    AffinityModel("hybrid", {"minimumValue": 4, "userRegularization": 300}, seeded=True, A=[("user",)],
                  label="hybrid, liked (≥ 4) only, λ_U = 300"),
]


# Protocol A over several split seeds (`--split-seeds`): the Affinity candidates (all with the
# protocol's "liked" minimumValue=4 and the user features) and the peers, on the same split files.
MULTI_SPLIT_AFFINITY = [
    AffinityModel("feature-popular", {"minimumValue": 4}, label="feature-popular, liked (≥ 4) only"),
    AffinityModel("inductive", {"minimumValue": 4}, label="inductive, liked (≥ 4) only"),
    AffinityModel("hybrid", {"minimumValue": 4, "userRegularization": 300}, seeded=True,
                  label="hybrid, liked (≥ 4) only, λ_U = 300"),
    AffinityModel("lightfm", {"minimumValue": 4}, seeded=True, label="lightfm, liked (≥ 4) only"),
    AffinityModel("segment-ridge", {"minimumValue": 4}, label="segment-ridge, liked (≥ 4) only"),
    AffinityModel("feature-popular", GRADED, label="feature-popular, graded (stars − 2)"),
    AffinityModel("segment-ridge", GRADED, label="segment-ridge, graded (stars − 2)"),
]
MULTI_SPLIT_PEERS = ["LightFM WARP, identity + user features", "LightFM WARP, identity + user features, ratings ≥ 4",
                     "LightFM WARP, identity + user features, graded weights", "gender×age popularity",
                     "gender×age popularity, ratings ≥ 4", "gender×age popularity, graded (stars − 2)",
                     "global popularity"]

# LightFM settings for every LightFM row (the same as compare_implicit's WARP rows).
LIGHTFM_PARAMS = dict(no_components=64, loss="warp", learning_rate=0.05)
LIGHTFM_EPOCHS = 30
LIGHTFM_THREADS = 1  # one thread: LightFM's Hogwild updates make results thread-count dependent

AGE_BUCKETS = [(18, "<18"), (25, "18-24"), (35, "25-34"), (45, "35-44"), (50, "45-49"), (56, "50-55")]


def age_bucket(age: int) -> str:
    """The MovieLens-1M age groups."""
    return next((label for upper, label in AGE_BUCKETS if age < upper), "56+")


# --------------------------------------------------------------------------
# Environment: LightFM lives in compare_implicit's venv
# --------------------------------------------------------------------------

PEER_SMOKE_TEST = "import numpy, scipy\n" + shared.LIGHTFM_SMOKE_TEST


def ensure_peer_interpreter(skip_install: bool) -> None:
    """Re-exec this script under .venv-implicit's python unless this one already imports LightFM."""
    if os.environ.get(REEXEC_MARKER) or shared.imports(sys.executable, PEER_SMOKE_TEST):
        return
    python = shared.VENV / "bin" / "python"
    if not (python.exists() and shared.imports(python, "import numpy, scipy")):
        if skip_install:
            raise BenchError(f"--skip-install given but {python} does not exist or lacks numpy/scipy; "
                             "run once without it (or run scripts/compare_implicit.py once)")
        python = shared.install_peers()
    os.environ[REEXEC_MARKER] = "1"
    os.execv(str(python), [str(python), str(Path(__file__).resolve()), *sys.argv[1:]])


# --------------------------------------------------------------------------
# Data: splits, feature tables, the ranking metrics
# --------------------------------------------------------------------------

def read_recbole(path: Path) -> tuple[list[str], list[list[str]]]:
    """(column names without their :type, rows) of a tab-separated RecBole atomic file."""
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    header = [name.split(":", 1)[0] for name in lines[0].split("\t")]
    rows = [line.split("\t") for line in lines[1:] if line.strip()]
    return header, [row + [""] * (len(header) - len(row)) for row in rows]


def user_feature_tokens(path: Path) -> dict[int, list[str]]:
    """user -> ["gender=M", "age=25-34", "occupation=technician"] from ml-100k.user."""
    header, rows = read_recbole(path)
    column = {name: j for j, name in enumerate(header)}
    tokens = {}
    for row in rows:
        tokens[int(row[column["user_id"]])] = [f"gender={row[column['gender']]}",
                                               f"age={age_bucket(int(row[column['age']]))}",
                                               f"occupation={row[column['occupation']]}"]
    return tokens


def item_feature_tokens(path: Path) -> dict[str, dict[int, list[str]]]:
    """Token families from ml-100k.item: family -> item -> tokens, for "genre", "decade", "year"
    and "word" (lower-case alphanumeric words of the title)."""
    header, rows = read_recbole(path)
    column = {name: j for j, name in enumerate(header)}
    families: dict[str, dict[int, list[str]]] = {"genre": {}, "decade": {}, "year": {}, "word": {}}
    for row in rows:
        item = int(row[column["item_id"]])
        year = row[column["release_year"]].strip()  # "unkonwn" for item 267, "V" for item 1412
        is_year = re.fullmatch(r"\d{4}", year) is not None
        families["genre"][item] = [f"genre={g}" for g in row[column["class"]].split()]
        families["decade"][item] = [f"decade={int(year) // 10 * 10}s"] if is_year else []
        families["year"][item] = [f"year={year}"] if is_year else []
        families["word"][item] = sorted({f"word={w}"
                                         for w in re.findall(r"[a-z0-9]+", row[column["movie_title"]].lower())})
    return families


def combine(families: dict[str, dict[int, list[str]]], *names: str) -> dict[int, list[str]]:
    """item -> the tokens of the named families."""
    return {item: [t for name in names for t in families[name][item]] for item in families[names[0]]}


def read_split_file(path: Path):
    import numpy as np
    table_ = np.loadtxt(path, dtype=np.float64, delimiter="\t", ndmin=2)
    return table_[:, 0].astype(np.int64), table_[:, 1].astype(np.int64), table_[:, 2]


@dataclass
class ProtocolData:
    """One split, indexed like Affinity's (users and items in order of first appearance in train)."""
    key: str
    train_path: Path
    test_path: Path
    train_users: list[int]
    train_items: list[int]
    user_index: dict[int, int]
    item_index: dict[int, int]
    interactions: Any                # csr users x items, 1 per train (user, item)
    train_rows: tuple                # (users, items, ratings) raw arrays
    test_users: list[int]            # every user with a test row, in order of first appearance in test
    candidates: list[int]            # raw item ids ranked for every test user
    positives: dict[str, dict[int, set[int]]]   # definition (both, whatever the protocol) -> user -> items
    test_count: int
    check: dict


def load_protocol(key: str, train: Path, test: Path) -> ProtocolData:
    import numpy as np
    import scipy.sparse as sp
    tu, ti, tr = read_split_file(train)
    user_index: dict[int, int] = {}
    item_index: dict[int, int] = {}
    for u in tu.tolist():
        user_index.setdefault(u, len(user_index))
    for i in ti.tolist():
        item_index.setdefault(i, len(item_index))
    rows = np.array([user_index[u] for u in tu.tolist()])
    cols = np.array([item_index[i] for i in ti.tolist()])
    interactions = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)),
                                 shape=(len(user_index), len(item_index)))
    interactions.data[:] = 1.0  # duplicates summed by the constructor count once

    vu, vi, vr = read_split_file(test)
    test_users = list(dict.fromkeys(vu.tolist()))
    test_items = list(dict.fromkeys(vi.tolist()))
    positives: dict[str, dict[int, set[int]]] = {}
    for label, threshold in POSITIVE_DEFINITIONS.items():
        by_user: dict[int, set[int]] = {}
        for u, i, r in zip(vu.tolist(), vi.tolist(), vr.tolist()):
            if threshold is None or r >= threshold:
                by_user.setdefault(u, set()).add(i)
        positives[label] = by_user
    candidates = test_items if key == "B" else list(item_index)

    all_users = set(user_index) | set(test_users)
    all_items = set(item_index) | set(test_items)
    check = {"train_rows": len(tu), "test_rows": len(vu), "train_users": len(user_index),
             "train_items": len(item_index), "test_users": len(test_users), "test_items": len(test_items)}
    if key == "A":
        overlap = len(set(test_users) & set(user_index))
        check.update(held_out_fraction=len(test_users) / len(all_users), overlap=overlap, passed=overlap == 0,
                     test_items_not_in_train=len(set(test_items) - set(item_index)))
    elif key == "B":
        overlap = len(set(test_items) & set(item_index))
        check.update(held_out_fraction=len(test_items) / len(all_items), overlap=overlap, passed=overlap == 0,
                     test_users_not_in_train=len(set(test_users) - set(user_index)))
    else:
        check.update(test_users_not_in_train=len(set(test_users) - set(user_index)), passed=True)
    return ProtocolData(key=key, train_path=train, test_path=test, train_users=list(user_index),
                        train_items=list(item_index), user_index=user_index, item_index=item_index,
                        interactions=interactions, train_rows=(tu, ti, tr), test_users=test_users,
                        candidates=candidates, positives=positives, test_count=len(vu), check=check)


def top_lists(data: ProtocolData, scores) -> dict[int, list[int]]:
    """Top-k raw item ids per test user from a (test users x candidates) score matrix.

    Ties keep candidate order (training items: first appearance in train, Affinity's item order).
    Protocols A and B have nothing to exclude: cold users have no training items, cold items no
    training users."""
    import numpy as np
    order = np.argsort(-scores, axis=1, kind="stable")[:, :K]
    return {user: [data.candidates[j] for j in order[row]] for row, user in enumerate(data.test_users)}


def ranking_metrics(top: dict[int, list[int]], positives: dict[int, set[int]], catalogue_size: int) -> dict:
    """`affinity evaluate --task ranking`'s metrics (the formulas of RankingMetrics.at and of
    compare_implicit.ranking_metrics): averaged over users with >= 1 positive; binary gains,
    log2(rank + 1) discounts, ideal DCG over min(|P|, k); MAP@k divides by min(|P|, k);
    coverage = distinct items in those users' lists / catalogue size."""
    log2 = [math.log2(rank + 1) for rank in range(K + 1)]
    sums = dict.fromkeys(METRICS, 0.0)
    shown: set[int] = set()
    for user, relevant in positives.items():
        ranked = top.get(user, [])[:K]
        shown.update(ranked)
        hits, dcg, precision_sum = 0, 0.0, 0.0
        for rank, item in enumerate(ranked, start=1):
            if item in relevant:
                hits += 1
                dcg += 1.0 / log2[rank]
                precision_sum += hits / rank
        ideal = sum(1.0 / log2[rank] for rank in range(1, min(len(relevant), K) + 1))
        sums["precision@10"] += hits / K
        sums["recall@10"] += hits / len(relevant)
        sums["ndcg@10"] += dcg / ideal
        sums["map@10"] += precision_sum / min(len(relevant), K)
        sums["hit@10"] += 1.0 if hits else 0.0
    evaluated = len(positives)
    metrics = {name: value / max(evaluated, 1) for name, value in sums.items()}
    metrics["coverage@10"] = len(shown) / catalogue_size
    return metrics


# --------------------------------------------------------------------------
# Peers: each returns a (test users x candidates) score matrix and its fit seconds
# --------------------------------------------------------------------------

@dataclass
class Peer:
    key: str
    library: str
    settings: str
    score: Callable[[int], tuple[Any, float]]    # seed -> (scores, fit seconds)
    seeded: bool = False


def graded(rating: float) -> float:
    """Graded relevance: stars − 2, nothing for 1 or 2 stars (Affinity's usesValues + valueOffset=2)."""
    return max(rating - 2.0, 0.0)


def item_counts(data: ProtocolData, group_of: dict[int, str] | None = None, min_rating: float | None = None,
                weight: Callable[[float], float] | None = None):
    """Train interactions per training item (only ratings >= min_rating when given; each counting
    weight(rating) instead of 1 when given); with `group_of`, one count vector per group of users
    ({group: counts})."""
    import numpy as np
    counts: dict[str | None, Any] = {}
    for u, i, r in zip(*(column.tolist() for column in data.train_rows)):
        if min_rating is None or r >= min_rating:
            group = group_of[u] if group_of else None
            if group not in counts:
                counts[group] = np.zeros(len(data.train_items))
            counts[group][data.item_index[i]] += weight(r) if weight else 1
    return counts if group_of else counts[None]


def feature_matrix(rows: list[list[str]], vocabulary: dict[str, int], normalize: bool, identity_columns: int = 0,
                   identity: list[int | None] | None = None):
    """LightFM feature rows: optional identity column, then one-hot features from `vocabulary`
    (tokens outside it are dropped); with `normalize` each row sums to 1 -- what
    lightfm.data.Dataset.build_*_features(normalize=True), the default, builds -- else every weight is 1."""
    import numpy as np
    import scipy.sparse as sp
    indptr, indices = [0], []
    for r, tokens in enumerate(rows):
        columns = [] if identity is None or identity[r] is None else [identity[r]]
        columns += [identity_columns + vocabulary[t] for t in tokens if t in vocabulary]
        indices += sorted(set(columns))
        indptr.append(len(indices))
    weights = np.ones(len(indices), dtype=np.float32)
    matrix = sp.csr_matrix((weights, np.array(indices, dtype=np.int32), np.array(indptr)),
                           shape=(len(rows), identity_columns + len(vocabulary)))
    if not normalize:
        return matrix
    sums = np.asarray(matrix.sum(axis=1)).ravel()
    sums[sums == 0] = 1.0
    return sp.diags(1.0 / sums).dot(matrix).tocsr().astype(np.float32)


def weighted_interactions(data: ProtocolData, weight: Callable[[float], float]):
    """(interactions, sample_weight) COO matrices over the train rows with weight(rating) > 0: 1 per
    kept pair, and its weight -- LightFM's fit(..., sample_weight=...) wants the same sparsity pattern."""
    import numpy as np
    import scipy.sparse as sp
    tu, ti, tr = data.train_rows
    kept = [(data.user_index[u], data.item_index[i], weight(r))
            for u, i, r in zip(tu.tolist(), ti.tolist(), tr.tolist()) if weight(r) > 0]
    rows = np.array([k[0] for k in kept], dtype=np.int32)
    cols = np.array([k[1] for k in kept], dtype=np.int32)
    shape = (len(data.train_users), len(data.train_items))
    ones = sp.coo_matrix((np.ones(len(kept), dtype=np.float32), (rows, cols)), shape=shape)
    weights = sp.coo_matrix((np.array([k[2] for k in kept], dtype=np.float32), (rows, cols)), shape=shape)
    return ones, weights


def fit_lightfm(data: ProtocolData, seed: int, user_features=None, item_features=None,
                weight: Callable[[float], float] | None = None):
    """LightFM on every train row (1 each), or with `weight` on the rows it weighs above 0, as sample weights."""
    from lightfm import LightFM
    model = LightFM(random_state=seed, **LIGHTFM_PARAMS)
    interactions, sample_weight = (data.interactions.tocoo(), None) if weight is None else \
        weighted_interactions(data, weight)
    start = time.perf_counter()
    model.fit(interactions, user_features=user_features, item_features=item_features, sample_weight=sample_weight,
              epochs=LIGHTFM_EPOCHS, num_threads=LIGHTFM_THREADS)
    return model, time.perf_counter() - start


def lightfm_cold_users(data: ProtocolData, tokens: dict[int, list[str]], identity: bool, normalize: bool,
                       weight: Callable[[float], float] | None = None):
    """Train users: [identity] + feature one-hots; cold users: feature one-hots only. Items: identity.
    `weight`: train on the rows it weighs above 0, with those sample weights."""
    def score(seed: int):
        vocabulary = {t: j for j, t in enumerate(sorted({t for u in data.train_users for t in tokens[u]}))}
        n_identity = len(data.train_users) if identity else 0
        train_features = feature_matrix([tokens[u] for u in data.train_users], vocabulary, normalize, n_identity,
                                        list(range(n_identity)) if identity else None)
        model, seconds = fit_lightfm(data, seed, user_features=train_features, weight=weight)
        cold = feature_matrix([tokens[u] for u in data.test_users], vocabulary, normalize, n_identity)
        _, user_vectors = model.get_user_representations(cold)
        item_bias, item_vectors = model.get_item_representations()
        return user_vectors @ item_vectors.T + item_bias[None, :], seconds
    return score


def lightfm_cold_items(data: ProtocolData, tokens: dict[int, list[str]], normalize: bool):
    """Items (train and cold): feature one-hots only; users: identity. Test users missing from
    train get a zero vector (scores = item biases)."""
    import numpy as np

    def score(seed: int):
        vocabulary = {t: j for j, t in enumerate(sorted({t for i in data.train_items for t in tokens[i]}))}
        train_features = feature_matrix([tokens[i] for i in data.train_items], vocabulary, normalize)
        model, seconds = fit_lightfm(data, seed, item_features=train_features)
        _, user_vectors = model.get_user_representations()
        item_bias, item_vectors = model.get_item_representations(
            feature_matrix([tokens[i] for i in data.candidates], vocabulary, normalize))
        rows = np.zeros((len(data.test_users), user_vectors.shape[1]), dtype=np.float32)
        for r, user in enumerate(data.test_users):
            if user in data.user_index:
                rows[r] = user_vectors[data.user_index[user]]
        return rows @ item_vectors.T + item_bias[None, :], seconds
    return score


def timed(build: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    scores = build()
    return scores, time.perf_counter() - start


def global_popularity(data: ProtocolData):
    """Count of train interactions per candidate, the same for every user (ties: first appearance)."""
    import numpy as np
    return lambda seed: timed(lambda: np.tile(item_counts(data), (len(data.test_users), 1)))


def segment_popularity(data: ProtocolData, segment_of: dict[int, str], min_rating: float | None,
                       weight: Callable[[float], float] | None = None):
    """Per (gender, age bucket): count of train interactions (or ratings >= min_rating, or the sum of
    weight(rating)) by the segment's users; ties by global count, then first appearance. Score =
    segment count x (max global count + 1) + global count, exact in float64."""
    import numpy as np

    def build():
        overall = item_counts(data)
        by_segment = item_counts(data, segment_of, min_rating, weight)
        empty = np.zeros(len(data.train_items))
        return np.stack([by_segment.get(segment_of[u], empty) * (overall.max() + 1) + overall
                         for u in data.test_users])
    return lambda seed: timed(build)


def genre_popularity(data: ProtocolData, genres: dict[int, list[str]], how: str):
    """Genre count = train interactions on items of that genre; an item scores the sum (or mean) of
    its genres' counts. The same for every user; ties by order of first appearance in test.tsv."""
    import numpy as np

    def build():
        genre_count: dict[str, float] = {}
        for i in data.train_rows[1].tolist():
            for g in genres[i]:
                genre_count[g] = genre_count.get(g, 0.0) + 1
        values = []
        for item in data.candidates:
            counts = [genre_count.get(g, 0.0) for g in genres[item]]
            values.append((sum(counts) / len(counts) if how == "mean" else sum(counts)) if counts else 0.0)
        return np.tile(np.array(values), (len(data.test_users), 1))
    return lambda seed: timed(build)


def random_scores(data: ProtocolData):
    import numpy as np
    return lambda seed: timed(lambda: np.random.default_rng(seed).random((len(data.test_users),
                                                                          len(data.candidates))))


LIGHTFM_CALL = (f"LightFM(no_components={LIGHTFM_PARAMS['no_components']}, loss='warp', "
                f"learning_rate={LIGHTFM_PARAMS['learning_rate']}).fit(interactions, {{features}}, "
                f"epochs={LIGHTFM_EPOCHS}, num_threads={LIGHTFM_THREADS}); interactions = 1 per train row")


NORMALISED = "rows sum to 1, as lightfm.data.Dataset builds them by default"
NOT_NORMALISED = "every weight 1 (Dataset's normalize=False)"


def peers_for(data: ProtocolData, features: dict, with_lightfm: bool) -> list[Peer]:
    if data.key == "A":
        users = features["user_tokens"]
        segment = {u: f"{t[0]}/{t[1]}" for u, t in users.items()}
        one_hots = "gender, age bucket, occupation one-hots"
        result = []
        if with_lightfm:
            result += [
                Peer("LightFM WARP, identity + user features", "LightFM", LIGHTFM_CALL.format(
                    features=f"user_features=[identity | {one_hots}], {NORMALISED}; cold users: the one-hots only "
                             f"(each 1/3); items: identity"),
                     lightfm_cold_users(data, users, identity=True, normalize=True), seeded=True),
                Peer("LightFM WARP, identity + user features, not normalised", "LightFM", LIGHTFM_CALL.format(
                    features=f"user_features=[identity | {one_hots}], {NOT_NORMALISED}; cold users: the one-hots "
                             f"only; items: identity"),
                     lightfm_cold_users(data, users, identity=True, normalize=False), seeded=True),
                Peer("LightFM WARP, identity + user features, ratings ≥ 4", "LightFM", LIGHTFM_CALL.format(
                    features=f"user_features=[identity | {one_hots}], {NORMALISED}; cold users: the one-hots only; "
                             f"items: identity").replace("1 per train row", "1 per train rating ≥ 4"),
                     lightfm_cold_users(data, users, identity=True, normalize=True,
                                        weight=lambda r: 1.0 if r >= 4 else 0.0), seeded=True),
                Peer("LightFM WARP, identity + user features, graded weights", "LightFM", LIGHTFM_CALL.format(
                    features=f"user_features=[identity | {one_hots}], {NORMALISED}; cold users: the one-hots only; "
                             f"items: identity").replace(
                        "1 per train row", "1 per train rating ≥ 3, sample_weight = stars − 2"),
                     lightfm_cold_users(data, users, identity=True, normalize=True, weight=graded), seeded=True),
                Peer("LightFM WARP, user features only", "LightFM", LIGHTFM_CALL.format(
                    features=f"user_features=[{one_hots}] (no identity), {NORMALISED}; items: identity"),
                     lightfm_cold_users(data, users, identity=False, normalize=True), seeded=True)]
        result += [
            Peer("gender×age popularity", "numpy",
                 "per gender × age bucket: count of all train interactions by the segment's users; ties by "
                 "global count, then first appearance in train", segment_popularity(data, segment, None)),
            Peer("gender×age popularity, ratings ≥ 4", "numpy",
                 "the same, counting only train ratings ≥ 4", segment_popularity(data, segment, 4.0)),
            Peer("gender×age popularity, graded (stars − 2)", "numpy",
                 "the same, each train rating counting stars − 2 (1-2 stars: nothing)",
                 segment_popularity(data, segment, None, graded)),
            Peer("global popularity", "numpy", "count of train interactions; ties by first appearance in train",
                 global_popularity(data)),
            Peer("random", "numpy", "numpy default_rng(seed).random scores", random_scores(data), seeded=True)]
        return result
    items = features["item_tokens"]
    genres = items["genre"]
    result = []
    if with_lightfm:
        rest = "no identity; users: identity"
        for families, label, normalize in ((("genre", "decade"), "genres + decade", True),
                                           (("genre", "decade"), "genres + decade, not normalised", False),
                                           (("genre", "year"), "genres + release year, not normalised", False),
                                           (("genre", "decade", "word"), "genres + decade + title words", True)):
            words = ("; title words that occur in no training title are dropped" if "word" in families else "")
            result.append(Peer(
                f"LightFM WARP, {label}", "LightFM", LIGHTFM_CALL.format(
                    features=f"item_features=[{', '.join(families)} one-hots], "
                             f"{NORMALISED if normalize else NOT_NORMALISED}; {rest}{words}"),
                lightfm_cold_items(data, combine(items, *families), normalize), seeded=True))
    result += [
        Peer("genre popularity", "numpy", "item score = sum over its genres of the genre's train interaction "
             "count", genre_popularity(data, genres, "sum")),
        Peer("genre popularity, mean", "numpy", "item score = mean over its genres of the genre's train "
             "interaction count", genre_popularity(data, genres, "mean")),
        Peer("random", "numpy", "numpy default_rng(seed).random scores", random_scores(data), seeded=True)]
    return result


def run_peer(peer: Peer, data: ProtocolData, seeds: list[int]) -> dict:
    runs = []
    for seed in (seeds if peer.seeded else seeds[:1]):
        scores, seconds = peer.score(seed)
        top = top_lists(data, scores)
        runs.append({"seed": seed, "fit_seconds": seconds,
                     "metrics": {label: ranking_metrics(top, positives, len(data.candidates))
                                 for label, positives in data.positives.items()}})
    return {"key": peer.key, "library": peer.library, "settings": peer.settings, "seeded": peer.seeded,
            "status": "ok", "runs": runs}


# --------------------------------------------------------------------------
# Affinity rows
# --------------------------------------------------------------------------

class AffinityCLI(shared.Affinity):
    """compare_implicit's wrapper plus the cold-start options of `evaluate`."""

    def evaluate_options(self) -> set[str]:
        help_text = self.run("evaluate", "--help", timeout=60)
        return set(re.findall(r"--[a-z][a-z0-9-]*", help_text))

    def split_method(self, data: Path, method: str, out_dir: Path, seed: int = SPLIT_SEED) -> tuple[Path, Path]:
        out_dir.mkdir(parents=True, exist_ok=True)
        self.run("split", "--data", str(data), "--method", method, "--test-fraction", str(TEST_FRACTION),
                 "--seed", str(seed), "--out", str(out_dir))
        train, test = out_dir / "train.tsv", out_dir / "test.tsv"
        for path in (train, test):
            if not path.exists():
                raise BenchError(f"`affinity split --method {method}` did not write {path}")
        return train, test

    def evaluate_args(self, data: ProtocolData, model: str, params: dict, threshold: float | None, seed: int,
                      features: dict[str, tuple[Path, str | None]], candidates: str | None) -> list[str]:
        """`features`: kind ("user"/"item") -> (file, feature columns or None)."""
        args = ["evaluate", "--task", "ranking", "--train", str(data.train_path), "--test", str(data.test_path),
                "--model", model, *shared.param_args(params), "--k", str(K), "--seed", str(seed),
                "--format", "json"]
        if threshold is not None:
            args += ["--positive-threshold", shared.format_threshold(threshold)]
        for kind, (path, columns) in features.items():
            args += [f"--{kind}-features", str(path)]
            if columns is not None:
                args += [f"--{kind}-feature-columns", columns]
        if candidates is not None:
            args += ["--candidates", candidates]
        return args


def feature_label(feature_set: tuple[str, ...]) -> str:
    return " + ".join(feature_set) if feature_set else "no features"


def run_affinity_model(entry: AffinityModel, feature_set: tuple[str, ...], data: ProtocolData,
                       cli: AffinityCLI, available: dict, options: set[str], feature_files: dict[str, Path],
                       seeds: list[int], issues: list[str]) -> dict:
    label = entry.label or entry.name
    row: dict[str, Any] = {"key": f"{label}, {feature_label(feature_set)}", "model": entry.name,
                           "params": entry.params, "features": list(feature_set), "seeded": entry.seeded,
                           "library": "Affinity", "runs": []}
    files = {FEATURE_SETS[name][0]: (feature_files[FEATURE_SETS[name][0]], FEATURE_SETS[name][1])
             for name in feature_set}
    candidates = PROTOCOLS[data.key]["candidates"]
    needed = [f"--{kind}-features" for kind in files]
    needed += [f"--{kind}-feature-columns" for kind, (_, columns) in files.items() if columns is not None]
    if candidates == "test-items" or (candidates == "all" and "--candidates" in options):
        needed.append("--candidates")
    else:
        candidates = None  # "all" is also what a build without --candidates ranks
    missing = [option for option in needed if option not in options]
    if entry.name not in available:
        row.update(status="not available", error="`affinity models` does not list it")
        return row
    if "ranking" not in available[entry.name]["tasks"]:
        row.update(status="not available", error="not a ranking model")
        return row
    if missing:
        row.update(status="not available", error=f"`affinity evaluate` has no {', '.join(missing)} in this build")
        return row
    for seed in (seeds if entry.seeded else seeds[:1]):
        run: dict[str, Any] = {"seed": seed, "metrics": {}, "fit_seconds": None}
        for positives, threshold in PROTOCOLS[data.key]["positives"].items():
            args = cli.evaluate_args(data, entry.name, entry.params, threshold, seed, files, candidates) + list(entry.cli)
            try:
                report = shared.parse_evaluate_json(cli.run(*args), entry.name)
            except (BenchError, subprocess.TimeoutExpired) as error:
                issues.append(str(error))
                log(f"  failed: {shared.last_line(str(error), 200)}")
                text = str(error)  # "`affinity <command>` exited N: <stderr>"; the command is in `issues`
                short = "exited" + text.split("` exited", 1)[1] if "` exited" in text else text
                row.update(status="failed", error=short)
                return row
            run["metrics"][positives] = {name: report["metrics"][name] for name in METRICS}
            run.setdefault("other_metrics", {})[positives] = {k: v for k, v in report["metrics"].items()
                                                              if k not in METRICS}
            run.setdefault("test_count", {})[positives] = report.get("test_count")
            run.setdefault("fallback_count", {})[positives] = report.get("fallback_count")
            run["fit_seconds"] = run["fit_seconds"] if run["fit_seconds"] is not None else report["fit_seconds"]
            run["parameters"] = report["parameters"]
            for key in ("test_count", "fallback_count"):
                if key not in report:
                    issues.append(f"`affinity evaluate` JSON lacks {key} (contract)")
            expected_users = len(data.positives[positives])
            if report.get("test_count") is not None and report["test_count"] != expected_users:
                issues.append(f"protocol {data.key}, {row['key']}, positives {positives}: test_count "
                              f"{report['test_count']} but {expected_users} users have a positive")
        row["runs"].append(run)
    row["status"] = "ok"
    return row


def metric_check(data: ProtocolData, cli: AffinityCLI, options: set[str]) -> dict:
    """Global popularity scored here vs `affinity evaluate --model popular`, on protocol A."""
    scores, _ = global_popularity(data)(0)
    top = top_lists(data, scores)
    result: dict[str, Any] = {"definitions": {}}
    candidates = "all" if "--candidates" in options else None
    for label, threshold in POSITIVE_DEFINITIONS.items():
        positives = data.positives[label]
        report = shared.parse_evaluate_json(
            cli.run(*cli.evaluate_args(data, "popular", {}, threshold, SPLIT_SEED, {}, candidates)), "popular")
        ours = ranking_metrics(top, positives, len(data.candidates))
        theirs = {name: report["metrics"][name] for name in METRICS}
        result["definitions"][label] = {"affinity": theirs, "python": ours,
                                        "max_abs_diff": max(abs(ours[n] - theirs[n]) for n in METRICS),
                                        "users": len(positives), "affinity_test_count": report.get("test_count")}
    result["passed"] = all(e["max_abs_diff"] <= CHECK_TOLERANCE for e in result["definitions"].values())
    return result


# --------------------------------------------------------------------------
# Running a protocol
# --------------------------------------------------------------------------

def split_spread(key: str, cli: AffinityCLI, inter: Path, tmp: Path, features: dict, with_lightfm: bool,
                 split_seeds: list[int]) -> dict:
    """NDCG@10 of the deterministic peers and of the first LightFM row (model seed 42) on other split
    seeds: how much the choice of held-out users/items alone moves the numbers."""
    positives = PROTOCOLS[key]["target_positives"]
    spread: dict[str, dict[str, float]] = {}
    for split_seed in split_seeds:
        log(f"{key} split sensitivity: split seed {split_seed}")
        out = tmp / f"spread-{PROTOCOLS[key]['method']}-{split_seed}"
        data = load_protocol(key, *cli.split_method(inter, PROTOCOLS[key]["method"], out, split_seed))
        peers = peers_for(data, features, with_lightfm)
        lightfm = [peer for peer in peers if peer.library == "LightFM"][:1]
        for peer in lightfm + [peer for peer in peers if not peer.seeded]:
            run = run_peer(peer, data, [DEFAULT_SEEDS[0]])["runs"][0]
            spread.setdefault(peer.key, {})[str(split_seed)] = run["metrics"][positives]["ndcg@10"]
        shutil.rmtree(out, ignore_errors=True)
    return spread


def multi_split(cli: AffinityCLI, inter: Path, tmp: Path, features: dict, feature_files: dict, available: dict,
                options: set[str], seeds: list[int], with_lightfm: bool, issues: list[str],
                split_seeds: list[int]) -> dict:
    """Protocol A on every split seed: the peers of MULTI_SPLIT_PEERS and the Affinity rows of
    MULTI_SPLIT_AFFINITY on the same split files, every stochastic row with every model seed.
    Returns {"split_seeds", "rows": [{key, library, per_split: {seed: mean NDCG@10 over model seeds}}]}."""
    positives = PROTOCOLS["A"]["target_positives"]
    start = time.perf_counter()
    rows: dict[str, dict] = {}
    splits: dict[str, dict] = {}
    for split_seed in split_seeds:
        log(f"A over several splits: split seed {split_seed}")
        out = tmp / f"multi-cold-users-{split_seed}"
        data = load_protocol("A", *cli.split_method(inter, PROTOCOLS["A"]["method"], out, split_seed))
        splits[str(split_seed)] = {**data.check, "evaluated_users": len(data.positives[positives])}
        peers = {peer.key: peer for peer in peers_for(data, features, with_lightfm)}
        for name in MULTI_SPLIT_PEERS:
            if name not in peers:
                continue
            result = run_peer(peers[name], data, seeds)
            row = rows.setdefault(name, {"key": name, "library": peers[name].library, "seeded": peers[name].seeded,
                                         "per_split": {}, "runs": {}})
            found = [run["metrics"][positives]["ndcg@10"] for run in result["runs"]]
            row["per_split"][str(split_seed)] = statistics.fmean(found)
            row["runs"][str(split_seed)] = found
        for entry in MULTI_SPLIT_AFFINITY:
            result = run_affinity_model(entry, ("user",), data, cli, available, options, feature_files, seeds, issues)
            row = rows.setdefault(result["key"], {"key": result["key"], "library": "Affinity", "model": entry.name,
                                                  "params": entry.params, "seeded": entry.seeded, "per_split": {},
                                                  "runs": {}, "status": "ok"})
            if result["status"] != "ok":
                row.update(status=result["status"], error=result.get("error"))
                continue
            found = values(result, positives)
            row["per_split"][str(split_seed)] = statistics.fmean(found)
            row["runs"][str(split_seed)] = found
        shutil.rmtree(out, ignore_errors=True)
    for row in rows.values():
        found = [row["per_split"][str(s)] for s in split_seeds if str(s) in row["per_split"]]
        row["mean"] = statistics.fmean(found) if found else None
        row["std"] = statistics.stdev(found) if len(found) > 1 else None
    return {"split_seeds": split_seeds, "positives": positives, "splits": splits, "rows": list(rows.values()),
            "seconds": time.perf_counter() - start}


def multi_split_markdown(section: dict) -> str:
    seeds_ = [str(s) for s in section["split_seeds"]]
    header = ["model", "library"] + [f"split {s}" for s in seeds_] + ["mean ± std (over splits)"]
    rows = []
    for row in section["rows"]:
        if row.get("status", "ok") != "ok":
            rows.append([row["key"], row["library"]] + [row["status"]] * len(seeds_) + [""])
            continue
        mean = "n/a" if row["mean"] is None else (
            f"{row['mean']:.4f}" + (f" ± {row['std']:.4f}" if row["std"] is not None else ""))
        rows.append([row["key"], row["library"]] + [fmt(row["per_split"].get(s)) for s in seeds_] + [mean])
    users = ", ".join(f"{s}: {section['splits'][s]['evaluated_users']}" for s in seeds_)
    by_key = {row["key"]: row for row in section["rows"]}
    lightfm = by_key.get(MULTI_SPLIT_PEERS[0])
    popularity = by_key.get(MULTI_SPLIT_PEERS[1])
    verdicts = []
    for row in section["rows"]:
        if row["library"] != "Affinity" or row.get("mean") is None:
            continue
        cells = [row["key"], f"{row['mean']:.4f}", verdict(row["mean"] >= TARGETS["A"])]
        for peer in (lightfm, popularity):
            cells.append("n/a" if not peer or peer.get("mean") is None else
                         f"{row['mean'] - peer['mean']:+.4f} ({sum(row['per_split'][s] >= peer['per_split'][s] for s in seeds_ if s in row['per_split'] and s in peer['per_split'])}/{len(seeds_)} splits ahead)")
        verdicts.append(cells)
    peer_means = "; ".join(f"{p['key']} {p['mean']:.4f}" for p in (lightfm, popularity) if p and p.get("mean") is not None)
    return (f"## A over several splits\n\n"
            f"`affinity split --method cold-users --test-fraction {TEST_FRACTION} --seed S` for S in "
            f"{', '.join(seeds_)}; every row on the same split files in this run. NDCG@10, positives: test "
            f"ratings ≥ 4 (users evaluated per split — {users}). Stochastic rows are the mean over model seeds "
            f"{', '.join(map(str, section.get('model_seeds', [])))} on each split; the last column is the mean ± "
            f"std of the per-split values. Affinity rows use `--user-features ml-100k.user`. Time: "
            f"{section['seconds']:.0f} s.\n\n" + table(header, rows)
            + f"\n\nAffinity rows against the issue's 0.42 and against the peers' own level on the same splits "
              f"(peer means: {peer_means}):\n\n"
            + table(["Affinity row", "mean NDCG@10", "≥ 0.42 on the mean",
                     f"vs {MULTI_SPLIT_PEERS[0]}", f"vs {MULTI_SPLIT_PEERS[1]}"], verdicts))


def run_protocol(key: str, cli: AffinityCLI, inter: Path, tmp: Path, features: dict, feature_files: dict,
                 available: dict, options: set[str], seeds: list[int], with_lightfm: bool,
                 issues: list[str], spread_seeds: list[int]) -> dict:
    spec = PROTOCOLS[key]
    start = time.perf_counter()
    train, test = cli.split_method(inter, spec["method"], tmp / f"split-{spec['method']}")
    data = load_protocol(key, train, test)
    log(f"{key} ({spec['title']}): {data.check}")
    if not data.check["passed"]:
        issues.append(f"`affinity split --method {spec['method']}`: {data.check['overlap']} held-out "
                      f"{'users' if key == 'A' else 'items'} also occur in train.tsv")
    result: dict[str, Any] = {"title": spec["title"], "method": spec["method"], "split": data.check,
                              "candidates": len(data.candidates), "seeds": seeds,
                              "evaluated_users": {label: len(p) for label, p in data.positives.items()},
                              "peers": [], "affinity": []}
    if key == "A":
        result["metric_check"] = metric_check(data, cli, options)
        log(f"metric check vs `affinity evaluate --model popular`: "
            f"{'passed' if result['metric_check']['passed'] else 'FAILED'}")
        if not result["metric_check"]["passed"]:
            issues.append(f"the script's metrics do not match `affinity evaluate --model popular` on protocol A "
                          f"to {CHECK_TOLERANCE:g}: see A.metric_check in the JSON")
    if key in ("A", "B"):
        for peer in peers_for(data, features, with_lightfm):
            log(f"{key} peer: {peer.key}")
            result["peers"].append(run_peer(peer, data, seeds))
        if spread_seeds:
            result["split_spread"] = split_spread(key, cli, inter, tmp, features, with_lightfm, spread_seeds)
    for entry in AFFINITY_MODELS:
        for feature_set in getattr(entry, key):
            log(f"{key} affinity: {entry.label or entry.name}, {feature_label(feature_set)}")
            result["affinity"].append(run_affinity_model(entry, feature_set, data, cli, available, options,
                                                         feature_files, seeds, issues))
    result["seconds"] = time.perf_counter() - start
    return result


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------

def values(row: dict, positives: str, name: str = "ndcg@10") -> list[float]:
    return [run["metrics"][positives][name] for run in row.get("runs", []) if positives in run["metrics"]]


def mean_of(row: dict, positives: str, name: str = "ndcg@10") -> float | None:
    found = values(row, positives, name)
    return statistics.fmean(found) if found else None


def mean_std(row: dict, positives: str, name: str = "ndcg@10") -> str:
    found = values(row, positives, name)
    if not found:
        return "n/a"
    if len(found) == 1:
        return f"{found[0]:.4f}"
    return f"{statistics.fmean(found):.4f} ± {statistics.stdev(found):.4f}"


def fit_cell(row: dict) -> str:
    found = [run["fit_seconds"] for run in row.get("runs", []) if run.get("fit_seconds") is not None]
    return fmt(statistics.fmean(found), 2) if found else ""


def result_table(section: dict, positives: str) -> str:
    header = ["model", "library", "NDCG@10", "P@10", "R@10", "MAP@10", "hit@10", "cov@10", "fit s", "seeds"]
    rows = []
    for row in section["peers"] + section["affinity"]:
        if row["status"] != "ok":
            reason = "not available" if row["status"] == "not available" else "failed"
            rows.append([row["key"], row["library"], reason] + [""] * 7)
            continue
        cells = [mean_std(row, positives)] + [fmt(mean_of(row, positives, name))
                                             for name in METRICS if name != "ndcg@10"]
        rows.append([row["key"], row["library"]] + cells
                    + [fit_cell(row), ", ".join(str(run["seed"]) for run in row["runs"])])
    return table(header, rows)


def best_row(rows: list[dict], positives: str) -> dict | None:
    scored = [row for row in rows if row["status"] == "ok" and mean_of(row, positives) is not None]
    return max(scored, key=lambda row: mean_of(row, positives), default=None)


def reference_table(section: dict, key: str) -> str:
    positives = PROTOCOLS[key]["target_positives"]
    by_key = {row["key"]: row for row in section["peers"]}
    rows = []
    for name, reference in REFERENCE[key].items():
        row = by_key.get(name)
        value = mean_of(row, positives) if row else None
        rows.append([name, f"{reference:.3f}", mean_std(row, positives) if row else "not run",
                     "n/a" if value is None else f"{value - reference:+.4f}"])
    return (f"Issue's reference numbers (NDCG@10, positives: {positives}):\n\n"
            + table(["peer row", "issue", "this run", "Δ (mean − issue)"], rows))


def targets(results: dict) -> tuple[list[list[str]], dict]:
    rows, summary = [], {}
    for key in ("A", "B"):
        section = results["protocols"].get(key)
        if not section:
            continue
        positives = PROTOCOLS[key]["target_positives"]
        best = best_row(section["affinity"], positives)
        value = mean_of(best, positives) if best else None
        where = f"{best['key']}: {mean_std(best, positives)}" if best else "no Affinity model available"
        label = f"{key}. {PROTOCOLS[key]['title']}: best Affinity NDCG@10 ({positives})"
        rows.append([label, f"≥ {TARGETS[key]:.2f} (issue)", where,
                     verdict(None if value is None else value >= TARGETS[key])])
        summary[key] = {"best_affinity": best and [best["key"], value], "target": TARGETS[key], "lightfm": {}}
        for peer in section["peers"]:
            if peer["library"] != "LightFM":
                continue
            theirs = mean_of(peer, positives)
            rows.append([label, f"≥ {peer['key']} ({mean_std(peer, positives)})", where,
                         verdict(None if value is None or theirs is None else value >= theirs)])
            summary[key]["lightfm"][peer["key"]] = theirs
    section = results["protocols"].get("C")
    if section:
        summary["C"] = []
        for entry in AFFINITY_MODELS:
            if len(entry.C) < 2:
                continue
            label = entry.label or entry.name
            rows_ = {tuple(r["features"]): r for r in section["affinity"] if r["model"] == entry.name}
            base = rows_.get(tuple(entry.C[0]))
            for feature_set in entry.C[1:]:
                other = rows_.get(tuple(feature_set))
                for positives in PROTOCOLS["C"]["positives"]:
                    without = mean_of(base, positives) if base and base["status"] == "ok" else None
                    with_ = mean_of(other, positives) if other and other["status"] == "ok" else None
                    ok = None if without is None or with_ is None else with_ >= without
                    delta = "n/a" if ok is None else f"{with_ - without:+.4f}"
                    rows.append([f"C. {label} with {feature_label(feature_set)} vs {feature_label(entry.C[0])} "
                                 f"(NDCG@10, {positives})", "not worse",
                                 f"{fmt(with_)} vs {fmt(without)} (Δ {delta})", verdict(ok)])
                    summary["C"].append({"model": label, "features": list(feature_set), "positives": positives,
                                         "with": with_, "without": without, "not_worse": ok})
    return rows, summary


def feature_notes() -> str:
    return ("Feature construction (peers): users — `gender=M/F`, `age=<bucket>` with the MovieLens-1M buckets "
            "<18, 18–24, 25–34, 35–44, 45–49, 50–55, 56+, `occupation=<token>` from `ml-100k.user` (zip code not "
            "used); items — `genre=<g>` for each genre in `class` (19 genres incl. `unknown`), `decade=<1990s>` "
            "or `year=<1995>` from `release_year` (none when it is not a year: items 267 and 1412), and for the "
            "title-word variant every lower-case alphanumeric word of `movie_title` that occurs in at least one "
            "training item's title. LightFM feature rows are one-hot, normalised to sum 1 as "
            "`lightfm.data.Dataset.build_*_features(normalize=True)` (the default) builds them, or not normalised "
            "where the row says so; a feature never seen in training is dropped. Affinity gets the raw RecBole "
            "files (`--user-features ml-100k.user`, `--item-features ml-100k.item`) and encodes them itself "
            "(its FeatureEncoder: the same age buckets, release year as decade, genres multi-hot, title words "
            "TF-IDF, near-unique columns such as the zip code left out), with its default columns or those a row "
            "names (`item-no-title`: `--item-feature-columns release_year,class`). Peers train on every train row "
            "as a positive (binary), with one thread.")


def section_markdown(key: str, section: dict) -> list[str]:
    spec = PROTOCOLS[key]
    check = section["split"]
    parts = [f"## {key}. {spec['title']}"]
    if key == "A":
        text = (f"`affinity split --method cold-users --test-fraction {TEST_FRACTION} --seed {SPLIT_SEED}`: "
                f"{check['train_rows']:,} train / {check['test_rows']:,} test rows; {check['test_users']} held-out "
                f"users ({check['held_out_fraction']:.3f} of all), {check['overlap']} of them also in train "
                f"({'ok' if check['passed'] else '❌'}); {check['test_items_not_in_train']} test items never occur "
                f"in train (they count in |P| but cannot be recommended). Candidates: the "
                f"{section['candidates']} training items. Positives: test ratings ≥ 4 "
                f"({section['evaluated_users']['rating>=4']} users have one).")
    elif key == "B":
        text = (f"`affinity split --method cold-items --test-fraction {TEST_FRACTION} --seed {SPLIT_SEED}`: "
                f"{check['train_rows']:,} train / {check['test_rows']:,} test rows; {check['test_items']} held-out "
                f"items ({check['held_out_fraction']:.3f} of all), {check['overlap']} of them also in train "
                f"({'ok' if check['passed'] else '❌'}). Candidates: the {section['candidates']} held-out items "
                f"(Affinity: `--candidates test-items`), ranked for every user with a test row "
                f"({section['evaluated_users']['all']}; {check['test_users_not_in_train']} of them have no train "
                f"row). The peers' coverage@10 is over the held-out items; Affinity's is what `evaluate` reports.")
    else:
        text = (f"`affinity split --method user-temporal --test-fraction {TEST_FRACTION} --seed {SPLIT_SEED}`: "
                f"{check['train_rows']:,} train / {check['test_rows']:,} test rows. Affinity rows only: each model "
                f"without and with `--user-features ml-100k.user --item-features ml-100k.item`.")
    parts.append(text + f" Time for this protocol: {section['seconds']:.0f} s.")
    if section["peers"]:
        parts.append("Peer settings:\n\n" + "\n".join(
            f"- {row['key']}: {row['settings']}" + (" (seeds " + ", ".join(str(r["seed"]) for r in row["runs"])
                                                    + ")" if row["seeded"] else "")
            for row in section["peers"]))
    if "metric_check" in section:
        check_ = section["metric_check"]
        rows = [[label, name, f"{e['affinity'][name]:.12f}", f"{e['python'][name]:.12f}"]
                for label, e in check_["definitions"].items() for name in METRICS]
        diffs = "; ".join(f"{e['max_abs_diff']:.1e} (positives: {label}, {e['users']} users)"
                          for label, e in check_["definitions"].items())
        parts.append("### Metric check: the script's code vs `affinity evaluate --model popular`\n\n"
                     f"Global popularity ranked and scored here (ties by first appearance in train) against "
                     f"Affinity's `popular` on the same split. Largest absolute difference over the six metrics: "
                     f"{diffs}; tolerance {CHECK_TOLERANCE:g}: **{'passed' if check_['passed'] else 'FAILED'}**.\n\n"
                     + table(["positives", "metric", "Affinity", "this script"], rows))
    for positives in spec["positives"]:
        title = "every test row is a positive" if spec["positives"][positives] is None else "test rows rated ≥ 4"
        parts.append(f"### Positives: {title} ({section['evaluated_users'][positives]} users)\n\n"
                     f"NDCG@10 is the mean ± std over the seeds listed; the other columns are means.\n\n"
                     + result_table(section, positives))
    failed = [row for row in section["affinity"] if row["status"] != "ok"]
    if failed:
        parts.append("Affinity rows not run:\n\n" + "\n".join(
            f"- {row['key']}: {row['status']} — {shared.last_line(row['error'], 300)}" for row in failed))
    if key in REFERENCE:
        parts.append(reference_table(section, key))
    if section.get("split_spread"):
        positives = spec["target_positives"]
        main = {row["key"]: row for row in section["peers"]}
        rows = []
        for name, by_seed in section["split_spread"].items():
            found = list(by_seed.values())
            first = main[name]["runs"][0]["metrics"][positives]["ndcg@10"]
            spread_ = (f"{statistics.fmean(found):.4f} ± {statistics.stdev(found):.4f}" if len(found) > 1
                       else fmt(found[0]))
            rows.append([name, fmt(first), spread_, f"{min(found):.4f}–{max(found):.4f}"])
        parts.append(f"Split sensitivity: the same peers (LightFM with model seed {DEFAULT_SEEDS[0]} only) on "
                     f"`affinity split --method {spec['method']}` with split seeds "
                     f"{', '.join(section['split_spread'][next(iter(section['split_spread']))])} "
                     f"(NDCG@10, positives: {positives}). Only split {SPLIT_SEED} counts for the targets; this shows "
                     f"how much the held-out sample alone moves the numbers.\n\n"
                     + table(["peer row", f"split {SPLIT_SEED}", "other splits, mean ± std", "min–max"], rows))
    return parts


def machine_info(binary: Path, affinity_version: str) -> dict:
    cpu = "unknown"
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        cpu = next(line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration):
        pass
    import numpy
    import scipy
    versions = {"numpy": numpy.__version__, "scipy": scipy.__version__, "python": platform.python_version(),
                "affinity": affinity_version}
    try:
        import lightfm
        versions["lightfm"] = lightfm.__version__
    except ImportError:
        versions["lightfm"] = None
    return {"cpu": cpu, "nproc": os.cpu_count(), "platform": platform.platform(), "versions": versions,
            "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "commit": shared.git_commit(binary), "load_average_at_start": os.getloadavg()}


def write_report(out_dir: Path, results: dict) -> str:
    info = results["machine"]
    v = info["versions"]
    lightfm_line = (f"LightFM {v['lightfm']}" if v["lightfm"]
                    else f"LightFM: **not available** — {results['lightfm_problem']}")
    models = results["affinity_models"]
    wanted, present = results["evaluate_options_wanted"], results["evaluate_options"]
    has = ", ".join(o for o in wanted if o in present) or "none"
    lacks = ", ".join(o for o in wanted if o not in present) or "none"
    header = (
        "# Affinity vs LightFM: cold start on MovieLens-100k\n\n"
        f"- Date: {info['date']}; whole run {results['seconds']:.0f} s\n"
        f"- Machine: {info['cpu']}, {info['nproc']} cores (`nproc`), {info['platform']}; load average at "
        f"start {info['load_average_at_start'][0]:.2f}\n"
        f"- Affinity {v['affinity']}, commit {info['commit']}\n"
        f"- {lightfm_line} (numpy {v['numpy']}, scipy {v['scipy']}, Python {v['python']})\n"
        f"- Affinity models tried: available {', '.join(models['available']) or 'none'}; not available "
        f"{', '.join(models['not_available']) or 'none'}. `affinity evaluate` options this build has: {has}; "
        f"lacks: {lacks}\n"
        f"- Seeds for stochastic rows: {', '.join(map(str, results['seeds']))}; split seed {SPLIT_SEED}; k = {K}\n"
        f"- Produced by: `{results['command']}`\n"
    )
    parts = [header]
    target_rows, _ = targets(results)
    parts.append("## Targets\n\nThe best Affinity row (seed mean) against the issue's target and against every "
                 "LightFM row of the same run.\n\n"
                 + table(["target", "required", "measured", "verdict"], target_rows))
    parts.append(feature_notes())
    for key, section in results["protocols"].items():
        parts += section_markdown(key, section)
    if results.get("multi_split"):
        parts.append(multi_split_markdown(results["multi_split"]))
    if results["issues"]:
        parts.append("## Affinity CLI output that did not match the contract, or failed\n\n"
                     + "\n".join(f"- {shared.last_line(issue, 400)}" for issue in results["issues"]))
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
                        help="directory with ml-100k.inter, ml-100k.user, ml-100k.item")
    parser.add_argument("--affinity", type=Path, default=DEFAULT_BINARY, help="affinity executable")
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR, help="where the .md/.json go")
    parser.add_argument("--seeds", default=",".join(map(str, DEFAULT_SEEDS)),
                        help="comma-separated seeds for stochastic rows (default 42,43,44)")
    parser.add_argument("--quick", action="store_true", help="one seed (the first of --seeds)")
    parser.add_argument("--protocols", default="A,B,C", help="which protocols to run (default A,B,C)")
    parser.add_argument("--split-spread", type=int, default=5, metavar="N",
                        help="also score the baselines and one LightFM row on split seeds 1..N of A and B "
                             "(default 5; 0 = off)")
    parser.add_argument("--split-seeds", default="", metavar="S1,S2,...",
                        help="also run protocol A (peers and Affinity candidates) on each of these cold-user split "
                             "seeds and report per-split values and mean ± std (default: off)")
    parser.add_argument("--skip-install", action="store_true", help="do not create or update .venv-implicit")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    os.environ.setdefault(ORIGINAL_COMMAND, shlex.join(["python3", "scripts/compare_coldstart.py", *sys.argv[1:]]))
    data_dir = args.data_dir.resolve()
    inter, user_file, item_file = (data_dir / f"ml-100k.{suffix}" for suffix in ("inter", "user", "item"))
    for path in (inter, user_file, item_file):
        if not path.is_file():
            raise BenchError(f"{path} not found; pass --data-dir DIR holding ml-100k.inter/.user/.item")
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    seeds = seeds[:1] if args.quick else seeds
    spread_seeds = [s for s in range(1, args.split_spread + 1) if s != SPLIT_SEED]
    protocols = [p.strip().upper() for p in args.protocols.split(",") if p.strip()]
    multi_seeds = [int(s) for s in args.split_seeds.split(",") if s.strip()]
    if not seeds or any(p not in PROTOCOLS for p in protocols):
        raise BenchError(f"--seeds needs at least one seed and --protocols a subset of {', '.join(PROTOCOLS)}")
    cli = AffinityCLI(args.affinity.resolve())
    cli.check()
    ensure_peer_interpreter(args.skip_install)  # may re-exec; everything below imports numpy/LightFM
    with_lightfm, lightfm_problem = shared.lightfm_status()
    if not with_lightfm:
        log(lightfm_problem)

    issues: list[str] = []
    tmp = Path(tempfile.mkdtemp(prefix="affinity-coldstart-"))
    try:
        # A private copy, so a rebuild of .build/release during the run cannot change or remove it.
        shutil.copy2(cli.binary, tmp / "affinity")
        original_binary, cli = cli.binary, AffinityCLI(tmp / "affinity")
        available = cli.models()
        wanted = list(dict.fromkeys(entry.name for entry in AFFINITY_MODELS + MULTI_SPLIT_AFFINITY))
        options = cli.evaluate_options()
        results: dict[str, Any] = {
            "command": os.environ[ORIGINAL_COMMAND], "machine": machine_info(original_binary, cli.version()),
            "lightfm_problem": lightfm_problem, "seeds": seeds, "references": REFERENCE, "targets": TARGETS,
            "lightfm": {**LIGHTFM_PARAMS, "epochs": LIGHTFM_EPOCHS, "num_threads": LIGHTFM_THREADS},
            "affinity_models": {"available": [n for n in wanted if n in available],
                                "not_available": [n for n in wanted if n not in available],
                                "tried": [vars(entry) for entry in AFFINITY_MODELS]},
            "evaluate_options": sorted(options),
            "evaluate_options_wanted": ["--user-features", "--item-features", "--candidates",
                                        "--user-feature-columns", "--item-feature-columns"],
            "split_spread_seeds": spread_seeds,
            "issues": issues, "protocols": {}}
        log(f"Affinity models available: {results['affinity_models']['available']}; evaluate has "
            f"{[o for o in results['evaluate_options_wanted'] if o in options]}")
        features = {"user_tokens": user_feature_tokens(user_file), "item_tokens": item_feature_tokens(item_file)}
        feature_files = {"user": user_file, "item": item_file}
        for key in protocols:
            results["protocols"][key] = run_protocol(key, cli, inter, tmp, features, feature_files, available,
                                                     options, seeds, with_lightfm, issues, spread_seeds)
        if multi_seeds:
            results["multi_split"] = multi_split(cli, inter, tmp, features, feature_files, available, options,
                                                 seeds, with_lightfm, issues, multi_seeds)
            results["multi_split"]["model_seeds"] = seeds
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    issues[:] = dict.fromkeys(issues)
    results = json.loads(json.dumps(results, default=str).replace(str(tmp), "$TMP"))
    results["seconds"] = time.perf_counter() - started
    _, results["target_summary"] = targets(results)
    markdown = write_report(args.out_dir, results)
    print(markdown)
    log(f"wrote {args.out_dir / (REPORT_NAME + '.md')} and .json ({results['seconds']:.0f} s)")


if __name__ == "__main__":
    try:
        main()
    except BenchError as error:
        shared.die(str(error))
    except KeyboardInterrupt:
        shared.die("interrupted")
