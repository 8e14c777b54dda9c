#!/usr/bin/env python3
"""Read an Affinity model bundle (.affinity) with the `safetensors` package and numpy only.

    python scripts/read_bundle.py model.affinity
    python scripts/read_bundle.py als.affinity --check-user 3 --affinity .build/debug/affinity

Prints the manifest (without the model body) and every tensor's dtype and shape, checks each
tensor's SHA-256 against the manifest, and, with --check-user on an ALS bundle, recomputes that
user's scores as userFactors[u] @ itemFactors.T and compares the top 5 with `affinity recommend`.
Needs: pip install safetensors numpy.
"""
import argparse
import hashlib
import json
import subprocess
import sys

import numpy as np
from safetensors import safe_open


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle")
    parser.add_argument("--check-user", help="an ALS bundle's user id to rescore with numpy")
    parser.add_argument("--affinity", default="affinity", help="the affinity binary for the comparison")
    args = parser.parse_args()

    with safe_open(args.bundle, framework="np") as f:
        manifest = json.loads(f.metadata()["affinity"])
        tensors = {name: f.get_tensor(name) for name in f.keys()}

    summary = {k: v for k, v in manifest.items() if k not in ("model", "vocabularies", "sha256")}
    summary["vocabularies"] = {name: len(ids) for name, ids in manifest["vocabularies"].items()}
    print("manifest:", json.dumps(summary, indent=2, sort_keys=True))
    print("tensors:")
    for name, array in tensors.items():
        digest = hashlib.sha256(array.astype(array.dtype.newbyteorder("<")).tobytes()).hexdigest()
        ok = "sha256 ok" if digest == manifest["sha256"][name] else "SHA-256 MISMATCH"
        print(f"  {name:28s} {str(array.dtype):8s} {str(list(array.shape)):12s} {ok}")
        if digest != manifest["sha256"][name]:
            return 1

    if args.check_user is None:
        return 0
    if manifest["kind"] != "als":
        print("--check-user needs an ALS bundle", file=sys.stderr)
        return 2
    users, items = manifest["vocabularies"]["users"], manifest["vocabularies"]["items"]
    u = users.index(args.check_user)
    scores = tensors["userFactors"][u] @ tensors["itemFactors"].T
    # `affinity recommend` leaves out what the user has already seen (CSR rows of index.seen).
    starts, columns = tensors["index.seen.rowStarts"], tensors["index.seen.columns"]
    scores[columns[starts[u]:starts[u + 1]]] = -np.inf
    top = np.argsort(-scores, kind="stable")[:5]
    ours = [(items[j], float(scores[j])) for j in top]
    out = subprocess.run(
        [args.affinity, "recommend", "--model-file", args.bundle, "--user", args.check_user, "--count", "5",
         "--format", "json"],
        check=True, capture_output=True, text=True).stdout
    theirs = [(r["item"], r["score"]) for r in json.loads(out)]
    print(f"user {args.check_user}: numpy top 5   ", [(i, round(s, 4)) for i, s in ours])
    print(f"user {args.check_user}: affinity top 5", [(i, round(s, 4)) for i, s in theirs])
    same = [i for i, _ in ours] == [i for i, _ in theirs] and all(
        abs(a - b) <= 1e-4 * max(1.0, abs(b)) for (_, a), (_, b) in zip(ours, theirs))
    print("match" if same else "MISMATCH")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
