#!/usr/bin/env python3
"""Build data/isochrones/mist_v1.1_tracks.csv.gz from public MIST v1.1 stellar tracks.

Source (see data/isochrones/README.md for provenance, licence and citations):
  repository  https://github.com/vosjo/emcmass  (MIT licence, (c) 2017-2020 Joris Vos)
  commit      879d814794674f1c70880ed7b7c1b901f649308b
  files       Models/MIST_vvcrit0.0_feh_<m|p><x.xx>.fits (one FITS binary table per [Fe/H]:
              mass_init, M_H_init, phase, age, log_L, log_R, log_g, log_Teff, M_H)

Usage:
  scripts/make-isochrones.py --git-dir /path/to/emcmass/.git [OUTPUT]

Each track (one initial mass at one [Fe/H], 351 points from the pre-main sequence to
the tip of the red-giant branch) is thinned: a point is dropped when the track between
the points kept on either side is, linearly in age, within 0.003 dex in log Teff,
0.02 dex in log g and 0.01 dex in log R of it. Points older than 20 Gyr are dropped
after the first. The output is deterministic (gzip with a zero timestamp).

Python 3 standard library only.
"""

import argparse
import gzip
import math
import os
import struct
import subprocess
import sys

SOURCE_COMMIT = "879d814794674f1c70880ed7b7c1b901f649308b"
FEH = ["m2.50", "m2.00", "m1.50", "m1.00", "m0.75", "m0.50", "m0.25", "p0.00", "p0.25", "p0.50"]
TOLERANCE = (0.003, 0.02, 0.01)  # log Teff, log g, log R [dex]
AGE_CUT = 2.0e10  # [yr]


def read_table(data):
    """The first binary-table extension of a FITS file as a list of row tuples."""
    offset = 2880  # the primary HDU is header-only (NAXIS = 0) in these files
    cards = []
    while True:
        block = data[offset:offset + 2880].decode("ascii")
        offset += 2880
        cards += [block[i:i + 80] for i in range(0, 2880, 80)]
        if any(c.startswith("END ") or c.rstrip() == "END" for c in cards):
            break
    keys = {c[:8].strip(): c[10:].split("/")[0].strip().strip("'").strip() for c in cards if c[8:10] == "= "}
    width, rows = int(keys["NAXIS1"]), int(keys["NAXIS2"])
    names = [keys["TTYPE%d" % i] for i in range(1, int(keys["TFIELDS"]) + 1)]
    forms = [keys["TFORM%d" % i] for i in range(1, int(keys["TFIELDS"]) + 1)]
    code = ">" + "".join({"D": "d", "I": "h", "E": "f", "J": "i"}[f[-1]] for f in forms)
    if struct.calcsize(code) != width:
        sys.exit("unexpected row layout %s (%d bytes, header says %d)" % (forms, struct.calcsize(code), width))
    return names, [struct.unpack_from(code, data, offset + i * width) for i in range(rows)]


def thin(track):
    """Indices of the points kept (track: list of (age, log_teff, log_g, log_r))."""
    keep, k, n = [0], 0, len(track)
    while k < n - 1:
        j = k + 1
        while j + 1 < n and within(track, k, j + 1):
            j += 1
        keep.append(j)
        k = j
    return keep


def within(track, a, b):
    age_a, age_b = track[a][0], track[b][0]
    for p in range(a + 1, b):
        f = (track[p][0] - age_a) / (age_b - age_a) if age_b > age_a else 0.0
        for c in range(3):
            if abs(track[a][c + 1] + f * (track[b][c + 1] - track[a][c + 1]) - track[p][c + 1]) > TOLERANCE[c]:
                return False
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--git-dir", required=True, help="git directory of a clone or mirror of vosjo/emcmass")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser.add_argument("output", nargs="?", default=os.path.join(root, "data/isochrones/mist_v1.1_tracks.csv.gz"))
    args = parser.parse_args()

    lines = [
        "# MIST v1.1 stellar evolutionary tracks, v/vcrit = 0, [a/Fe] = 0 (Dotter 2016; Choi et al. 2016),",
        "# thinned by scripts/make-isochrones.py from github.com/vosjo/emcmass@%s (MIT)." % SOURCE_COMMIT,
        "# feh: initial [Fe/H]; mass_init [M_sun]; log_age [log10 yr]; log_teff [log10 K]; log_g [cgs dex];",
        "# log_r: log10 radius [R_sun]. Rows of one track are consecutive and in increasing age.",
        "feh,mass_init,log_age,log_teff,log_g,log_r",
    ]
    for tag in FEH:
        path = "Models/MIST_vvcrit0.0_feh_%s.fits" % tag
        data = subprocess.run(["git", "--git-dir", args.git_dir, "show", "%s:%s" % (SOURCE_COMMIT, path)],
                              check=True, stdout=subprocess.PIPE).stdout
        names, rows = read_table(data)
        col = {name: i for i, name in enumerate(names)}
        feh = (-1 if tag[0] == "m" else 1) * float(tag[1:])
        tracks = {}
        for r in rows:
            tracks.setdefault(r[col["mass_init"]], []).append(r)
        kept = 0
        for mass in sorted(tracks):
            points = sorted(tracks[mass], key=lambda r: r[col["phase"]])
            track = [(r[col["age"]], r[col["log_Teff"]], r[col["log_g"]], r[col["log_R"]]) for r in points]
            for i, t in enumerate(track):
                if t[0] > AGE_CUT:
                    track = track[:i + 1]
                    break
            for i in thin(track):
                age, log_teff, log_g, log_r = track[i]
                lines.append("%.2f,%.4g,%.5f,%.4f,%.4f,%.4f" % (feh, mass, math.log10(age), log_teff, log_g, log_r))
                kept += 1
        print("%s: %d tracks, %d of %d points kept" % (path, len(tracks), kept, len(rows)), file=sys.stderr)
    text = ("\n".join(lines) + "\n").encode("ascii")
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output + ".tmp", "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as out:
            out.write(text)
    os.replace(args.output + ".tmp", args.output)
    print("wrote %s (%d rows)" % (args.output, len(lines) - 5), file=sys.stderr)


if __name__ == "__main__":
    main()
