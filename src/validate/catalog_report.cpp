#include "validate/catalog_report.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/json.hpp"
#include "core/text.hpp"
#include "validate/evaluate.hpp"
#include "posterior/format.hpp"
#include "validate/svg.hpp"
#include "io/hdf5.hpp"

namespace irisml::validate {

namespace P = posterior;
using svg::html_escape;
using svg::quantile;
using svg::viridis;

void icrs_to_galactic(double ra, double dec, double& l, double& b) {
  // ICRS → Galactic rotation (Hipparcos catalogue, ESA 1997, vol. 1, §1.5.3).
  static constexpr double kR[3][3] = {{-0.0548755604162154, -0.8734370902348850, -0.4838350155487132},
                                      {0.4941094278755837, -0.4448296299600112, 0.7469822444972189},
                                      {-0.8676661490190047, -0.1980763734312015, 0.4559837761750669}};
  constexpr double kDeg = 3.14159265358979323846 / 180.0;
  const double x[3] = {std::cos(dec * kDeg) * std::cos(ra * kDeg), std::cos(dec * kDeg) * std::sin(ra * kDeg),
                       std::sin(dec * kDeg)};
  double g[3];
  for (int i = 0; i < 3; ++i) g[i] = kR[i][0] * x[0] + kR[i][1] * x[1] + kR[i][2] * x[2];
  l = std::atan2(g[1], g[0]) / kDeg;
  if (l < 0) l += 360.0;
  b = std::asin(std::clamp(g[2], -1.0, 1.0)) / kDeg;
}

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
const char* kLabel[P::kParameters] = {"Teff", "log g", "[M/H]", "A_V", "R_V"};
const char* kUnit[P::kParameters] = {"K", "dex", "dex", "mag", ""};

constexpr const auto& kFlags = P::kFlagBits;

// Per star, what the page needs (~50 bytes).
struct Stars {
  std::vector<float> median;  // N × 5
  std::vector<float> width;   // N × 5: (p84 − p16) / 2
  std::vector<std::uint32_t> flags;
  std::vector<std::int32_t> n_bands;
  std::vector<float> ppc_p, ppc_chi2, ess_fraction;  // empty when absent
};

Stars read_stars(const h5::File& f, const std::string& group, std::uint64_t rows, std::uint64_t step) {
  Stars s;
  s.median.resize(rows * 5);
  s.width.resize(rows * 5);
  s.flags.resize(rows);
  s.n_bands.resize(rows);
  const bool ppc = f.exists("ppc_p"), ess = f.exists("importance/ess_fraction");
  if (ppc) s.ppc_p.resize(rows);
  if (ppc && f.exists("ppc_chi2")) s.ppc_chi2.resize(rows);
  if (ess) s.ess_fraction.resize(rows);
  std::vector<float> lo, hi;
  for (std::uint64_t r0 = 0; r0 < rows; r0 += step) {
    const std::uint64_t n = std::min(step, rows - r0);
    f.read_rows<float>(group + "median", r0, n, &s.median[r0 * 5]);
    lo.resize(n * 5);
    hi.resize(n * 5);
    f.read_rows<float>(group + "p16", r0, n, lo.data());
    f.read_rows<float>(group + "p84", r0, n, hi.data());
    for (std::uint64_t j = 0; j < n * 5; ++j) s.width[r0 * 5 + j] = 0.5f * (hi[j] - lo[j]);
    f.read_rows<std::uint32_t>("flags", r0, n, &s.flags[r0]);
    f.read_rows<std::int32_t>("n_bands", r0, n, &s.n_bands[r0]);
    if (!s.ppc_p.empty()) f.read_rows<float>("ppc_p", r0, n, &s.ppc_p[r0]);
    if (!s.ppc_chi2.empty()) f.read_rows<float>("ppc_chi2", r0, n, &s.ppc_chi2[r0]);
    if (ess) f.read_rows<float>("importance/ess_fraction", r0, n, &s.ess_fraction[r0]);
  }
  return s;
}

// A numeric root attribute, stored as a number or as text (the processors' settings); NaN
// when absent or not a number.
double attr_number(const h5::File& f, const std::string& name) {
  if (!f.has_attr("/", name)) return kNaN;
  try {
    double v = kNaN;
    return parse_number(f.attr_string("/", name), v) ? v : kNaN;
  } catch (const InputError&) {  // not text
    return f.attr_double("/", name);
  }
}

// The finite values of a per-star column, and their rows.
void finite_values(const std::vector<float>& column, std::vector<double>& values, std::vector<std::size_t>& rows) {
  for (std::size_t i = 0; i < column.size(); ++i) {
    if (!std::isfinite(column[i])) continue;
    values.push_back(column[i]);
    rows.push_back(i);
  }
}

// The first `n` of `rows` in the order `less`.
template <typename Less>
std::vector<std::size_t> first_rows(std::vector<std::size_t> rows, std::size_t n, Less less) {
  std::sort(rows.begin(), rows.end(), less);
  rows.resize(std::min(rows.size(), n));
  return rows;
}

bool usable(const Stars& s, std::size_t i) {
  for (int p = 0; p < 4; ++p) {
    if (!std::isfinite(s.median[i * 5 + static_cast<std::size_t>(p)])) return false;
  }
  return true;
}

// [lo, hi] holding the central 99 % of the finite values, padded by 3 %.
std::pair<double, double> range_of(const std::vector<double>& values, double fallback_lo, double fallback_hi) {
  double lo = quantile(values, 0.005), hi = quantile(values, 0.995);
  if (!(hi > lo)) {
    lo = std::isfinite(lo) ? lo - 0.5 : fallback_lo;
    hi = std::isfinite(hi) ? hi + 0.5 : fallback_hi;
  }
  const double pad = 0.03 * (hi - lo);
  return {lo - pad, hi + pad};
}

// A colour-bar legend from lo to hi, as its own small SVG placed under a map.
std::string colour_bar_svg(double lo, double hi, const std::string& label) {
  std::string out =
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"330\" height=\"30\" viewBox=\"0 0 330 30\" "
      "font-family=\"sans-serif\" font-size=\"10\">\n";
  for (int k = 0; k < 50; ++k) {
    out += fmt::format("<rect x=\"{:.1f}\" y=\"2\" width=\"4.2\" height=\"10\" fill=\"{}\"/>", 62 + k * 4.0,
                       viridis(k / 49.0));
  }
  out += fmt::format("<text x=\"58\" y=\"11\" text-anchor=\"end\">{:.3g}</text>", lo);
  out += fmt::format("<text x=\"266\" y=\"11\">{:.3g}</text>", hi);
  out += fmt::format("<text x=\"162\" y=\"25\" text-anchor=\"middle\">{}</text>\n</svg>\n", html_escape(label));
  return out;
}

// Cells of a 2-D map: per cell the count and the sum of a value; drawn coloured by the mean
// value on [vlo, vhi], with opacity growing with log count.
struct Map2d {
  int nx, ny;
  double xlo, xhi, ylo, yhi;
  std::vector<double> count, sum;
  Map2d(int nx_, int ny_, double xlo_, double xhi_, double ylo_, double yhi_)
      : nx(nx_), ny(ny_), xlo(xlo_), xhi(xhi_), ylo(ylo_), yhi(yhi_), count(nx_ * ny_, 0.0), sum(nx_ * ny_, 0.0) {}
  bool add(double x, double y, double v) {
    const int i = static_cast<int>(std::floor((x - xlo) / (xhi - xlo) * nx));
    const int j = static_cast<int>(std::floor((y - ylo) / (yhi - ylo) * ny));
    if (i < 0 || j < 0 || i >= nx || j >= ny || !std::isfinite(v)) return false;
    count[static_cast<std::size_t>(j * nx + i)] += 1;
    sum[static_cast<std::size_t>(j * nx + i)] += v;
    return true;
  }
  void draw(svg::Figure& fig, double vlo, double vhi) const {
    const double max_count = *std::max_element(count.begin(), count.end());
    const double dx = (xhi - xlo) / nx, dy = (yhi - ylo) / ny;
    for (int j = 0; j < ny; ++j) {
      for (int i = 0; i < nx; ++i) {
        const double c = count[static_cast<std::size_t>(j * nx + i)];
        if (c == 0) continue;
        const double mean = sum[static_cast<std::size_t>(j * nx + i)] / c;
        const double alpha = max_count > 1 ? 0.35 + 0.65 * std::log(c) / std::log(max_count) : 1.0;
        fig.cell(xlo + i * dx, xlo + (i + 1) * dx, ylo + j * dy, ylo + (j + 1) * dy,
                 viridis((mean - vlo) / (vhi - vlo)), alpha);
      }
    }
  }
};

std::string kiel_svg(const Stars& s, const std::vector<std::size_t>& ok) {
  std::vector<double> teff, logg;
  for (std::size_t i : ok) {
    teff.push_back(s.median[i * 5]);
    logg.push_back(s.median[i * 5 + 1]);
  }
  const auto [tlo, thi] = range_of(teff, 3000, 10000);
  const auto [glo, ghi] = range_of(logg, 0, 5);
  Map2d map(60, 40, tlo, thi, glo, ghi);
  std::size_t off = 0;
  for (std::size_t i : ok) off += !map.add(s.median[i * 5], s.median[i * 5 + 1], s.median[i * 5 + 2]);
  svg::Figure fig(480, 380, tlo, thi, glo, ghi, /*flip_x=*/true, /*flip_y=*/true);
  map.draw(fig, -2.0, 0.5);
  fig.axes("Teff [K] (posterior median)", "log g [dex]", "Kiel diagram, coloured by mean [M/H]");
  fig.text_px(svg::Figure::kLeft + 6, svg::Figure::kTop + 14,
              fmt::format("N={}{}", ok.size(), off ? fmt::format(" ({} off-plot)", off) : ""),
              "fill=\"#333\" font-size=\"10\"");
  return "<div>" + fig.str() + "<br>" + colour_bar_svg(-2.0, 0.5, "mean [M/H] of the cell [dex]") + "</div>";
}

// A histogram of values on [lo, hi] with `bins` bars; optional vertical marker and a
// horizontal reference level (a count).
std::string histogram_svg(const std::vector<double>& values, double lo, double hi, int bins, const std::string& xlabel,
                          const std::string& title, double marker = kNaN, double level = kNaN) {
  std::vector<double> counts(static_cast<std::size_t>(bins), 0.0);
  std::size_t off = 0;
  for (double v : values) {
    if (!std::isfinite(v)) continue;
    int k = static_cast<int>(std::floor((v - lo) / (hi - lo) * bins));
    if (v == hi) k = bins - 1;
    if (k < 0 || k >= bins) {
      ++off;
      continue;
    }
    counts[static_cast<std::size_t>(k)] += 1;
  }
  double top = *std::max_element(counts.begin(), counts.end());
  if (std::isfinite(level)) top = std::max(top, level);
  svg::Figure fig(330, 260, lo, hi, 0, std::max(1.0, top * 1.08));
  const double w = (hi - lo) / bins;
  for (int k = 0; k < bins; ++k) {
    if (counts[static_cast<std::size_t>(k)] > 0) {
      fig.cell(lo + k * w + 0.08 * w, lo + (k + 1) * w - 0.08 * w, 0, counts[static_cast<std::size_t>(k)], "#4c78a8");
    }
  }
  if (std::isfinite(marker)) fig.line(marker, 0, marker, top * 1.08, "stroke=\"#e41a1c\" stroke-dasharray=\"4,3\"");
  if (std::isfinite(level)) fig.line(lo, level, hi, level, "stroke=\"#333\" stroke-dasharray=\"2,3\"");
  fig.axes(xlabel, "stars", title);
  if (off) {
    fig.text_px(svg::Figure::kLeft + fig.plot_w() - 4, svg::Figure::kTop + 14, fmt::format("{} off-plot", off),
                "text-anchor=\"end\" fill=\"#333\" font-size=\"10\"");
  }
  return fig.str();
}

std::string sky_svg(const Stars& s, const std::vector<std::size_t>& ok, const CatalogReportOptions& o, double av_hi) {
  Map2d map(72, 36, -180, 180, -90, 90);
  std::size_t placed = 0;
  for (std::size_t i : ok) {
    if (!std::isfinite(o.ra[i]) || !std::isfinite(o.dec[i])) continue;
    double l = 0, b = 0;
    icrs_to_galactic(o.ra[i], o.dec[i], l, b);
    placed += map.add(l > 180 ? l - 360 : l, b, s.median[i * 5 + 3]);
  }
  svg::Figure fig(480, 300, -180, 180, -90, 90, /*flip_x=*/true);
  map.draw(fig, 0, av_hi);
  fig.axes("Galactic longitude l [deg]", "b [deg]", "A_V on the sky (mean per 5° cell)");
  fig.text_px(svg::Figure::kLeft + 6, svg::Figure::kTop + 14, fmt::format("N={}", placed),
              "fill=\"#333\" font-size=\"10\"");
  return "<div>" + fig.str() + "<br>" + colour_bar_svg(0, av_hi, "mean A_V of the cell [mag]") + "</div>";
}

// Median and 16–84 % of the posterior half-width of parameter p in bins of x.
std::string width_vs_svg(const Stars& s, const std::vector<std::size_t>& ok, const std::vector<double>& x,
                         const std::string& xlabel, int p) {
  std::vector<double> xs;
  for (std::size_t i : ok) {
    if (std::isfinite(x[i])) xs.push_back(x[i]);
  }
  const auto [lo, hi] = range_of(xs, 0, 1);
  constexpr int kBins = 12;
  std::vector<std::vector<double>> bins(kBins);
  for (std::size_t i : ok) {
    if (!std::isfinite(x[i])) continue;
    const int k = static_cast<int>(std::floor((x[i] - lo) / (hi - lo) * kBins));
    const double w = s.width[i * 5 + static_cast<std::size_t>(p)];
    if (k >= 0 && k < kBins && std::isfinite(w)) bins[static_cast<std::size_t>(k)].push_back(w);
  }
  std::vector<double> cx, q16, q50, q84;
  double top = 0;
  for (int k = 0; k < kBins; ++k) {
    const auto& b = bins[static_cast<std::size_t>(k)];
    if (b.size() < 3) continue;
    cx.push_back(lo + (k + 0.5) * (hi - lo) / kBins);
    q16.push_back(quantile(b, 0.16));
    q50.push_back(quantile(b, 0.5));
    q84.push_back(quantile(b, 0.84));
    top = std::max(top, q84.back());
  }
  svg::Figure fig(330, 260, lo, hi, 0, top > 0 ? top * 1.1 : 1);
  if (!cx.empty()) {
    fig.polyline(cx, q16, "#9ecae1");
    fig.polyline(cx, q84, "#9ecae1");
    fig.polyline(cx, q50, "#08519c");
    for (std::size_t k = 0; k < cx.size(); ++k) fig.circle(cx[k], q50[k], 2.5, "#08519c");
  }
  const std::string unit = kUnit[p];
  fig.axes(xlabel, fmt::format("σ({}){}", kLabel[p], unit.empty() ? "" : " [" + unit + "]"),
           fmt::format("{} width", kLabel[p]));
  fig.text_px(svg::Figure::kLeft + 6, svg::Figure::kTop + 14, "median, 16–84 % of stars",
              "fill=\"#333\" font-size=\"10\"");
  return fig.str();
}

std::string num(double v, const char* format = "{:.3g}") {
  return std::isfinite(v) ? fmt::format(fmt::runtime(format), v) : std::string("–");
}

std::string flag_names(std::uint32_t flags) {
  std::string out;
  for (const auto& f : kFlags) {
    if (flags & f.bit) out += (out.empty() ? "" : ", ") + std::string(f.label);
  }
  return out.empty() ? "–" : out;
}

// A table of selected stars: id, position, bands, the check values and the medians.
std::string star_table(const h5::File& f, const Stars& s, const std::vector<std::size_t>& rows,
                       const CatalogReportOptions& o) {
  const bool ids = f.exists("id"), pos = !o.ra.empty();
  std::string t = "<div class=\"scroll\"><table>\n<tr><th>row</th>";
  if (ids) t += "<th>id</th>";
  if (pos) t += "<th>ra</th><th>dec</th>";
  t += "<th>bands</th>";
  if (!s.ppc_p.empty()) t += "<th>χ²/ν</th><th>PPC p</th>";
  if (!s.ess_fraction.empty()) t += "<th>ESS/S</th>";
  t += "<th>Teff</th><th>log g</th><th>[M/H]</th><th>A_V</th><th>flags</th></tr>\n";
  for (std::size_t i : rows) {
    t += fmt::format("<tr><td>{}</td>", i);
    if (ids) t += fmt::format("<td>{}</td>", html_escape(f.read_string_rows("id", i, 1).at(0)));
    if (pos) t += fmt::format("<td>{}</td><td>{}</td>", num(o.ra[i], "{:.5f}"), num(o.dec[i], "{:.5f}"));
    t += fmt::format("<td>{}</td>", s.n_bands[i]);
    if (!s.ppc_p.empty()) {
      t += fmt::format("<td>{}</td><td>{}</td>", s.ppc_chi2.empty() ? "–" : num(s.ppc_chi2[i]), num(s.ppc_p[i]));
    }
    if (!s.ess_fraction.empty()) t += fmt::format("<td>{}</td>", num(s.ess_fraction[i]));
    t += fmt::format("<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n", num(s.median[i * 5], "{:.0f}"),
                     num(s.median[i * 5 + 1], "{:.2f}"), num(s.median[i * 5 + 2], "{:.2f}"),
                     num(s.median[i * 5 + 3], "{:.2f}"), flag_names(s.flags[i]));
  }
  return t + "</table></div>\n";
}

const char* kStyle =
    "<style>body{font-family:sans-serif;margin:16px;color:#222;max-width:1200px}"
    "h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em}"
    "table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
    "th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}"
    ".figs{display:flex;flex-wrap:wrap;gap:8px;align-items:flex-start}svg{max-width:100%;height:auto}"
    ".scroll{overflow-x:auto;max-width:100%}code{background:#f5f5f5;padding:1px 4px;word-break:break-all}"
    ".note{color:#555;font-size:90%}.flags li{margin:4px 0}</style>\n";

// The page's head and the lines that say what was summarised.
std::string report_head(const h5::File& f, const CatalogReportOptions& o, const CatalogReport& r) {
  std::string h = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  h += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>IrisML catalogue "
       "report</title>\n";
  h += kStyle;
  h += "</head>\n<body>\n<h1>IrisML catalogue report</h1>\n<p>";
  h += fmt::format("posterior <code>{}</code>", html_escape(o.posterior));
  if (f.has_attr("/", "model")) h += fmt::format("<br>model <code>{}</code>", html_escape(f.attr_string("/", "model")));
  if (!o.catalog.empty()) h += fmt::format("<br>catalogue <code>{}</code>", html_escape(o.catalog));
  h += fmt::format("<br>summaries: <b>{}</b>{}<br>irisml {}</p>\n", r.variant,
                   r.variant == "importance"   ? " (flow samples reweighted by the exact prior × likelihood)"
                   : f.exists("reference/ess") ? " (the exact reference posterior of `irisml fit`)"
                                               : " (the flow's samples)",
                   html_escape(o.code_version));
  h += fmt::format("<p>{} stars; <b>{}</b> with a posterior (finite Teff, log g, [M/H], A_V medians).</p>\n", r.stars,
                   r.summarised);
  return h;
}

std::string flags_section(const CatalogReport& r) {
  std::string h = "<h2>Flags</h2>\n<ul class=\"flags\">\n";
  for (std::size_t k = 0; k < std::size(kFlags); ++k) {
    h += fmt::format("<li><b>{}</b> (bit value {}): <b>{}</b> stars ({:.2f} %) — {}</li>\n", kFlags[k].label,
                     kFlags[k].bit, r.flag_counts[k],
                     r.stars ? 100.0 * static_cast<double>(r.flag_counts[k]) / static_cast<double>(r.stars) : 0.0,
                     kFlags[k].meaning);
  }
  return h + "</ul>\n";
}

// The Kiel diagram, the A_V distribution and the sky map.
std::string parameters_section(const Stars& s, const std::vector<std::size_t>& ok, const CatalogReportOptions& o) {
  std::vector<double> av;
  for (std::size_t i : ok) av.push_back(s.median[i * 5 + 3]);
  const double av_hi = std::max(0.1, quantile(av, 0.95));
  std::string h = "<h2>Parameters</h2>\n<div class=\"figs\">\n";
  if (!ok.empty()) {
    h += kiel_svg(s, ok);
    h += histogram_svg(av, 0, std::max(0.2, quantile(av, 0.995) * 1.05), 40, "A_V [mag] (posterior median)",
                       fmt::format("A_V distribution (median {:.2f} mag)", quantile(av, 0.5)));
    if (!o.ra.empty()) h += sky_svg(s, ok, o, av_hi);
  }
  h += "</div>\n";
  if (o.ra.empty())
    h += "<p class=\"note\">No positions: give <code>--catalog</code> with ra/dec for the sky map.</p>\n";
  return h;
}

// Posterior widths against magnitude, and their medians per band count.
std::string widths_section(const Stars& s, const std::vector<std::size_t>& ok, const CatalogReportOptions& o) {
  std::string h = "<h2>Posterior widths</h2>\n<p class=\"note\">σ = (p84 − p16)/2 of each star's posterior.</p>\n";
  if (!o.magnitude.empty() && !ok.empty()) {
    std::vector<double> mag(o.magnitude.begin(), o.magnitude.end());
    h += "<div class=\"figs\">\n";
    for (int p = 0; p < 4; ++p) h += width_vs_svg(s, ok, mag, o.magnitude_band + " [mag]", p);
    h += "</div>\n";
  } else {
    h += "<p class=\"note\">No magnitudes: give <code>--catalog</code> for widths against magnitude.</p>\n";
  }
  std::map<int, std::vector<std::size_t>> by_bands;
  for (std::size_t i : ok) by_bands[s.n_bands[i]].push_back(i);
  h += "<div class=\"scroll\"><table>\n<tr><th>bands</th><th>stars</th>";
  for (int p = 0; p < 4; ++p) {
    h += fmt::format("<th>median σ({}){}</th>", kLabel[p],
                     std::string(kUnit[p]).empty() ? "" : fmt::format(" [{}]", kUnit[p]));
  }
  h += "</tr>\n";
  for (const auto& [bands, rows] : by_bands) {
    h += fmt::format("<tr><td>{}</td><td>{}</td>", bands, rows.size());
    for (int p = 0; p < 4; ++p) {
      std::vector<double> w;
      for (std::size_t i : rows) w.push_back(s.width[i * 5 + static_cast<std::size_t>(p)]);
      h += fmt::format("<td>{}</td>", num(quantile(w, 0.5), p == 0 ? "{:.0f}" : "{:.3f}"));
    }
    h += "</tr>\n";
  }
  return h + "</table></div>\n";
}

// The importance ESS section (empty without /importance); its median and the count below
// the threshold into *median and *low.
std::string ess_section(const h5::File& f, const Stars& s, const CatalogReportOptions& o, double* median,
                        std::size_t* low) {
  *median = kNaN;
  *low = 0;
  if (s.ess_fraction.empty()) return {};
  const double threshold = attr_number(f, "importance_ess_threshold");
  std::vector<double> ess;
  std::vector<std::size_t> rows;
  finite_values(s.ess_fraction, ess, rows);
  for (double e : ess) *low += std::isfinite(threshold) && e < threshold;
  *median = quantile(ess, 0.5);
  std::string h = fmt::format(
      "<h2>Importance reweighting: can the flow be trusted?</h2>\n<p>ESS/S per star: median {}; {} stars below "
      "the threshold {} (flag “low ESS”): for them the flow's samples are not trustworthy and the reweighted "
      "summaries rest on few samples.</p>\n<div class=\"figs\">\n",
      num(*median), *low, num(threshold));
  h += histogram_svg(ess, 0, 1, 25, "ESS / S", "effective sample fraction", threshold);
  h += "</div>\n";
  const auto order = first_rows(rows, o.worst_rows,
                                [&](std::size_t a, std::size_t b) { return s.ess_fraction[a] < s.ess_fraction[b]; });
  return h + fmt::format("<p>The {} stars with the lowest ESS/S:</p>\n", order.size()) + star_table(f, s, order, o);
}

// The posterior-predictive section; the number of stars checked into *checked_n.
std::string ppc_section(const h5::File& f, const Stars& s, const CatalogReportOptions& o, std::size_t* checked_n) {
  std::vector<double> p;
  std::vector<std::size_t> checked;
  finite_values(s.ppc_p, p, checked);
  *checked_n = p.size();
  if (p.empty()) {
    return "<p class=\"note\">No posterior-predictive check in this file (<code>--no-ppc</code>, or "
           "<code>irisml fit</code>).</p>\n";
  }
  const double alpha = attr_number(f, "ppc_alpha");
  std::string h = fmt::format(
      "<h2>Posterior-predictive check</h2>\n<p>{} stars checked. For stars the model describes the p-value is "
      "uniform (dotted line); a pile-up near 0 means photometry the model cannot reproduce.</p>\n"
      "<div class=\"figs\">\n",
      p.size());
  h += histogram_svg(p, 0, 1, 20, "PPC p-value", "posterior-predictive p-values", alpha,
                     static_cast<double>(p.size()) / 20.0);
  h += "</div>\n";
  const auto order = first_rows(checked, o.worst_rows, [&](std::size_t a, std::size_t b) {
    if (s.ppc_p[a] != s.ppc_p[b]) return s.ppc_p[a] < s.ppc_p[b];
    return !s.ppc_chi2.empty() && s.ppc_chi2[a] > s.ppc_chi2[b];
  });
  return h +
         fmt::format("<h2>Worst-fitting stars</h2>\n<p>The {} stars with the smallest p-value:</p>\n", order.size()) +
         star_table(f, s, order, o);
}

// summary.json: the report's numbers.
std::string summary_json(const CatalogReportOptions& o, const CatalogReport& r, const Stars& s,
                         const std::vector<std::size_t>& ok, double ess_median, std::size_t ess_low,
                         std::size_t ppc_n) {
  std::string flags_json;
  for (std::size_t k = 0; k < std::size(kFlags); ++k) {
    flags_json += fmt::format("{}\"{}\": {}", k ? ", " : "", kFlags[k].key, r.flag_counts[k]);
  }
  std::vector<double> teff_w, logg_w;
  for (std::size_t i : ok) {
    teff_w.push_back(s.width[i * 5]);
    logg_w.push_back(s.width[i * 5 + 1]);
  }
  return fmt::format(
      "{{\n  \"format\": \"irisml-catalog-report\", \"format_version\": 1,\n  \"posterior\": {},\n  \"variant\": "
      "\"{}\",\n  \"stars\": {}, \"summarised\": {},\n  \"flags\": {{{}}},\n  \"median_width\": {{\"teff\": {}, "
      "\"logg\": {}}},\n  \"ess_fraction_median\": {}, \"ess_below_threshold\": {},\n  \"ppc_checked\": {}\n}}\n",
      json_string(o.posterior), r.variant, r.stars, r.summarised, flags_json, json_number(quantile(teff_w, 0.5)),
      json_number(quantile(logg_w, 0.5)), json_number(ess_median), ess_low, ppc_n);
}

}  // namespace

