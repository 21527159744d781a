// The exact posterior that the flow approximates (docs/model.md §6), in one place:
// the training prior's density and the photometric likelihood with the unknown
// distance/radius offset marginalised analytically. Used by `irisml fit` (the
// reference posterior) and by `irisml sample --importance` (importance weights).
//
// Likelihood. Observed magnitudes m_b with effective errors σ_b (the catalogue error
// with any systematic term of the observation model added in quadrature:
// σ_b² = err_b² + sigma_sys²), model magnitudes M_b(θ) of a star of fixed radius and
// distance, and one offset μ shared by every band:
//   L(θ) = ∫ Π_b N(m_b | M_b(θ) + μ, σ_b²) dμ      (flat prior on μ, unit density)
// With w_b = 1/σ_b², W = Σ w_b, r_b = m_b − M_b(θ), μ̂ = Σ w_b r_b / W:
//   log L = −½ Σ w_b (r_b − μ̂)² − ½ Σ log(2π σ_b²) + ½ log(2π) − ½ log W.
// The last three terms do not depend on θ; they are kept so that L is a proper
// density of the magnitudes (tested against numerical integration over μ).
// Outside the spectral grid (any of the 8 surrounding models missing) L = 0.
//
// Star constraints (docs/distance.md). A catalogue row may also carry a parallax and a
// prior on A_V. With a parallax the offset μ is no longer free: the model magnitudes are
// those of a star of 1 R_sun at 10 pc, so μ = x − u with x the distance modulus and
// u = 5 log10(R / R_sun) the radius term, R = sqrt(G M / g). With a log-uniform mass prior on [M1, M2], u is
// uniform on [u1, u2] (width Δ = 2.5 log10(M2/M1)) at a given log g, and
//   L(θ) = L_flat(θ) · Z · [S(u1 + μ̂) − S(u2 + μ̂)] / Δ,
//   S(t) = ∫ g(x) Φ((x − t) √W) dx,   g(x) ∝ p(ϖ | d(x)) p(d(x)) |dd/dx|,
// where L_flat is the flat-offset likelihood above, g the star's distance-modulus
// posterior from its parallax alone (normalised, Z its integral: the parallax's
// evidence) and p(d) an exponentially decreasing space density. S is tabulated once per
// star (it depends on the star's W, not on θ), so a θ costs two table look-ups. An A_V
// prior per star replaces the training prior's A_V factor for that star. Under the
// isochrone prior (docs/isochrone_prior.md) the mass at θ is the tracks' window with
// probability w(θ) and the log-uniform one otherwise: the factor is the w-weighted sum of
// the two windows' factors.
#pragma once

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "simulate/prior.hpp"

namespace irisml {
class Philox;
}

namespace irisml::simulate {

class Synthesizer;

// What a catalogue row says beyond its photometry (catalogue columns parallax,
// parallax_err, av_prior, av_prior_err, av_max; docs/catalog_format.md). NaN = not given.
struct StarConstraints {
  static constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  double parallax = kNaN, parallax_err = kNaN;  // [mas], as measured (before the zero point)
  double av_prior = kNaN, av_prior_err = kNaN;  // a Gaussian prior on A_V [mag]
  double av_max = kNaN;                         // an upper bound on A_V [mag]

  bool has_parallax() const { return std::isfinite(parallax) && std::isfinite(parallax_err) && parallax_err > 0; }
  bool has_av_prior() const { return std::isfinite(av_prior) && std::isfinite(av_prior_err) && av_prior_err > 0; }
  bool has_av_max() const { return std::isfinite(av_max) && av_max > 0; }
  bool any() const { return has_parallax() || has_av_prior() || has_av_max(); }
};

// The distance part of the model used when a star has a parallax (docs/distance.md).
struct DistanceSettings {
  double mass_min = 0.3, mass_max = 3.0;  // [M_sun] log-uniform mass prior
  double length_scale = 1350.0;           // [pc] space density ∝ exp(−d/L): p(d) ∝ d² exp(−d/L)
  double parallax_zero_point = 0.0;       // [mas] subtracted from every parallax
  // A per-source zero point applied while the catalogue is read ("lindegren2021"), or
  // empty; recorded by describe() only when set.
  std::string zero_point_model;

