#!/usr/bin/env python3
"""Draws docs/img/quality_per_compute.svg from docs/results/quality_per_compute.csv.

Two panels against training CPU-hours (log scale): the median |Teff error| of the flow and
of the importance-reweighted posteriors relative to the exact reference posterior's on the
same stars (1 = as good as the physics allows), and the median ESS/S of the importance
weights. Python 3 standard library only.
usage: scripts/plot-quality.py [CSV] [SVG]
"""
import csv
import math
import sys

COLOURS = {"small": "#1f77b4", "small-B": "#17becf", "medium": "#d62728", "paper-gpu": "#9467bd"}


def read(path):
    rows = []
    with open(path) as f:
        for row in csv.reader(line for line in f if not line.startswith("#")):
            if len(row) < 12:
                continue
            rows.append({"config": row[0], "epochs": row[1], "cpu_h": float(row[2]) if row[2] else None,
                         "posterior": row[3], "teff": float(row[4]) / float(row[11]),
                         "ess": float(row[9]) if row[9] else None})
    return rows


def panel(x0, y0, w, h, xs, ylo, yhi, ylabel, log_y=False):
    """Returns (svg, to_px) for an axis box at (x0, y0) of size w × h."""
    lx0, lx1 = math.log10(xs[0]), math.log10(xs[1])
    ty = (lambda v: math.log10(v)) if log_y else (lambda v: v)

    def to_px(x, y):
        px = x0 + (math.log10(x) - lx0) / (lx1 - lx0) * w
        py = y0 + h - (ty(y) - ty(ylo)) / (ty(yhi) - ty(ylo)) * h
        return px, py

    s = [f'<rect x="{x0}" y="{y0}" width="{w}" height="{h}" fill="none" stroke="#444"/>']
    for x in (0.1, 0.3, 1, 3):
        if xs[0] <= x <= xs[1]:
            px, _ = to_px(x, ylo)
            s.append(f'<line x1="{px:.1f}" y1="{y0 + h}" x2="{px:.1f}" y2="{y0 + h + 4}" stroke="#444"/>')
            s.append(f'<text x="{px:.1f}" y="{y0 + h + 16}" font-size="11" text-anchor="middle">{x:g}</text>')
    if log_y:
        ticks = [0.01, 0.03, 0.1, 0.3]
    else:  # round steps: 1, 2 or 5 times a power of ten, about four of them
        raw = (yhi - ylo) / 4
        step = min((m * 10 ** math.floor(math.log10(raw)) for m in (1, 2, 5, 10)), key=lambda v: abs(v - raw))
        ticks = [ylo + i * step for i in range(int((yhi - ylo) / step) + 1)]
    for t in ticks:
        if ylo <= t <= yhi:
            _, py = to_px(xs[0], t)
            s.append(f'<line x1="{x0 - 4}" y1="{py:.1f}" x2="{x0}" y2="{py:.1f}" stroke="#444"/>')
            s.append(f'<text x="{x0 - 6}" y="{py + 4:.1f}" font-size="11" text-anchor="end">{t:g}</text>')
    s.append(f'<text x="{x0 + w / 2}" y="{y0 + h + 32}" font-size="12" text-anchor="middle">'
             'training CPU-hours (2-core dev VM; paper-gpu: equivalent)</text>')
    s.append(f'<text x="{x0 - 44}" y="{y0 + h / 2}" font-size="12" text-anchor="middle" '
             f'transform="rotate(-90 {x0 - 44} {y0 + h / 2})">{ylabel}</text>')
    return s, to_px


def series(points, to_px, colour, dash, square, label):
    """A labelled polyline with markers (squares or circles) through `points`."""
    pts = sorted(points)
    if not pts:
        return []
    px = [to_px(*p) for p in pts]
    out = [f'<polyline points="{" ".join(f"{x:.1f},{y:.1f}" for x, y in px)}" fill="none" stroke="{colour}" '
           f'stroke-width="2"{dash}/>']
    for x, y in px:
        out.append(f'<rect x="{x - 3:.1f}" y="{y - 3:.1f}" width="6" height="6" fill="{colour}"/>' if square else
                   f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{colour}"/>')
    lx, ly = px[-1]
    out.append(f'<text x="{lx + 6:.1f}" y="{ly + 4:.1f}" font-size="11" fill="{colour}">{label}</text>')
    return out


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "docs/results/quality_per_compute.csv"
    out = sys.argv[2] if len(sys.argv) > 2 else "docs/img/quality_per_compute.svg"
    rows = read(src)
    trained = [r for r in rows if r["cpu_h"]]
    xs = (min(r["cpu_h"] for r in trained) / 1.5, max(r["cpu_h"] for r in trained) * 1.5)
    ref = 1.0
    svg = ['<svg xmlns="http://www.w3.org/2000/svg" width="860" height="330" font-family="sans-serif">',
           '<rect width="860" height="330" fill="white"/>']
    top = max(r["teff"] for r in trained) * 1.1
    s, to_px = panel(70, 30, 330, 240, xs, 0, top, "median |ΔTeff| / exact reference's")
    svg += s
    _, py = to_px(xs[0], ref)
    svg.append(f'<line x1="70" y1="{py:.1f}" x2="400" y2="{py:.1f}" stroke="#2ca02c" stroke-dasharray="5,3"/>')
    svg.append(f'<text x="74" y="{py + 14:.1f}" font-size="11" fill="#2ca02c">exact reference</text>')
    for config, colour in COLOURS.items():
        for posterior, dash in (("flow", ""), ("reweighted", ' stroke-dasharray="2,2"')):
            pts = [(r["cpu_h"], r["teff"]) for r in trained if r["config"] == config and r["posterior"] == posterior]
            svg += series(pts, to_px, colour, dash, square=posterior != "flow", label=f"{config} {posterior}")
    ess = [r for r in trained if r["ess"]]
    s, to_px = panel(520, 30, 300, 240, xs, 0.01, 0.3, "median ESS/S (--importance)", log_y=True)
    svg += s
    _, py = to_px(xs[0], 0.2)
    svg.append(f'<line x1="520" y1="{py:.1f}" x2="820" y2="{py:.1f}" stroke="#888" stroke-dasharray="5,3"/>')
    svg.append(f'<text x="816" y="{py - 4:.1f}" font-size="11" text-anchor="end" fill="#666">goal 0.2</text>')
    for config, colour in COLOURS.items():
        svg += series([(r["cpu_h"], r["ess"]) for r in ess if r["config"] == config], to_px, colour, "", False, config)
    svg.append("</svg>")
    with open(out, "w") as f:
        f.write("\n".join(svg) + "\n")


if __name__ == "__main__":
    main()
