"""A small SVG plot writer for the benchmark report: no dependencies beyond the standard library.

One Plot is one chart: a title, an optional subtitle, axis labels, a footer, and any number of
series, drawn when svg() is called:
  points(...)   medians with min-max error bars on a categorical or numeric x axis
  hline(...)    a horizontal reference line, optionally with a shaded min-max band
  histogram()   bars of counts over numeric bins, with a rug of the samples
  vline(...)    a vertical marker (a distribution's median, p95)
  message(...)  text in the middle of the plot area (e.g. "no data yet")
The y axis is linear from zero, or logarithmic (ylog=True). Elements carry class names (title,
xlabel, ylabel, footer, axis, tick, median, errorbar, bar, reference, marker, legend), so that
tests can find them by parsing the SVG.
"""
import math
import os
from xml.sax.saxutils import escape

PALETTE = ["#1f5fa8", "#d9541e", "#2e8b57", "#8a3ea8", "#b8860b", "#555555"]
FONT = "DejaVu Sans, Verdana, Arial, sans-serif"


def attr(v):
    return escape(str(v), {'"': "&quot;"})


def fmt(v):
    """A number for a label: 3 significant digits, no exponent for everyday sizes."""
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1e5:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}".rstrip("0").rstrip(".")
    digits = max(2, 2 - int(math.floor(math.log10(a))))
    return f"{v:.{digits}f}".rstrip("0").rstrip(".")


def nice_step(span, count):
    """A step of 1, 2 or 5 times a power of ten giving about `count` intervals over span."""
    if span <= 0:
        return 1.0
    raw = span / max(1, count)
    base = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * base:
            return m * base
    return 10 * base


def linear_ticks(lo, hi, count=6):
    """Returns (lo', hi', ticks): the range widened to whole steps, and the tick values."""
    step = nice_step(hi - lo, count)
    a = math.floor(lo / step + 1e-9) * step
    b = math.ceil(hi / step - 1e-9) * step
    if b <= a:
        b = a + step
    n = int(round((b - a) / step))
    return a, b, [a + i * step for i in range(n + 1)]


def log_ticks(lo, hi):
    """Returns (lo', hi', ticks) over whole decades, with 2 and 5 too when few decades."""
    a = math.floor(math.log10(lo))
    b = math.ceil(math.log10(hi))
    if b == a:
        b = a + 1
    ticks = []
    for e in range(a, b + 1):
        for m in ((1, 2, 5) if b - a <= 2 else (1,)):
            v = m * 10.0 ** e
            if 10.0 ** a <= v <= 10.0 ** b:
                ticks.append(v)
    return 10.0 ** a, 10.0 ** b, ticks