  // Throws InputError naming the bad setting.
  void validate() const;
  // Every setting, for resume keys and file attributes.
  std::string describe() const;
};

// u = 5 log10(R / R_sun) for a star of `mass` [M_sun] and surface gravity log g [cgs].
double radius_term(double mass, double logg);
// The physical quantities behind one (x, u) draw: distance [pc], radius [R_sun], mass [M_sun].
struct PhysicalDraw {
  double distance = 0, radius = 0, mass = 0;
};
PhysicalDraw physical_draw(double x, double u, double logg);

// The parallax's factor of one star's likelihood (formula above), tabulated.
class ParallaxTerm {
 public:
  ParallaxTerm() = default;
  // `parallax` ± `parallax_err` [mas] after the zero point (any sign; err > 0), W = Σ 1/σ_b².
  ParallaxTerm(double parallax, double parallax_err, double W, const DistanceSettings& settings);

  bool empty() const { return s_.empty(); }
  // log of Z · [S(u1 + μ̂) − S(u2 + μ̂)] / Δ at this log g; −inf where the parallax rules θ out.
  double log_factor(double mu_hat, double logg) const;
  // One draw of (x, u) from their distribution given θ (through μ̂ and log g); false when
  // none was found in a bounded number of tries (θ of negligible weight).
  bool draw(double mu_hat, double logg, Philox& rng, double& x, double& u) const;
  // `count` such draws into x[], u[] (one θ); returns how many were found.
  int draw(double mu_hat, double logg, Philox& rng, int count, double* x, double* u) const;
  // The same two for a log-uniform mass prior on [10^log_mass_lo, 10^log_mass_hi] [M_sun]
  // instead of the settings' (the isochrone prior's mass at θ; log_mass_lo < log_mass_hi).
  double log_factor(double mu_hat, double logg, double log_mass_lo, double log_mass_hi) const;
  int draw(double mu_hat, double logg, double log_mass_lo, double log_mass_hi, Philox& rng, int count, double* x,
           double* u) const;
  double log_evidence() const { return log_z_; }
  std::size_t nodes() const { return s_.size(); }

 private:
  double s_at(double t) const;
  double log_factor_window(double a, double b, double log_delta) const;
  int draw_window(double mu_hat, double u1, double u2, Philox& rng, int count, double* x, double* u) const;
  double u_one_ = 0;  // radius_term(1 M_sun, log g = 0)
  double x0_ = 0, h_ = 1, sqrt_w_ = 1, log_z_ = 0, u_min_offset_ = 0, u_max_offset_ = 0, log_delta_ = 0;
  double draw_x0_ = 0, draw_h_ = 1;
  std::vector<double> s_;    // S at x0 + i h
  std::vector<double> cdf_;  // the mass of g below draw_x0 + i draw_h (2049 edges of 2048 bins)
};

// A star's own A_V prior (replacing the training prior's A_V factor): an exponential of
// the training scale on [0, av_max] (av_max alone), or a Gaussian truncated to
// [0, av_max] (av_prior ± av_prior_err, av_max optional).
struct AvPrior {
  enum class Kind { kTraining, kExponential, kGaussian };
  Kind kind = Kind::kTraining;
  double lo = 0, hi = std::numeric_limits<double>::infinity();
  double mean = 0, sd = 0, scale = 0;  // Gaussian; exponential
  double log_norm = 0;                 // log of the unnormalised density's mass on [lo, hi]

