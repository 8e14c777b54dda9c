#!/usr/bin/env python3
"""Cold-user prototypes on the validation carves of docs/benchmarks/coldstart.md (issue 5).

Numpy re-implementations used to try scorers before writing them in Swift. Each is checked
against Affinity first: `segment` (no shrinkage) reproduces `feature-popular` and `blend` with
w = 0.7 reproduces `segment-ridge` (0.4292 over the six outer splits' carves) to the digit.

    # the carves (as in coldstart.md): outer splits 42 and 1-5, each carved with seeds 7, 8, 9
    A=.build-release/release/affinity; D=../shared/datasets/ml-100k
    for s in 42 1 2 3 4 5; do
      $A split --data $D/ml-100k.inter --method cold-users --test-fraction 0.2 --seed $s --out /tmp/cold-val/outer$s
      for v in 7 8 9; do
        $A split --data /tmp/cold-val/outer$s/train.tsv --method cold-users --test-fraction 0.2 --seed $v \
           --out /tmp/cold-val/val$s-$v
      done
    done
    python3 scripts/prototype_cold_users.py segment '{}' '{"alpha": 1}'
    python3 scripts/prototype_cold_users.py backoff '{"m1": 1000, "m2": 1000, "m3": 1000}'
    python3 scripts/prototype_cold_users.py kernel '{"h": 5, "g": 0.2, "o": 0.7, "alpha": 0.5}'
    python3 scripts/prototype_cold_users.py blend '{"w": 0.7}' '{"w": 0.7, "alpha": 1}'
    python3 scripts/prototype_cold_users.py blend '{"w": 0.7, "offset": 2}'   # graded: stars - 2

Prints NDCG@10 (positives: ratings >= 4) per outer split, each the mean over its three carves,
and the mean over the six. Test users of an outer split are never read.
"""
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
USERS = os.path.join(HERE, "..", "..", "shared", "datasets", "ml-100k", "ml-100k.user")
CARVES = os.environ.get("COLD_VAL", "/tmp/cold-val")
OUTERS = ["42", "1", "2", "3", "4", "5"]


def read_users(path):
    features = {}
    with open(path) as f:
        next(f)
        for line in f:
            user, age, gender, occupation, _ = line.rstrip("\n").split("\t")
            features[user] = (int(age), gender, occupation)
    return features


def age_bucket(age):
    """MovieLens-1M buckets, as Affinity's feature reader."""
    for i, edge in enumerate([18, 25, 35, 45, 50, 56]):
        if age < edge:
            return i
    return 6


def rows(path):
    with open(path) as f:
        return [line.split("\t")[:3] for line in f if line.strip()]


class Carve:
    """One validation carve: liked-item matrix of its training users and its test positives."""

    def __init__(self, folder, features):
        train, test = rows(folder + "/train.tsv"), rows(folder + "/test.tsv")
        items = sorted({i for _, i, _ in train} | {i for _, i, _ in test})
        index = {i: k for k, i in enumerate(items)}
        self.users = sorted({u for u, _, _ in train})
        position = {u: k for k, u in enumerate(self.users)}
        self.liked = np.zeros((len(self.users), len(items)))
        self.stars = np.zeros((len(self.users), len(items)))
        for u, i, r in train:
            self.stars[position[u], index[i]] = float(r)
            if float(r) >= 4:
                self.liked[position[u], index[i]] = 1
        self.features = features
        self.age = np.array([features[u][0] for u in self.users], float)
        self.gender = np.array([features[u][1] for u in self.users])
        self.occupation = np.array([features[u][2] for u in self.users])
        self.bucket = np.array([age_bucket(a) for a in self.age])
        self.positives = {}
        for u, i, r in test:
            if float(r) >= 4:
                self.positives.setdefault(u, set()).add(index[i])
        self.popularity = self.liked.sum(0)
        occupations = sorted({f[2] for f in features.values()})
        self.onehot = lambda u: self._onehot(u, occupations)
        self.design = np.array([self.onehot(u) for u in self.users])

    def _onehot(self, user, occupations):
        age, gender, occupation = self.features[user]
        x = np.zeros(10 + len(occupations))
        x[0] = 1  # intercept
        x[1 + (gender == "M")] = 1
        x[3 + age_bucket(age)] = 1
        x[10 + occupations.index(occupation)] = 1
        return x

    def segment_counts(self, user, targets=None):
        age, gender, _ = self.features[user]
        mask = (self.gender == gender) & (self.bucket == age_bucket(age))
        return mask.astype(float) @ (self.liked if targets is None else targets)

    def graded(self, offset):
        """Affinity's usesValues + valueOffset: each rating counts stars - offset, nothing at or below it."""
        return np.where(self.stars > offset, self.stars - offset, 0.0)

    def ndcg(self, score):
        total = 0.0
        for user, positives in self.positives.items():
            top = np.argsort(-score(user), kind="stable")[:10]
            dcg = sum(1 / np.log2(r + 2) for r, j in enumerate(top) if j in positives)
            ideal = sum(1 / np.log2(r + 2) for r in range(min(len(positives), 10)))
            total += dcg / ideal
        return total / len(self.positives)


