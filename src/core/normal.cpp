#include "core/normal.hpp"

#include <cmath>
#include <limits>

namespace irisml::normal {

namespace {
constexpr double kSqrt2 = 1.41421356237309504880;
constexpr double kLogSqrt2Pi = 0.91893853320467274178;
constexpr double kInf = std::numeric_limits<double>::infinity();
}  // namespace

double cdf(double x) { return 0.5 * std::erfc(-x / kSqrt2); }

double log_cdf(double x) {
  if (x > -30.0) return std::log(cdf(x));
  // Φ(x) = φ(x)/|x| · (1 − 1/x² + 3/x⁴ − 15/x⁶ + …) for x → −∞
  const double x2 = x * x;
  return -0.5 * x2 - kLogSqrt2Pi - std::log(-x) + std::log1p(-1.0 / x2 + 3.0 / (x2 * x2) - 15.0 / (x2 * x2 * x2));
}

double quantile(double p) {
  if (!(p >= 0.0 && p <= 1.0)) return std::numeric_limits<double>::quiet_NaN();
  if (p == 0.0) return -kInf;
  if (p == 1.0) return kInf;
  // Rational approximation of the normal quantile (relative error < 1.2e-9) in three
  // regions, then one Halley step on Φ(x) − p.
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,  -2.759285104469687e+02,
                             1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01, -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                             3.754408661907416e+00};
  constexpr double kLow = 0.02425;
  double x;
  if (p < kLow) {
    const double q = std::sqrt(-2.0 * std::log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
  } else if (p <= 1.0 - kLow) {
    const double q = p - 0.5, r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0);
  } else {
    const double q = std::sqrt(-2.0 * std::log1p(-p));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
  }
  // Halley on e = Φ(x) − p (for x > 0 from the upper tail, which erfc gives precisely).
  const double e = x > 0 ? (1.0 - p) - cdf(-x) : cdf(x) - p;
  const double u = e * std::sqrt(2.0 * M_PI) * std::exp(0.5 * x * x);
  return x - u / (1.0 + 0.5 * x * u);
}

double log_interval_mass(double a, double b) {
  if (!(a < b)) return -kInf;
  if (a >= 0.0) {  // upper tail: Φ(−a) − Φ(−b)
    const double la = log_cdf(-a), lb = b == kInf ? -kInf : log_cdf(-b);
    return la + std::log1p(-std::exp(lb - la));
  }
  const double lb = b == kInf ? 0.0 : log_cdf(b), la = a == -kInf ? -kInf : log_cdf(a);
  return lb + std::log1p(-std::exp(la - lb));
}

double Truncated::draw(double u) const {
  const double alpha = (lo - mean) / sd, beta = (hi - mean) / sd;
  double z;
  if (alpha >= 0.0) {  // all the mass in the upper tail: invert the upper-tail probability
    const double pa = cdf(-alpha), pb = beta == kInf ? 0.0 : cdf(-beta);
    if (pa - pb < 1e-300) {
      z = alpha - std::log(u) / alpha;  // the exponential limit of a far tail
    } else {
      z = -quantile(pb + u * (pa - pb));
    }
  } else {
    const double pa = cdf(alpha), pb = beta == kInf ? 1.0 : cdf(beta);
    if (pb - pa < 1e-300) {
      z = beta + std::log(u) / -beta;
    } else {
      z = quantile(pa + u * (pb - pa));
    }
  }
  const double x = mean + sd * z;
  return x < lo ? lo : (x > hi ? hi : x);
}

double Truncated::log_pdf(double x) const {
  if (!(x >= lo && x <= hi)) return -kInf;
  const double z = (x - mean) / sd;
  return -0.5 * z * z - kLogSqrt2Pi - std::log(sd) - log_interval_mass((lo - mean) / sd, (hi - mean) / sd);
}

}  // namespace irisml::normal
