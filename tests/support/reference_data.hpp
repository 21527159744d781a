// The project's reference data for tests: the CK04 grid (imported once per process)
// and the filter registry, from the data directory the build points at.
#pragma once

#include <memory>
#include <string>

#include "core/paths.hpp"
#include "simulate/filters.hpp"
#include "simulate/grid.hpp"

namespace irisml::test_support {

inline std::shared_ptr<const simulate::SpectralGrid> ck04_grid() {
  static const auto grid = std::make_shared<const simulate::SpectralGrid>(
      simulate::import_ck04(join_path(IRISML_TEST_DATA_DIR, "spectra/ck04models")));
  return grid;
}

inline simulate::FilterRegistry project_registry() {
  return simulate::FilterRegistry::load(join_path(IRISML_SOURCE_DIR, "configs/filters.ini"), IRISML_TEST_DATA_DIR);
}

}  // namespace irisml::test_support
