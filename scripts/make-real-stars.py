#!/usr/bin/env python3
"""Build tests/data/real_stars/ from the Gaia FGK Benchmark Stars v3 cross-match.

Source (see tests/data/real_stars/README.md for provenance, licence and citations):
  repository  https://github.com/svenbuder/gbs_v3  (MIT licence, (c) 2024 Sven Buder)
  commit      c2590af05b7799a9418fa8f4e803f22b3d418474
  file        gbs_v3_tmass_gaiadr3_hip_allwise_all_columns.fits  (544320 bytes)

Usage:
  scripts/make-real-stars.py SOURCE.fits [OUTDIR]
  scripts/make-real-stars.py --git-dir /path/to/gbs_v3/.git [OUTDIR]

OUTDIR defaults to tests/data/real_stars next to this script's repository root.
Writes OUTDIR/real_stars.csv (photometry and the Gaia DR3 parallax in the
irisml catalogue format, docs/catalog_format.md) and OUTDIR/real_stars_labels.csv
(labels + quality metadata, same rows in the same order, joined on `id`).

Python 3 standard library only (a minimal FITS binary-table reader is below).
"""

import argparse
import csv
import hashlib
import math
import os
import struct
import subprocess
import sys

SOURCE_COMMIT = "c2590af05b7799a9418fa8f4e803f22b3d418474"
SOURCE_PATH = "gbs_v3_tmass_gaiadr3_hip_allwise_all_columns.fits"
SOURCE_SHA256 = "82f68cd53284217f93da72d52c10dc8c9cd9c8154d6c034112febfa605aca918"  # warns on mismatch

# 1.0857 = 2.5 / ln(10): flux error -> magnitude error
MAG_PER_RELFLUX = 2.5 / math.log(10.0)

# Quality policy (per band; a star is always kept, a failing band is left empty).
TMASS_OK = set("ABCD")           # 2MASS ph_qual; E (poor fit), F, U (upper limit), X dropped
WISE_PHQUAL_OK = set("ABC")      # AllWISE ph_qual; U, X, Z dropped
WISE_CC_OK = set("0")            # AllWISE cc_flags character: only uncontaminated
# AllWISE profile-fit photometry of saturated sources is biased (Explanatory
# Supplement VI.3.c): keep a WISE band only when fainter than these limits.
WISE_SAT_LIMIT = {"W1": 8.0, "W2": 6.7}


# ----------------------------------------------------------------------------- FITS ---
def _header(data, pos):
    cards = {}
    order = []
    while True:
        block = data[pos:pos + 2880]
        if len(block) < 2880:
            raise ValueError("truncated FITS header")
        pos += 2880
        done = False
        for i in range(0, 2880, 80):
            card = block[i:i + 80].decode("ascii")
            key = card[:8].strip()
            if key == "END":
                done = True
                break
            if card[8:10] != "= ":
                continue
            val = card[10:]
            if val.lstrip().startswith("'"):
                s = val.lstrip()[1:]
                out = []
                j = 0
                while j < len(s):
                    if s[j] == "'":
                        if j + 1 < len(s) and s[j + 1] == "'":
                            out.append("'")
                            j += 2
                            continue
                        break
                    out.append(s[j])
                    j += 1
                v = "".join(out).rstrip()
            else:
                v = val.split("/")[0].strip()
            cards[key] = v
            order.append(key)
        if done:
            return cards, pos


def read_bintable(data):
    """First BINTABLE extension -> (list of column names, list of row dicts)."""
    cards, pos = _header(data, 0)
    naxis = int(cards.get("NAXIS", "0"))
    size = 0
    if naxis > 0:
        size = 1
        for k in range(1, naxis + 1):
            size *= int(cards["NAXIS%d" % k])
        size *= abs(int(cards["BITPIX"])) // 8
    pos += (size + 2879) // 2880 * 2880
    cards, pos = _header(data, pos)
    if cards.get("XTENSION") != "BINTABLE":
        raise ValueError("first extension is not a BINTABLE")
    width = int(cards["NAXIS1"])
    nrows = int(cards["NAXIS2"])
    ncols = int(cards["TFIELDS"])
    cols = []
    offset = 0
    sizes = {"L": 1, "B": 1, "I": 2, "J": 4, "K": 8, "E": 4, "D": 8, "A": 1}
    for c in range(1, ncols + 1):
        name = cards["TTYPE%d" % c].strip()
        form = cards["TFORM%d" % c].strip()
        digits = ""
        while form and form[0].isdigit():
            digits += form[0]
            form = form[1:]
        repeat = int(digits) if digits else 1
        code = form[0]
        if code not in sizes:
            raise ValueError("unsupported TFORM %s for %s" % (cards["TFORM%d" % c], name))
        tnull = cards.get("TNULL%d" % c)
        cols.append((name, code, repeat, offset, int(tnull) if tnull is not None else None))
        offset += sizes[code] * repeat
    if offset != width:
        raise ValueError("column widths %d != NAXIS1 %d" % (offset, width))
    fmt = {"I": ">h", "J": ">i", "K": ">q", "E": ">f", "D": ">d", "B": ">B"}
    rows = []
    for r in range(nrows):
        raw = data[pos + r * width: pos + (r + 1) * width]
        row = {}
        for name, code, repeat, off, tnull in cols:
            if code == "A":
                row[name] = raw[off:off + repeat].split(b"\0")[0].decode("ascii", "replace").strip()
            elif code == "L":
                b = raw[off:off + 1]
                row[name] = True if b == b"T" else (False if b == b"F" else None)
            else:
                if repeat != 1:
                    raise ValueError("vector column %s not supported" % name)
                v = struct.unpack(fmt[code], raw[off:off + struct.calcsize(fmt[code])])[0]
                if code in "BIJK" and tnull is not None and v == tnull:
                    v = None
                row[name] = v
        rows.append(row)
    return [c[0] for c in cols], rows


