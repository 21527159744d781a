#include "simulate/extinction.hpp"

#include <array>
#include <cmath>

#include "core/error.hpp"

namespace irisml::simulate {
namespace {

// FM_UNRED's fixed UV parameters.
constexpr double kX0 = 4.596;
constexpr double kGamma = 0.99;
constexpr double kC3 = 3.23;
constexpr double kC4 = 0.41;
// C2 = kC2a + kC2b / R_V; C1 = kC1a + kC1b * C2.
constexpr double kC2a = -0.824;
constexpr double kC2b = 4.717;
constexpr double kC1a = 2.030;
constexpr double kC1b = -3.007;

// x = 1/λ in µm⁻¹ for λ in Å, as FM_UNRED computes it.
double inverse_microns(double wavelength_angstrom) { return 10000.0 / wavelength_angstrom; }

const double kXCutUv = inverse_microns(2700.0);  // x ≥ this: UV formula

// The part of the UV k(x) that does not depend on R_V: C3 D(x) + C4 F(x).
double uv_shape(double x) {
  double x2 = x * x;
  double d = x2 / ((x2 - kX0 * kX0) * (x2 - kX0 * kX0) + x2 * kGamma * kGamma);
  double value = kC3 * d;
  if (x >= 5.9) {
    double y = x - 5.9;
    value += kC4 * (0.5392 * y * y + 0.05644 * y * y * y);
  }
  return value;
}

// A/E(B−V) = k + R_V from the UV formula, computed the way FM_UNRED does.
double uv_k_plus_r(double x, double rv) {
  double c2 = kC2a + kC2b / rv;
  double c1 = kC1a + kC1b * c2;
  return c1 + c2 * x + uv_shape(x) + rv;
}

// k + R_V = alpha(x) + beta(x)/R_V + R_V in the UV: the R_V dependence split out.
double uv_alpha(double x) { return kC1a + kC1b * kC2a + kC2a * x + uv_shape(x); }
double uv_beta(double x) { return kC2b * (x + kC1b); }

constexpr std::size_t kKnots = 9;
// Knot value A/E(B−V) = Σ_q kKnotPoly[j][q+1] R_V^q, q = −1 … 4 (the UV knots
// are filled in at start-up from uv_alpha/uv_beta).
constexpr std::size_t kPolyTerms = 6;

struct KnotTable {
  std::array<double, kKnots> x{};
  std::array<std::array<double, kPolyTerms>, kKnots> poly{};  // [knot][q + 1]
};

const KnotTable& knot_table() {
  static const KnotTable table = [] {
    KnotTable t;
    const std::array<double, kKnots> wavelengths = {0.0,    26500.0, 12200.0, 6000.0, 5470.0,
                                                    4670.0, 4110.0,  2700.0,  2600.0};
    for (std::size_t j = 0; j < kKnots; ++j) t.x[j] = j == 0 ? 0.0 : inverse_microns(wavelengths[j]);
    // IR: 0, 0.26469 R/3.1, 0.82925 R/3.1
    t.poly[1][2] = 0.26469 / 3.1;
    t.poly[2][2] = 0.82925 / 3.1;
    // optical: polynomials in R_V
    t.poly[3] = {0.0, -0.422809, 1.00270, 2.13572e-4, 0.0, 0.0};
    t.poly[4] = {0.0, -0.0513540, 1.00216, -7.35778e-5, 0.0, 0.0};
    t.poly[5] = {0.0, 0.700127, 1.00184, -3.32598e-5, 0.0, 0.0};
    t.poly[6] = {0.0, 1.19456, 1.01707, -5.46959e-3, 7.97809e-4, -4.45636e-5};
    // UV anchors: beta/R + alpha + R
    for (std::size_t j = 7; j < kKnots; ++j) t.poly[j] = {uv_beta(t.x[j]), uv_alpha(t.x[j]), 1.0, 0.0, 0.0, 0.0};
    return t;
  }();
  return table;
}

// Second derivatives of the natural cubic spline through (x[j], y[j]).
std::array<double, kKnots> spline_second_derivatives(const std::array<double, kKnots>& x,
                                                     const std::array<double, kKnots>& y) {
  // Tridiagonal system for m[1..n-2], m[0] = m[n-1] = 0 (Thomas algorithm).
  constexpr std::size_t n = kKnots;
  std::array<double, n> m{}, c_prime{}, d_prime{};
  for (std::size_t i = 1; i + 1 < n; ++i) {
    double h0 = x[i] - x[i - 1], h1 = x[i + 1] - x[i];
    double a = h0, b = 2.0 * (h0 + h1), c = h1;
    double d = 6.0 * ((y[i + 1] - y[i]) / h1 - (y[i] - y[i - 1]) / h0);
    if (i > 1) {
      double denom = b - a * c_prime[i - 1];
      c_prime[i] = c / denom;
      d_prime[i] = (d - a * d_prime[i - 1]) / denom;
    } else {
      c_prime[i] = c / b;
      d_prime[i] = d / b;
    }
  }
  for (std::size_t i = n - 2; i >= 1; --i) {
    m[i] = d_prime[i] - c_prime[i] * m[i + 1];
  }
  return m;
}

// Index k of the knot interval [x[k], x[k+1]] holding x (clamped to the ends).
std::size_t knot_interval(const std::array<double, kKnots>& xs, double x) {
  std::size_t k = 0;
  while (k + 2 < kKnots && x > xs[k + 1]) ++k;
  return k;
}

double spline_eval(const std::array<double, kKnots>& xs, const std::array<double, kKnots>& y,
                   const std::array<double, kKnots>& m, double x) {
  std::size_t k = knot_interval(xs, x);
  double h = xs[k + 1] - xs[k];
  double a = (xs[k + 1] - x) / h, b = 1.0 - a;
  return a * y[k] + b * y[k + 1] + ((a * a * a - a) * m[k] + (b * b * b - b) * m[k + 1]) * h * h / 6.0;
}

void check_wavelength(double wavelength) {
  if (!(wavelength > 0) || !std::isfinite(wavelength)) {
    fail_input("extinction: wavelength {} Å is not allowed; it must be a finite number > 0", wavelength);
  }
}

}  // namespace

void check_rv(double rv, const char* what) {
  if (!(rv > 0) || !std::isfinite(rv)) {
    fail_input("{} = {} is not allowed: R_V must be a finite number > 0", what, rv);
  }
}

double f99_ratio(double wavelength_angstrom, double rv) {
  check_rv(rv);
  check_wavelength(wavelength_angstrom);
  double x = inverse_microns(wavelength_angstrom);
  if (x >= kXCutUv) return uv_k_plus_r(x, rv) / rv;

  const KnotTable& t = knot_table();
  std::array<double, kKnots> y{};
  y[0] = 0.0;
  y[1] = 0.26469 * rv / 3.1;
  y[2] = 0.82925 * rv / 3.1;
  y[3] = -0.422809 + rv * (1.00270 + rv * 2.13572e-4);
  y[4] = -0.0513540 + rv * (1.00216 + rv * -7.35778e-5);
  y[5] = 0.700127 + rv * (1.00184 + rv * -3.32598e-5);
  y[6] = 1.19456 + rv * (1.01707 + rv * (-5.46959e-3 + rv * (7.97809e-4 + rv * -4.45636e-5)));
  y[7] = uv_k_plus_r(t.x[7], rv);
  y[8] = uv_k_plus_r(t.x[8], rv);
  auto m = spline_second_derivatives(t.x, y);
  return spline_eval(t.x, y, m, x) / rv;
}

F99Curve::F99Curve(const std::vector<double>& wavelength_angstrom)
    : n_(wavelength_angstrom.size()), coeff_(wavelength_angstrom.size() * kTerms, 0.0) {
  static_assert(kTerms == kPolyTerms, "one coefficient per power of R_V");
  const KnotTable& t = knot_table();
  // Cardinal basis of the natural spline: the spline through the unit vector e_j.
  std::array<std::array<double, kKnots>, kKnots> basis_m{};
  for (std::size_t j = 0; j < kKnots; ++j) {
    std::array<double, kKnots> unit{};
    unit[j] = 1.0;
    basis_m[j] = spline_second_derivatives(t.x, unit);
  }
  for (std::size_t i = 0; i < n_; ++i) {
    check_wavelength(wavelength_angstrom[i]);
    double x = inverse_microns(wavelength_angstrom[i]);
    std::array<double, kTerms> c{};
    if (x >= kXCutUv) {
      // (alpha + beta/R + R)/R = beta R⁻² + alpha R⁻¹ + 1
      c[0] = uv_beta(x);
      c[1] = uv_alpha(x);
      c[2] = 1.0;
      for (std::size_t p = 0; p < kTerms; ++p) coeff_[p * n_ + i] = c[p];
      continue;
    }
    // A/A_V = Σ_j B_j(x) y_j(R) / R, y_j = Σ_q poly[j][q+1] R^q → power q−1 at index q+1.
    for (std::size_t j = 0; j < kKnots; ++j) {
      std::array<double, kKnots> unit{};
      unit[j] = 1.0;
      double b = spline_eval(t.x, unit, basis_m[j], x);
      if (b == 0.0) continue;
      for (std::size_t p = 0; p < kTerms; ++p) c[p] += b * t.poly[j][p];
    }
    for (std::size_t p = 0; p < kTerms; ++p) coeff_[p * n_ + i] = c[p];
  }
}

void F99Curve::ratios(double rv, double* out) const {
  check_rv(rv);
  const double r1 = 1.0 / rv;
  const double phi0 = r1 * r1, phi1 = r1, phi3 = rv, phi4 = rv * rv, phi5 = rv * rv * rv;
  const double *c0 = term(0), *c1 = term(1), *c2 = term(2), *c3 = term(3), *c4 = term(4), *c5 = term(5);
  for (std::size_t i = 0; i < n_; ++i) {
    out[i] = c0[i] * phi0 + c1[i] * phi1 + c2[i] + c3[i] * phi3 + c4[i] * phi4 + c5[i] * phi5;
  }
}

}  // namespace irisml::simulate