class Plot:
    """One chart. Coordinates are computed in svg(), after every series is added."""

    def __init__(self, title, xlabel, ylabel, footer="", subtitle="", width=760, height=500,
                 ylog=False, warning=""):
        self.title, self.xlabel, self.ylabel = title, xlabel, ylabel
        self.footer, self.subtitle, self.warning = footer, subtitle, warning
        self.w, self.h, self.ylog = width, height, ylog
        self.cats = None  # categorical x labels, or None for a numeric x axis
        self.hide_y_ticks = False  # for a plot with no y data (only markers and a message)
        self.series, self.hlines, self.vlines, self.hists, self.messages = [], [], [], [], []
        self.left, self.right, self.top, self.bottom = 82, 30, 88, 120

    # ---- building ------------------------------------------------------------------------
    def categories(self, labels):
        """Makes the x axis categorical; points' x values are then indexes into labels."""
        self.cats = list(labels)

    def points(self, xs, med, lo, hi, label, line=True, annotate=True, color=None):
        """Medians med at xs with error bars from lo to hi (lists of equal length)."""
        color = color or PALETTE[len(self.series) % len(PALETTE)]
        self.series.append({"xs": list(xs), "med": list(med), "lo": list(lo), "hi": list(hi),
                            "label": label, "line": line, "annotate": annotate,
                            "color": color})

    def hline(self, y, label, lo=None, hi=None, color="#777777"):
        self.hlines.append({"y": y, "label": label, "lo": lo, "hi": hi, "color": color})

    def vline(self, x, label, color="#d9541e", dash="6,4"):
        self.vlines.append({"x": x, "label": label, "color": color, "dash": dash})

    def histogram(self, samples, bins=None, color=PALETTE[0], label=""):
        """Counts of samples over `bins` equal-width bins (about sqrt(n) by default)."""
        self.hists.append({"samples": sorted(samples), "bins": bins, "color": color,
                           "label": label})

    def message(self, text):
        self.messages.append(text)

    # ---- scales --------------------------------------------------------------------------
    def _x_domain(self):
        if self.cats is not None:
            return -0.5, len(self.cats) - 0.5, None
        vals = [x for s in self.series for x in s["xs"]]
        vals += [v["x"] for v in self.vlines]
        for hs in self.hists:
            vals += hs["samples"]
        if not vals:
            return 0.0, 1.0, [0.0, 1.0]
        lo, hi = min(vals), max(vals)
        if hi == lo:
            lo, hi = lo - 1, hi + 1
        return linear_ticks(lo, hi, 6)

    def _hist_bins(self, xlo, xhi):
        out = []
        for hs in self.hists:
            s = hs["samples"]
            k = hs["bins"] or max(5, min(30, int(math.ceil(math.sqrt(len(s)) * 1.5))))
            width = (xhi - xlo) / k
            counts = [0] * k
            for v in s:
                counts[min(k - 1, max(0, int((v - xlo) / width)))] += 1
            out.append((hs, [(xlo + i * width, xlo + (i + 1) * width, c)
                             for i, c in enumerate(counts)]))
        return out

    def _y_domain(self, hist_bins):
        vals = [v for s in self.series for v in s["hi"] + s["med"] + s["lo"] if v is not None]
        for h in self.hlines:
            vals += [v for v in (h["y"], h["lo"], h["hi"]) if v is not None]
        for _, bins in hist_bins:
            vals += [c for _, _, c in bins]
        if self.ylog:
            pos = [v for v in vals if v and v > 0]
            if not pos:
                return log_ticks(1, 10)
            return log_ticks(min(pos), max(pos))
        top = max(vals) if vals else 1.0
        lo, hi, ticks = linear_ticks(0.0, top * 1.08 if top > 0 else 1.0)
        if hist_bins and ticks[1] - ticks[0] < 1:  # counts: whole numbers only
            lo, hi, ticks = 0.0, float(math.ceil(hi)), [float(i) for i in
                                                        range(int(math.ceil(hi)) + 1)]
        return lo, hi, ticks

    # ---- drawing -------------------------------------------------------------------------
    def svg(self):
        xlo, xhi, xticks = self._x_domain()
        bins = self._hist_bins(xlo, xhi)
        ylo, yhi, yticks = self._y_domain(bins)
        pw = self.w - self.left - self.right
        ph = self.h - self.top - self.bottom

        def X(v):
            return self.left + (v - xlo) / (xhi - xlo) * pw

        def Y(v):
            if self.ylog:
                v = max(v, ylo)
                f = (math.log10(v) - math.log10(ylo)) / (math.log10(yhi) - math.log10(ylo))
            else:
                f = (v - ylo) / (yhi - ylo)
            return self.top + ph - f * ph

        o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.w}" height="{self.h}" '
             f'viewBox="0 0 {self.w} {self.h}" font-family="{FONT}">',
             f'<rect class="background" x="0" y="0" width="{self.w}" height="{self.h}" '
             'fill="white"/>']
        o += self._titles()
        o += self._y_axis(yticks, Y, pw)
        o += self._x_axis(xticks, X, ph)
        for hs, hb in bins:
            o += self._bars(hs, hb, X, Y, ph)
        for h in self.hlines:
            o += self._hline(h, Y, pw)
        for v in self.vlines:
            o += self._vline(v, X, ph)
        for s in self.series:
            o += self._series(s, X, Y)
        o += self._messages(pw, ph)
        o += self._legend()
        o.append(f'<rect class="frame" x="{self.left}" y="{self.top}" width="{pw}" '
                 f'height="{ph}" fill="none" stroke="#333333"/>')
        o.append("</svg>")
        return "\n".join(o) + "\n"

    def save(self, path):
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(self.svg())
        os.replace(tmp, path)

    def _text(self, x, y, text, size, cls, anchor="start", fill="#222222", weight="normal",
              rotate=None):
        tr = f' transform="rotate({rotate} {x:.1f} {y:.1f})"' if rotate is not None else ""
        lines = str(text).split("\n")
        if len(lines) == 1:
            body = escape(lines[0])
        else:
            body = "".join(f'<tspan x="{x:.1f}" dy="{0 if i == 0 else size * 1.15:.1f}">'
                           f'{escape(line)}</tspan>' for i, line in enumerate(lines))
        return (f'<text class="{cls}" x="{x:.1f}" y="{y:.1f}" font-size="{size}" '
                f'text-anchor="{anchor}" fill="{fill}" font-weight="{weight}"{tr}>{body}</text>')

    def _messages(self, pw, ph):
        """The messages, centred on a white box so that no line runs through them."""
        if not self.messages:
            return []
        width = min(pw - 10, 8.0 * max(len(m) for m in self.messages) + 24)
        height = 20 * len(self.messages) + 12
        x0, y0 = self.left + (pw - width) / 2, self.top + ph * 0.6 - height / 2
        o = [f'<rect class="message-box" x="{x0:.1f}" y="{y0:.1f}" width="{width:.1f}" '
             f'height="{height}" fill="white" stroke="#a00000" stroke-opacity="0.4"/>']
        for i, m in enumerate(self.messages):
            o.append(self._text(self.left + pw / 2, y0 + 22 + i * 20, m, 14, "message",
                                anchor="middle", fill="#a00000"))
        return o

    def _titles(self):
        o = [self._text(self.w / 2, 26, self.title, 17, "title", "middle", weight="bold")]
        y = 46
        if self.subtitle:
            for line in self.subtitle.split("\n"):
                o.append(self._text(self.w / 2, y, line, 12, "subtitle", "middle",
                                    fill="#444444"))
                y += 15
        o.append(self._text(self.left + (self.w - self.left - self.right) / 2, self.h - 40,
                            self.xlabel, 13, "xlabel", "middle"))
        o.append(self._text(20, self.top + (self.h - self.top - self.bottom) / 2, self.ylabel,
                            13, "ylabel", "middle", rotate=-90))
        lines = self.footer.split("\n")  # the last line at the very bottom
        for i, line in enumerate(lines):
            o.append(self._text(10, self.h - 10 - 13 * (len(lines) - 1 - i), line, 10.5,
                                "footer", fill="#666666"))
        if self.warning:  # above the plot area, right, level with the legend
            o.append(self._text(self.w - self.right, self.top - 10, self.warning, 11.5, "warning",
                                "end", fill="#b00000", weight="bold"))
        return o

    def _y_axis(self, ticks, Y, pw):
        o = ['<g class="axis y">']
        if self.hide_y_ticks:
            ticks = []
        for t in ticks:
            y = Y(t)
            o.append(f'<line class="grid" x1="{self.left}" y1="{y:.1f}" x2="{self.left + pw}" '
                     f'y2="{y:.1f}" stroke="#e4e4e4"/>')
            o.append(self._text(self.left - 7, y + 4, fmt(t), 11, "tick", "end"))
        o.append("</g>")
        return o

    def _x_axis(self, ticks, X, ph):
        o = ['<g class="axis x">']
        yb = self.top + ph
        if self.cats is not None:
            ticks = list(range(len(self.cats)))
        for t in ticks:
            x = X(t)
            o.append(f'<line class="tickmark" x1="{x:.1f}" y1="{yb}" x2="{x:.1f}" '
                     f'y2="{yb + 5}" stroke="#333333"/>')
            label = self.cats[t] if self.cats is not None else fmt(t)
            o.append(self._text(x, yb + 19, label, 11, "tick", "middle"))
        o.append("</g>")
        return o

    def _bars(self, hs, bins, X, Y, ph):
        o = [f'<g class="histogram" data-label="{attr(hs["label"])}">']
        for a, b, c in bins:
            if c == 0:
                continue
            x0, x1, y = X(a), X(b), Y(c)
            o.append(f'<rect class="bar" x="{x0 + 0.5:.1f}" y="{y:.1f}" '
                     f'width="{max(1.0, x1 - x0 - 1):.1f}" height="{Y(0) - y:.1f}" '
                     f'fill="{hs["color"]}" fill-opacity="0.75" data-count="{c}"/>')
        yb = self.top + ph
        for v in hs["samples"]:  # the rug: one short tick per sample
            o.append(f'<line class="rug" x1="{X(v):.1f}" y1="{yb - 7}" x2="{X(v):.1f}" '
                     f'y2="{yb}" stroke="#222222" stroke-opacity="0.6"/>')
        o.append("</g>")
        return o

    def _hline(self, h, Y, pw):
        o = [f'<g class="reference" data-label="{attr(h["label"])}">']
        if h["lo"] is not None and h["hi"] is not None:
            o.append(f'<rect class="band" x="{self.left}" y="{Y(h["hi"]):.1f}" width="{pw}" '
                     f'height="{max(0.5, Y(h["lo"]) - Y(h["hi"])):.1f}" fill="{h["color"]}" '
                     'fill-opacity="0.15"/>')
        y = Y(h["y"])
        o.append(f'<line x1="{self.left}" y1="{y:.1f}" x2="{self.left + pw}" y2="{y:.1f}" '
                 f'stroke="{h["color"]}" stroke-width="1.5" stroke-dasharray="8,4"/>')
        o.append(self._text(self.left + pw - 6, y - 6, h["label"], 11, "reference-label", "end",
                            fill=h["color"]))
        o.append("</g>")
        return o

    def _vline(self, v, X, ph):
        x = X(v["x"])
        y = self.top + 16 + 16 * self.vlines.index(v)  # stacked, so that labels never collide
        right = x > self.left + 0.7 * (self.w - self.left - self.right)
        label = self._text(x - 5 if right else x + 5, y, v["label"], 11.5, "marker-label",
                           "end" if right else "start", fill=v["color"], weight="bold")
        return [f'<g class="marker" data-label="{attr(v["label"])}">',
                f'<line x1="{x:.1f}" y1="{self.top}" x2="{x:.1f}" y2="{self.top + ph}" '
                f'stroke="{v["color"]}" stroke-width="1.8" stroke-dasharray="{v["dash"]}"/>',
                label, "</g>"]

    def _series(self, s, X, Y):
        o = [f'<g class="series" data-label="{attr(s["label"])}">']
        pts = [(X(x), Y(m)) for x, m in zip(s["xs"], s["med"]) if m is not None]
        if s["line"] and len(pts) > 1:
            d = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
            o.append(f'<polyline class="line" points="{d}" fill="none" stroke="{s["color"]}" '
                     'stroke-width="1.5" stroke-opacity="0.6"/>')
        for x, m, lo, hi in zip(s["xs"], s["med"], s["lo"], s["hi"]):
            if m is None:
                continue
            px = X(x)
            if lo is not None and hi is not None:
                y0, y1 = Y(lo), Y(hi)
                o.append(f'<g class="errorbar" stroke="{s["color"]}" stroke-width="1.5">'
                         f'<line x1="{px:.1f}" y1="{y0:.1f}" x2="{px:.1f}" y2="{y1:.1f}"/>'
                         f'<line x1="{px - 6:.1f}" y1="{y0:.1f}" x2="{px + 6:.1f}" y2="{y0:.1f}"/>'
                         f'<line x1="{px - 6:.1f}" y1="{y1:.1f}" x2="{px + 6:.1f}" y2="{y1:.1f}"/>'
                         '</g>')
            o.append(f'<circle class="median" cx="{px:.1f}" cy="{Y(m):.1f}" r="4.5" '
                     f'fill="{s["color"]}" data-value="{m}"/>')
            if s["annotate"]:
                o.append(self._text(px + 8, Y(m) - 7, fmt(m), 11, "value", fill=s["color"]))
        o.append("</g>")
        return o

    def _legend(self):
        items = [(s["label"], s["color"], "point") for s in self.series if s["label"]]
        items += [(h["label"], h["color"], "bar") for h in self.hists if h["label"]]
        if not items:
            return []
        o = ['<g class="legend">']  # one row above the plot area
        x, y = self.left, self.top - 10
        for label, color, kind in items:
            if kind == "point":
                o.append(f'<circle cx="{x + 5}" cy="{y - 4}" r="4.5" fill="{color}"/>')
            else:
                o.append(f'<rect x="{x}" y="{y - 10}" width="11" height="11" fill="{color}" '
                         'fill-opacity="0.75"/>')
            o.append(self._text(x + 16, y, label, 11.5, "legend-label"))
            x += 16 + 6.5 * len(label) + 24
        o.append("</g>")
        return o