# ------------------------------------------------------------------------- helpers ---
def finite(v):
    return v is not None and isinstance(v, (int, float)) and math.isfinite(v)


def fmt_num(v, nd):
    return "" if not finite(v) else ("%.*f" % (nd, v))


def gaia_band(row, band):
    """Catalogue magnitude and 1.0857*flux_error/flux, or (None, None)."""
    mag = row.get("phot_%s_mean_mag" % band)
    flux = row.get("phot_%s_mean_flux" % band)
    eflux = row.get("phot_%s_mean_flux_error" % band)
    if not (finite(mag) and finite(flux) and finite(eflux)) or flux <= 0 or eflux <= 0:
        return None, None
    return mag, MAG_PER_RELFLUX * eflux / flux


def gaia_parallax(row):
    """Gaia DR3 parallax and parallax_error [mas] as catalogued (no zero-point
    correction), or (None, None) without Gaia DR3 astrometry or a usable error."""
    plx = row.get("parallax")
    err = row.get("parallax_error")
    if not (finite(plx) and finite(err)) or err <= 0:
        return None, None
    return plx, err


def tmass_band(row, band, idx):
    mag = row.get("%s_m" % band)
    err = row.get("%s_msigcom" % band)
    q = (row.get("ph_qual_tmass") or "")
    qual = q[idx] if len(q) > idx else ""
    if not (finite(mag) and finite(err)) or err <= 0 or qual not in TMASS_OK:
        return None, None
    return mag, err


def wise_band(row, band, idx):
    mag = row.get("w%dmpro" % (idx + 1))
    err = row.get("w%dmpro_error" % (idx + 1))
    q = (row.get("ph_qual_allwise") or "")
    cc = (row.get("cc_flags") or "")
    qual = q[idx] if len(q) > idx else ""
    ccf = cc[idx] if len(cc) > idx else ""
    if not (finite(mag) and finite(err)) or err <= 0:
        return None, None
    if qual not in WISE_PHQUAL_OK or ccf not in WISE_CC_OK or mag < WISE_SAT_LIMIT[band]:
        return None, None
    return mag, err


def load_source(args):
    if args.git_dir:
        data = subprocess.run(
            ["git", "--git-dir", args.git_dir, "show", "%s:%s" % (SOURCE_COMMIT, SOURCE_PATH)],
            check=True, stdout=subprocess.PIPE).stdout
    else:
        with open(args.source, "rb") as f:
            data = f.read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != SOURCE_SHA256:
        print("warning: source sha256 %s differs from the expected %s" % (digest, SOURCE_SHA256), file=sys.stderr)
    return data