  static AvPrior from(const StarConstraints& c, double training_scale);
  bool custom() const { return kind != Kind::kTraining; }
  double log_pdf(double av) const;
};

// log ∫ Π_b N(r_b | μ, σ_b²) dμ for n ≥ 1 residuals r_b = m_b − M_b with variances
// sigma2[b] > 0 (formula above). Writes μ̂ to *mu_hat if given. NaN if n < 1.
double offset_marginal_log_likelihood(const double* residual, const double* sigma2, int n, double* mu_hat = nullptr);

// One star's observations, in the synthesizer's band order.
struct ObservedStar {
  std::vector<int> bands;      // indices into Synthesizer::bands()
  std::vector<double> mag;     // observed magnitudes
  std::vector<double> sigma2;  // effective variances σ_b² [mag²]
  // Adds a band with catalogue error `err` and systematic term `sigma_sys` (quadrature).
  // Set before PhotometricPosterior::prepare(); the two below are built by it.
  StarConstraints constraints;
  ParallaxTerm parallax;  // empty without a parallax
  AvPrior av_prior;       // kTraining without an A_V constraint

  void add(int band, double m, double err, double sigma_sys) {
    bands.push_back(band);
    mag.push_back(m);
    sigma2.push_back(err * err + sigma_sys * sigma_sys);
  }
  void clear() {
    bands.clear();
    mag.clear();
    sigma2.clear();
    constraints = StarConstraints{};
    parallax = ParallaxTerm{};
    av_prior = AvPrior{};
  }
  int size() const { return static_cast<int>(bands.size()); }
};

// prior(θ) · L(θ | star) over physical θ = (Teff [K], log g, [M/H], A_V, R_V).
// Thread-safe; per-thread scratch space comes in a Workspace.
class PhotometricPosterior {
 public:
  struct Workspace {
    std::vector<double> model_mags, spectrum, residual, sigma2;
    double mu_hat = 0.0;  // the photometric offset μ̂ of the last evaluation
  };

  // `synth` predicts the bands the stars refer to; both must outlive this object.
  PhotometricPosterior(const Synthesizer& synth, const Prior& prior, const DistanceSettings& distance = {})
      : synth_(&synth), prior_(&prior), distance_(distance) {
    distance_.validate();
  }

  const Synthesizer& synthesizer() const { return *synth_; }
  const Prior& prior() const { return *prior_; }
  const DistanceSettings& distance() const { return distance_; }

  // Builds the star's parallax term and A_V prior from star.constraints (after its
  // bands are added). A star without constraints is left as it is.
  void prepare(ObservedStar& star) const;
  // log prior(θ) for this star: the training prior, its A_V factor replaced by the
  // star's own A_V prior where it has one.
  double log_prior(const StarParameters& p, const ObservedStar& star) const;
  // Distance, radius and mass of one draw given θ (needs a parallax term); false if none.
  bool draw_physical(const StarParameters& p, const ObservedStar& star, Workspace& work, Philox& rng,
                     PhysicalDraw& out) const;
  // `count` draws of (x, u) given θ and its photometric offset μ̂ (needs a parallax
  // term), under this prior's mass model; returns how many were found.
  int draw_distance(const StarParameters& p, double mu_hat, const ObservedStar& star, Philox& rng, int count, double* x,
                    double* u) const;

  // log L(θ | star), with the parallax's factor when the star has one (prepare());
  // −inf outside the grid, NaN for a star without bands.
  double log_likelihood(const StarParameters& p, const ObservedStar& star, Workspace& work) const;
  // log_prior(θ, star) + log L(θ | star); −inf outside the prior's support. The two terms
  // are written to *log_prior / *log_like when given.
  double log_density(const StarParameters& p, const ObservedStar& star, Workspace& work, double* log_prior = nullptr,
                     double* log_like = nullptr) const;

 private:
  double residuals(const StarParameters& p, const ObservedStar& star, Workspace& work, double* mu_hat) const;
  // log of the parallax's factor at θ: under the isochrone prior, the mixture of the
  // tracks' mass window (weight w) and the flat mass prior's; writes the probability that
  // the tracks' component holds the star to *p_iso when given.
  double parallax_log_factor(const StarParameters& p, const ObservedStar& star, double mu_hat, double* p_iso = nullptr,
                             Prior::IsochroneMass* window = nullptr) const;

  const Synthesizer* synth_;
  const Prior* prior_;
  DistanceSettings distance_;
};

}  // namespace irisml::simulate
