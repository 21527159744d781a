// The standard normal distribution's functions, accurate far into the tails:
// log Φ, Φ⁻¹, and the truncated normal (sampling by inversion and its log density).
#pragma once

namespace irisml::normal {

// Φ(x) = P(Z ≤ x).
double cdf(double x);
// log Φ(x), finite for every finite x (asymptotic series below x = −20).
double log_cdf(double x);
// Φ⁻¹(p) for p in (0, 1), to about 1e-15 relative (rational approximation + one
// Halley step); ±inf at 0 and 1, NaN outside.
double quantile(double p);
// log of the mass Φ(b) − Φ(a) for a < b (a may be −inf, b +inf), without
// cancellation in either tail.
double log_interval_mass(double a, double b);

// The normal N(mean, sd²) truncated to [lo, hi] (lo < hi; hi may be +inf).
struct Truncated {
  double mean, sd, lo, hi;
  // The point of quantile u ∈ (0, 1): inversion, stable in both tails.
  double draw(double u) const;
  // log density at x (−inf outside [lo, hi]).
  double log_pdf(double x) const;
};

}  // namespace irisml::normal
