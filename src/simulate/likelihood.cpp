#include "simulate/likelihood.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/normal.hpp"
#include "core/rng.hpp"
#include "simulate/photometry.hpp"
#include "simulate/synthesizer.hpp"

namespace irisml::simulate {

namespace {
constexpr double kLog2Pi = 1.8378770664093454836;
constexpr double kLn10 = 2.30258509299404568402;
constexpr double kNegInf = -std::numeric_limits<double>::infinity();
constexpr double kInf = std::numeric_limits<double>::infinity();
// IAU 2015 Resolution B3 nominal solar values (cgs).
constexpr double kGMSun = kSolarGMCgs;    // [cm^3 s^-2]
constexpr double kRSun = kSolarRadiusCm;  // [cm]
// 5 log10(R_sun / 1 cm)
const double kLog10RSun5 = 5.0 * std::log10(kRSun);

// log g(x) of the distance modulus x, unnormalised in x but with every constant of
// N(ϖ | 1000/d, σ²) · p(d) · dd/dx, so that its integral is the parallax's evidence.
struct ParallaxDensity {
  double parallax, err, length;
  double constant;  // the x-independent terms
  double operator()(double x) const {
    const double log_d = kLn10 * (0.2 * x + 1.0);  // d [pc]
    const double d = std::exp(log_d);
    const double z = (parallax - 1000.0 / d) / err;
    // N(ϖ | 1000/d, σ²) · d² e^{−d/L} / (2 L³) · d ln10 / 5
    return -0.5 * z * z + 3.0 * log_d - d / length + constant;
  }
};
// The point of a piecewise-uniform distribution at cumulative value v: `cum` holds its
// n + 1 bin edges' cumulative masses (ascending, cum[0] = 0); the result is the bin index
// plus the fraction of the way through it, in [0, n].
double invert_binned(const std::vector<double>& cum, double v) {
  const std::size_t bins = cum.size() - 1;
  auto it = std::upper_bound(cum.begin(), cum.end(), v);
  std::size_t i = static_cast<std::size_t>(std::max<std::ptrdiff_t>(it - cum.begin() - 1, 0));
  i = std::min(i, bins - 1);
  const double width = cum[i + 1] - cum[i];
  const double f = width > 0 ? std::clamp((v - cum[i]) / width, 0.0, 1.0) : 0.5;
  return static_cast<double>(i) + f;
}
}  // namespace

void DistanceSettings::validate() const {
  if (!(mass_min > 0) || !std::isfinite(mass_min) || !(mass_max > mass_min) || !std::isfinite(mass_max)) {
    fail_input("mass prior: --mass-min = {} and --mass-max = {} (M_sun) must be finite with 0 < mass-min < mass-max",
               mass_min, mass_max);
  }
  if (!(length_scale > 0) || !std::isfinite(length_scale)) {
    fail_input("--distance-length-scale = {} (pc) must be a finite number > 0", length_scale);
  }
  if (!std::isfinite(parallax_zero_point) || std::abs(parallax_zero_point) > 10.0) {
    fail_input("--parallax-zero-point = {} (mas) must be finite and within [-10, 10]", parallax_zero_point);
  }
}

std::string DistanceSettings::describe() const {
  std::string text = fmt::format("mass_min={} mass_max={} length_scale_pc={} parallax_zero_point={}", mass_min,
                                 mass_max, length_scale, parallax_zero_point);
  if (!zero_point_model.empty()) text += " zero_point_model=" + zero_point_model;
  return text;
}

double radius_term(double mass, double logg) { return 2.5 * std::log10(kGMSun * mass) - 2.5 * logg - kLog10RSun5; }

PhysicalDraw physical_draw(double x, double u, double logg) {
  PhysicalDraw d;
  d.distance = std::pow(10.0, 0.2 * x + 1.0);
  d.radius = std::pow(10.0, 0.2 * u);
  d.mass = std::pow(10.0, 0.4 * (u + kLog10RSun5) + logg) / kGMSun;
  return d;
}

ParallaxTerm::ParallaxTerm(double parallax, double parallax_err, double W, const DistanceSettings& settings) {
  if (!std::isfinite(parallax) || !(parallax_err > 0) || !std::isfinite(parallax_err) || !(W > 0)) {
    fail_input("parallax {} +- {} mas (W = {}) cannot be used: needs a finite parallax and an error > 0", parallax,
               parallax_err, W);
  }
  const ParallaxDensity log_g{
      parallax, parallax_err, settings.length_scale,
      -std::log(parallax_err) - 0.5 * kLog2Pi -
          std::log(2.0 * settings.length_scale * settings.length_scale * settings.length_scale) +
          std::log(kLn10 / 5.0)};
  // Where g has mass. A parallax measured to better than 1/8 of itself bounds it within
  // ±8σ of the measurement (the space density cannot outweigh e^{-32}); otherwise a scan
  // over 1 pc – 1 Mpc finds where log g is within 46 (1e-20) of its peak.
  double x_lo, x_hi;
  if (parallax - 8.0 * parallax_err > 0) {
    x_lo = 5.0 * std::log10(100.0 / (parallax + 8.0 * parallax_err));
    x_hi = 5.0 * std::log10(100.0 / (parallax - 8.0 * parallax_err));
  } else {
    constexpr double kScanLo = -5.0, kScanHi = 25.0, kScanStep = 0.01;
    const int n = static_cast<int>(std::lround((kScanHi - kScanLo) / kScanStep)) + 1;
    std::vector<double> v(static_cast<std::size_t>(n));
    double top = kNegInf;
    for (int i = 0; i < n; ++i) top = std::max(top, v[static_cast<std::size_t>(i)] = log_g(kScanLo + i * kScanStep));
    int first = n, last = -1;
    for (int i = 0; i < n; ++i) {
      if (v[static_cast<std::size_t>(i)] >= top - 46.0) {
        first = std::min(first, i);
        last = i;
      }
    }
    x_lo = kScanLo + std::max(first - 1, 0) * kScanStep;
    x_hi = kScanLo + std::min(last + 1, n - 1) * kScanStep;
  }
  // g on 2048 bins: its mass per bin (for drawing x) and its integral Z.
  constexpr int kBins = 2048;
  const double span = x_hi - x_lo, hw = span / kBins;
  std::vector<double> mass(kBins);
  double top = kNegInf;
  for (int i = 0; i < kBins; ++i) top = std::max(top, mass[static_cast<std::size_t>(i)] = log_g(x_lo + (i + 0.5) * hw));
  double total = 0.0;
  for (auto& m : mass) total += (m = std::exp(m - top));
  log_z_ = top + std::log(total * hw);
  for (auto& m : mass) m /= total;
  draw_x0_ = x_lo;
  draw_h_ = hw;
  cdf_.assign(kBins + 1, 0.0);
  for (int i = 0; i < kBins; ++i)
    cdf_[static_cast<std::size_t>(i + 1)] = cdf_[static_cast<std::size_t>(i)] + mass[static_cast<std::size_t>(i)];

  sqrt_w_ = std::sqrt(W);
  const double sigma = 1.0 / sqrt_w_;  // the photometric offset's standard deviation
  if (sigma <= span / 400.0) {
    // Photometry pins the offset far more tightly than the parallax: S(t) is the mass of
    // g above t (the smoothing changes it by ~(σ/width)²/2 < 1e-3).
    x0_ = x_lo;
    h_ = hw;
    s_.resize(kBins + 1);
    for (int j = 0; j <= kBins; ++j) s_[static_cast<std::size_t>(j)] = 1.0 - cdf_[static_cast<std::size_t>(j)];
  } else {
    // S on a lattice of step σ/8 reaching 8σ beyond g: g's bins shared between their two
    // nearest lattice nodes (cloud in cell), then smoothed by N(0, σ²) with kernel Φ(m/8).
    constexpr int kHalf = 64;  // 8σ in steps of σ/8
    h_ = sigma / 8.0;
    x0_ = x_lo - 8.0 * sigma;
    const auto n = static_cast<std::size_t>(std::ceil((span + 16.0 * sigma) / h_)) + 1;
    std::vector<double> q(n + 2 * kHalf + 2, 0.0);  // lattice masses, indices shifted by kHalf
    for (int i = 0; i < kBins; ++i) {
      const double pos = (x_lo + (i + 0.5) * hw - x0_) / h_;
      const auto k = static_cast<std::size_t>(std::floor(pos));
      const double f = pos - static_cast<double>(k);
      q[k + kHalf] += (1.0 - f) * mass[static_cast<std::size_t>(i)];
      q[k + kHalf + 1] += f * mass[static_cast<std::size_t>(i)];
    }
    std::vector<double> tail(q.size() + 1, 0.0);  // tail[k] = Σ_{i ≥ k} q[i]
    for (std::size_t k = q.size(); k-- > 0;) tail[k] = tail[k + 1] + q[k];
    double kernel[2 * kHalf + 1];
    for (int m = -kHalf; m <= kHalf; ++m) kernel[m + kHalf] = normal::cdf(m / 8.0);
    s_.resize(n);
    for (std::size_t j = 0; j < n; ++j) {
      const std::size_t c = j + kHalf;  // node j in q's indices
      double v = tail[c + kHalf + 1];
      for (int m = -kHalf; m <= kHalf; ++m)
        v += q[static_cast<std::size_t>(static_cast<long>(c) + m)] * kernel[m + kHalf];
      s_[j] = v;
    }
  }
  u_one_ = radius_term(1.0, 0.0);
  u_min_offset_ = radius_term(settings.mass_min, 0.0);
  u_max_offset_ = radius_term(settings.mass_max, 0.0);
  log_delta_ = std::log(u_max_offset_ - u_min_offset_);
}

double ParallaxTerm::s_at(double t) const {
  const double pos = (t - x0_) / h_;
  if (!(pos > 0)) return pos <= 0 ? s_.front() : std::numeric_limits<double>::quiet_NaN();
  const double last = static_cast<double>(s_.size() - 1);
  if (pos >= last) return s_.back();
  const auto k = static_cast<std::size_t>(pos);
  const double f = pos - static_cast<double>(k);
  return (1.0 - f) * s_[k] + f * s_[k + 1];
}

double ParallaxTerm::log_factor(double mu_hat, double logg) const {
  const double a = u_min_offset_ - 2.5 * logg + mu_hat, b = u_max_offset_ - 2.5 * logg + mu_hat;
  return log_factor_window(a, b, log_delta_);
}

double ParallaxTerm::log_factor(double mu_hat, double logg, double log_mass_lo, double log_mass_hi) const {
  const double a = u_one_ + 2.5 * log_mass_lo - 2.5 * logg + mu_hat,
               b = u_one_ + 2.5 * log_mass_hi - 2.5 * logg + mu_hat;
  return log_factor_window(a, b, std::log(2.5 * (log_mass_hi - log_mass_lo)));
}

double ParallaxTerm::log_factor_window(double a, double b, double log_delta) const {
  const double diff = s_at(a) - s_at(b);
  if (!(diff > 0)) return kNegInf;
  return log_z_ + std::log(diff) - log_delta;
}

bool ParallaxTerm::draw(double mu_hat, double logg, Philox& rng, double& x, double& u) const {
  return draw(mu_hat, logg, rng, 1, &x, &u) == 1;
}

int ParallaxTerm::draw(double mu_hat, double logg, Philox& rng, int count, double* x, double* u) const {
  return draw_window(mu_hat, u_min_offset_ - 2.5 * logg, u_max_offset_ - 2.5 * logg, rng, count, x, u);
}

int ParallaxTerm::draw(double mu_hat, double logg, double log_mass_lo, double log_mass_hi, Philox& rng, int count,
                       double* x, double* u) const {
  return draw_window(mu_hat, u_one_ + 2.5 * log_mass_lo - 2.5 * logg, u_one_ + 2.5 * log_mass_hi - 2.5 * logg, rng,
                     count, x, u);
}

int ParallaxTerm::draw_window(double mu_hat, double u1, double u2, Philox& rng, int count, double* x, double* u) const {
  const double sigma = 1.0 / sqrt_w_;
  const std::size_t bins = cdf_.size() - 1;
  // A draw of x from g's bins: inversion of the binned CDF, uniform inside the bin.
  auto x_from_g = [&](double v) { return draw_x0_ + invert_binned(cdf_, v) * draw_h_; };
  // Rejection: x from g, then u = x − μ̂ − ε/√W, kept when in [u1, u2]. Its acceptance
  // rate is the factor itself (relative to Z/Δ), high wherever θ carries weight. A budget
  // of tries for all `count` draws together.
  int done = 0;
  for (int attempt = 0; done < count && attempt < 8 * count + 56; ++attempt) {
    const double xd = x_from_g(rng.uniform());
    const double ud = xd - mu_hat - rng.normal() * sigma;
    if (ud >= u1 && ud <= u2) {
      x[done] = xd;
      u[done] = ud;
      ++done;
    }
  }
  if (done == count) return done;
  // The rest (θ where the parallax and the photometry barely meet) by inversion: x's
  // density g(x) · [Φ((x − μ̂ − u1)/σ) − Φ((x − μ̂ − u2)/σ)] on g's bins (only those within
  // 8σ of the window), then u given x from its normal truncated to [u1, u2].
  const double lo = mu_hat + u1 - 8.0 * sigma, hi = mu_hat + u2 + 8.0 * sigma;
  const auto first = static_cast<std::size_t>(std::clamp(std::floor((lo - draw_x0_) / draw_h_), 0.0, double(bins)));
  const auto last = static_cast<std::size_t>(std::clamp(std::ceil((hi - draw_x0_) / draw_h_), 0.0, double(bins)));
  if (last <= first) return done;
  std::vector<double> cum(last - first + 1, 0.0);
  for (std::size_t i = first; i < last; ++i) {
    const double xc = draw_x0_ + (static_cast<double>(i) + 0.5) * draw_h_;
    const double a = (xc - mu_hat - u1) / sigma, b = (xc - mu_hat - u2) / sigma;
    const double p = a < -8.0 || b > 8.0 ? 0.0 : (a > 8.0 && b < -8.0 ? 1.0 : normal::cdf(a) - normal::cdf(b));
    cum[i - first + 1] = cum[i - first] + (cdf_[i + 1] - cdf_[i]) * p;
  }
  if (!(cum.back() > 0)) return done;
  for (; done < count; ++done) {
    x[done] = draw_x0_ + (static_cast<double>(first) + invert_binned(cum, rng.uniform() * cum.back())) * draw_h_;
    u[done] = normal::Truncated{x[done] - mu_hat, sigma, u1, u2}.draw(rng.uniform());
    if (!std::isfinite(u[done])) return done;
  }
  return done;
}

AvPrior AvPrior::from(const StarConstraints& c, double training_scale) {
  AvPrior a;
  a.hi = c.has_av_max() ? c.av_max : kInf;
  if (c.has_av_prior()) {
    a.kind = Kind::kGaussian;
    a.mean = c.av_prior;
    a.sd = c.av_prior_err;
    a.log_norm =
        normal::log_interval_mass((a.lo - a.mean) / a.sd, (a.hi - a.mean) / a.sd) + std::log(a.sd) + 0.5 * kLog2Pi;
  } else if (c.has_av_max()) {
    a.kind = Kind::kExponential;
    a.scale = training_scale;
    a.log_norm = std::log(a.scale) + std::log1p(-std::exp(-(a.hi - a.lo) / a.scale));
  }
  return a;
}

double AvPrior::log_pdf(double av) const {
  if (kind == Kind::kTraining) return std::numeric_limits<double>::quiet_NaN();
  if (!(av >= lo && av <= hi)) return kNegInf;
  if (kind == Kind::kGaussian) {
    const double z = (av - mean) / sd;
    return -0.5 * z * z - log_norm;
  }
  return -(av - lo) / scale - log_norm;
}

double offset_marginal_log_likelihood(const double* residual, const double* sigma2, int n, double* mu_hat) {
  if (n < 1) return std::numeric_limits<double>::quiet_NaN();
  double sw = 0.0, swr = 0.0, log_var = 0.0;
  for (int b = 0; b < n; ++b) {
    const double w = 1.0 / sigma2[b];
    sw += w;
    swr += w * residual[b];
    log_var += std::log(sigma2[b]);
  }
  const double mu = swr / sw;
  double chi2 = 0.0;
  for (int b = 0; b < n; ++b) {
    const double d = residual[b] - mu;
    chi2 += d * d / sigma2[b];
  }
  if (mu_hat) *mu_hat = mu;
  return -0.5 * chi2 - 0.5 * (log_var + n * kLog2Pi) + 0.5 * kLog2Pi - 0.5 * std::log(sw);
}

double PhotometricPosterior::residuals(const StarParameters& p, const ObservedStar& star, Workspace& work,
                                       double* mu_hat) const {
  const int n = star.size();
  if (n < 1) return std::numeric_limits<double>::quiet_NaN();
  work.model_mags.resize(synth_->bands().size());
  if (!synth_->magnitudes(p, work.model_mags.data(), work.spectrum)) return -std::numeric_limits<double>::infinity();
  work.residual.resize(static_cast<std::size_t>(n));
  for (int b = 0; b < n; ++b) {
    const auto i = static_cast<std::size_t>(b);
    work.residual[i] = star.mag[i] - work.model_mags[static_cast<std::size_t>(star.bands[i])];
  }
  const double ll = offset_marginal_log_likelihood(work.residual.data(), star.sigma2.data(), n, &work.mu_hat);
  if (mu_hat) *mu_hat = work.mu_hat;
  return ll;
}

double PhotometricPosterior::log_likelihood(const StarParameters& p, const ObservedStar& star, Workspace& work) const {
  if (star.parallax.empty()) return residuals(p, star, work, nullptr);
  double mu_hat = 0.0;
  const double ll = residuals(p, star, work, &mu_hat);
  if (!(ll > kNegInf)) return ll;
  return ll + parallax_log_factor(p, star, mu_hat);
}

double PhotometricPosterior::parallax_log_factor(const StarParameters& p, const ObservedStar& star, double mu_hat,
                                                 double* p_iso, Prior::IsochroneMass* window) const {
  const double flat = star.parallax.log_factor(mu_hat, p.logg);
  if (p_iso) *p_iso = 0.0;
  if (!prior_->isochrone()) return flat;
  const Prior::IsochroneMass m = prior_->isochrone_mass(p);
  if (window) *window = m;
  if (!(m.iso_weight > 0)) return flat;
  const double iso = star.parallax.log_factor(mu_hat, p.logg, m.log_lo, m.log_hi);
  // log(w e^iso + (1 − w) e^flat), stably
  const double a = std::log(m.iso_weight) + iso, b = std::log1p(-m.iso_weight) + flat;
  const double top = std::max(a, b);
  if (!(top > kNegInf)) return kNegInf;
  const double total = top + std::log(std::exp(a - top) + std::exp(b - top));
  if (p_iso) *p_iso = std::exp(a - total);
  return total;
}

int PhotometricPosterior::draw_distance(const StarParameters& p, double mu_hat, const ObservedStar& star, Philox& rng,
                                        int count, double* x, double* u) const {
  if (star.parallax.empty()) return 0;
  if (!prior_->isochrone()) return star.parallax.draw(mu_hat, p.logg, rng, count, x, u);
  double p_iso = 0.0;
  Prior::IsochroneMass m;
  if (!(parallax_log_factor(p, star, mu_hat, &p_iso, &m) > kNegInf)) return 0;
  // Each draw picks its component by that component's share of the factor.
  int done = 0;
  for (int k = 0; k < count; ++k) {
    const bool iso = rng.uniform() < p_iso;
    const int got = iso ? star.parallax.draw(mu_hat, p.logg, m.log_lo, m.log_hi, rng, 1, x + done, u + done)
                        : star.parallax.draw(mu_hat, p.logg, rng, 1, x + done, u + done);
    done += got;
  }
  return done;
}

void PhotometricPosterior::prepare(ObservedStar& star) const {
  const StarConstraints& c = star.constraints;
  star.av_prior = AvPrior::from(c, prior_->config().av_scale);
  star.parallax = ParallaxTerm{};
  if (c.has_parallax() && star.size() > 0) {
    double W = 0.0;
    for (double v : star.sigma2) W += 1.0 / v;
    star.parallax = ParallaxTerm(c.parallax - distance_.parallax_zero_point, c.parallax_err, W, distance_);
  }
}

double PhotometricPosterior::log_prior(const StarParameters& p, const ObservedStar& star) const {
  if (!star.av_prior.custom()) return prior_->log_density(p);
  // The training prior factorises: its other factors at a reference A_V inside its
  // support, then the star's own A_V factor.
  StarParameters q = p;
  q.av = prior_->config().av_offset;
  const double rest = prior_->log_density(q);
  if (!(rest > kNegInf)) return kNegInf;
  return rest - prior_->log_av_density(q.av) + star.av_prior.log_pdf(p.av);
}

bool PhotometricPosterior::draw_physical(const StarParameters& p, const ObservedStar& star, Workspace& work,
                                         Philox& rng, PhysicalDraw& out) const {
  if (star.parallax.empty()) return false;
  double mu_hat = 0.0;
  if (!(residuals(p, star, work, &mu_hat) > kNegInf)) return false;
  double x = 0.0, u = 0.0;
  if (draw_distance(p, mu_hat, star, rng, 1, &x, &u) != 1) return false;
  out = physical_draw(x, u, p.logg);
  return true;
}

double PhotometricPosterior::log_density(const StarParameters& p, const ObservedStar& star, Workspace& work,
                                         double* log_prior, double* log_like) const {
  const double lp = this->log_prior(p, star);
  double ll = -std::numeric_limits<double>::infinity();
  if (lp > -std::numeric_limits<double>::infinity()) ll = log_likelihood(p, star, work);
  if (log_prior) *log_prior = lp;
  if (log_like) *log_like = ll;
  return lp + ll;
}

}  // namespace irisml::simulate
