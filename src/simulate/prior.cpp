#include "simulate/prior.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "core/normal.hpp"
#include "core/rng.hpp"
#include "simulate/grid.hpp"
#include "simulate/isochrones.hpp"

namespace irisml::simulate {

void PriorConfig::validate() const {
  auto finite = [](const char* name, double v) {
    if (!std::isfinite(v)) fail_input("prior.{} = {} is not a finite number", name, v);
  };
  for (const auto& [name, value] : items()) finite(name, value);
  if (!(logg_min < logg_max)) {
    fail_input("prior.logg_min = {} must be below prior.logg_max = {}", logg_min, logg_max);
  }
  if (mh_halo_fraction < 0 || mh_halo_fraction > 1) {
    fail_input("prior.mh_halo_fraction = {} must lie in [0, 1]", mh_halo_fraction);
  }
  if (mh_halo_sigma <= 0) fail_input("prior.mh_halo_sigma = {} must be > 0", mh_halo_sigma);
  if (mh_disc_sigma <= 0) fail_input("prior.mh_disc_sigma = {} must be > 0", mh_disc_sigma);
  if (av_offset < 0) fail_input("prior.av_offset = {} must be >= 0 (A_V is non-negative)", av_offset);
  if (av_scale <= 0) fail_input("prior.av_scale = {} must be > 0", av_scale);
  if (av_max != 0 && av_max <= av_offset)
    fail_input("prior.av_max = {} must be 0 (no cap) or above prior.av_offset = {}", av_max, av_offset);
  if (rv_sigma <= 0) fail_input("prior.rv_sigma = {} must be > 0", rv_sigma);
  if (rv_min <= 0) fail_input("prior.rv_min = {} must be > 0 (R_V <= 0 is unphysical)", rv_min);
  if (!(rv_min < rv_max)) fail_input("prior.rv_min = {} must be below prior.rv_max = {}", rv_min, rv_max);
  if (kind != 0.0 && kind != 1.0) fail_input("prior.kind = {} must be 0 (flat) or 1 (isochrone)", kind);
  if (isochrone()) {
    if (!(isochrone_flat_fraction > 0 && isochrone_flat_fraction <= 1)) {
      fail_input(
          "prior.isochrone_flat_fraction = {} must lie in (0, 1]: the flat part keeps stars the tracks do not "
          "reach (hot stars, red clump, binaries) possible",
          isochrone_flat_fraction);
    }
    if (!(isochrone_age_min >= 0 && isochrone_age_max > isochrone_age_min)) {
      fail_input("prior.isochrone_age_min = {} and prior.isochrone_age_max = {} [Gyr] must satisfy 0 <= min < max",
                 isochrone_age_min, isochrone_age_max);
    }
    if (!(isochrone_smooth_log_teff >= 0 && isochrone_smooth_logg >= 0)) {
      fail_input("prior.isochrone_smooth_log_teff = {} and prior.isochrone_smooth_logg = {} [dex] must be >= 0",
                 isochrone_smooth_log_teff, isochrone_smooth_logg);
    }
  }
  // Truncated normals are drawn by rejection: keep the accepted mass reasonable.
  if (rv_mean < rv_min - 4 * rv_sigma || rv_mean > rv_max + 4 * rv_sigma) {
    fail_input("prior.rv_mean = {} lies more than 4 sigma outside [prior.rv_min, prior.rv_max] = [{}, {}]", rv_mean,
               rv_min, rv_max);
  }
}

IsochroneSettings PriorConfig::isochrone_settings() const {
  IsochroneSettings s;
  s.age_min = isochrone_age_min;
  s.age_max = isochrone_age_max;
  s.smooth_log_teff = isochrone_smooth_log_teff;
  s.smooth_logg = isochrone_smooth_logg;
  return s;
}

namespace {
// The keys after the flat prior's, in items() order, with their fields.
constexpr const char* kIsochroneKeys[] = {"kind",
                                          "isochrone_flat_fraction",
                                          "isochrone_age_min",
                                          "isochrone_age_max",
                                          "isochrone_smooth_log_teff",
                                          "isochrone_smooth_logg",
                                          "isochrone_tracks"};
template <class Config>
auto isochrone_fields(Config& c) {
  return std::array{&c.kind,
                    &c.isochrone_flat_fraction,
                    &c.isochrone_age_min,
                    &c.isochrone_age_max,
                    &c.isochrone_smooth_log_teff,
                    &c.isochrone_smooth_logg,
                    &c.isochrone_tracks};
}
}  // namespace

std::vector<std::pair<const char*, double>> PriorConfig::items() const {
  std::vector<std::pair<const char*, double>> out = {{"logg_min", logg_min},
                                                     {"logg_max", logg_max},
                                                     {"mh_halo_fraction", mh_halo_fraction},
                                                     {"mh_halo_mean", mh_halo_mean},
                                                     {"mh_halo_sigma", mh_halo_sigma},
                                                     {"mh_disc_mean", mh_disc_mean},
                                                     {"mh_disc_sigma", mh_disc_sigma},
                                                     {"av_offset", av_offset},
                                                     {"av_scale", av_scale},
                                                     {"av_max", av_max},
                                                     {"rv_mean", rv_mean},
                                                     {"rv_sigma", rv_sigma},
                                                     {"rv_min", rv_min},
                                                     {"rv_max", rv_max}};
  if (isochrone()) {
    const auto fields = isochrone_fields(*this);
    for (std::size_t k = 0; k < fields.size(); ++k) out.emplace_back(kIsochroneKeys[k], *fields[k]);
  }
  return out;
}

PriorConfig PriorConfig::from_items(const std::vector<std::pair<std::string, double>>& items,
                                    const std::string& source) {
  PriorConfig c;
  // Pointers to the fields, in items() order.
  double* fields[] = {&c.logg_min,     &c.logg_max,      &c.mh_halo_fraction, &c.mh_halo_mean, &c.mh_halo_sigma,
                      &c.mh_disc_mean, &c.mh_disc_sigma, &c.av_offset,        &c.av_scale,     &c.av_max,
                      &c.rv_mean,      &c.rv_sigma,      &c.rv_min,           &c.rv_max};
  const auto names = c.items();
  const auto optional = isochrone_fields(c);
  constexpr std::size_t kOptional = sizeof kIsochroneKeys / sizeof kIsochroneKeys[0];
  std::vector<int> seen(names.size() + kOptional, 0);
  for (const auto& [key, value] : items) {
    std::size_t k = 0;
    while (k < names.size() && key != names[k].first) ++k;
    if (k < names.size()) {
      *fields[k] = value;
    } else {
      std::size_t j = 0;
      while (j < kOptional && key != kIsochroneKeys[j]) ++j;
      if (j == kOptional) fail_input("{}: prior key '{}' is not known", source, key);
      *optional[j] = value;
      k = names.size() + j;
    }
    ++seen[k];
  }
  for (std::size_t k = 0; k < seen.size(); ++k) {
    const char* name = k < names.size() ? names[k].first : kIsochroneKeys[k - names.size()];
    if (seen[k] > 1 || (seen[k] == 0 && k < names.size()))
      fail_input("{}: prior key '{}' is {}", source, name, seen[k] ? "given twice" : "missing");
  }
  c.validate();
  return c;
}

// The tracks' lattice normalised over the prior's support: per layer ([Fe/H] of the
// tracks) the density per unit of (log10 Teff, log g) in each cell, the cumulative
// in-support mass over the cells (for draws), and the cells' log-mass moments.
struct Prior::Isochrone {
  std::unique_ptr<IsochroneTable> table;
  std::vector<double> support;                    // the part of each cell inside the support, in [0, 1]
  std::vector<std::vector<double>> density, cdf;  // per layer: density per cell; cdf over cells (cells + 1)
};

Prior::Prior(const PriorConfig& config, const SpectralGrid& grid, const StellarTracks* tracks) : config_(config) {
  config_.validate();
  logg_nodes_ = grid.logg;
  mh_lo_ = grid.mh.front();
  mh_hi_ = grid.mh.back();
  // Validity is constant inside a log g cell, so one query per cell suffices.
  for (std::size_t j = 0; j + 1 < logg_nodes_.size(); ++j) {
    Cell cell;
    cell.intervals = grid.log_teff_intervals(0.5 * (logg_nodes_[j] + logg_nodes_[j + 1]));
    for (const auto& [lo, hi] : cell.intervals) cell.total += hi - lo;
    cells_.push_back(std::move(cell));
  }
  bool any = false;
  for (const auto& c : cells_) any = any || c.total > 0;
  if (!any) fail_input("the spectral grid has no complete interpolation cell: nothing can be simulated");
  double overlap_lo = std::max(config_.logg_min, logg_nodes_.front());
  double overlap_hi = std::min(config_.logg_max, logg_nodes_.back());
  if (!(overlap_lo < overlap_hi)) {
    fail_input("prior log g range [{}, {}] does not overlap the grid's log g range [{}, {}]", config_.logg_min,
               config_.logg_max, logg_nodes_.front(), logg_nodes_.back());
  }
  // Normalising constants of log_density().
  double measure = 0.0;
  for (std::size_t j = 0; j < cells_.size(); ++j) {
    if (cells_[j].total <= 0) continue;
    const double lo = std::max(config_.logg_min, logg_nodes_[j]), hi = std::min(config_.logg_max, logg_nodes_[j + 1]);
    if (hi > lo) measure += hi - lo;
  }
  if (!(measure > 0)) {
    fail_input("prior log g range [{}, {}] contains no valid grid cell: nothing can be simulated", config_.logg_min,
               config_.logg_max);
  }
  log_logg_measure_ = std::log(measure);
  auto log_normal_mass = [](double mean, double sigma, double lo, double hi) {
    const double a = (lo - mean) / (sigma * std::sqrt(2.0)), b = (hi - mean) / (sigma * std::sqrt(2.0));
    // erfc differences keep precision in the far tails
    const double mass = a > 0 ? 0.5 * (std::erfc(a) - std::erfc(b)) : 0.5 * (std::erfc(-b) - std::erfc(-a));
    return std::log(mass);
  };
  log_mh_norm_halo_ = log_normal_mass(config_.mh_halo_mean, config_.mh_halo_sigma, mh_lo_, mh_hi_);
  log_mh_norm_disc_ = log_normal_mass(config_.mh_disc_mean, config_.mh_disc_sigma, mh_lo_, mh_hi_);
  log_rv_norm_ = log_normal_mass(config_.rv_mean, config_.rv_sigma, config_.rv_min, config_.rv_max);
  log_av_norm_ =
      config_.av_max > 0 ? std::log1p(-std::exp(-(config_.av_max - config_.av_offset) / config_.av_scale)) : 0.0;
  if (config_.mh_halo_fraction < 1 && (config_.mh_disc_mean < mh_lo_ - 5 * config_.mh_disc_sigma ||
                                       config_.mh_disc_mean > mh_hi_ + 5 * config_.mh_disc_sigma)) {
    fail_input("prior.mh_disc_mean = {} lies far outside the grid's [M/H] range [{}, {}]", config_.mh_disc_mean, mh_lo_,
               mh_hi_);
  }
  if (config_.isochrone()) build_isochrone(tracks);
}

void Prior::build_isochrone(const StellarTracks* tracks) {
  if (!tracks) fail_input("prior.kind = isochrone needs stellar tracks (--isochrones), and none were given");
  if (config_.isochrone_tracks != 0 && config_.isochrone_tracks != tracks->checksum_value()) {
    fail_input(
        "stellar tracks '{}' (checksum value {}) are not the tracks this prior was made with (prior.isochrone_tracks "
        "= {}); give the same tracks file with --isochrones",
        tracks->source, tracks->checksum_value(), config_.isochrone_tracks);
  }
  config_.isochrone_tracks = tracks->checksum_value();
  // The lattice's box: the support's.
  double t_lo = 1e9, t_hi = -1e9;
  for (const auto& c : cells_) {
    for (const auto& [lo, hi] : c.intervals) {
      t_lo = std::min(t_lo, lo);
      t_hi = std::max(t_hi, hi);
    }
  }
  const double g_lo = std::max(config_.logg_min, logg_nodes_.front()),
               g_hi = std::min(config_.logg_max, logg_nodes_.back());
  auto iso = std::make_shared<Isochrone>();
  iso->table = std::make_unique<IsochroneTable>(*tracks, config_.isochrone_settings(), t_lo, t_hi, g_lo, g_hi);
  const IsochroneTable& table = *iso->table;
  const int nt = table.n_teff(), ng = table.n_logg();
  const double dt = IsochroneTable::kCellLogTeff, dg = IsochroneTable::kCellLogg;
  // The in-support part of each cell: log g pieces cut at the grid's nodes, each with its
  // valid log10 Teff intervals.
  iso->support.assign(table.cells(), 0.0);
  for (int ig = 0; ig < ng; ++ig) {
    const double c_lo = std::max(table.logg0() + ig * dg, g_lo), c_hi = std::min(table.logg0() + (ig + 1) * dg, g_hi);
    for (std::size_t j = 0; j < cells_.size(); ++j) {
      const double lo = std::max(c_lo, logg_nodes_[j]), hi = std::min(c_hi, logg_nodes_[j + 1]);
      if (!(hi > lo) || cells_[j].total <= 0) continue;
      for (int it = 0; it < nt; ++it) {
        const double a = table.log_teff0() + it * dt, b = a + dt;
        double overlap = 0.0;
        for (const auto& [ilo, ihi] : cells_[j].intervals)
          overlap += std::max(0.0, std::min(b, ihi) - std::max(a, ilo));
        iso->support[static_cast<std::size_t>(ig) * nt + it] += (hi - lo) * overlap / (dt * dg);
      }
    }
  }
  for (int k = 0; k < table.layers(); ++k) {
    const auto& w = table.weight(k);
    std::vector<double> cdf(table.cells() + 1, 0.0);
    for (std::size_t c = 0; c < table.cells(); ++c) cdf[c + 1] = cdf[c] + w[c] * iso->support[c];
    if (!(cdf.back() > 0)) {
      fail_input("stellar tracks '{}': no star of the [Fe/H] = {} tracks falls inside the spectral grid's support",
                 tracks->source, table.feh()[static_cast<std::size_t>(k)]);
    }
    std::vector<double> density(table.cells());
    for (std::size_t c = 0; c < table.cells(); ++c) density[c] = w[c] / (cdf.back() * dt * dg);
    iso->density.push_back(std::move(density));
    iso->cdf.push_back(std::move(cdf));
  }
  iso_ = std::move(iso);
}

bool Prior::in_support(double log_teff, double logg) const {
  if (!(logg >= config_.logg_min && logg <= config_.logg_max)) return false;
  const Cell* cell = cell_for(logg);
  if (!cell) return false;
  for (const auto& [lo, hi] : cell->intervals) {
    if (log_teff >= lo && log_teff <= hi) return true;
  }
  return false;
}

namespace {
// The two layers around `mh` and the weight of the upper one (clamped at the ends).
void bracket(const std::vector<double>& nodes, double mh, std::size_t& k, double& t) {
  if (nodes.size() == 1 || mh <= nodes.front()) {
    k = 0;
    t = 0.0;
    return;
  }
  if (mh >= nodes.back()) {
    k = nodes.size() - 2;
    t = 1.0;
    return;
  }
  k = static_cast<std::size_t>(std::upper_bound(nodes.begin(), nodes.end(), mh) - nodes.begin()) - 1;
  t = (mh - nodes[k]) / (nodes[k + 1] - nodes[k]);
}
}  // namespace

double Prior::isochrone_density(double log_teff, double logg, double mh, IsochroneTable::Moments* moments,
                                bool with_age) const {
  const IsochroneTable& table = *iso_->table;
  const long c = table.cell(log_teff, logg);
  if (c < 0) return 0.0;
  const auto cu = static_cast<std::size_t>(c);
  std::size_t k = 0;
  double t = 0.0;
  bracket(table.feh(), mh, k, t);
  const std::size_t k2 = std::min(k + 1, table.feh().size() - 1);
  const double a = (1.0 - t) * iso_->density[k][cu], b = t * iso_->density[k2][cu];
  if (moments && a + b > 0) {
    // The mixture of the two layers' cells: means weighted by density, (co)variances
    // with the spread of the means added (the age's only when asked: the mass's are on
    // the likelihood's path).
    const IsochroneTable::Moments& ma = table.moments(static_cast<int>(k))[cu];
    const IsochroneTable::Moments& mb = table.moments(static_cast<int>(k2))[cu];
    IsochroneTable::Moments& m = *moments;
    auto mixed = [&](double va, double vb, double da_x, double da_y, double db_x, double db_y) {
      return (a * (va + da_x * da_y) + b * (vb + db_x * db_y)) / (a + b);
    };
    m.mean_log_mass = (a * ma.mean_log_mass + b * mb.mean_log_mass) / (a + b);
    const double dma = ma.mean_log_mass - m.mean_log_mass, dmb = mb.mean_log_mass - m.mean_log_mass;
    m.var_log_mass = mixed(ma.var_log_mass, mb.var_log_mass, dma, dma, dmb, dmb);
    if (with_age) {
      m.mean_log_age = (a * ma.mean_log_age + b * mb.mean_log_age) / (a + b);
      const double daa = ma.mean_log_age - m.mean_log_age, dab = mb.mean_log_age - m.mean_log_age;
      m.var_log_age = mixed(ma.var_log_age, mb.var_log_age, daa, daa, dab, dab);
      m.cov = mixed(ma.cov, mb.cov, dma, daa, dmb, dab);
    }
  }
  return a + b;
}

Prior::Mixture Prior::mixture(double log_teff, double logg, double mh, const Cell& cell,
                              IsochroneTable::Moments* moments) const {
  const double eps = config_.isochrone_flat_fraction;
  return {(1.0 - eps) * isochrone_density(log_teff, logg, mh, moments, /*with_age=*/false),
          eps * std::exp(log_flat_density(cell))};
}

namespace {
// The tracks' mass window of a cell: mean ± √3 sd (the uniform of that mean and spread).
void mass_window(const IsochroneTable::Moments& m, double& lo, double& hi) {
  const double half = std::sqrt(3.0) * std::max(std::sqrt(m.var_log_mass), Prior::kMinLogMassSd);
  lo = m.mean_log_mass - half;
  hi = m.mean_log_mass + half;
}
}  // namespace

double Prior::isochrone_log_teff(const StarParameters& p) const {
  if (!iso_ || !(p.teff > 0)) return std::numeric_limits<double>::quiet_NaN();
  const double log_teff = std::log10(p.teff);
  return in_support(log_teff, p.logg) ? log_teff : std::numeric_limits<double>::quiet_NaN();
}

Prior::IsochroneMass Prior::isochrone_mass(const StarParameters& p) const {
  IsochroneMass out;
  const double log_teff = isochrone_log_teff(p);
  if (std::isnan(log_teff)) return out;
  IsochroneTable::Moments moments;
  const Mixture m = mixture(log_teff, p.logg, p.mh, *cell_for(p.logg), &moments);
  out.iso_weight = m.iso > 0 ? m.iso / (m.iso + m.flat) : 0.0;
  if (m.iso > 0) mass_window(moments, out.log_lo, out.log_hi);
  return out;
}

Prior::IsochroneAge Prior::isochrone_age(const StarParameters& p) const {
  IsochroneAge out;
  const double log_teff = isochrone_log_teff(p);
  if (std::isnan(log_teff)) return out;
  IsochroneTable::Moments m;
  if (!(isochrone_density(log_teff, p.logg, p.mh, &m, /*with_age=*/true) > 0)) return out;
  out.valid = true;
  out.mean_log_mass = m.mean_log_mass;
  mass_window(m, out.log_mass_lo, out.log_mass_hi);
  // The regression of log age on log mass, from the cell's (co)variances.
  const double var_mass = m.var_log_mass;
  out.slope = var_mass > 1e-12 ? m.cov / var_mass : 0.0;
  out.mean_log_age = m.mean_log_age;
  out.sd = std::max(std::sqrt(std::max(0.0, m.var_log_age - out.slope * m.cov)), kMinLogAgeSd);
  out.log_age_lo = config_.isochrone_age_min > 0 ? std::log10(config_.isochrone_age_min * 1e9)
                                                 : -std::numeric_limits<double>::infinity();
  out.log_age_hi = std::log10(config_.isochrone_age_max * 1e9);
  return out;
}

double Prior::IsochroneAge::log_age(double log_mass, double u) const {
  const double lm = std::clamp(log_mass, log_mass_lo, log_mass_hi);
  const normal::Truncated age{mean_log_age + slope * (lm - mean_log_mass), sd, log_age_lo, log_age_hi};
  return age.draw(u);
}

const Prior::Cell* Prior::cell_for(double logg) const {
  if (logg < logg_nodes_.front() || logg > logg_nodes_.back()) return nullptr;
  auto it = std::upper_bound(logg_nodes_.begin(), logg_nodes_.end(), logg);
  std::size_t j = static_cast<std::size_t>(it - logg_nodes_.begin());
  j = j == 0 ? 0 : j - 1;
  if (j >= cells_.size()) j = cells_.size() - 1;  // exactly on the top node
  return cells_[j].total > 0 ? &cells_[j] : nullptr;
}

double Prior::log_density(const StarParameters& p) const {
  constexpr double kNegInf = -std::numeric_limits<double>::infinity();
  constexpr double kLogSqrt2Pi = 0.91893853320467274178;
  const double values[5] = {p.teff, p.logg, p.mh, p.av, p.rv};
  for (double v : values) {
    if (!std::isfinite(v)) return kNegInf;
  }
  if (p.teff <= 0 || p.logg < config_.logg_min || p.logg > config_.logg_max) return kNegInf;
  const Cell* cell = cell_for(p.logg);
  if (!cell) return kNegInf;
  const double log_teff = std::log10(p.teff);
  bool inside = false;
  for (const auto& [lo, hi] : cell->intervals) inside = inside || (log_teff >= lo && log_teff <= hi);
  if (!inside) return kNegInf;
  const double log_mh = log_mh_density(p.mh);
  if (!(log_mh > kNegInf)) return kNegInf;
  double log_teff_logg = log_flat_density(*cell);
  if (iso_) {
    const Mixture m = mixture(log_teff, p.logg, p.mh, *cell, nullptr);
    log_teff_logg = std::log(m.iso + m.flat);
  }
  double log_p = log_teff_logg - std::log(p.teff * std::log(10.0));
  log_p += log_mh;

  if (p.av < config_.av_offset || (config_.av_max > 0 && p.av > config_.av_max)) return kNegInf;
  log_p += -(p.av - config_.av_offset) / config_.av_scale - std::log(config_.av_scale) - log_av_norm_;

  if (p.rv < config_.rv_min || p.rv > config_.rv_max) return kNegInf;
  const double z = (p.rv - config_.rv_mean) / config_.rv_sigma;
  log_p += -0.5 * z * z - kLogSqrt2Pi - std::log(config_.rv_sigma) - log_rv_norm_;
  return log_p;
}

double Prior::log_mh_density(double mh) const {
  constexpr double kLogSqrt2Pi = 0.91893853320467274178;
  if (!(mh_hi_ > mh_lo_)) return mh == mh_lo_ ? 0.0 : -std::numeric_limits<double>::infinity();
  if (mh < mh_lo_ || mh > mh_hi_) return -std::numeric_limits<double>::infinity();
  auto log_component = [&](double mean, double sigma, double log_norm) {
    const double z = (mh - mean) / sigma;
    return -0.5 * z * z - kLogSqrt2Pi - std::log(sigma) - log_norm;
  };
  const double f = config_.mh_halo_fraction;
  double mix = 0.0;
  if (f > 0) mix += f * std::exp(log_component(config_.mh_halo_mean, config_.mh_halo_sigma, log_mh_norm_halo_));
  if (f < 1) mix += (1 - f) * std::exp(log_component(config_.mh_disc_mean, config_.mh_disc_sigma, log_mh_norm_disc_));
  return std::log(mix);
}

double Prior::log_av_density(double av) const {
  if (!(av >= config_.av_offset) || (config_.av_max > 0 && av > config_.av_max)) {
    return -std::numeric_limits<double>::infinity();
  }
  return -(av - config_.av_offset) / config_.av_scale - std::log(config_.av_scale) - log_av_norm_;
}

double Prior::draw_mh(Philox& rng) const {
  bool halo = rng.uniform() < config_.mh_halo_fraction;
  double mean = halo ? config_.mh_halo_mean : config_.mh_disc_mean;
  double sigma = halo ? config_.mh_halo_sigma : config_.mh_disc_sigma;
  double mh = mh_lo_;  // a grid with one [M/H] node: that node
  if (mh_hi_ > mh_lo_) {
    do {
      mh = rng.normal(mean, sigma);
    } while (mh < mh_lo_ || mh > mh_hi_);
  }
  return mh;
}

std::uint32_t Prior::draw(std::uint64_t seed, std::uint64_t index, StarParameters& out) const {
  Philox rng(seed, index);
  std::uint32_t rejected = 0;
  while (true) {
    // Under the isochrone kind [M/H] comes first: the (Teff, log g) density depends on it.
    const double iso_mh = iso_ ? draw_mh(rng) : 0.0;
    const bool from_tracks = iso_ && rng.uniform() >= config_.isochrone_flat_fraction;
    double logg = 0.0, log_teff = 0.0;
    if (from_tracks) {
      // A layer by the [M/H] interpolation weights, a cell by its in-support mass, then a
      // point uniform in the cell's part of the support.
      const IsochroneTable& table = *iso_->table;
      std::size_t k = 0;
      double t = 0.0;
      bracket(table.feh(), iso_mh, k, t);
      if (rng.uniform() < t) k = std::min(k + 1, table.feh().size() - 1);
      const auto& cdf = iso_->cdf[k];
      const double v = rng.uniform() * cdf.back();
      auto c = static_cast<std::size_t>(std::upper_bound(cdf.begin(), cdf.end(), v) - cdf.begin());
      c = std::clamp<std::size_t>(c, 1, table.cells()) - 1;
      while (c > 0 && !(cdf[c + 1] > cdf[c])) --c;  // v at the very top: the last cell with mass
      const double t0 = table.log_teff0() + static_cast<double>(c % static_cast<std::size_t>(table.n_teff())) *
                                                IsochroneTable::kCellLogTeff;
      const double g0 =
          table.logg0() + static_cast<double>(c / static_cast<std::size_t>(table.n_teff())) * IsochroneTable::kCellLogg;
      do {
        log_teff = t0 + rng.uniform() * IsochroneTable::kCellLogTeff;
        logg = g0 + rng.uniform() * IsochroneTable::kCellLogg;
      } while (!in_support(log_teff, logg));
    } else {
      logg = rng.uniform(config_.logg_min, config_.logg_max);
      const Cell* cell = cell_for(logg);
      if (!cell) {
        ++rejected;
        continue;
      }
      // log10 Teff uniform over the union of valid intervals at this log g.
      double u = rng.uniform() * cell->total;
      log_teff = cell->intervals.back().second;
      for (const auto& [lo, hi] : cell->intervals) {
        if (u <= hi - lo) {
          log_teff = lo + u;
          break;
        }
        u -= hi - lo;
      }
    }
    const double mh = iso_ ? iso_mh : draw_mh(rng);
    double av;
    do {
      av = config_.av_offset + rng.exponential(config_.av_scale);
    } while (config_.av_max > 0 && av > config_.av_max);
    double rv;
    do {
      rv = rng.normal(config_.rv_mean, config_.rv_sigma);
    } while (rv < config_.rv_min || rv > config_.rv_max);
    out = {std::pow(10.0, log_teff), logg, mh, av, rv};
    return rejected;
  }
}

}  // namespace irisml::simulate