# ---------------------------------------------------------------------------- main ---
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source", nargs="?", help="gbs_v3_tmass_gaiadr3_hip_allwise_all_columns.fits")
    ap.add_argument("outdir", nargs="?", default=None)
    ap.add_argument("--git-dir", help="git directory of svenbuder/gbs_v3 (reads the pinned commit)")
    args = ap.parse_args()
    if args.git_dir and args.source and args.outdir is None:
        args.outdir, args.source = args.source, None
    if not args.git_dir and not args.source:
        ap.error("give SOURCE.fits or --git-dir")
    if args.outdir is None:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        args.outdir = os.path.join(root, "tests", "data", "real_stars")

    names, rows = read_bintable(load_source(args))
    for need in ("hip", "teff", "e_teff", "logg", "e_logg", "fe_h", "j_m", "phot_g_mean_flux", "w1mpro",
                 "parallax", "parallax_error", "r_med_geo"):
        if need not in names:
            sys.exit("source lacks column %s" % need)

    bands = [("Gaia_G", lambda r: gaia_band(r, "g")),
             ("Gaia_BP", lambda r: gaia_band(r, "bp")),
             ("Gaia_RP", lambda r: gaia_band(r, "rp")),
             ("2MASS_J", lambda r: tmass_band(r, "j", 0)),
             ("2MASS_H", lambda r: tmass_band(r, "h", 1)),
             ("2MASS_Ks", lambda r: tmass_band(r, "ks", 2)),
             ("WISE_W1", lambda r: wise_band(r, "W1", 0)),
             ("WISE_W2", lambda r: wise_band(r, "W2", 1))]

    # first pass: per-star band values; stars without labels or without any usable band are dropped
    rows.sort(key=lambda r: int(r["hip_int"]) if r.get("hip_int") is not None else 0)
    stars = []
    dropped = []
    for r in rows:
        if not (finite(r["teff"]) and finite(r["logg"]) and finite(r["fe_h"])):
            dropped.append((r["hip"], "no label"))
            continue
        vals = [fn(r) for _, fn in bands]
        n = sum(1 for m, _ in vals if m is not None)
        if n == 0:
            dropped.append((r["hip"], "no usable band"))
            continue
        stars.append((r, vals, n))
    # bands no star kept are left out of the file (e.g. WISE: every GBS star is saturated there)
    used = [i for i in range(len(bands)) if any(v[i][0] is not None for _, v, _ in stars)]

    os.makedirs(args.outdir, exist_ok=True)
    phot_path = os.path.join(args.outdir, "real_stars.csv")
    lab_path = os.path.join(args.outdir, "real_stars_labels.csv")
    with open(phot_path, "w", newline="") as fp, open(lab_path, "w", newline="") as fl:
        fp.write("# Gaia FGK Benchmark Stars v3 (Soubiran et al. 2024) with Gaia DR3 and 2MASS photometry.\n")
        fp.write("# Source: github.com/svenbuder/gbs_v3 @ %s, %s; built by scripts/make-real-stars.py.\n"
                 % (SOURCE_COMMIT, SOURCE_PATH))
        fp.write("# Labels (Teff, log g, [Fe/H]) are in real_stars_labels.csv, same rows and ids; see README.md.\n")
        wp = csv.writer(fp, lineterminator="\n")
        wl = csv.writer(fl, lineterminator="\n")
        header = ["id", "ra", "dec", "parallax", "parallax_err"]
        for i in used:
            header += [bands[i][0], bands[i][0] + "_err"]
        wp.writerow(header)
        wl.writerow(["id", "teff", "teff_err", "logg", "logg_err", "mh", "mh_err", "hd", "gaia_dr3_source_id",
                     "tmass_id", "allwise_id", "theta_ld_mas", "e_theta_ld_mas", "ref_theta_ld",
                     "gaia_ruwe", "gaia_non_single_star", "gaia_phot_variable_flag",
                     "tmass_ph_qual", "allwise_ph_qual", "allwise_cc_flags", "n_bands", "dist_bj_pc"])
        for r, vals, n in stars:
            # position: Gaia DR3 (epoch 2016.0) if present, else the 2MASS J2000 position of the GBS table
            has_gaia = finite(r.get("ra_gaiadr3")) and finite(r.get("dec_gaiadr3"))
            ra, dec = (r["ra_gaiadr3"], r["dec_gaiadr3"]) if has_gaia else (r.get("ra_j2000"), r.get("dec_j2000"))
            plx, eplx = gaia_parallax(r) if has_gaia else (None, None)
            out = [r["hip"], fmt_num(ra, 7), fmt_num(dec, 7), fmt_num(plx, 4), fmt_num(eplx, 4)]
            for i in used:
                m, e = vals[i]
                out += ["", ""] if m is None else [fmt_num(m, 4), fmt_num(e, 4 if e >= 0.0005 else 5)]
            wp.writerow(out)
            nss = r.get("non_single_star")
            wl.writerow([r["hip"], "%d" % r["teff"], "%d" % r["e_teff"] if finite(r["e_teff"]) else "",
                         fmt_num(r["logg"], 2), fmt_num(r["e_logg"], 2), fmt_num(r["fe_h"], 2), "",
                         r.get("hd") or "", r.get("source_id") if has_gaia else "",
                         r.get("tmass_id") or "", r.get("designation_allwise") or "",
                         fmt_num(r.get("theta_ld"), 3), fmt_num(r.get("e_theta_ld"), 3),
                         (r.get("ref_theta_ld") or "").replace("\\&", "&"),
                         fmt_num(r.get("ruwe"), 3) if has_gaia else "", "" if nss is None or not has_gaia else nss,
                         (r.get("phot_variable_flag") or "") if has_gaia else "", r.get("ph_qual_tmass") or "",
                         r.get("ph_qual_allwise") or "", r.get("cc_flags") or "", n,
                         fmt_num(r.get("r_med_geo"), 2) if has_gaia else ""])
    print("wrote %d stars to %s and %s" % (len(stars), phot_path, lab_path))
    for b, why in dropped:
        print("  dropped %s (%s)" % (b, why))
    for i, (b, _) in enumerate(bands):
        k = sum(1 for _, v, _ in stars if v[i][0] is not None)
        print("  %-9s %4d stars%s" % (b, k, "" if k else " (column left out)"))
    k = sum(1 for r, _, _ in stars if finite(r.get("ra_gaiadr3")) and finite(r.get("dec_gaiadr3"))
            and gaia_parallax(r)[0] is not None)
    print("  %-9s %4d stars" % ("parallax", k))


if __name__ == "__main__":
    main()