def standardized(v):
    s = v.std()
    return (v - v.mean()) / s if s > 0 else v * 0


def scorer(carve, kind, p):
    glob = carve.popularity / carve.popularity.sum()
    if kind == "segment":  # segment counts, optionally shrunk toward global popularity by alpha
        def score(u):
            c = carve.segment_counts(u)
            if "alpha" in p:
                return c / max(c.sum(), 1) + p["alpha"] * glob
            return c + 1e-6 * carve.popularity
        return score
    if kind == "backoff":  # nested Dirichlet smoothing: global -> gender -> x age -> x occupation
        def score(u):
            age, gender, occupation = carve.features[u]
            prob = glob
            g = carve.gender == gender
            ga = g & (carve.bucket == age_bucket(age))
            gao = ga & (carve.occupation == occupation)
            for mask, m in ((g, p["m1"]), (ga, p["m2"]), (gao, p["m3"])):
                c = mask.astype(float) @ carve.liked
                prob = (c + m * prob) / (c.sum() + m)
            return prob
        return score
    if kind == "kernel":  # training users weighted by age distance, gender and occupation match
        def score(u):
            age, gender, occupation = carve.features[u]
            w = (np.exp(-np.abs(carve.age - age) / p["h"]) * np.where(carve.gender == gender, 1, p["g"])
                 * np.where(carve.occupation == occupation, 1, p["o"]))
            c = w @ carve.liked
            return c / c.sum() + p.get("alpha", 0) * glob + 1e-9 * carve.popularity
        return score
    if kind == "blend":  # segment-ridge: (1 - w) z(ridge) + w z(log(1 + segment counts))
        X = carve.design
        targets = carve.graded(p["offset"]) if "offset" in p else carve.liked
        M = np.linalg.solve(X.T @ X + p.get("lambda", 300) * np.eye(X.shape[1]), X.T @ targets)
        w = p.get("w", 0.7)

        def score(u):
            c = carve.segment_counts(u, targets)
            if "alpha" in p:
                c = (c / max(c.sum(), 1) + p["alpha"] * glob) * c.sum()
            return (1 - w) * standardized(carve.onehot(u) @ M) + w * standardized(np.log1p(c))
        return score
    raise SystemExit(f"unknown kind {kind}: segment, backoff, kernel or blend")


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    kind, grid = sys.argv[1], [json.loads(a) for a in sys.argv[2:]] or [{}]
    features = read_users(USERS)
    carves = {o: [Carve(f"{CARVES}/val{o}-{v}", features) for v in (7, 8, 9)] for o in OUTERS}
    for p in grid:
        means = [np.mean([c.ndcg(scorer(c, kind, p)) for c in carves[o]]) for o in OUTERS]
        cells = " ".join(f"{o}:{m:.4f}" for o, m in zip(OUTERS, means))
        print(f"{kind} {json.dumps(p)}  {cells}  mean {np.mean(means):.4f}", flush=True)


if __name__ == "__main__":
    main()
