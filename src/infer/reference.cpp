#include "infer/reference.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "core/normal.hpp"
#include "core/rng.hpp"
#include "posterior/summary.hpp"
#include "simulate/grid.hpp"
#include "simulate/synthesizer.hpp"

namespace irisml::infer {

namespace {

// u = (log10 Teff, log g, [M/H], R_V, A_V): A_V last, so that the leading 4×4 block of a
// covariance's Cholesky factor is the factor of the other four (the proposals' space).
constexpr int D = 5;
constexpr int kX = 4;  // the coordinates proposed by boxes and mixtures; A_V follows them
constexpr int kAv = 4, kRv = 3;
constexpr double kNegInf = -std::numeric_limits<double>::infinity();
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kLog2Pi = 1.8378770664093454836;
constexpr double kLn10 = 2.30258509299404568402;
using Point = std::array<double, D>;
using Matrix = std::array<double, D * D>;

simulate::StarParameters physical(const Point& u) { return {std::pow(10.0, u[0]), u[1], u[2], u[kAv], u[kRv]}; }

double log_sum_exp(double a, double b) {
  if (a == kNegInf) return b;
  if (b == kNegInf) return a;
  const double m = std::max(a, b);
  return m + std::log(std::exp(a - m) + std::exp(b - m));
}

// Stream keys: one family for the fitter, apart from sampling and catalogue making.
std::uint64_t mix(std::uint64_t seed, std::uint64_t salt) {
  std::uint64_t z = seed ^ salt;
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Lower Cholesky factor of the leading kX×kX block of a symmetric matrix, in place.
bool cholesky(Matrix& a) {
  for (int j = 0; j < kX; ++j) {
    double s = a[j * D + j];
    for (int k = 0; k < j; ++k) s -= a[j * D + k] * a[j * D + k];
    if (!(s > 0)) return false;
    a[j * D + j] = std::sqrt(s);
    for (int i = j + 1; i < kX; ++i) {
      double t = a[i * D + j];
      for (int k = 0; k < j; ++k) t -= a[i * D + k] * a[j * D + k];
      a[i * D + j] = t / a[j * D + j];
    }
    for (int k = j + 1; k < D; ++k) a[j * D + k] = 0.0;
  }
  return true;
}

// |L⁻¹ d|² over the first kX coordinates (forward substitution).
double mahalanobis2(const Matrix& l, const Point& d) {
  double z[kX], sum = 0.0;
  for (int i = 0; i < kX; ++i) {
    double s = d[i];
    for (int k = 0; k < i; ++k) s -= l[i * D + k] * z[k];
    z[i] = s / l[i * D + i];
    sum += z[i] * z[i];
  }
  return sum;
}

// The likelihood with magnitudes linear in A_V, M_b(A) = m0_b + A k_b, the offset μ
// marginalised and the A_V prior exp(−(A − a0)/scale) on [a0, cap]: in A it is a
// truncated Gaussian, N(A | shift, 1/skk) up to a factor; log_integral is
// log ∫ exp(−(A − a0)/scale) L(A) dA without the θ-independent constants.
struct LinearAv {
  double log_integral = kNegInf, shift = 0.0, skk = 0.0;
};

// The weighted sums of the magnitudes linear in A_V, M_b(A) = m0_b + A k_b, with the
// offset μ profiled out: Σ w r², Σ w r k, Σ w k² of the weighted-mean-centred residuals
// r_b = m_b − m0_b and slopes k_b.
struct CentredSums {
  double srr, srk, skk;
};
template <class Mag>
CentredSums centred_sums(const Mag* m0, const Mag* slope, const simulate::ObservedStar& star, const double* w,
                         double W) {
  const int nb = star.size();
  double rbar = 0.0, kbar = 0.0;
  for (int b = 0; b < nb; ++b) {
    const auto i = static_cast<std::size_t>(b);
    const auto f = static_cast<std::size_t>(star.bands[i]);
    rbar += w[i] * (star.mag[i] - m0[f]);
    kbar += w[i] * slope[f];
  }
  rbar /= W;
  kbar /= W;
  double srr = 0.0, srk = 0.0, skk = 0.0;
  for (int b = 0; b < nb; ++b) {
    const auto i = static_cast<std::size_t>(b);
    const auto f = static_cast<std::size_t>(star.bands[i]);
    const double r = star.mag[i] - m0[f] - rbar, k = slope[f] - kbar;
    srr += w[i] * r * r;
    srk += w[i] * r * k;
    skk += w[i] * k * k;
  }
  return {srr, srk, skk};
}
template <class Mag>
LinearAv linear_av(const Mag* m0, const Mag* slope, const simulate::ObservedStar& star, const double* w, double W,
                   double a0, double cap, double scale) {
  const auto [srr, srk, skk] = centred_sums(m0, slope, star, w, W);
  LinearAv out;
  out.skk = skk;
  if (skk < 1e-10) {  // A_V leaves the colours alone: the prior alone constrains it
    out.shift = a0;
    out.log_integral =
        -0.5 * srr + std::log(scale) + (std::isfinite(cap) ? std::log1p(-std::exp(-(cap - a0) / scale)) : 0.0);
    return out;
  }
  const double a_hat = srk / skk;
  out.shift = a_hat - 1.0 / (scale * skk);
  const double root = std::sqrt(skk);
  out.log_integral =
      -0.5 * (srr - srk * a_hat) - (a_hat - a0) / scale + 0.5 / (scale * scale * skk) +
      0.5 * (kLog2Pi - std::log(skk)) +
      normal::log_interval_mass((a0 - out.shift) * root, std::isfinite(cap) ? (cap - out.shift) * root : kInf);
  return out;
}

// The A_V proposal from a linear fit: its truncated Gaussian, widened (×`widen` in sd,
// plus `floor` in quadrature for the non-linearity of A_V); the prior's exponential
// (as a very wide Gaussian) where A_V does not affect the colours.
normal::Truncated av_proposal(const LinearAv& f, double a0, double cap, double scale, double widen, double floor) {
  if (f.skk < 1e-10) return {a0, 10.0 * scale, a0, cap};
  return {f.shift, std::sqrt(widen * widen / f.skk + floor * floor), a0, cap};
}

// linear_av with a star's own Gaussian A_V prior N(mean, sd²) on [lo, hi] (normalised):
// the product with the likelihood is a Gaussian of precision P = skk + 1/sd² (in `skk`).
template <class Mag>
LinearAv linear_av_gaussian(const Mag* m0, const Mag* slope, const simulate::ObservedStar& star, const double* w,
                            double W, const simulate::AvPrior& prior) {
  const auto [srr, srk, skk] = centred_sums(m0, slope, star, w, W);
  const double t = 1.0 / (prior.sd * prior.sd);
  LinearAv out;
  out.skk = skk + t;
  out.shift = (srk + prior.mean * t) / out.skk;
  const double root = std::sqrt(out.skk);
  out.log_integral = -0.5 * srr - 0.5 * prior.mean * prior.mean * t - prior.log_norm +
                     0.5 * out.skk * out.shift * out.shift + 0.5 * (kLog2Pi - std::log(out.skk)) +
                     normal::log_interval_mass((prior.lo - out.shift) * root, (prior.hi - out.shift) * root);
  return out;
}

// A full-covariance Gaussian mixture over the first kX coordinates.
struct Mixture {
  struct Component {
    Point mean{};
    Matrix chol{};  // lower Cholesky factor (leading kX×kX block)
    double log_weight = 0.0, log_norm = 0.0;
  };
  std::vector<Component> parts;
  std::vector<double> cum;  // cumulative weights, for drawing

  double log_pdf(const Point& u) const {
    double acc = kNegInf;
    for (const auto& c : parts) {
      Point d{};
      for (int a = 0; a < kX; ++a) d[a] = u[a] - c.mean[a];
      acc = log_sum_exp(acc, c.log_weight + c.log_norm - 0.5 * mahalanobis2(c.chol, d));
    }
    return acc;
  }
  void draw(Philox& rng, Point& u) const {
    const double t = rng.uniform() * cum.back();
    const auto k = std::min<std::size_t>(
        static_cast<std::size_t>(std::upper_bound(cum.begin(), cum.end(), t) - cum.begin()), parts.size() - 1);
    const auto& c = parts[k];
    double z[kX];
    for (double& x : z) x = rng.normal();
    for (int a = 0; a < kX; ++a) {
      double x = c.mean[a];
      for (int b = 0; b <= a; ++b) x += c.chol[a * D + b] * z[b];
      u[a] = x;
    }
  }
  void normalise() {
    cum.clear();
    double acc = 0.0;
    for (const auto& c : parts) cum.push_back(acc += std::exp(c.log_weight));
    for (auto& c : parts) c.log_weight -= std::log(acc);
  }
};

// Per-coordinate floor of every covariance (u units): keeps components from collapsing
// onto a few heavy points.
constexpr double kCovFloor[kX] = {2e-4, 2e-3, 2e-3, 2e-3};

// Sets a component's Cholesky factor and normaliser from a covariance, inflated by
// `inflate`² and floored. False if not positive definite.
bool set_covariance(Mixture::Component& c, Matrix cov, double inflate) {
  for (int a = 0; a < kX; ++a) {
    for (int b = 0; b < kX; ++b) cov[a * D + b] *= inflate * inflate;
    cov[a * D + a] += kCovFloor[a] * kCovFloor[a];
  }
  if (!cholesky(cov)) return false;
  c.chol = cov;
  c.log_norm = -0.5 * kX * kLog2Pi;
  for (int a = 0; a < kX; ++a) c.log_norm -= std::log(cov[a * D + a]);
  return true;
}

// Weighted EM for a K-component mixture on points x with weights v (≥ 0); the
// covariances are widened by `inflate` at the end, for tails heavier than the fit.
Mixture fit_mixture(const std::vector<Point>& x, const std::vector<double>& v, int K, double u0, double inflate) {
  std::vector<std::size_t> idx;
  double vmax = 0.0;
  for (double w : v) vmax = std::max(vmax, w);
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (v[i] > 1e-12 * vmax) idx.push_back(i);
  }
  const std::size_t n = idx.size();
  Point mean{};
  double vs = 0.0;
  for (auto i : idx) {
    vs += v[i];
    for (int a = 0; a < kX; ++a) mean[a] += v[i] * x[i][a];
  }
  for (int a = 0; a < kX; ++a) mean[a] /= vs;
  Matrix cov{};
  for (auto i : idx) {
    for (int a = 0; a < kX; ++a) {
      for (int b = 0; b < kX; ++b) cov[a * D + b] += v[i] * (x[i][a] - mean[a]) * (x[i][b] - mean[b]) / vs;
    }
  }
  K = static_cast<int>(std::min<std::size_t>(static_cast<std::size_t>(K), n));
  const auto Ks = static_cast<std::size_t>(K);
  Mixture m;
  m.parts.resize(Ks);
  {  // means at K points spread over the weighted distribution, the global covariance
    std::vector<double> lw(n);
    for (std::size_t j = 0; j < n; ++j) lw[j] = std::log(v[idx[j]]);
    const auto picks = posterior::systematic_resample(lw.data(), n, Ks, u0);
    for (std::size_t k = 0; k < Ks; ++k) {
      m.parts[k].mean = x[idx[picks[k]]];
      m.parts[k].log_weight = -std::log(static_cast<double>(K));
      set_covariance(m.parts[k], cov, 1.0);
    }
  }
  std::vector<double> r(n * Ks);
  for (int iter = 0; iter < 20; ++iter) {
    for (std::size_t j = 0; j < n; ++j) {  // E-step: responsibilities × weights
      double top = kNegInf;
      for (std::size_t k = 0; k < Ks; ++k) {
        const auto& c = m.parts[k];
        Point d{};
        for (int a = 0; a < kX; ++a) d[a] = x[idx[j]][a] - c.mean[a];
        r[j * Ks + k] = c.log_weight + c.log_norm - 0.5 * mahalanobis2(c.chol, d);
        top = std::max(top, r[j * Ks + k]);
      }
      double sum = 0.0;
      for (std::size_t k = 0; k < Ks; ++k) sum += (r[j * Ks + k] = std::exp(r[j * Ks + k] - top));
      for (std::size_t k = 0; k < Ks; ++k) r[j * Ks + k] *= v[idx[j]] / (sum * vs);
    }
    for (std::size_t k = 0; k < Ks; ++k) {  // M-step
      auto& c = m.parts[k];
      double nk = 0.0;
      Point mu{};
      for (std::size_t j = 0; j < n; ++j) {
        nk += r[j * Ks + k];
        for (int a = 0; a < kX; ++a) mu[a] += r[j * Ks + k] * x[idx[j]][a];
      }
      if (nk < 1e-8) {  // an emptied component: the global moments, negligible weight
        c.log_weight = std::log(1e-8);
        c.mean = mean;
        set_covariance(c, cov, 1.0);
        continue;
      }
      for (int a = 0; a < kX; ++a) mu[a] /= nk;
      Matrix ck{};
      for (std::size_t j = 0; j < n; ++j) {
        for (int a = 0; a < kX; ++a) {
          const double da = x[idx[j]][a] - mu[a];
          for (int b = 0; b <= a; ++b) ck[a * D + b] += r[j * Ks + k] * da * (x[idx[j]][b] - mu[b]) / nk;
        }
      }
      for (int a = 0; a < kX; ++a) {
        for (int b = 0; b < a; ++b) ck[b * D + a] = ck[a * D + b];
      }
      c.mean = mu;
      c.log_weight = std::log(nk);
      if (!set_covariance(c, ck, 1.0)) set_covariance(c, cov, 1.0);
    }
  }
  for (auto& c : m.parts) {  // widen: rebuild each covariance from its factor
    Matrix full{};
    for (int a = 0; a < kX; ++a) {
      for (int b = 0; b < kX; ++b) {
        for (int k = 0; k < kX; ++k) full[a * D + b] += c.chol[a * D + k] * c.chol[b * D + k];
      }
    }
    set_covariance(c, full, inflate);
  }
  m.normalise();
  return m;
}

// The largest β in (0, 1] for which weights w^β keep an ESS of at least `target`
// (bisection): adapting to tempered weights keeps a poor round from collapsing the next
// proposal onto a few points.
double temper(const std::vector<double>& log_w, double target) {
  std::vector<double> t(log_w.size());
  auto ess_at = [&](double beta) {
    for (std::size_t i = 0; i < t.size(); ++i) t[i] = log_w[i] == kNegInf ? kNegInf : beta * log_w[i];
    return posterior::effective_sample_size(t.data(), t.size());
  };
  if (ess_at(1.0) >= target) return 1.0;
  double lo = 0.0, hi = 1.0;
  for (int i = 0; i < 30; ++i) {
    const double mid = 0.5 * (lo + hi);
    (ess_at(mid) >= target ? lo : hi) = mid;
  }
  return std::max(lo, 1e-6);
}

}  // namespace

void ReferenceSettings::validate() const {
  if (proposals < 64) fail_input("--proposals = {} must be at least 64", proposals);
  if (max_rounds < 1) fail_input("--max-rounds = {} must be at least 1", max_rounds);
  if (!(target_ess > 0)) fail_input("--target-ess = {} must be > 0", target_ess);
  if (!(min_ess >= 0)) fail_input("--min-ess = {} must be >= 0", min_ess);
  if (!(coarse_sigma >= 0) || !std::isfinite(coarse_sigma)) {
    fail_input("--coarse-sigma = {} must be a finite number >= 0 (mag)", coarse_sigma);
  }
  if (!(defensive_prior > 0 && defensive_prior < 1)) {
    fail_input("defensive_prior = {} must lie in (0, 1)", defensive_prior);
  }
  if (!(defensive > 0 && defensive < 1)) fail_input("defensive = {} must lie in (0, 1)", defensive);
  if (components < 1 || components > 256) fail_input("--components = {} must lie in [1, 256]", components);
  if (!(step_log_teff > 0) || !(step_logg > 0) || !(step_mh > 0)) {
    fail_input("coarse lattice steps must be > 0 (log10 Teff {}, log g {}, [M/H] {})", step_log_teff, step_logg,
               step_mh);
  }
  if (rv_boxes < 1) fail_input("rv_boxes = {} must be positive", rv_boxes);
}

// The star-independent coarse lattice over x = (log10 Teff, log g, [M/H], R_V).
struct ReferenceFitter::Lattice {
  int n[4] = {0, 0, 0, 0};
  double lo[3] = {0, 0, 0}, step[3] = {0, 0, 0};  // axes 0-2 uniform; R_V boxes from rv_edges
  std::vector<double> rv_edges;                   // rv_boxes + 1, at equal prior mass
  std::vector<normal::Truncated> rv_prior;        // the R_V prior restricted to each box
  std::vector<int> box_of;                        // lattice index → valid box, or −1
  // per valid box
  std::vector<Point> centre;       // A_V entry = av_offset
  std::vector<double> log_prior;   // log p_u at the centre without its R_V factor, + log P(R_V box)
  std::vector<double> log_volume;  // of the box in (log10 Teff, log g, [M/H])
  std::vector<float> mag0, slope;  // boxes × bands: magnitudes at A_V = 0, d mag / d A_V
  std::size_t bands = 0;