CatalogReport build_catalog_report(const CatalogReportOptions& o) {
  h5::File f = h5::File::open(o.posterior);
  check_posterior_format(f);
  const bool has_iw = f.exists("importance/median");
  CatalogReport r;
  r.variant = o.variant.empty() ? (has_iw ? "importance" : "flow") : o.variant;
  if (r.variant != "flow" && r.variant != "importance") {
    fail_input("--variant = '{}' is not known; allowed: flow, importance", r.variant);
  }
  if (r.variant == "importance" && !has_iw) {
    fail_input("--variant importance: posterior file '{}' has no /importance summaries (sample --importance)",
               o.posterior);
  }
  const std::string group = r.variant == "importance" ? "importance/" : "";
  r.stars = f.dims("flags").at(0);
  for (const std::string name : {"median", "p16", "p84"}) {
    const auto d = f.dims(group + name);
    if (d.size() != 2 || d[0] != r.stars || d[1] != P::kParameters) {
      fail_input("posterior file '{}': /{}{} should be {} × 5", o.posterior, group, name, r.stars);
    }
  }
  if ((!o.ra.empty() && (o.ra.size() != r.stars || o.dec.size() != r.stars)) ||
      (!o.magnitude.empty() && o.magnitude.size() != r.stars)) {
    fail_input("catalogue columns for {} rows given for posterior file '{}' of {} rows",
               std::max(o.ra.size(), o.magnitude.size()), o.posterior, r.stars);
  }
  const Stars s = read_stars(f, group, r.stars, std::max<std::uint64_t>(1, o.block_rows));
  std::vector<std::size_t> ok;
  r.flag_counts.assign(std::size(kFlags), 0);
  for (std::size_t i = 0; i < r.stars; ++i) {
    if (usable(s, i)) ok.push_back(i);
    for (std::size_t k = 0; k < std::size(kFlags); ++k) r.flag_counts[k] += (s.flags[i] & kFlags[k].bit) != 0;
  }
  r.summarised = ok.size();

  double ess_median = kNaN;
  std::size_t ess_low = 0, ppc_n = 0;
  std::string h = report_head(f, o, r) + flags_section(r) + parameters_section(s, ok, o) + widths_section(s, ok, o);
  h += ess_section(f, s, o, &ess_median, &ess_low);
  h += ppc_section(f, s, o, &ppc_n);
  h += "<p class=\"note\">Numbers: summary.json in this directory. Per-star values: <code>irisml export</code>.</p>\n";
  h += "</body>\n</html>\n";
  r.html = std::move(h);
  r.summary_json = summary_json(o, r, s, ok, ess_median, ess_low, ppc_n);
  return r;
}

}  // namespace irisml::validate
