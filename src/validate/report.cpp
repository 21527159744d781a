#include "validate/report.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/text.hpp"
#include "core/json.hpp"
#include "validate/svg.hpp"

namespace irisml::validate {

namespace P = posterior;
namespace fs = std::filesystem;

namespace {

const char* kParamLabel[P::kParameters] = {"Teff", "log g", "[M/H]", "A_V", "R_V"};
const char* kParamColor[P::kParameters] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"};
const char* kBinColor[kBandBins] = {"#440154", "#3b528b", "#21918c", "#5ec962", "#e0b500"};

bool finite(double v) { return std::isfinite(v); }

// ------------------------------------------------------------ formatting ---

std::string num(double v, bool kelvin) {
  if (!finite(v)) return "nan";
  if (kelvin) return fmt::format("{:.1f}", v);
  return fmt::format("{:.4g}", v);
}

// ------------------------------------------------------------------ JSON ---

std::string json_array(const std::vector<double>& v) {
  std::string out = "[";
  for (std::size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + json_number(v[i]);
  return out + "]";
}

std::string json_point(const PointMetrics& m) {
  return fmt::format("\"n\": {}, \"bias\": {}, \"rms\": {}, \"mad\": {}, \"median_abs_error\": {}", m.n,
                     json_number(m.bias), json_number(m.rms), json_number(m.mad), json_number(m.median_abs));
}

std::string json_group(const GroupMetrics& g, const std::string& indent) {
  std::string out = "{\n";
  out += fmt::format("{}  \"label\": {},\n", indent, json_string(g.label));
  out += fmt::format("{}  \"bands_min\": {},\n{}  \"bands_max\": {},\n", indent, g.bands_lo, indent,
                     g.bands_hi == 0 ? std::string("null") : std::to_string(g.bands_hi));
  out += fmt::format("{}  \"stars\": {},\n", indent, g.stars);
  out += fmt::format("{}  \"metrics\": {{\n", indent);
  for (int p = 0; p < P::kParameters; ++p) {
    const auto& pm = g.parameters[p];
    out += fmt::format("{}    {}: {{{}, \"unit\": {},\n", indent, json_string(P::kParameterNames[p]),
                       json_point(pm.point), json_string(P::kParameterUnits[p]));
    out += fmt::format(
        "{}      \"coverage\": {{\"levels\": {}, \"coverage\": {}, \"stars\": {}, \"max_deviation\": {}}},\n", indent,
        json_array(pm.coverage.levels), json_array(pm.coverage.coverage), pm.coverage.stars,
        pm.coverage.levels.empty() ? "null" : json_number(pm.coverage.max_deviation));
    out += fmt::format(
        "{}      \"central_coverage\": {{\"levels\": {}, \"coverage\": {}, \"stars\": {}, \"max_deviation\": {}}},\n",
        indent, json_array(pm.central.levels), json_array(pm.central.coverage), pm.central.stars,
        pm.central.levels.empty() ? "null" : json_number(pm.central.max_deviation));
    out += fmt::format("{}      \"hdi68_coverage\": {}, \"hdi95_coverage\": {}}},\n", indent,
                       pm.hdi68_coverage < 0 ? "null" : json_number(pm.hdi68_coverage),
                       pm.hdi95_coverage < 0 ? "null" : json_number(pm.hdi95_coverage));
  }
  out += fmt::format("{}    \"teff_dex\": {{{}, \"unit\": \"dex\"}}\n", indent, json_point(g.teff_dex));
  out += fmt::format("{}  }}\n{}}}", indent, indent);
  return out;
}

using Svg = svg::Figure;
using svg::html_escape;
using svg::quantile;
using svg::viridis;

std::string axis_label(int p) {
  std::string unit = P::kParameterUnits[p];
  return unit.empty() ? kParamLabel[p] : fmt::format("{} [{}]", kParamLabel[p], unit);
}

// Predicted median vs truth as a 2-D histogram (log colour scale) with the diagonal.
std::string density_svg(const EvaluationResult& r, int p) {
  const std::size_t n = r.n_bands.size();
  std::vector<double> t(n), m(n);
  for (std::size_t i = 0; i < n; ++i) {
    t[i] = r.truth[i * 5 + static_cast<std::size_t>(p)];
    m[i] = r.median[i * 5 + static_cast<std::size_t>(p)];
  }
  std::vector<double> both = t;
  both.insert(both.end(), m.begin(), m.end());
  double lo = quantile(both, 0.002), hi = quantile(both, 0.998);
  if (!(hi > lo)) {
    lo -= 0.5;
    hi += 0.5;
  }
  double pad = 0.03 * (hi - lo);
  lo -= pad;
  hi += pad;
  constexpr int kBins = 48;
  std::vector<int> counts(kBins * kBins, 0);
  std::size_t outside = 0;
  for (std::size_t i = 0; i < n; ++i) {
    int bx = static_cast<int>(std::floor((t[i] - lo) / (hi - lo) * kBins));
    int by = static_cast<int>(std::floor((m[i] - lo) / (hi - lo) * kBins));
    if (bx < 0 || by < 0 || bx >= kBins || by >= kBins) {
      ++outside;
      continue;
    }
    ++counts[static_cast<std::size_t>(by * kBins + bx)];
  }
  int max_count = *std::max_element(counts.begin(), counts.end());
  Svg svg(330, 320, lo, hi, lo, hi);
  const double step = (hi - lo) / kBins;
  for (int by = 0; by < kBins; ++by) {
    for (int bx = 0; bx < kBins; ++bx) {
      int c = counts[static_cast<std::size_t>(by * kBins + bx)];
      if (c == 0) continue;
      double f = max_count > 1 ? std::log(static_cast<double>(c)) / std::log(static_cast<double>(max_count)) : 1.0;
      svg.cell(lo + bx * step, lo + (bx + 1) * step, lo + by * step, lo + (by + 1) * step, viridis(0.15 + 0.85 * f));
    }
  }
  svg.raw("\n");
  svg.line(lo, lo, hi, hi, "stroke=\"#e41a1c\" stroke-width=\"1.2\" stroke-dasharray=\"5,4\"");
  svg.axes("true " + axis_label(p), "posterior median " + axis_label(p), kParamLabel[p]);
  svg.text_px(Svg::kLeft + 6, Svg::kTop + 14,
              fmt::format("N={} max/bin={}{}", n, max_count, outside ? fmt::format(" ({} off-plot)", outside) : ""),
              "fill=\"#333\" font-size=\"10\"");
  return svg.str();
}

// Coverage vs level for the given groups' parameters.
std::string coverage_svg(const std::vector<const CoverageCurve*>& curves, const std::vector<std::string>& names,
                         const std::vector<std::string>& colors, const std::string& title) {
  Svg svg(330, 320, 0, 1, 0, 1);
  svg.line(0, 0, 1, 1, "stroke=\"#888\" stroke-dasharray=\"5,4\"");
  for (std::size_t i = 0; i < curves.size(); ++i) {
    const auto& c = *curves[i];
    if (c.levels.empty()) continue;
    std::vector<double> xs = {0}, ys = {0};
    xs.insert(xs.end(), c.levels.begin(), c.levels.end());
    ys.insert(ys.end(), c.coverage.begin(), c.coverage.end());
    xs.push_back(1);
    ys.push_back(1);
    if (c.levels.size() > 2) svg.polyline(xs, ys, colors[i]);
    for (std::size_t l = 0; l < c.levels.size(); ++l) svg.circle(c.levels[l], c.coverage[l], 2.4, colors[i]);
  }
  svg.axes("credibility level (HDI)", "fraction of truths inside", title);
  for (std::size_t i = 0; i < names.size(); ++i) {
    double y = Svg::kTop + 14 + 13 * static_cast<double>(i);
    svg.raw(fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"10\" height=\"3\" fill=\"{}\"/>", Svg::kLeft + 8,
                        y - 4, colors[i]));
    svg.text_px(Svg::kLeft + 22, y, names[i], "font-size=\"10\"");
  }
  return svg.str();
}

// Residual (median − truth) vs number of bands: median and 16–84 % range per band count.
std::string residual_svg(const EvaluationResult& r, int p) {
  std::map<int, std::vector<double>> by;
  for (std::size_t i = 0; i < r.n_bands.size(); ++i) {
    by[r.n_bands[i]].push_back(static_cast<double>(r.median[i * 5 + static_cast<std::size_t>(p)]) -
                               r.truth[i * 5 + static_cast<std::size_t>(p)]);
  }
  struct Row {
    int bands;
    double q16, q50, q84, rms;
    std::size_t n;
  };
  std::vector<Row> rows;
  double ylo = 0, yhi = 0;
  for (auto& [b, v] : by) {
    double s2 = 0;
    for (double e : v) s2 += e * e;
    Row row{b, quantile(v, 0.16), quantile(v, 0.5), quantile(v, 0.84), std::sqrt(s2 / v.size()), v.size()};
    ylo = std::min({ylo, row.q16, -row.rms});
    yhi = std::max({yhi, row.q84, row.rms});
    rows.push_back(row);
  }
  if (rows.empty()) return "";
  double pad = 0.08 * (yhi - ylo + 1e-12);
  Svg svg(330, 300, rows.front().bands - 0.7, rows.back().bands + 0.7, ylo - pad, yhi + pad);
  svg.line(rows.front().bands - 0.7, 0, rows.back().bands + 0.7, 0, "stroke=\"#888\" stroke-dasharray=\"4,3\"");
  std::vector<double> xs, rms_pos, rms_neg;
  for (const auto& row : rows) {
    svg.line(row.bands, row.q16, row.bands, row.q84, fmt::format("stroke=\"{}\" stroke-width=\"2\"", kParamColor[p]));
    svg.circle(row.bands, row.q50, 3, kParamColor[p]);
    xs.push_back(row.bands);
    rms_pos.push_back(row.rms);
    rms_neg.push_back(-row.rms);
  }
  svg.polyline(xs, rms_pos, "#999");
  svg.polyline(xs, rms_neg, "#999");
  std::string unit = P::kParameterUnits[p];
  svg.axes("number of bands", fmt::format("median − true{}", unit.empty() ? "" : " [" + unit + "]"), kParamLabel[p]);
  svg.text_px(Svg::kLeft + 6, Svg::kTop + 14, "dot: median, bar: 16–84 %, grey: ±RMS",
              "fill=\"#333\" font-size=\"10\"");
  return svg.str();
}

std::string coverage_cell(const CoverageCurve& c) {
  return c.levels.empty() ? std::string("-") : fmt::format("{:.3f}", c.max_deviation);
}

}  // namespace

// ------------------------------------------------------------------ table --

namespace {

// The per-parameter rows of one group of stars (overall, or Teff 4000-7000 K).
std::string parameter_rows(const GroupMetrics& g) {
  std::string out;
  out += fmt::format("{:<12} {:<5} {:>9} {:>11} {:>11} {:>11} {:>11} {:>13} {:>13}\n", "parameter", "unit", "N", "bias",
                     "RMS", "MAD", "median|err|", "max|cov-lvl|", "(central)");
  for (int p = 0; p < P::kParameters; ++p) {
    const auto& pm = g.parameters[p];
    bool k = p == 0;
    out += fmt::format("{:<12} {:<5} {:>9} {:>11} {:>11} {:>11} {:>11} {:>13} {:>13}\n", P::kParameterNames[p],
                       P::kParameterUnits[p], pm.point.n, num(pm.point.bias, k), num(pm.point.rms, k),
                       num(pm.point.mad, k), num(pm.point.median_abs, k), coverage_cell(pm.coverage),
                       coverage_cell(pm.central));
    if (p == 0) {
      const auto& d = g.teff_dex;
      out += fmt::format("{:<12} {:<5} {:>9} {:>11} {:>11} {:>11} {:>11} {:>13}\n", "teff (log)", "dex", d.n,
                         num(d.bias, false), num(d.rms, false), num(d.mad, false), num(d.median_abs, false), "");
    }
  }
  return out;
}

}  // namespace

std::string summary_table(const EvaluationResult& r) {
  std::string out = parameter_rows(r.overall);
  if (r.cool.stars > 0) {
    out += fmt::format("\nstars with true Teff {:.0f}-{:.0f} K ({} of {}):\n", kCoolTeffMin, kCoolTeffMax, r.cool.stars,
                       r.overall.stars);
    out += parameter_rows(r.cool);
  }
  if (!r.by_bands.empty()) {
    out += "\nby number of bands: RMS (max|coverage-level|)\n";
    out += fmt::format("{:<8} {:>8}", "bands", "N");
    for (int p = 0; p < P::kParameters; ++p) out += fmt::format(" {:>19}", P::kParameterNames[p]);
    out += "\n";
    for (const auto& g : r.by_bands) {
      out += fmt::format("{:<8} {:>8}", g.label, g.stars);
      for (int p = 0; p < P::kParameters; ++p) {
        const auto& pm = g.parameters[p];
        out += fmt::format(" {:>19}", fmt::format("{} ({})", num(pm.point.rms, p == 0), coverage_cell(pm.coverage)));
      }
      out += "\n";
    }
  }
  const auto& c = r.counts;
  out += fmt::format(
      "\nstars: {} total, {} evaluated, {} excluded (too few bands), {} excluded (non-finite), {} "
      "flagged outside the training range, {} flagged by the posterior-predictive check\n",
      c.total, c.evaluated, c.excluded_too_few_bands, c.excluded_non_finite, c.flagged_outside_training_range,
      c.flagged_ppc_chi2);
  if (r.coverage_source == "samples") {
    out += fmt::format(
        "coverage: {} levels; HDI = ceil(level*(S+1)) + 1 of the S = {} samples, placed on the smoothed "
        "order statistics (calibrated to ~0.01 at S = 64: docs/posterior_format.md); central = equal-tailed "
        "interval from the truth's rank among the samples (exact under calibration)\n",
        r.overall.parameters[0].coverage.levels.size(), r.samples_per_star);
  } else {
    out += "coverage: only the stored 68 % and 95 % HDIs (the posterior file has no /samples)\n";
  }
  return out;
}

// ------------------------------------------------------------------- JSON --

std::string metrics_json(const EvaluationResult& r, const ReportInfo& info) {
  std::string out = "{\n";
  out += "  \"format\": \"irisml-evaluation\",\n  \"format_version\": 1,\n";
  out += fmt::format("  \"code_version\": {},\n", json_string(info.code_version));
  out += fmt::format("  \"posterior\": {},\n  \"truth\": {},\n  \"model\": {},\n", json_string(info.posterior),
                     json_string(info.truth), json_string(info.model));
  out += fmt::format("  \"coverage_source\": {},\n  \"samples_per_star\": {},\n", json_string(r.coverage_source),
                     r.samples_per_star);
  out += "  \"parameters\": [\"teff\", \"logg\", \"mh\", \"av\", \"rv\"],\n";
  const auto& c = r.counts;
  out += fmt::format(
      "  \"stars\": {{\"total\": {}, \"evaluated\": {}, \"excluded_too_few_bands\": {}, \"excluded_non_finite\": {}, "
      "\"flagged_outside_training_range\": {}, \"flagged_ppc_chi2\": {}}},\n",
      c.total, c.evaluated, c.excluded_too_few_bands, c.excluded_non_finite, c.flagged_outside_training_range,
      c.flagged_ppc_chi2);
  out += "  \"overall\": " + json_group(r.overall, "  ") + ",\n";
  out += "  \"teff_4000_7000\": " + json_group(r.cool, "  ") + ",\n";
  out += "  \"by_bands\": [";
  for (std::size_t i = 0; i < r.by_bands.size(); ++i) out += (i ? ", " : "") + json_group(r.by_bands[i], "    ");
  out += "]\n}\n";
  return out;
}

// ------------------------------------------------------------------- HTML --

namespace {

std::string html_head(const EvaluationResult& r, const ReportInfo& info) {
  std::string h;
  h += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>IrisML evaluation</title>\n";
  h += "<style>body{font-family:sans-serif;margin:24px;color:#222;max-width:1400px}"
       "table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
       "th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}.figs{display:flex;flex-wrap:wrap;gap:8px}"
       "code{background:#f5f5f5;padding:1px 4px}.note{color:#555;font-size:90%}</style>\n</head>\n<body>\n";
  h += "<h1>IrisML evaluation</h1>\n<p>";
  h += fmt::format("posterior <code>{}</code><br>truth <code>{}</code>", html_escape(info.posterior),
                   html_escape(info.truth));
  if (!info.model.empty()) h += fmt::format("<br>model <code>{}</code>", html_escape(info.model));
  h += fmt::format("<br>irisml {}</p>\n", html_escape(info.code_version));
  const auto& c = r.counts;
  h += fmt::format(
      "<p>{} stars: <b>{}</b> evaluated, {} excluded (too few bands), {} excluded (non-finite median or "
      "truth); {} flagged outside the training range, {} flagged by the posterior-predictive χ² check "
      "(these are included).</p>\n",
      c.total, c.evaluated, c.excluded_too_few_bands, c.excluded_non_finite, c.flagged_outside_training_range,
      c.flagged_ppc_chi2);
  return h;
}

// The point-estimate table of one group, without its closing tag.
std::string point_table(const GroupMetrics& g) {
  auto cov = [](double v) { return v < 0 ? std::string("-") : fmt::format("{:.3f}", v); };
  std::string t =
      "<table>\n<tr><th>parameter</th><th>unit</th><th>N</th>"
      "<th>bias</th><th>RMS</th><th>MAD (mean |err|)</th><th>median |err|</th><th>HDI 68 % cov.</th>"
      "<th>HDI 95 % cov.</th><th>max |coverage − level| (HDI)</th><th>max |coverage − level| (central)</th></tr>\n";
  for (int p = 0; p < P::kParameters; ++p) {
    const auto& pm = g.parameters[p];
    bool k = p == 0;
    t += fmt::format(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
        "<td>{}</td><td>{}</td><td>{}</td></tr>\n",
        kParamLabel[p], P::kParameterUnits[p], pm.point.n, num(pm.point.bias, k), num(pm.point.rms, k),
        num(pm.point.mad, k), num(pm.point.median_abs, k), cov(pm.hdi68_coverage), cov(pm.hdi95_coverage),
        coverage_cell(pm.coverage), coverage_cell(pm.central));
    if (p == 0) {
      const auto& d = g.teff_dex;
      t += fmt::format(
          "<tr><td>log10 Teff</td><td>dex</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
          "<td></td><td></td><td></td><td></td></tr>\n",
          d.n, num(d.bias, false), num(d.rms, false), num(d.mad, false), num(d.median_abs, false));
    }
  }
  return t;
}

std::string by_bands_table(const EvaluationResult& r) {
  if (r.by_bands.empty()) return {};
  std::string h = "<h2>By number of bands</h2>\n<table>\n<tr><th>bands</th><th>N</th>";
  for (int p = 0; p < P::kParameters; ++p) {
    h += fmt::format("<th>{} RMS</th><th>{} MAD</th><th>{} bias</th><th>{} max|cov−lvl|</th>", kParamLabel[p],
                     kParamLabel[p], kParamLabel[p], kParamLabel[p]);
  }
  h += "</tr>\n";
  for (const auto& g : r.by_bands) {
    h += fmt::format("<tr><td>{}</td><td>{}</td>", g.label, g.stars);
    for (int p = 0; p < P::kParameters; ++p) {
      const auto& pm = g.parameters[p];
      h += fmt::format("<td>{}</td><td>{}</td><td>{}</td><td>{}</td>", num(pm.point.rms, p == 0),
                       num(pm.point.mad, p == 0), num(pm.point.bias, p == 0), coverage_cell(pm.coverage));
    }
    h += "</tr>\n";
  }
  return h + "</table>\n";
}

// The coverage curves: all stars (HDI and, with samples, central) and per band count.
std::string coverage_section(const EvaluationResult& r) {
  std::string h = "<h2>Coverage (calibration)</h2>\n";
  if (r.coverage_source == "samples") {
    h += fmt::format(
        "<p class=\"note\">HDI: the shortest interval holding ceil(level·S) of the S = {} samples of a "
        "star. Central: the equal-tailed interval, from the rank of the truth among the samples (SBC "
        "rank). A calibrated posterior follows the diagonal; below it = overconfident, above = "
        "underconfident. The sample HDI is biased low at finite S (a perfectly calibrated Gaussian "
        "posterior shows up to ≈0.09 below the diagonal at S = 64, ≈0.03 at S = 400); the central curve "
        "has no such bias.</p>\n",
        r.samples_per_star);
  } else {
    h += "<p class=\"note\">The posterior file has no /samples: only the stored 68 % and 95 % HDIs are "
         "checked.</p>\n";
  }
  h += "<div class=\"figs\">\n";
  std::vector<const CoverageCurve*> curves;
  std::vector<std::string> names, colors;
  for (int p = 0; p < P::kParameters; ++p) {
    curves.push_back(&r.overall.parameters[p].coverage);
    names.push_back(kParamLabel[p]);
    colors.push_back(kParamColor[p]);
  }
  h += coverage_svg(curves, names, colors, r.coverage_source == "samples" ? "HDI, all stars" : "all stars");
  if (r.coverage_source == "samples") {
    curves.clear();
    for (int p = 0; p < P::kParameters; ++p) curves.push_back(&r.overall.parameters[p].central);
    h += coverage_svg(curves, names, colors, "central (rank), all stars");
  }
  if (r.by_bands.size() > 1) {
    for (int p = 0; p < P::kParameters; ++p) {
      std::vector<const CoverageCurve*> band_curves;
      std::vector<std::string> band_names, band_colors;
      for (const auto& g : r.by_bands) {
        band_curves.push_back(&g.parameters[p].coverage);
        band_names.push_back(g.label + " bands");
        band_colors.push_back(kBinColor[band_bin(g.bands_lo)]);
      }
      h += coverage_svg(band_curves, band_names, band_colors, fmt::format("{} HDI by number of bands", kParamLabel[p]));
    }
  }
  return h + "</div>\n";
}

// A section of one figure per parameter (none without per-star results).
std::string per_parameter(const EvaluationResult& r, const char* title,
                          std::string (*figure)(const EvaluationResult&, int)) {
  if (r.n_bands.empty()) return {};
  std::string h = fmt::format("<h2>{}</h2>\n<div class=\"figs\">\n", title);
  for (int p = 0; p < P::kParameters; ++p) h += figure(r, p);
  return h + "</div>\n";
}

}  // namespace

std::string report_html(const EvaluationResult& r, const ReportInfo& info) {
  std::string h = html_head(r, info);
  h += "<h2>Point estimates (posterior median)</h2>\n" + point_table(r.overall);
  h += "</table>\n<p class=\"note\">bias = mean(median − truth); RMS = sqrt(mean (median − truth)²); MAD = "
       "mean |median − truth| (the paper's definition); coverage = fraction of true values inside the highest-density "
       "interval.</p>\n";
  if (r.cool.stars > 0) {
    h += fmt::format("<h2>Stars with true Teff {:.0f}–{:.0f} K ({} of {})</h2>\n", kCoolTeffMin, kCoolTeffMax,
                     r.cool.stars, r.overall.stars) +
         point_table(r.cool) + "</table>\n";
  }
  h += by_bands_table(r);
  h += per_parameter(r, "Posterior median vs truth", density_svg);
  h += coverage_section(r);
  h += per_parameter(r, "Residuals vs number of bands", residual_svg);
  h += "<p class=\"note\">Numbers: metrics.json in this directory.</p>\n</body>\n</html>\n";
  return h;
}

// ---------------------------------------------------------------- writing --

namespace {
std::string strip_slashes(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir;
}

void write_file(const fs::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
  out.close();
  if (!out) fail_io("could not write '{}'", path.string());
}
}  // namespace

// A directory holding nothing but what a report writes: index.html and *.json (empty counts).
static bool is_report_dir(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return false;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const auto name = entry.path().filename().string();
    if (name != "index.html" && !ends_with(name, ".json")) return false;
  }
  return !ec;
}

