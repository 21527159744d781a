// Leave-one-out check of the grid interpolation (docs/interpolation.md): each
// interior node of one axis is predicted from its neighbours two nodes apart
// (the grid with every other node of that axis removed, so the interpolation
// weight is the node's position between them) and compared with the node's
// own spectrum through synthetic photometry (no reddening). Used by
// bench/interpolation.cpp and tests/unit/simulate/interpolation_test.cpp.
#pragma once

#include <array>
#include <cstddef>
#include <limits>
#include <vector>

#include "simulate/grid.hpp"

namespace irisml::simulate {

class Photometry;

enum class GridAxis { Teff, LogG, MH };

// "Teff", "log g", "[M/H]".
const char* axis_name(GridAxis axis);

struct LeaveOneOut {
  std::vector<std::array<double, 3>> nodes;  // (Teff [K], log g, [M/H]) of each predicted node
  std::size_t bands = 0;
  std::vector<double> dmag;  // [node][band]: interpolated − node magnitude; NaN where either is not finite

  // The q-quantile (0 ≤ q ≤ 1, linear between order statistics) of |dmag| in
  // `band` over the nodes with teff_min ≤ Teff ≤ teff_max (NaN entries left
  // out); NaN if none is left.
  double abs_quantile(std::size_t band, double q, double teff_min = 0,
                      double teff_max = std::numeric_limits<double>::infinity()) const;
  // How many nodes abs_quantile(band, …, teff_min, teff_max) uses.
  std::size_t count(std::size_t band, double teff_min = 0,
                    double teff_max = std::numeric_limits<double>::infinity()) const;
};

// Every node j of `axis` with 0 < j < n − 1 whose model exists and whose two
// neighbours j ± 1 (with the rest of their interpolation cell) exist, in
// node-index order. `photometry` must be built on grid.wavelength. Throws
// InputError if it is not, or if the axis has fewer than 3 nodes.
LeaveOneOut leave_one_out(const SpectralGrid& grid, const Photometry& photometry, GridAxis axis, Blend blend);

}  // namespace irisml::simulate
