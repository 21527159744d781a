// Catalogue options shared by the commands that read catalogues (sample, fit, calibrate):
// column mapping, presets, the missing sentinel, the error floor, unknown columns.
#pragma once

#include <string>

#include "cli/options.hpp"
#include "io/catalog.hpp"

namespace irisml::simulate {
class FilterRegistry;
}

namespace irisml::cli {

void add_catalog_options(Command& cmd);
// Throws InputError naming a bad option.
CatalogOptions catalog_options_from(const po::variables_map& vm);
// The column presets for the resume key: names and file (empty without presets, so that
// the key of a run without them is what it was before presets existed).
std::string presets_key(const po::variables_map& vm, const CatalogOptions& copt);
// The registry's filters with their catalogue offsets, as the reader takes them.
KnownFilters known_of(const simulate::FilterRegistry& registry);

}  // namespace irisml::cli
