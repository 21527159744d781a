#include "simulate/isochrones.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "core/fnv1a.hpp"
#include "core/text.hpp"
#include "io/text_lines.hpp"
#include "simulate/photometry.hpp"

namespace irisml::simulate {

namespace {

constexpr const char* kHeader = "feh,mass_init,log_age,log_teff,log_g,log_r";

double number(const std::string& field, const std::string& path, std::size_t line, const char* column) {
  double v = 0.0;
  if (!parse_number(field, v)) {
    fail_input("stellar tracks '{}' line {}: {} = '{}' is not a finite number", path, line, column, field);
  }
  return v;
}

// A normalised Gaussian kernel of `sigma` cells, cut at 3 sigma (at least one cell).
std::vector<double> kernel(double sigma) {
  const int half = std::max(1, static_cast<int>(std::ceil(3.0 * sigma)));
  std::vector<double> k(static_cast<std::size_t>(2 * half + 1));
  double sum = 0;
  for (int i = -half; i <= half; ++i) {
    const double v = sigma > 0 ? std::exp(-0.5 * (i / sigma) * (i / sigma)) : (i == 0 ? 1.0 : 0.0);
    k[static_cast<std::size_t>(i + half)] = v;
    sum += v;
  }
  for (double& v : k) v /= sum;
  return k;
}

// One pass of a separable smoothing of an nt × ng lattice (row-major in log g) along
// log10 Teff (stride 1, length nt) or log g (stride nt, length ng); zero beyond the edges.
void convolve(const std::vector<double>& in, std::vector<double>& out, int nt, int ng, const std::vector<double>& k,
              bool along_teff) {
  std::fill(out.begin(), out.end(), 0.0);
  const int half = static_cast<int>(k.size() / 2);
  const int length = along_teff ? nt : ng;
  const std::size_t stride = along_teff ? 1 : static_cast<std::size_t>(nt);
  for (int g = 0; g < ng; ++g) {
    for (int t = 0; t < nt; ++t) {
      const std::size_t c = static_cast<std::size_t>(g) * nt + t;
      const double v = in[c];
      if (v == 0) continue;
      const int pos = along_teff ? t : g;
      for (int i = std::max(-half, -pos); i <= half && pos + i < length; ++i) {
        const auto target = static_cast<std::ptrdiff_t>(c) + i * static_cast<std::ptrdiff_t>(stride);
        out[static_cast<std::size_t>(target)] += v * k[static_cast<std::size_t>(i + half)];
      }
    }
  }
}

void smooth(std::vector<double>& a, int nt, int ng, const std::vector<double>& kt, const std::vector<double>& kg) {
  std::vector<double> tmp(a.size());
  convolve(a, tmp, nt, ng, kt, /*along_teff=*/true);
  convolve(tmp, a, nt, ng, kg, /*along_teff=*/false);
}

}  // namespace

double kroupa_number(double m1, double m2) {
  auto segment = [](double a, double b, double slope, double scale) {
    if (!(b > a)) return 0.0;
    return scale * (std::pow(b, 1.0 - slope) - std::pow(a, 1.0 - slope)) / (1.0 - slope);
  };
  constexpr double kBreak = 0.5;
  // ξ = M^−1.3 below the break, 0.5 · M^−2.3 above: continuous at 0.5 M_sun.
  return segment(m1, std::min(m2, kBreak), 1.3, 1.0) + segment(std::max(m1, kBreak), m2, 2.3, kBreak);
}

double log_mass_of(double logg, double log_r) {
  static const double kOffset = 2.0 * std::log10(kSolarRadiusCm) - std::log10(kSolarGMCgs);
  return logg + 2.0 * log_r + kOffset;
}

StellarTracks StellarTracks::load(const std::string& path) {
  StellarTracks out;
  out.source = path;
  TextLines text(path);
  Fnv1a hash;
  std::string line;
  std::size_t number_of_line = 0;
  bool header = false;
  while (text.next(line)) {
    ++number_of_line;
    hash.bytes(line.data(), line.size());
    hash.bytes("\n", 1);
    if (line.empty() || line[0] == '#') continue;
    if (!header) {
      if (line != kHeader) {
        fail_input("stellar tracks '{}' line {}: header is '{}', expected '{}'", path, number_of_line, line, kHeader);
      }
      header = true;
      continue;
    }
    const auto fields = split(line, ",", /*keep_empty=*/true);
    if (fields.size() != 6) {
      fail_input("stellar tracks '{}' line {}: {} fields, expected 6 ({})", path, number_of_line, fields.size(),
                 kHeader);
    }
    const double feh = number(fields[0], path, number_of_line, "feh");
    const double mass = number(fields[1], path, number_of_line, "mass_init");
    Point p{number(fields[2], path, number_of_line, "log_age"), number(fields[3], path, number_of_line, "log_teff"),
            number(fields[4], path, number_of_line, "log_g"), number(fields[5], path, number_of_line, "log_r")};
    if (!(mass > 0)) fail_input("stellar tracks '{}' line {}: mass_init = {} must be > 0", path, number_of_line, mass);
    if (out.tracks.empty() || out.tracks.back().feh != feh || out.tracks.back().mass_init != mass) {
      if (!out.tracks.empty()) {
        const Track& last = out.tracks.back();
        if (feh < last.feh || (feh == last.feh && mass <= last.mass_init)) {
          fail_input(
              "stellar tracks '{}' line {}: track (feh {}, mass_init {}) after (feh {}, mass_init {}): tracks must "
              "be sorted by feh, then mass_init, each track's rows together",
              path, number_of_line, feh, mass, last.feh, last.mass_init);
        }
      }
      out.tracks.push_back({feh, mass, {}});
      if (out.feh.empty() || out.feh.back() != feh) out.feh.push_back(feh);
    } else if (!(p.log_age > out.tracks.back().points.back().log_age)) {
      fail_input("stellar tracks '{}' line {}: log_age = {} does not increase along the track", path, number_of_line,
                 p.log_age);
    }
    out.tracks.back().points.push_back(p);
    ++out.rows;
  }
  if (!header || out.tracks.empty()) fail_input("stellar tracks '{}' holds no rows (expected '{}')", path, kHeader);
  out.checksum = hash.value();
  return out;
}

IsochroneTable::IsochroneTable(const StellarTracks& tracks, const IsochroneSettings& settings, double log_teff_lo,
                               double log_teff_hi, double logg_lo, double logg_hi)
    : feh_(tracks.feh) {
  t0_ = std::floor(log_teff_lo / kCellLogTeff) * kCellLogTeff;
  g0_ = std::floor(logg_lo / kCellLogg) * kCellLogg;
  nt_ = static_cast<int>(std::ceil((log_teff_hi - t0_) / kCellLogTeff - 1e-9));
  ng_ = static_cast<int>(std::ceil((logg_hi - g0_) / kCellLogg - 1e-9));
  nt_ = std::max(nt_, 1);
  ng_ = std::max(ng_, 1);
  const double age_lo = settings.age_min * 1e9, age_hi = settings.age_max * 1e9;
  for (std::size_t k = 0; k < feh_.size(); ++k) {
    // The weight and Σ w·(log M, log M², log age, log age², log M log age) per cell.
    std::vector<double> w(cells(), 0.0);
    std::vector<std::vector<double>> sums(5, std::vector<double>(cells(), 0.0));
    std::vector<const StellarTracks::Track*> layer;
    for (const auto& t : tracks.tracks) {
      if (t.feh == feh_[k]) layer.push_back(&t);
    }
    for (std::size_t j = 0; j < layer.size(); ++j) {
      const double m = layer[j]->mass_init;
      // Its IMF bin: to the midpoints with its neighbours, mirrored at the ends (±5 %
      // for a layer of one track).
      double lo = j == 0 ? 0.0 : 0.5 * (layer[j - 1]->mass_init + m);
      double hi = j + 1 == layer.size() ? 0.0 : 0.5 * (m + layer[j + 1]->mass_init);
      if (j == 0) lo = hi > 0 ? std::max(0.5 * m, 2.0 * m - hi) : 0.95 * m;
      if (j + 1 == layer.size()) hi = j > 0 ? 2.0 * m - lo : 1.05 * m;
      const double imf = kroupa_number(lo, hi);
      const auto& pts = layer[j]->points;
      for (std::size_t i = 0; i + 1 < pts.size(); ++i) {
        const StellarTracks::Point &a = pts[i], &b = pts[i + 1];
        const double ta = std::pow(10.0, a.log_age), tb = std::pow(10.0, b.log_age);
        const double t1 = std::max(ta, age_lo), t2 = std::min(tb, age_hi);
        if (!(t2 > t1)) continue;
        // Positions are linear in age between the two points.
        const double f1 = (t1 - ta) / (tb - ta), f2 = (t2 - ta) / (tb - ta);
        const double span =
            std::max(std::abs(b.log_teff - a.log_teff) / kCellLogTeff, std::abs(b.log_g - a.log_g) / kCellLogg) *
            (f2 - f1);
        const int steps = 1 + static_cast<int>(std::ceil(4.0 * span));
        const double piece = imf * (t2 - t1) / (age_hi - age_lo) / steps;
        for (int s = 0; s < steps; ++s) {
          const double f = f1 + (f2 - f1) * (s + 0.5) / steps;
          const double lt = a.log_teff + f * (b.log_teff - a.log_teff), lg = a.log_g + f * (b.log_g - a.log_g);
          const long c = cell(lt, lg);
          if (c < 0) continue;
          const double lm = log_mass_of(lg, a.log_r + f * (b.log_r - a.log_r));
          const double la = std::log10(t1 + (t2 - t1) * (s + 0.5) / steps);
          const auto cu = static_cast<std::size_t>(c);
          w[cu] += piece;
          sums[0][cu] += piece * lm;
          sums[1][cu] += piece * lm * lm;
          sums[2][cu] += piece * la;
          sums[3][cu] += piece * la * la;
          sums[4][cu] += piece * lm * la;
        }
      }
    }
    const auto kt = kernel(settings.smooth_log_teff / kCellLogTeff), kg = kernel(settings.smooth_logg / kCellLogg);
    smooth(w, nt_, ng_, kt, kg);
    for (auto& sum : sums) smooth(sum, nt_, ng_, kt, kg);
    std::vector<Moments> moments(cells());
    for (std::size_t c = 0; c < cells(); ++c) {
      if (!(w[c] > 0)) continue;
      Moments& m = moments[c];
      m.mean_log_mass = sums[0][c] / w[c];
      m.var_log_mass = std::max(0.0, sums[1][c] / w[c] - m.mean_log_mass * m.mean_log_mass);
      m.mean_log_age = sums[2][c] / w[c];
      m.var_log_age = std::max(0.0, sums[3][c] / w[c] - m.mean_log_age * m.mean_log_age);
      m.cov = sums[4][c] / w[c] - m.mean_log_mass * m.mean_log_age;
    }
    weight_.push_back(std::move(w));
    moments_.push_back(std::move(moments));
  }
}

long IsochroneTable::cell(double log_teff, double logg) const {
  const double ft = std::floor((log_teff - t0_) / kCellLogTeff), fg = std::floor((logg - g0_) / kCellLogg);
  if (!(ft >= 0 && ft < nt_ && fg >= 0 && fg < ng_)) return -1;
  return static_cast<long>(fg) * nt_ + static_cast<long>(ft);
}

}  // namespace irisml::simulate
