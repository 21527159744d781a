// Parameters → magnitudes: grid interpolation, F99 reddening and band
// integration behind one call. Shared by the simulator, add-filters, the
// `photometry` command and posterior-predictive checks.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "simulate/prior.hpp"

namespace irisml::simulate {

struct SpectralGrid;
class FilterRegistry;
class GridInterpolator;
class Photometry;
enum class Blend;

class Synthesizer {
 public:
  // `bands` are registry names; Vega is read from data_dir/vega/.
  // `blend`: how corner spectra are combined (grid.hpp; LogFlux unless a caller compares
  // against the pre-issue-10 linear flux blend).
  Synthesizer(std::shared_ptr<const SpectralGrid> grid, const FilterRegistry& registry,
              const std::vector<std::string>& bands);
  Synthesizer(std::shared_ptr<const SpectralGrid> grid, const FilterRegistry& registry,
              const std::vector<std::string>& bands, Blend blend);
  ~Synthesizer();
  Synthesizer(Synthesizer&&) noexcept;

  const std::vector<std::string>& bands() const { return bands_; }
  const SpectralGrid& grid() const { return *grid_; }
  Blend blend() const;

  // Magnitudes of a star of 1 R_sun at 10 pc plus `dilution_mag` (see
  // dilution_mag()). Returns false, writing nothing, if the point is outside
  // the grid (any of its 8 surrounding models missing). `work` is scratch
  // space, reused between calls (one per thread).
  bool magnitudes(const StarParameters& p, double* out, std::vector<double>& work, double dilution = 0.0) const;
  // The same for n_av extinctions at once (p.av ignored): the spectrum is interpolated
  // once; out holds n_av rows of bands() magnitudes.
  bool magnitudes_at_extinctions(const StarParameters& p, const double* av, int n_av, double* out,
                                 std::vector<double>& work, double dilution = 0.0) const;

  // AB magnitude of Vega in band i (AB − Vega offset).
  double ab_minus_vega(std::size_t band) const;

 private:
  std::shared_ptr<const SpectralGrid> grid_;
  std::vector<std::string> bands_;
  std::unique_ptr<GridInterpolator> interpolator_;
  std::unique_ptr<Photometry> photometry_;
  double base_dilution_ = 0;
};

}  // namespace irisml::simulate
