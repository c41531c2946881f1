#!/usr/bin/python3
"""Latency CDFs as one SVG (no plotting library needed), for the bench scripts.

usage: plot_cdf.py OUT.svg TITLE SCALE LABEL=FILE [LABEL=FILE ...]

Each FILE holds one latency a line; SCALE turns it into milliseconds (0.001 for microseconds,
1 for milliseconds). Each series is drawn as the share of its records (y, 0-100 %) at or under a
latency (x, ms, log scale), and its legend gives the count, p50 and p99. Exit 2 on bad usage, 1
when a file cannot be read or holds no number.
"""
import math
import sys

COLORS = ["#1f77b4", "#d62728", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b"]
W, L, R, B = 680, 60, 20, 45
PLOT_H = 300  # the plot area's height; the legend adds a row a series above it


def quantile(v, q):
    return v[min(len(v) - 1, int(q * len(v)))]


def load(path, scale):
    out = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                out.append(float(line) * scale)
    if not out:
        raise ValueError("no latencies in " + path)
    out.sort()
    return out


def ms(v):
    return "%.0f" % v if v >= 100 else "%.1f" % v if v >= 10 else "%.2f" % v


def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def main(argv):
    if len(argv) < 5 or any("=" not in a for a in argv[4:]):
        sys.stderr.write(__doc__)
        return 2
    out_path, title, scale = argv[1], argv[2], float(argv[3])
    series = []
    try:
        for arg in argv[4:]:
            label, path = arg.split("=", 1)
            series.append((label, load(path, scale)))
    except (OSError, ValueError) as e:
        sys.stderr.write("plot_cdf: %s\n" % e)
        return 1
    T = 40 + 16 * len(series)
    H = T + PLOT_H + B
    lo = min(max(v[0], 0.01) for _, v in series)
    hi = max(v[-1] for _, v in series)
    x0 = math.floor(math.log10(lo))
    x1 = math.ceil(math.log10(hi)) if hi > lo else x0 + 1
    if x1 <= x0:
        x1 = x0 + 1

    def X(ms):
        ms = max(ms, 10 ** x0)
        return L + (W - L - R) * (math.log10(ms) - x0) / (x1 - x0)

    def Y(share):
        return H - B - (H - B - T) * share

    svg = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
           'font-family="sans-serif" font-size="11">' % (W, H),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="16" font-size="13">%s</text>' % (L, esc(title))]
    for k in range(0, 11, 2):  # y grid: 0, 20, ... 100 %
        y = Y(k / 10)
        svg.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>' % (L, W - R, y, y))
        svg.append('<text x="%d" y="%.1f" text-anchor="end">%d%%</text>' % (L - 5, y + 4, k * 10))
    for e in range(x0, x1 + 1):  # x grid: decades
        x = X(10 ** e)
        svg.append('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#ddd"/>' % (x, x, T, H - B))
        label = ("%g" % (10 ** e)) if e >= 0 else ("%.*f" % (-e, 10 ** e))
        svg.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>' % (x, H - B + 15, label))
    svg.append('<text x="%d" y="%d" text-anchor="middle">latency (ms, log scale)</text>'
               % ((W + L) / 2, H - 8))
    svg.append('<text x="12" y="%d" transform="rotate(-90 12 %d)" text-anchor="middle">'
               'records at or under it</text>' % ((H - B + T) / 2, (H - B + T) / 2))
    for i, (label, v) in enumerate(series):
        color = COLORS[i % len(COLORS)]
        n = len(v)
        step = max(1, n // 800)  # at most ~800 points a curve
        pts = ["%.1f,%.1f" % (X(v[0]), Y(0))]
        for j in range(0, n, step):
            pts.append("%.1f,%.1f" % (X(v[j]), Y((j + 1) / n)))
        pts.append("%.1f,%.1f" % (X(v[-1]), Y(1)))
        svg.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>'
                   % (color, " ".join(pts)))
        # The legend: its own rows between the title and the plot.
        ly = 34 + 16 * i
        lx = L
        svg.append('<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-width="2"/>'
                   % (lx, lx + 20, ly - 4, ly - 4, color))
        svg.append('<text x="%d" y="%d">%s: %d records, p50 %s ms, p99 %s ms, max %s ms</text>'
                   % (lx + 25, ly, esc(label), n, ms(quantile(v, 0.5)), ms(quantile(v, 0.99)),
                      ms(v[-1])))
    svg.append("</svg>")
    with open(out_path, "w") as f:
        f.write("\n".join(svg) + "\n")
    print("plot: " + out_path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