void check_report_dir(const std::string& dir_in, bool overwrite, const std::string& option) {
  if (dir_in.empty()) fail_input("{} is empty; give a directory path", option);
  const std::string dir = strip_slashes(dir_in);
  std::error_code ec;
  fs::path parent = fs::path(dir).parent_path();
  if (parent.empty()) parent = ".";
  if (!fs::is_directory(parent, ec)) fail_input("{} '{}': directory '{}' does not exist", option, dir, parent.string());
  if (!fs::exists(dir, ec)) return;
  if (!fs::is_directory(dir, ec)) fail_input("{} '{}' exists and is not a directory", option, dir);
  if (!overwrite) fail_input("{} '{}' already exists; pass --overwrite to replace it", option, dir);
  if (!is_report_dir(dir)) {
    fail_input(
        "{} '{}' holds files other than a previous report's (index.html, *.json); --overwrite only replaces a "
        "previous report, choose another path",
        option, dir);
  }
  const std::string partial = dir + ".partial";
  if (fs::exists(partial, ec) && !is_report_dir(partial)) {
    fail_input(
        "'{}' (where the new report is assembled) exists and is not a leftover report; remove it or choose "
        "another {}",
        partial, option);
  }
}

std::string write_report_files(const std::string& dir_in, bool overwrite,
                               const std::vector<std::pair<std::string, std::string>>& files,
                               const std::string& option) {
  check_report_dir(dir_in, overwrite, option);
  const std::string dir = strip_slashes(dir_in);
  const fs::path partial = dir + ".partial";
  std::error_code ec;
  fs::remove_all(partial, ec);
  if (!fs::create_directory(partial, ec)) {
    fail_io("could not create report directory '{}': {}", partial.string(), ec.message());
  }
  try {
    for (const auto& [name, content] : files) write_file(partial / name, content);
    if (fs::exists(dir, ec)) {
      fs::remove_all(dir, ec);
      if (ec) fail_io("could not remove the previous report '{}': {}", dir, ec.message());
    }
    fs::rename(partial, dir, ec);
    if (ec) fail_io("could not rename '{}' to '{}': {}", partial.string(), dir, ec.message());
  } catch (...) {
    fs::remove_all(partial, ec);
    throw;
  }
  return dir;
}

std::string write_report(const EvaluationResult& result, const ReportInfo& info, const std::string& dir, bool overwrite,
                         const std::vector<std::pair<std::string, std::string>>& extra) {
  std::vector<std::pair<std::string, std::string>> files = {{"metrics.json", metrics_json(result, info)},
                                                            {"index.html", report_html(result, info)}};
  files.insert(files.end(), extra.begin(), extra.end());
  return write_report_files(dir, overwrite, files);
}

}  // namespace irisml::validate
