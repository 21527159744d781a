#!/usr/bin/env python3
"""Checks summary tables written by `irisml export` with astropy's own readers.

usage: check_export_astropy.py TABLE.fits TABLE.ecsv TABLE.csv [TABLE.csv.gz]

All tables must come from the same posterior file. Each must open with
astropy.table.Table.read; the FITS and ECSV tables must carry the documented dtypes and
units; every table must hold the same values (NaN-aware; CSV values parsed as float64
must round to the same float32). Exit 0 when all holds, 1 with the reasons otherwise.
"""
import sys
import warnings

import numpy as np
from astropy import units as u
from astropy.table import Table

problems = []


def check(ok, what):
    if not ok:
        problems.append(what)


def read(path):
    kwargs = {"format": "ascii.csv"} if path.endswith(".csv.gz") else {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = Table.read(path, **kwargs)
    # FITS has no 'dex': astropy warns about log g and [M/H] units, nothing else.
    for w in caught:
        check("'dex'" in str(w.message), f"{path}: unexpected warning: {w.message}")
    return table


def same(a, b):
    a = np.asarray(a)
    b = np.asarray(b)
    if a.dtype.kind in "fc" or b.dtype.kind in "fc":
        return np.array_equal(a.astype(np.float32), b.astype(np.float32), equal_nan=True)
    if a.dtype.kind in "SU":
        return [str(x, "utf-8") if isinstance(x, bytes) else str(x) for x in a] == [
            str(x, "utf-8") if isinstance(x, bytes) else str(x) for x in b]
    return np.array_equal(a, b)


paths = sys.argv[1:]
tables = {p: read(p) for p in paths}
fits_path, ecsv_path = paths[0], paths[1]
reference = tables[ecsv_path]

expected_units = {"teff_median": u.K, "av_p84": u.mag, "distance_median": u.pc, "radius_median": u.R_sun,
                  "mass_p16": u.M_sun, "ra": u.deg}
for path in (fits_path, ecsv_path):
    t = tables[path]
    for name, unit in expected_units.items():
        if name not in t.colnames:
            check(False, f"{path}: no column {name}")
            continue
        check(t[name].unit == unit, f"{path}: {name} has unit {t[name].unit!r}, expected {unit}")
    for name, kind, size in (("teff_median", "f", 4), ("iw_teff_median" if "iw_teff_median" in t.colnames
                             else "teff_std", "f", 4), ("ra", "f", 8), ("n_bands", "i", 4), ("flags", "i", 4),
                             ("flag_ppc", "b", 1)):
        dt = t[name].dtype
        check(dt.kind == kind and dt.itemsize == size, f"{path}: {name} has dtype {dt}, expected {kind}{size}")
    check(t["id"].dtype.kind in "SU", f"{path}: id has dtype {t['id'].dtype}")
ecsv = tables[ecsv_path]
check(ecsv["logg_median"].unit == u.dex(u.cm / u.s ** 2), f"ECSV logg unit {ecsv['logg_median'].unit!r}")
check(ecsv["mh_median"].unit == u.dex, f"ECSV [M/H] unit {ecsv['mh_median'].unit!r}")
check("command" in ecsv.meta and "model" in ecsv.meta, f"ECSV meta lacks command/model: {list(ecsv.meta)}")
check("COMMAND" in tables[fits_path].meta, "FITS header lacks COMMAND")
check(ecsv["teff_median"].description.startswith("posterior median"), "ECSV teff_median has no description")

for path, t in tables.items():
    check(t.colnames == reference.colnames, f"{path}: columns differ from {ecsv_path}")
    check(len(t) == len(reference), f"{path}: {len(t)} rows, {ecsv_path} has {len(reference)}")
    if t.colnames != reference.colnames or len(t) != len(reference):
        continue
    for name in t.colnames:
        check(same(t[name], reference[name]), f"{path}: column {name} differs from {ecsv_path}")

for p in problems:
    print(p)
print(f"{len(paths)} tables, {len(reference)} rows x {len(reference.colnames)} columns: "
      f"{'ok' if not problems else f'{len(problems)} problems'}")
sys.exit(1 if problems else 0)
