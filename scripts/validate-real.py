#!/usr/bin/env python3
"""Scores posterior files of the real labelled stars (tests/data/real_stars) against
their labels: RMS, mean |error| and median |error| of Teff (4000-7000 K stars only),
log g and [M/H] ([Fe/H] labels), the fraction of labels inside the 68 % HDI, the median
importance ESS/S (reweighted posteriors) and, where the file has /physical, the median
|distance - d_BJ| / d_BJ against the labels' Bailer-Jones distances, the radius against
the interferometric one (limb-darkened angular diameter theta_LD x d_BJ: R = theta/2 d)
and the mass against the labels' (M = g R^2 / G from the label log g and that radius).

usage: validate-real.py [--rows even|odd] LABELS.csv NAME=POSTERIOR.h5[:variant] ...
       validate-real.py configs CATALOG.csv OUT_DIR
variant: flow (default) or importance (the /importance summaries of sample --importance).
--rows even|odd scores only the even (odd) rows: the stars held out of a calibration
made with `irisml calibrate --holdout even|odd`.
`configs` writes the four star-constraint configurations of CATALOG.csv into OUT_DIR:
photometry.csv (no parallax), av.csv (an A_V bound), parallax.csv, both.csv. The A_V bound
is an assumption for these nearby stars, not a dust-map value: av_max = 0.05 mag +
1 mag/kpc x (1/parallax), for stars with parallax/error > 5 (docs/distance.md).
Needs python3-h5py and python3-numpy (Debian packages)."""
import csv
import os
import sys

try:
    import h5py
    import numpy as np
except ImportError:
    sys.exit("validate-real.py needs h5py and numpy: apt-get install python3-h5py python3-numpy")


def labels(path):
    """ids, labels (N x 3) and their errors (N x 3; [Fe/H] without one: 0.1 dex, README)."""
    with open(path) as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    ids = [r["id"] for r in rows]
    lab = np.array([[float(r[k]) if r[k] else np.nan for k in ("teff", "logg", "mh")] for r in rows])
    err = np.array([[float(r.get(k) or d) for k, d in (("teff_err", "nan"), ("logg_err", "nan"), ("mh_err", "0.1"))]
                    for r in rows])
    return ids, lab, err


# R [R_sun] of an angular diameter theta [mas] at d [pc]: (theta/2) [rad] x d [AU] / (AU / R_sun).
MAS_PC_TO_RSUN = 0.5e-3 * 215.032
LOGG_SUN = 4.438  # log10(G M_sun / R_sun^2) [cgs]


def physical_labels(path):
    """Interferometric radius [R_sun] and its relative error (theta_LD x d_BJ; the error of
    theta_LD only), and log10 mass [M_sun] = log g + 2 log R - log g_sun with its error,
    per row (NaN where the labels lack them); None without the columns."""
    with open(path) as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    if not rows or "theta_ld_mas" not in rows[0] or "dist_bj_pc" not in rows[0]:
        return None

    def num(r, k):
        return float(r[k]) if r.get(k) else np.nan

    theta = np.array([num(r, "theta_ld_mas") for r in rows])
    e_theta = np.array([num(r, "e_theta_ld_mas") for r in rows])
    d = np.array([num(r, "dist_bj_pc") for r in rows])
    logg = np.array([num(r, "logg") for r in rows])
    e_logg = np.array([num(r, "logg_err") for r in rows])
    radius = MAS_PC_TO_RSUN * theta * d
    e_rel = e_theta / theta
    log_mass = logg + 2 * np.log10(radius) - LOGG_SUN
    e_log_mass = np.hypot(np.nan_to_num(e_logg), 2 * e_rel / np.log(10))
    return radius, e_rel, log_mass, e_log_mass


def score_physical(f, used, phys):
    """Median |R/R_lab - 1| and |log10 M - log10 M_lab|, and the share of labels inside
    the (p16, p84) interval widened by the label's error in quadrature."""
    radius, e_rel, log_mass, e_log_mass = phys
    out = ""
    for key, lab, lab_e in (("radius", np.log10(radius), e_rel / np.log(10)), ("mass", log_mass, e_log_mass)):
        if "physical/" + key not in f:
            continue
        q = np.log10(f["physical/" + key][:].astype(float))
        ok = used & np.all(np.isfinite(q), axis=1) & np.isfinite(lab) & np.isfinite(lab_e)
        if not ok.any():
            continue
        e = np.nan_to_num(lab_e[ok])
        lo = q[ok, 1] - np.hypot(q[ok, 1] - q[ok, 0], e)
        hi = q[ok, 1] + np.hypot(q[ok, 2] - q[ok, 1], e)
        cover = np.mean((lab[ok] >= lo) & (lab[ok] <= hi))
        dlog = q[ok, 1] - lab[ok]
        if key == "radius":
            out += (f" radius: {ok.sum()} stars, median |R/R_int - 1| {np.median(np.abs(10 ** dlog - 1)):.3f}, "
                    f"bias {np.median(dlog):+.3f} dex, p16-p84 cover {cover:.2f};")
        else:
            out += (f" mass: median |dlog M| {np.median(np.abs(dlog)):.3f} dex, bias {np.median(dlog):+.3f} dex, "
                    f"p16-p84 cover {cover:.2f};")
    return out


