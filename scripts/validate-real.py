#!/usr/bin/env python3
"""Scores posterior files of the real labelled stars (tests/data/real_stars) against
their labels: RMS, mean |error| and median |error| of Teff (4000-7000 K stars only),
log g and [M/H] ([Fe/H] labels), and the fraction of labels inside the 68 % HDI.

usage: validate-real.py LABELS.csv NAME=POSTERIOR.h5[:variant] ...
variant: flow (default) or importance (the /importance summaries of sample --importance).
Needs python3-h5py and python3-numpy (Debian packages)."""
import csv
import sys

try:
    import h5py
    import numpy as np
except ImportError:
    sys.exit("validate-real.py needs h5py and numpy: apt-get install python3-h5py python3-numpy")


def labels(path):
    with open(path) as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    ids = [r["id"] for r in rows]
    lab = np.array([[float(r[k]) if r[k] else np.nan for k in ("teff", "logg", "mh")] for r in rows])
    return ids, lab


def score(name, path, variant, ids, lab):
    f = h5py.File(path, "r")
    g = "importance/" if variant == "importance" else ""
    med, hdi = f[g + "median"][:], f[g + "hdi68"][:]
    flags = f["flags"][:]
    if "id" in f:
        pid = [s.decode() for s in f["id"][:]]
        if pid != ids:
            sys.exit(f"{path}: its /id rows differ from the labels' ids")
    used = (flags & 1) == 0
    out = []
    for p, (pname, sel) in enumerate([("teff", (lab[:, 0] >= 4000) & (lab[:, 0] <= 7000)),
                                      ("logg", np.ones(len(ids), bool)), ("mh", np.ones(len(ids), bool))]):
        ok = sel & used & np.isfinite(med[:, p]) & np.isfinite(lab[:, p])
        err = med[ok, p] - lab[ok, p]
        cover = np.mean((lab[ok, p] >= hdi[ok, p, 0]) & (lab[ok, p] <= hdi[ok, p, 1]))
        out.append(f"{name:<14} {pname:<5} {ok.sum():>4} {np.mean(err):>9.3f} {np.sqrt(np.mean(err ** 2)):>9.3f} "
                   f"{np.mean(np.abs(err)):>9.3f} {np.median(np.abs(err)):>9.3f} {cover:>8.2f}")
    return out


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    ids, lab = labels(sys.argv[1])
    print(f"{'posterior':<14} {'param':<5} {'N':>4} {'bias':>9} {'RMS':>9} {'mean|e|':>9} {'med|e|':>9} {'HDI68':>8}")
    for arg in sys.argv[2:]:
        name, spec = arg.split("=", 1)
        path, _, variant = spec.partition(":")
        print("\n".join(score(name, path, variant or "flow", ids, lab)))


if __name__ == "__main__":
    main()
