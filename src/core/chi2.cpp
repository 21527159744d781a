#include "core/chi2.hpp"

#include <cmath>
#include <limits>

namespace irisml {

namespace {

// P(a, x) by its power series Σ x^n / (a (a+1) … (a+n)) · x^a e^{−x} / Γ(a); for x < a + 1.
double lower_regularised_series(double a, double x) {
  double term = 1.0 / a, sum = term;
  for (int n = 1; n < 1000; ++n) {
    term *= x / (a + n);
    sum += term;
    if (std::fabs(term) < std::fabs(sum) * 1e-16) break;
  }
  return sum * std::exp(-x + a * std::log(x) - std::lgamma(a));
}

// Q(a, x) by its continued fraction (modified Lentz evaluation); for x ≥ a + 1.
double upper_regularised_fraction(double a, double x) {
  constexpr double tiny = 1e-300;
  double b = x + 1.0 - a, c = 1.0 / tiny, d = 1.0 / b, h = d;
  for (int i = 1; i < 1000; ++i) {
    const double an = -i * (i - a);
    b += 2.0;
    d = an * d + b;
    if (std::fabs(d) < tiny) d = tiny;
    c = b + an / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1.0 / d;
    const double delta = d * c;
    h *= delta;
    if (std::fabs(delta - 1.0) < 1e-16) break;
  }
  return std::exp(-x + a * std::log(x) - std::lgamma(a)) * h;
}

}  // namespace

double chi2_survival(double x, double dof) {
  if (std::isnan(x) || !(dof > 0)) return std::numeric_limits<double>::quiet_NaN();
  if (x <= 0) return 1.0;
  if (std::isinf(x)) return 0.0;
  const double a = 0.5 * dof, y = 0.5 * x;
  return y < a + 1.0 ? 1.0 - lower_regularised_series(a, y) : upper_regularised_fraction(a, y);
}

}  // namespace irisml