  // The R_V box of a value inside [rv_min, rv_max].
  int rv_box(double rv) const {
    const int k = static_cast<int>(std::upper_bound(rv_edges.begin(), rv_edges.end(), rv) - rv_edges.begin()) - 1;
    return std::clamp(k, 0, n[3] - 1);
  }

  // The valid box holding u's x, or −1.
  long find(const Point& u) const {
    int idx[4];
    for (int a = 0; a < 3; ++a) {
      if (step[a] == 0.0) {
        idx[a] = 0;
        continue;
      }
      const double f = (u[a] - lo[a]) / step[a];
      if (!(f >= 0.0 && f <= n[a])) return -1;
      idx[a] = std::min(static_cast<int>(f), n[a] - 1);
    }
    if (!(u[kRv] >= rv_edges.front() && u[kRv] <= rv_edges.back())) return -1;
    idx[3] = rv_box(u[kRv]);
    const std::size_t flat = ((static_cast<std::size_t>(idx[0]) * n[1] + idx[1]) * n[2] + idx[2]) * n[3] + idx[3];
    return box_of[flat];
  }
};

ReferenceFitter::ReferenceFitter(const simulate::PhotometricPosterior& posterior, const ReferenceSettings& settings)
    : posterior_(&posterior), settings_(settings), lattice_(std::make_unique<Lattice>()) {
  settings_.validate();
  const auto& synth = posterior.synthesizer();
  const auto& prior = posterior.prior();
  const auto& pc = prior.config();
  const auto& grid = synth.grid();
  auto& L = *lattice_;
  L.bands = synth.bands().size();
  auto axis = [&](int a, double lo, double hi, double step) {
    L.lo[a] = lo;
    if (!(hi > lo)) {
      L.n[a] = 1;
      L.step[a] = 0.0;
      return;
    }
    L.n[a] = std::max(1, static_cast<int>(std::ceil((hi - lo) / step - 1e-9)));
    L.step[a] = (hi - lo) / L.n[a];
  };
  axis(0, std::log10(grid.teff.front()), std::log10(grid.teff.back()), settings_.step_log_teff);
  axis(1, std::max(pc.logg_min, grid.logg.front()), std::min(pc.logg_max, grid.logg.back()), settings_.step_logg);
  axis(2, prior.mh_min(), prior.mh_max(), settings_.step_mh);
  // R_V boxes of equal prior mass
  L.n[3] = settings_.rv_boxes;
  const double la = normal::cdf((pc.rv_min - pc.rv_mean) / pc.rv_sigma);
  const double lb = normal::cdf((pc.rv_max - pc.rv_mean) / pc.rv_sigma);
  for (int k = 0; k <= L.n[3]; ++k) {
    const double q = la + (lb - la) * k / L.n[3];
    L.rv_edges.push_back(k == 0 ? pc.rv_min : k == L.n[3] ? pc.rv_max : pc.rv_mean + pc.rv_sigma * normal::quantile(q));
  }
  for (int k = 0; k < L.n[3]; ++k) {
    L.rv_prior.push_back({pc.rv_mean, pc.rv_sigma, L.rv_edges[static_cast<std::size_t>(k)],
                          L.rv_edges[static_cast<std::size_t>(k) + 1]});
  }
  const normal::Truncated rv_full{pc.rv_mean, pc.rv_sigma, pc.rv_min, pc.rv_max};
  const double log_rv_box_mass = -std::log(static_cast<double>(L.n[3]));
  const std::size_t total = static_cast<std::size_t>(L.n[0]) * L.n[1] * L.n[2] * L.n[3];
  L.box_of.assign(total, -1);
  std::vector<double> m(2 * L.bands), work;
  const double av01[2] = {0.0, 1.0};
  std::size_t flat = 0;
  for (int i0 = 0; i0 < L.n[0]; ++i0) {
    for (int i1 = 0; i1 < L.n[1]; ++i1) {
      for (int i2 = 0; i2 < L.n[2]; ++i2) {
        for (int i3 = 0; i3 < L.n[3]; ++i3, ++flat) {
          // R_V at the box's prior median
          const double rv_c = pc.rv_mean + pc.rv_sigma * normal::quantile(la + (lb - la) * (i3 + 0.5) / L.n[3]);
          Point c{L.lo[0] + (i0 + 0.5) * L.step[0], L.lo[1] + (i1 + 0.5) * L.step[1], L.lo[2] + (i2 + 0.5) * L.step[2],
                  rv_c, pc.av_offset};
          const simulate::StarParameters p = physical(c);
          const double lp = prior.log_density(p);
          if (lp == kNegInf || !synth.magnitudes_at_extinctions(p, av01, 2, m.data(), work)) continue;
          L.box_of[flat] = static_cast<int>(L.centre.size());
          L.centre.push_back(c);
          L.log_prior.push_back(lp + std::log(p.teff * kLn10) - rv_full.log_pdf(rv_c) + log_rv_box_mass);
          double vol = 1.0;
          for (int a = 0; a < 3; ++a) vol *= L.step[a] > 0 ? L.step[a] : 1.0;
          L.log_volume.push_back(std::log(vol));
          for (std::size_t b = 0; b < L.bands; ++b) {
            L.mag0.push_back(static_cast<float>(m[b]));
            L.slope.push_back(static_cast<float>(m[L.bands + b] - m[b]));
          }
        }
      }
    }
  }
  if (L.centre.empty()) fail_input("the prior's support holds no point of the coarse lattice: nothing to fit");
}

ReferenceFitter::~ReferenceFitter() = default;
ReferenceFitter::ReferenceFitter(ReferenceFitter&&) noexcept = default;

std::size_t ReferenceFitter::lattice_boxes() const { return lattice_->centre.size(); }

// One star's fit: the coarse stage, the proposal's pieces and the adaptive rounds.
class ReferenceFitter::StarFit {
 public:
  StarFit(const ReferenceFitter& fitter, const simulate::ObservedStar& star, std::uint64_t seed, std::uint64_t row);

