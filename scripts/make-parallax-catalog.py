#!/usr/bin/env python3
"""A synthetic catalogue with parallaxes and dust-map-like A_V priors, drawn from the whole
model that `irisml fit` inverts with star constraints (docs/distance.md): each star of a
simulated set (`irisml simulate`: parameters from the prior, magnitudes of 1 R_sun at 10 pc)
gets a mass from the log-uniform mass prior, a distance from the space density
p(d) ~ d^2 exp(-d/L), apparent magnitudes m = M + 5 log10(d/10 pc) - 5 log10(R/R_sun) plus
Gaussian noise, a parallax 1000/d + N(0, sigma_plx^2) and an A_V prior (truth + N(0, s^2), s).
Truth columns (true_*) and the true distance, radius and mass (in a separate CSV) come along.

usage: make-parallax-catalog.py SET.h5 OUT.csv [--stars N] [--bands LIST] [--error 0.02]
       [--parallax-error 0.05] [--av-prior-error 0.1] [--mass 0.3,3] [--length 1350] [--seed 1]
Needs python3-h5py and python3-numpy."""
import argparse
import csv
import sys

try:
    import h5py
    import numpy as np
except ImportError:
    sys.exit("make-parallax-catalog.py needs h5py and numpy: apt-get install python3-h5py python3-numpy")

GM_SUN = 1.3271244e26  # cm^3 s^-2 (IAU 2015 B3)
R_SUN = 6.957e10  # cm


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("set")
    ap.add_argument("out")
    ap.add_argument("--stars", type=int, default=400)
    ap.add_argument("--bands", default="Gaia_G,Gaia_BP,Gaia_RP,PS1_g,PS1_r,PS1_i,PS1_z,PS1_y,2MASS_J,2MASS_H,"
                                        "2MASS_Ks,WISE_W1,WISE_W2")
    ap.add_argument("--error", type=float, default=0.02, help="photometric error of every band [mag]")
    ap.add_argument("--parallax-error", type=float, default=0.05, help="[mas]")
    ap.add_argument("--av-prior-error", type=float, default=0.1, help="[mag]; 0 = no A_V prior column")
    ap.add_argument("--mass", default="0.3,3", help="log-uniform mass prior [M_sun]")
    ap.add_argument("--length", type=float, default=1350.0, help="space-density length scale [pc]")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    f = h5py.File(a.set, "r")
    filters = [s.decode() for s in f["filters"][:]]
    bands = a.bands.split(",")
    cols = [filters.index(b) for b in bands]
    n = min(a.stars, f["parameters"].shape[0])
    theta = f["parameters"][:n]
    mags = f["magnitudes"][:n][:, cols].astype(float)
    rng = np.random.default_rng(a.seed)
    m_lo, m_hi = (float(x) for x in a.mass.split(","))
    mass = m_lo * (m_hi / m_lo) ** rng.uniform(size=n)
    distance = rng.gamma(3.0, a.length, size=n)  # d^2 exp(-d/L) is a Gamma(3, L)
    radius = np.sqrt(GM_SUN * mass / 10.0 ** theta[:, 1]) / R_SUN
    app = mags + 5 * np.log10(distance / 10.0)[:, None] - 5 * np.log10(radius)[:, None]
    app += a.error * rng.normal(size=app.shape)
    plx = 1000.0 / distance + a.parallax_error * rng.normal(size=n)
    av_prior = np.maximum(0.0, theta[:, 3] + a.av_prior_error * rng.normal(size=n))
    with open(a.out, "w", newline="") as out:
        w = csv.writer(out, lineterminator="\n")
        head = ["id", "parallax", "parallax_err"] + (["av_prior", "av_prior_err"] if a.av_prior_error > 0 else [])
        for b in bands:
            head += [b, b + "_err"]
        head += ["true_teff", "true_logg", "true_mh", "true_av", "true_rv"]
        w.writerow(head)
        for i in range(n):
            row = [f"s{i}", f"{plx[i]:.5f}", f"{a.parallax_error}"]
            if a.av_prior_error > 0:
                row += [f"{av_prior[i]:.4f}", f"{a.av_prior_error}"]
            for j in range(len(bands)):
                row += [f"{app[i, j]:.5f}", f"{a.error}"]
            row += [f"{x:.6g}" for x in theta[i]]
            w.writerow(row)
    with open(a.out.rsplit(".", 1)[0] + "_physical.csv", "w", newline="") as out:
        w = csv.writer(out, lineterminator="\n")
        w.writerow(["id", "distance_pc", "radius_rsun", "mass_msun"])
        for i in range(n):
            w.writerow([f"s{i}", f"{distance[i]:.3f}", f"{radius[i]:.5f}", f"{mass[i]:.5f}"])
    print(f"wrote {n} stars to {a.out}")


if __name__ == "__main__":
    main()