def score(name, path, variant, ids, lab, lab_err, dist=None, rows=None, phys=None):
    f = h5py.File(path, "r")
    g = "importance/" if variant == "importance" else ""
    med, hdi = f[g + "median"][:], f[g + "hdi68"][:]
    flags = f["flags"][:]
    if "id" in f:
        pid = [s.decode() for s in f["id"][:]]
        if pid != ids:
            sys.exit(f"{path}: its /id rows differ from the labels' ids")
    used = (flags & 1) == 0
    if rows is not None:
        used &= (np.arange(len(ids)) % 2) == (0 if rows == "even" else 1)
    extra = ""
    if variant == "importance" and "importance/ess_fraction" in f:
        ess = f["importance/ess_fraction"][:]
        extra += f" ESS/S median {np.nanmedian(ess[used]):.3f}"
    if "physical/distance" in f and dist is not None and (variant == "importance" or "reference" in f):
        d = f["physical/distance"][:, 1]
        ok = used & np.isfinite(d) & np.isfinite(dist)
        if ok.any():
            extra += f" distance: {ok.sum()} stars, median |d - d_BJ|/d_BJ {np.median(np.abs(d[ok] / dist[ok] - 1)):.4f}"
        if phys is not None:
            extra += score_physical(f, used, phys)
    out = []
    for p, (pname, sel) in enumerate([("teff", (lab[:, 0] >= 4000) & (lab[:, 0] <= 7000)),
                                      ("logg", np.ones(len(ids), bool)), ("mh", np.ones(len(ids), bool))]):
        ok = sel & used & np.isfinite(med[:, p]) & np.isfinite(lab[:, p])
        err = med[ok, p] - lab[ok, p]
        cover = np.mean((lab[ok, p] >= hdi[ok, p, 0]) & (lab[ok, p] <= hdi[ok, p, 1]))
        # with the label's own error: each side of the HDI widened by it in quadrature
        e = np.nan_to_num(lab_err[ok, p])
        lo = med[ok, p] - np.hypot(med[ok, p] - hdi[ok, p, 0], e)
        hi = med[ok, p] + np.hypot(hdi[ok, p, 1] - med[ok, p], e)
        cover_e = np.mean((lab[ok, p] >= lo) & (lab[ok, p] <= hi))
        out.append(f"{name:<14} {pname:<5} {ok.sum():>4} {np.mean(err):>9.3f} {np.sqrt(np.mean(err ** 2)):>9.3f} "
                   f"{np.mean(np.abs(err)):>9.3f} {np.median(np.abs(err)):>9.3f} {cover:>8.2f} {cover_e:>8.2f}")
    if extra:
        out.append(f"{name:<14} {extra.strip()}")
    return out


def distances(path):
    """The labels' Bailer-Jones distances [pc] (NaN where absent), or None without the column."""
    with open(path) as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    if not rows or "dist_bj_pc" not in rows[0]:
        return None
    return np.array([float(r["dist_bj_pc"]) if r["dist_bj_pc"] else np.nan for r in rows])


def write_configs(catalog, out_dir):
    with open(catalog) as f:
        comments = [line for line in f if line.startswith("#")]
    with open(catalog) as f:
        rows = list(csv.reader(line for line in f if not line.startswith("#")))
    head, body = rows[0], rows[1:]
    if "parallax" not in head:
        sys.exit(f"{catalog} has no parallax column")
    ip, ie = head.index("parallax"), head.index("parallax_err")
    keep = [i for i, c in enumerate(head) if c not in ("parallax", "parallax_err")]

    def av_max(row):
        if not row[ip] or not row[ie] or float(row[ip]) <= 5 * float(row[ie]):
            return ""
        return f"{0.05 + 1.0 / float(row[ip]):.4f}"  # 1 mag/kpc x d[kpc], d = 1/parallax[mas]

    os.makedirs(out_dir, exist_ok=True)
    for name, parallax, av in (("photometry", False, False), ("av", False, True), ("parallax", True, False),
                               ("both", True, True)):
        cols = list(range(len(head))) if parallax else keep
        with open(os.path.join(out_dir, name + ".csv"), "w", newline="") as f:
            f.writelines(comments)
            w = csv.writer(f, lineterminator="\n")
            w.writerow([head[i] for i in cols] + (["av_max"] if av else []))
            for row in body:
                w.writerow([row[i] for i in cols] + ([av_max(row)] if av else []))


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    if sys.argv[1] == "configs":
        if len(sys.argv) != 4:
            sys.exit(__doc__)
        write_configs(sys.argv[2], sys.argv[3])
        return
    args = sys.argv[1:]
    rows = None
    if args[0] == "--rows":
        rows = args[1]
        if rows not in ("even", "odd"):
            sys.exit("--rows takes even or odd")
        args = args[2:]
    ids, lab, lab_err = labels(args[0])
    dist = distances(args[0])
    phys = physical_labels(args[0])
    print(f"{'posterior':<14} {'param':<5} {'N':>4} {'bias':>9} {'RMS':>9} {'mean|e|':>9} {'med|e|':>9} {'HDI68':>8} "
          f"{'+lab.err':>8}")
    for arg in args[1:]:
        name, spec = arg.split("=", 1)
        path, _, variant = spec.partition(":")
        print("\n".join(score(name, path, variant or "flow", ids, lab, lab_err, dist, rows, phys)))


if __name__ == "__main__":
    main()