  ReferenceResult run();

 private:
  // The likelihood with A_V integrated out, linearised in A_V (magnitudes m0 + A_V·slope).
  template <class Mag>
  LinearAv av_integral(const Mag* m0, const Mag* slope, const double* w, double W) const {
    return gaussian_av_ ? linear_av_gaussian(m0, slope, star_, w, W, star_av_)
                        : linear_av(m0, slope, star_, w, W, a0_, cap_, scale_);
  }
  bool coarse_stage();
  double log_prior_u(const Point& u) const;
  double log_target_prior_u(const Point& u, double training) const;
  double log_q_box(const Point& u) const;
  void draw_box(Point& u);
  double conditional_av(Point& u, bool draw);
  void reweigh();
  void add_round_mixture(bool first);
  void draw_round(bool first, ReferenceResult& result);
  void add_point(const Point& u, double log_q_av, ReferenceResult& result);

  const Lattice& L_;
  const simulate::PhotometricPosterior& posterior_;
  const simulate::Prior& prior_;
  const simulate::Synthesizer& synth_;
  const ReferenceSettings& s_;
  const simulate::ObservedStar& star_;
  // The A_V prior: the training prior's exponential, or the star's own (docs/distance.md):
  // its support [a0, cap], and the exponential's scale (the training one for a Gaussian).
  const simulate::AvPrior& star_av_;
  bool gaussian_av_;
  double a0_, cap_, scale_;
  // Coarse stage: the exact per-band weights and their sum, each box's log posterior mass
  // and their cumulative sum (relative to the top), the total.
  std::vector<double> w_exact_, log_mass_, cum_;
  double W_exact_ = 0.0, log_total_ = 0.0;
  Philox rng_;
  std::uint64_t prior_seed_, prior_draws_ = 0;
  // The A_V conditional's magnitudes at the linearisation nodes, and the linear model.
  std::vector<double> mags_, m0_, slope_, work_;
  const double* av_nodes_;
  int n_nodes_;
  // Rounds. Every round's points are kept. A point's weight is p(u) / q̄(u), q̄ being the
  // average of all rounds' proposal densities (the balance heuristic of multiple
  // importance sampling): a point from a poor early proposal is not over-weighted where a
  // later one covers it, and the effective sample sizes of the rounds add up.
  struct Fractions {
    double prior, box, mix;  // log of each part's share of the round's draws
  };
  std::vector<Fractions> fractions_;
  std::vector<Mixture> mixtures_;  // per round (no parts in round 1)
  std::vector<Point> pts_;
  // per point: log target, log p_u, log q_box + log q(A_V | x), log q(A_V | x), μ̂, and per
  // round log q_mix + log q(A_V | x)
  std::vector<double> lt_all_, lpu_all_, lbox_all_, lqav_all_, mu_all_;
  std::vector<std::vector<double>> lmix_all_;
  std::vector<double> log_w_;
  simulate::PhotometricPosterior::Workspace ws_;
};

namespace {
constexpr double kAvNodes[5] = {0.0, 1.0, 2.5, 5.0, 8.0};
constexpr double kAv01[2] = {0.0, 1.0};
}  // namespace

ReferenceFitter::StarFit::StarFit(const ReferenceFitter& fitter, const simulate::ObservedStar& star, std::uint64_t seed,
                                  std::uint64_t row)
    : L_(*fitter.lattice_),
      posterior_(*fitter.posterior_),
      prior_(posterior_.prior()),
      synth_(posterior_.synthesizer()),
      s_(fitter.settings_),
      star_(star),
      star_av_(star.av_prior),
      gaussian_av_(star_av_.kind == simulate::AvPrior::Kind::kGaussian),
      rng_(mix(seed, 0x5245464954ull), row),  // "REFIT"
      prior_seed_(mix(seed, 0x5052494F52ull + row)) {
  const auto& pc = prior_.config();
  a0_ = star_av_.custom() ? star_av_.lo : pc.av_offset;
  cap_ = star_av_.custom() ? star_av_.hi : pc.av_max > 0 ? pc.av_max : kInf;
  scale_ = star_av_.kind == simulate::AvPrior::Kind::kExponential ? star_av_.scale : pc.av_scale;
  // With a star's own (Gaussian) A_V prior the proposal must be as narrow as that prior, so
  // the magnitudes are linearised on the segment of {0, 1, 2.5, 5, 8} mag of A_V where the
  // conditional lies (extinction is not linear over several magnitudes); otherwise on
  // [0, 1], as always (outputs of stars without constraints unchanged).
  av_nodes_ = gaussian_av_ ? kAvNodes : kAv01;
  n_nodes_ = gaussian_av_ ? 5 : 2;
  const std::size_t F = synth_.bands().size();
  mags_.resize(static_cast<std::size_t>(n_nodes_) * F);
  m0_.resize(F);
  slope_.resize(F);
}

// Each box's posterior mass, A_V integrated out (tempered errors); false if no box has any.
bool ReferenceFitter::StarFit::coarse_stage() {
  const auto nbs = static_cast<std::size_t>(star_.size());
  std::vector<double> w_coarse(nbs);
  double W_coarse = 0.0;
  w_exact_.resize(nbs);
  for (std::size_t b = 0; b < nbs; ++b) {
    W_coarse += (w_coarse[b] = 1.0 / (star_.sigma2[b] + s_.coarse_sigma * s_.coarse_sigma));
    W_exact_ += (w_exact_[b] = 1.0 / star_.sigma2[b]);
  }
  const std::size_t nbox = L_.centre.size();
  log_mass_.resize(nbox);
  cum_.resize(nbox);
  double top = kNegInf;
  for (std::size_t k = 0; k < nbox; ++k) {
    const LinearAv f =
        av_integral(L_.mag0.data() + k * L_.bands, L_.slope.data() + k * L_.bands, w_coarse.data(), W_coarse);
    log_mass_[k] = L_.log_prior[k] + f.log_integral + L_.log_volume[k];
    top = std::max(top, log_mass_[k]);
  }
  if (!std::isfinite(top)) return false;
  double c = 0.0;
  for (std::size_t k = 0; k < nbox; ++k) cum_[k] = (c += std::exp(log_mass_[k] - top));
  log_total_ = top + std::log(c);
  return true;
}

// The proposal: q(u) = f_prior p_u(u) + [f_box q_box(x) + f_mix q_mix(x)] · q(A_V | x),
// where q(A_V | x) is the (widened) truncated Gaussian of the likelihood linearised in A_V
// at x itself: the A_V–Teff ridge is followed exactly, point by point.
double ReferenceFitter::StarFit::log_prior_u(const Point& u) const {
  const auto p = physical(u);
  const double lp = prior_.log_density(p);
  return lp == kNegInf ? kNegInf : lp + std::log(p.teff * kLn10);
}

// The target's prior in u: the training prior's (the same as the proposal's prior
// component) unless the star has its own A_V prior.
double ReferenceFitter::StarFit::log_target_prior_u(const Point& u, double training) const {
  if (!star_av_.custom()) return training;
  const auto p = physical(u);
  const double lp = posterior_.log_prior(p, star_);
  return lp == kNegInf ? kNegInf : lp + std::log(p.teff * kLn10);
}

double ReferenceFitter::StarFit::log_q_box(const Point& u) const {
  const long k = L_.find(u);
  if (k < 0) return kNegInf;
  const auto kk = static_cast<std::size_t>(k);
  const auto& rv_q = L_.rv_prior[static_cast<std::size_t>(L_.rv_box(u[kRv]))];
  return log_mass_[kk] - log_total_ - L_.log_volume[kk] + rv_q.log_pdf(u[kRv]);
}

void ReferenceFitter::StarFit::draw_box(Point& u) {
  const std::size_t nbox = L_.centre.size();
  const double t = rng_.uniform() * cum_.back();
  const std::size_t k =
      std::min(static_cast<std::size_t>(std::upper_bound(cum_.begin(), cum_.end(), t) - cum_.begin()), nbox - 1);
  const Point& centre = L_.centre[k];
  for (int a = 0; a < 3; ++a) u[a] = centre[a] + (rng_.uniform() - 0.5) * L_.step[a];
  // R_V from the prior restricted to the box
  u[kRv] = L_.rv_prior[static_cast<std::size_t>(L_.rv_box(centre[kRv]))].draw(rng_.uniform());
}

// Completes u (draws A_V unless given) and returns log q(A_V | x); −inf (and u[kAv]
// from the prior) where x is outside the grid — such points get weight 0 anyway.
double ReferenceFitter::StarFit::conditional_av(Point& u, bool draw) {
  if (!synth_.magnitudes_at_extinctions(physical(u), av_nodes_, n_nodes_, mags_.data(), work_)) {
    if (draw) {
      u[kAv] = gaussian_av_ ? normal::Truncated{star_av_.mean, star_av_.sd, a0_, cap_}.draw(rng_.uniform())
                            : a0_ + rng_.exponential(scale_);
    }
    return kNegInf;
  }
  const std::size_t F = synth_.bands().size();
  auto linearise = [&](int k) {  // on the segment [node k, node k + 1]
    const double a = av_nodes_[k], b = av_nodes_[k + 1];
    for (std::size_t i = 0; i < F; ++i) {
      slope_[i] =
          (mags_[static_cast<std::size_t>(k + 1) * F + i] - mags_[static_cast<std::size_t>(k) * F + i]) / (b - a);
      m0_[i] = mags_[static_cast<std::size_t>(k) * F + i] - a * slope_[i];
    }
    return av_integral(m0_.data(), slope_.data(), w_exact_.data(), W_exact_);
  };
  LinearAv f = linearise(0);
  for (int pass = 0, segment = 0; gaussian_av_ && pass < 2; ++pass) {  // to the segment of the conditional's centre
    int k = 0;
    while (k < n_nodes_ - 2 && f.shift > av_nodes_[k + 1]) ++k;
    if (k == segment) break;
    f = linearise(segment = k);
  }
  const auto q = av_proposal(f, a0_, cap_, scale_, 1.5, 0.01);
  if (draw) u[kAv] = q.draw(rng_.uniform());
  return q.log_pdf(u[kAv]);
}

void ReferenceFitter::StarFit::reweigh() {
  const double log_rounds = std::log(static_cast<double>(fractions_.size()));
  log_w_.resize(pts_.size());
  for (std::size_t i = 0; i < pts_.size(); ++i) {
    if (lt_all_[i] == kNegInf) {
      log_w_[i] = kNegInf;
      continue;
    }
    double q = kNegInf;
    for (std::size_t r = 0; r < fractions_.size(); ++r) {
      const auto& f = fractions_[r];
      q = log_sum_exp(q, log_sum_exp(f.prior + lpu_all_[i], f.box + lbox_all_[i]));
      if (!mixtures_[r].parts.empty()) q = log_sum_exp(q, f.mix + lmix_all_[r][i]);
    }
    log_w_[i] = lt_all_[i] - (q - log_rounds);
  }
}

// The round's mixture (none in round 1): a Gaussian mixture fitted (weighted EM) to all
// points so far, weights tempered; and its density at those points.
void ReferenceFitter::StarFit::add_round_mixture(bool first) {
  const int N = s_.proposals;
  Mixture mixture;
  if (!first) {
    const double beta = temper(log_w_, std::min(0.1 * N, 200.0));
    double wtop = kNegInf;
    for (double x : log_w_) wtop = std::max(wtop, x);
    std::vector<double> v(log_w_.size());
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = log_w_[i] == kNegInf ? 0.0 : std::exp(beta * (log_w_[i] - wtop));
    mixture = fit_mixture(pts_, v, s_.components, rng_.uniform(), 1.2);
  }
  std::vector<double> lmix(pts_.size(), kNegInf);
  if (!first) {
    for (std::size_t i = 0; i < pts_.size(); ++i) {
      if (lt_all_[i] != kNegInf) lmix[i] = mixture.log_pdf(pts_[i]) + lqav_all_[i];
    }
  }
  mixtures_.push_back(std::move(mixture));
  lmix_all_.push_back(std::move(lmix));
}

// This round's draws: n_prior from the prior, n_box from the boxes, the rest from the
// mixture; its density is the mixture of the three with exactly those fractions.
void ReferenceFitter::StarFit::draw_round(bool first, ReferenceResult& result) {
  const int N = s_.proposals;
  const int n_coarse = first ? N : static_cast<int>(std::lround(s_.defensive * N));
  const int n_prior = std::max(1, static_cast<int>(std::lround(s_.defensive_prior * n_coarse)));
  const int n_box = n_coarse - n_prior;
  const int n_mix = N - n_coarse;
  auto log_share = [&](int n) { return n > 0 ? std::log(static_cast<double>(n) / N) : kNegInf; };
  fractions_.push_back({log_share(n_prior), log_share(n_box), log_share(n_mix)});
  const Mixture& current = mixtures_.back();
  for (int i = 0; i < N; ++i) {
    Point u{};
    double log_q_av;
    if (i < n_prior) {
      simulate::StarParameters p;
      prior_.draw(prior_seed_, prior_draws_++, p);
      u = {std::log10(p.teff), p.logg, p.mh, p.rv, p.av};
      log_q_av = conditional_av(u, /*draw=*/false);
    } else {
      if (i < n_coarse) {
        draw_box(u);
      } else {
        current.draw(rng_, u);
      }
      log_q_av = conditional_av(u, /*draw=*/true);
    }
    add_point(u, log_q_av, result);
  }
}

// A point's target density and every proposal piece's density at it.
void ReferenceFitter::StarFit::add_point(const Point& u, double log_q_av, ReferenceResult& result) {
  const double lpu = log_prior_u(u);
  const double lpt = log_target_prior_u(u, lpu);
  double lt = kNegInf;
  ws_.mu_hat = std::numeric_limits<double>::quiet_NaN();
  if (lpt != kNegInf && log_q_av != kNegInf) {
    lt = lpt + posterior_.log_likelihood(physical(u), star_, ws_);
    ++result.evaluations;
  }
  if (!(lt > kNegInf)) lt = kNegInf;  // outside the support or the grid (or NaN): weight 0
  pts_.push_back(u);
  lt_all_.push_back(lt);
  mu_all_.push_back(ws_.mu_hat);
  lpu_all_.push_back(lpu);
  lqav_all_.push_back(log_q_av);
  lbox_all_.push_back(lt == kNegInf ? kNegInf : log_q_box(u) + log_q_av);
  for (std::size_t r = 0; r < mixtures_.size(); ++r) {
    lmix_all_[r].push_back(lt == kNegInf || mixtures_[r].parts.empty() ? kNegInf : mixtures_[r].log_pdf(u) + log_q_av);
  }
}

ReferenceResult ReferenceFitter::StarFit::run() {
  ReferenceResult result;
  if (star_.size() < 1 || !coarse_stage()) return result;
  for (int round = 1; round <= s_.max_rounds; ++round) {
    add_round_mixture(round == 1);
    draw_round(round == 1, result);
    reweigh();
    result.rounds = round;
    result.ess = posterior::effective_sample_size(log_w_.data(), log_w_.size());
    if (result.ess <= 0.0) return result;  // no mass found anywhere: nothing to adapt from
    if (result.ess >= s_.target_ess) break;
  }
  result.theta.resize(pts_.size() * D);
  result.log_w = log_w_;
  result.mu_hat = std::move(mu_all_);
  for (std::size_t i = 0; i < pts_.size(); ++i) {
    const auto p = physical(pts_[i]);
    const double values[D] = {p.teff, p.logg, p.mh, p.av, p.rv};  // the posterior file's order
    std::copy(values, values + D, result.theta.begin() + static_cast<std::ptrdiff_t>(i * D));
  }
  return result;
}

ReferenceResult ReferenceFitter::fit(const simulate::ObservedStar& star, std::uint64_t seed, std::uint64_t row) const {
  return StarFit(*this, star, seed, row).run();
}

}  // namespace irisml::infer
