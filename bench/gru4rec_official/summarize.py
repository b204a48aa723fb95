"""Per-seed table, mean ± std and recbook / official ratios of ``compare.py quality`` logs.

    python bench/gru4rec_official/summarize.py /tmp/logs/*.log

Each log is the output of one ``compare.py quality --impl official|recbook`` process; its run
line (``- run: impl ..., seed ..., reset_after ...``) names the implementation, the seed and
the cell; a log without one (older compare.py) takes its seed from ``_s<seed>`` in the file name.
Runs are grouped by (paramfile, number of epochs, implementation and cell).
"""
from __future__ import annotations

import ast
import re
import sys
from collections import defaultdict

import numpy as np


def parse(path):
    text = open(path).read()
    head = re.search(r"^### (\S+): (\{.*\})$", text, re.M)
    row = re.search(r"^\| (official|recbook) \| ([0-9.]+) \| ([0-9.]+) \| ([0-9.]+) \|$", text,
                    re.M)
    if not head or not row:
        return None  # unfinished
    params = ast.literal_eval(head.group(2))
    run = re.search(r"^- run: impl (\w+), seed (\d+), reset_after (\w+)", text, re.M)
    if run:
        seed = int(run.group(2))
    elif re.search(r"_s(\d+)", path):
        seed = int(re.search(r"_s(\d+)", path).group(1))
    else:
        sys.exit(f"{path}: no '- run:' line and no _s<seed> in the file name")
    impl = row.group(1)
    if impl == "recbook":
        impl += " reset_after=True" if run and run.group(3) == "True" else " default cell"
    losses = [float(x) for x in re.findall(r"(?:loss: |train_loss )([0-9.]+)", text)]
    return dict(paramfile=head.group(1), epochs=params["n_epochs"], impl=impl, seed=seed,
                recall=float(row.group(2)), mrr=float(row.group(3)), seconds=float(row.group(4)),
                losses=losses, path=path)


def main(paths):
    runs = [r for r in map(parse, paths) if r]
    groups = defaultdict(list)
    for r in runs:
        groups[(r["paramfile"], r["epochs"], r["impl"])].append(r)
    print("| paramfile (epochs) | implementation | seed | Recall@20 | MRR@20 | last epoch loss |")
    print("| --- | --- | --- | --- | --- | --- |")
    for (pf, ep, impl), rs in sorted(groups.items()):
        for r in sorted(rs, key=lambda r: r["seed"]):
            print(f"| {pf} ({ep}) | {impl} | {r['seed']} | {r['recall']:.4f} | {r['mrr']:.4f} "
                  f"| {r['losses'][-1] if r['losses'] else float('nan'):.4f} |")
    print("\n| paramfile (epochs) | implementation | seeds | Recall@20 mean ± std | "
          "MRR@20 mean ± std | recbook / official (means) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for (pf, ep, impl), rs in sorted(groups.items()):
        R = np.array([r["recall"] for r in rs])
        M = np.array([r["mrr"] for r in rs])
        sd = (lambda a: a.std(ddof=1) if len(a) > 1 else float("nan"))
        ratio = ""
        off = groups.get((pf, ep, "official"))
        if impl != "official" and off:
            ratio = (f"{R.mean() / np.mean([r['recall'] for r in off]):.3f} / "
                     f"{M.mean() / np.mean([r['mrr'] for r in off]):.3f}")
        print(f"| {pf} ({ep}) | {impl} | {', '.join(str(r['seed']) for r in rs)} | "
              f"{R.mean():.4f} ± {sd(R):.4f} | {M.mean():.4f} ± {sd(M):.4f} | {ratio} |")


if __name__ == "__main__":
    main(sys.argv[1:])
