#include "simulate/synthesizer.hpp"

#include <algorithm>

#include "core/log.hpp"
#include "simulate/filters.hpp"
#include "simulate/grid.hpp"
#include "simulate/photometry.hpp"

namespace irisml::simulate {

Synthesizer::Synthesizer(std::shared_ptr<const SpectralGrid> grid, const FilterRegistry& registry,
                         const std::vector<std::string>& bands)
    : Synthesizer(std::move(grid), registry, bands, Blend::LogFlux) {}

Synthesizer::Synthesizer(std::shared_ptr<const SpectralGrid> grid, const FilterRegistry& registry,
                         const std::vector<std::string>& bands, Blend blend)
    : grid_(std::move(grid)), bands_(bands) {
  photometry_ = std::make_unique<Photometry>(grid_->wavelength, registry, bands_);
  auto [i0, i1] = photometry_->active_range();
  interpolator_ = std::make_unique<GridInterpolator>(*grid_, i0, i1, blend);
  base_dilution_ = dilution_mag(1.0, 10.0);
  // A spectrum is taken as linear between grid wavelengths; where the grid is
  // much coarser than the band (CK04 beyond 10 µm) the band flux is biased.
  const auto& wl = grid_->wavelength;
  for (std::size_t b = 0; b < bands_.size(); ++b) {
    auto [lo, hi] = photometry_->band_range(b);
    double worst = 0;
    for (std::size_t i = std::max<std::size_t>(lo, 1); i < hi; ++i)
      worst = std::max(worst, (wl[i] - wl[i - 1]) / wl[i]);
    if (worst > 0.1) {
      log::warn(
          "band {}: the grid's wavelength spacing reaches {:.0f}% of the wavelength inside the band; its "
          "magnitudes are unreliable with this grid (see configs/filters.ini)",
          bands_[b], 100 * worst);
    }
  }
}

Synthesizer::~Synthesizer() = default;
Blend Synthesizer::blend() const { return interpolator_->blend(); }
Synthesizer::Synthesizer(Synthesizer&&) noexcept = default;

bool Synthesizer::magnitudes(const StarParameters& p, double* out, std::vector<double>& work, double dilution) const {
  return magnitudes_at_extinctions(p, &p.av, 1, out, work, dilution);
}

bool Synthesizer::magnitudes_at_extinctions(const StarParameters& p, const double* av, int n_av, double* out,
                                            std::vector<double>& work, double dilution) const {
  GridInterpolator::Cell cell;
  if (!interpolator_->locate(p.teff, p.logg, p.mh, cell)) return false;
  work.resize(interpolator_->size());
  if (interpolator_->blend() == Blend::LinearFlux) {
    interpolator_->interpolate(cell, work.data());
    for (int k = 0; k < n_av; ++k) {
      photometry_->magnitudes_active(work.data(), av[k], p.rv, base_dilution_ + dilution,
                                     out + static_cast<std::size_t>(k) * bands_.size());
    }
    return true;
  }
  // ln F_λ, so that one exp per wavelength gives the reddened flux
  interpolator_->interpolate_log(cell, work.data());
  for (int k = 0; k < n_av; ++k) {
    photometry_->magnitudes_log_active(work.data(), av[k], p.rv, base_dilution_ + dilution,
                                       out + static_cast<std::size_t>(k) * bands_.size());
  }
  return true;
}

double Synthesizer::ab_minus_vega(std::size_t band) const { return photometry_->ab_minus_vega(band); }

}  // namespace irisml::simulate
