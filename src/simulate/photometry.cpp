#include "simulate/photometry.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "core/paths.hpp"

namespace irisml::simulate {
namespace {

constexpr double kLn10 = 2.302585092994045684;

void check_grid(const std::vector<double>& grid) {
  if (grid.size() < 2) fail_input("wavelength grid has {} point(s); at least 2 are needed", grid.size());
  for (std::size_t i = 0; i < grid.size(); ++i) {
    if (!(grid[i] > 0) || !std::isfinite(grid[i])) {
      fail_input("wavelength grid point {} is {} Å; wavelengths must be finite and > 0", i, grid[i]);
    }
    if (i > 0 && !(grid[i] > grid[i - 1])) {
      fail_input("wavelength grid is not strictly increasing at point {} ({} Å after {} Å)", i, grid[i], grid[i - 1]);
    }
  }
}

void check_curve(const FilterCurve& curve, const std::string& name) {
  if (curve.wavelength.size() != curve.response.size() || curve.wavelength.size() < 2) {
    fail_input("filter '{}': curve has {} wavelengths and {} responses; need equal sizes, at least 2", name,
               curve.wavelength.size(), curve.response.size());
  }
}

// Indices [s0, s1] of the table rows bounding the part of the filter where T > 0.
std::pair<std::size_t, std::size_t> support(const FilterCurve& curve) {
  const auto& r = curve.response;
  std::size_t first = 0, last = r.size() - 1;
  while (first < r.size() && !(r[first] > 0)) ++first;
  while (last > first && !(r[last] > 0)) --last;
  if (first == r.size()) return {0, 0};  // transmits nothing
  return {first > 0 ? first - 1 : 0, last + 1 < r.size() ? last + 1 : last};
}

// u − log1p(u) and log1p(u) − u/(1+u) for u > 0, without cancellation for small u.
double g_series(double u) {
  if (u >= 0.1) return u - std::log1p(u);
  double term = -u, sum = 0;
  for (int k = 2; k <= 24; ++k) {
    term *= -u;  // (−u)^k
    sum += term / k;
  }
  return sum;  // Σ_{k≥2} (−1)^k u^k / k
}

double h_series(double u) {
  if (u >= 0.1) return std::log1p(u) - u / (1.0 + u);
  double term = -u, sum = 0;
  for (int k = 2; k <= 24; ++k) {
    term *= -u;  // (−u)^k
    sum += term * (1.0 - 1.0 / k);
  }
  return sum;  // Σ_{k≥2} (−1)^k u^k (1 − 1/k)
}

// ∫_a^b T λ^q dλ with T linear from ta (at a) to tb (at b).
double segment_moment(double a, double b, double ta, double tb, int q) {
  if (q >= 0) {  // polynomial of degree ≤ 3: Simpson is exact
    double m = 0.5 * (a + b);
    return (b - a) / 6.0 * (ta * std::pow(a, q) + 4.0 * 0.5 * (ta + tb) * std::pow(m, q) + tb * std::pow(b, q));
  }
  double u = (b - a) / a;
  if (q == -1) return ta * std::log1p(u) + (tb - ta) * g_series(u) / u;
  if (q == -2) return (ta * u / (1.0 + u) + (tb - ta) * h_series(u) / u) / a;
  fail_input("filter_moment: power {} is not supported (allowed: -2 … 2)", q);
}

int detector_power(FilterSpec::Detector detector) { return detector == FilterSpec::Detector::Photon ? 1 : 0; }

}  // namespace

double dilution_mag(double radius_rsun, double distance_pc) {
  if (!(radius_rsun > 0) || !std::isfinite(radius_rsun)) {
    fail_input("radius {} R_sun is not allowed; it must be finite and > 0", radius_rsun);
  }
  if (!(distance_pc > 0) || !std::isfinite(distance_pc)) {
    fail_input("distance {} pc is not allowed; it must be finite and > 0", distance_pc);
  }
  return -5.0 * std::log10((radius_rsun * kSolarRadiusCm) / (distance_pc * kParsecCm));
}

std::vector<double> band_weights(const std::vector<double>& grid, const FilterCurve& curve,
                                 FilterSpec::Detector detector, const std::string& name) {
  check_grid(grid);
  check_curve(curve, name);
  const auto& wl = curve.wavelength;
  const auto& tr = curve.response;
  const int p = detector_power(detector);
  auto [s0, s1] = support(curve);
  std::vector<double> w(grid.size(), 0.0);
  if (s0 == s1) return w;  // nothing transmitted
  const double lo = wl[s0], hi = wl[s1];
  if (lo < grid.front() || hi > grid.back()) {
    fail_input("filter '{}' transmits over {}–{} Å but the wavelength grid covers only {}–{} Å", name, lo, hi,
               grid.front(), grid.back());
  }
  // grid interval i with grid[i] ≤ lo < grid[i+1]
  std::size_t i = static_cast<std::size_t>(std::upper_bound(grid.begin(), grid.end(), lo) - grid.begin()) - 1;
  std::size_t k = s0;  // filter interval [wl[k], wl[k+1]]
  double a = lo;
  auto response_at = [&](double x) {
    double t = (x - wl[k]) / (wl[k + 1] - wl[k]);
    return (1.0 - t) * tr[k] + t * tr[k + 1];
  };
  auto lam_p = [p](double x) { return p == 1 ? x : 1.0; };
  double ta = response_at(a);
  while (a < hi) {
    const double b = std::min(wl[k + 1], grid[i + 1]);
    const double tb = response_at(b);
    const double m = 0.5 * (a + b), tm = 0.5 * (ta + tb);
    const double h = grid[i + 1] - grid[i];
    // hat_i = (grid[i+1] − λ)/h, hat_{i+1} = (λ − grid[i])/h: linear pieces, Simpson exact
    const double fa = ta * lam_p(a), fm = tm * lam_p(m), fb = tb * lam_p(b);
    const double c = (b - a) / (6.0 * h);
    w[i] += c * ((grid[i + 1] - a) * fa + 4.0 * (grid[i + 1] - m) * fm + (grid[i + 1] - b) * fb);
    w[i + 1] += c * ((a - grid[i]) * fa + 4.0 * (m - grid[i]) * fm + (b - grid[i]) * fb);
    a = b;
    if (b == wl[k + 1]) {
      ++k;
      if (k >= s1) break;  // reached hi
      ta = tr[k];
    } else {
      ta = tb;
    }
    if (b == grid[i + 1]) ++i;
  }
  return w;
}

double filter_moment(const FilterCurve& curve, int q) {
  check_curve(curve, "filter_moment");
  if (q < -2 || q > 2) fail_input("filter_moment: power {} is not supported (allowed: -2 … 2)", q);
  double sum = 0;
  for (std::size_t k = 0; k + 1 < curve.wavelength.size(); ++k) {
    double ta = curve.response[k], tb = curve.response[k + 1];
    if (ta == 0 && tb == 0) continue;
    sum += segment_moment(curve.wavelength[k], curve.wavelength[k + 1], ta, tb, q);
  }
  return sum;
}

double pivot_wavelength(const FilterCurve& curve, FilterSpec::Detector detector) {
  int p = detector_power(detector);
  return std::sqrt(filter_moment(curve, p) / filter_moment(curve, p - 2));
}

Spectrum load_spectrum(const std::string& path, const std::string& what) {
  FilterCurve table = detail::read_two_column_table(path, what, "flux", false);
  return Spectrum{std::move(table.wavelength), std::move(table.response)};
}

Photometry::Photometry(std::vector<double> grid_wavelength, const std::vector<Band>& bands, const Spectrum& vega)
    : grid_(std::move(grid_wavelength)) {
  build(bands, vega);
}

Photometry::Photometry(std::vector<double> grid_wavelength, const FilterRegistry& registry,
                       const std::vector<std::string>& band_names, const std::string& vega_path)
    : grid_(std::move(grid_wavelength)) {
  std::vector<Band> bands;
  bands.reserve(band_names.size());
  for (const auto& name : band_names) bands.push_back(Band{registry.get(name), registry.curve(name)});
  std::string vp = vega_path.empty() ? join_path(registry.data_dir(), kVegaSpectrumFile) : vega_path;
  build(bands, load_spectrum(vp, "Vega spectrum"));
}

void Photometry::build(const std::vector<Band>& bands, const Spectrum& vega) {
  check_grid(grid_);
  if (bands.empty()) fail_input("photometry needs at least one band");
  if (vega.wavelength.size() != vega.flux.size()) {
    fail_input("Vega spectrum has {} wavelengths and {} fluxes", vega.wavelength.size(), vega.flux.size());
  }
  active_begin_ = grid_.size();
  active_end_ = 0;
  for (const auto& band : bands) {
    const std::string& name = band.spec.name;
    std::vector<double> w = band_weights(grid_, band.curve, band.spec.detector, name);
    std::size_t i0 = 0, i1 = w.size();
    while (i0 < i1 && w[i0] == 0) ++i0;
    while (i1 > i0 && w[i1 - 1] == 0) --i1;
    double norm = 0;
    for (std::size_t i = i0; i < i1; ++i) norm += w[i];
    if (!(norm > 0)) fail_input("filter '{}' transmits nothing on the wavelength grid", name);

    std::vector<double> wv = band_weights(vega.wavelength, band.curve, band.spec.detector, name + " (Vega)");
    double vega_norm = 0, vega_sum = 0;
    for (std::size_t i = 0; i < wv.size(); ++i) {
      vega_norm += wv[i];
      vega_sum += wv[i] * vega.flux[i];
    }
    const double f_vega = vega_sum / vega_norm;
    if (!(f_vega > 0)) fail_input("Vega's flux through filter '{}' is {}; it must be > 0", name, f_vega);

    const double lp = pivot_wavelength(band.curve, band.spec.detector);
    const double ab_zp = -2.5 * std::log10(lp * lp / kSpeedOfLightAngstrom) - kAbZeroPoint;
    const double zp =
        band.spec.system == FilterSpec::System::AB ? ab_zp : 2.5 * std::log10(f_vega) + band.spec.vega_magnitude;
    specs_.push_back(band.spec);
    band_begin_.push_back(i0);
    band_end_.push_back(i1);
    weight_offset_.push_back(weights_.size());
    for (std::size_t i = i0; i < i1; ++i) weights_.push_back(w[i] / norm);
    pivot_.push_back(lp);
    ab_zero_point_.push_back(ab_zp);
    zero_point_.push_back(zp);
    vega_flux_.push_back(f_vega);
    active_begin_ = std::min(active_begin_, i0);
    active_end_ = std::max(active_end_, i1);
  }
  curve_ = F99Curve(std::vector<double>(grid_.begin() + static_cast<std::ptrdiff_t>(active_begin_),
                                        grid_.begin() + static_cast<std::ptrdiff_t>(active_end_)));
}

std::pair<std::size_t, std::size_t> Photometry::band_range(std::size_t band) const {
  return {band_begin_.at(band), band_end_.at(band)};
}

double Photometry::ab_minus_vega(std::size_t band) const {
  return -2.5 * std::log10(vega_flux_.at(band)) + ab_zero_point_.at(band);
}

namespace {

// The F99 reddening exponent k a(λ_i; R_V), k = −0.4 ln10 A_V, as Σ_p c_p(λ_i) q_p
// with q_p = k R_V^(p−2) (F99Curve::term): evaluated per wavelength by `each`.
struct ReddeningExponent {
  double q0, q1, q2, q3, q4, q5;
  const double *c0, *c1, *c2, *c3, *c4, *c5;
  ReddeningExponent(const F99Curve& curve, double av, double rv) {
    const double k = -0.4 * kLn10 * av;
    const double r1 = 1.0 / rv;
    q0 = k * r1 * r1, q1 = k * r1, q2 = k, q3 = k * rv, q4 = k * rv * rv, q5 = k * rv * rv * rv;
    c0 = curve.term(0), c1 = curve.term(1), c2 = curve.term(2), c3 = curve.term(3), c4 = curve.term(4),
    c5 = curve.term(5);
  }
};

}  // namespace

void Photometry::magnitudes_active(const double* flux_active, double av, double rv, double log_scale_mag,
                                   double* out) const {
  if (!std::isfinite(av)) fail_input("A_V = {} is not allowed; it must be a finite number", av);
  check_rv(rv);
  const std::size_t n = active_size();
  const double* reddened = flux_active;
  if (av != 0.0) {
    thread_local std::vector<double> scratch;
    if (scratch.size() < n) scratch.resize(n);
    double* s = scratch.data();
    // 10^(−0.4 A_V a) = exp(k a), a = Σ_p c_p R_V^p: one pass, once per wavelength
    const ReddeningExponent e(curve_, av, rv);
    for (std::size_t i = 0; i < n; ++i) {
      s[i] = detail::clamp_exp_argument(e.c0[i] * e.q0 + e.c1[i] * e.q1 + e.c2[i] * e.q2 + e.c3[i] * e.q3 +
                                        e.c4[i] * e.q4 + e.c5[i] * e.q5);
    }
    for (std::size_t i = 0; i < n; ++i) s[i] = flux_active[i] * detail::exp_reduced(s[i]);
    reddened = s;
  }
  band_magnitudes(reddened, log_scale_mag, out);
}

void Photometry::magnitudes_log_active(const double* log_flux_active, double av, double rv, double log_scale_mag,
                                       double* out) const {
  if (!std::isfinite(av)) fail_input("A_V = {} is not allowed; it must be a finite number", av);
  check_rv(rv);
  const std::size_t n = active_size();
  thread_local std::vector<double> scratch;
  if (scratch.size() < n) scratch.resize(n);
  double* s = scratch.data();
  if (av != 0.0) {
    const ReddeningExponent e(curve_, av, rv);
    for (std::size_t i = 0; i < n; ++i) {
      s[i] = detail::clamp_exp_argument(log_flux_active[i] + (e.c0[i] * e.q0 + e.c1[i] * e.q1 + e.c2[i] * e.q2 +
                                                              e.c3[i] * e.q3 + e.c4[i] * e.q4 + e.c5[i] * e.q5));
    }
  } else {
    for (std::size_t i = 0; i < n; ++i) s[i] = detail::clamp_exp_argument(log_flux_active[i]);
  }
  for (std::size_t i = 0; i < n; ++i) s[i] = detail::exp_reduced(s[i]);
  band_magnitudes(s, log_scale_mag, out);
}

void Photometry::band_magnitudes(const double* reddened, double log_scale_mag, double* out) const {
  const std::size_t nb = specs_.size();
  for (std::size_t b = 0; b < nb; ++b) {
    const double* w = weights_.data() + weight_offset_[b];
    const double* f = reddened + (band_begin_[b] - active_begin_);
    const std::size_t len = band_end_[b] - band_begin_[b];
    double sum = 0;
    for (std::size_t i = 0; i < len; ++i) sum += w[i] * f[i];
    out[b] = -2.5 * std::log10(sum) + zero_point_[b] + log_scale_mag;
  }
}

}  // namespace irisml::simulate
