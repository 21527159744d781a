// `irisml report`: a self-contained HTML page about the posteriors of a catalogue that has
// no true labels (a real survey table): the Kiel diagram coloured by [M/H], the A_V
// distribution and sky map, posterior widths against magnitude and band count, the flags,
// the importance ESS/S, the posterior-predictive p-values and the worst-fitting stars.
// Figures are inline SVG (validate/svg.hpp); the page works from 320 px (a phone) up.
//
// No torch here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace irisml::validate {

struct CatalogReportOptions {
  std::string posterior;
  // Summaries shown: "flow" (the root datasets: the sampler's, or the reference fit's), or
  // "importance" (/importance/*); "" = importance when the file has it, else flow.
  std::string variant;
  std::uint64_t block_rows = 16384;
  std::size_t worst_rows = 20;  // rows of the worst-fitting and lowest-ESS tables
  std::string command, code_version;
  // One per posterior row, from the catalogue, or empty: positions [deg] give the sky map,
  // a magnitude (`magnitude_band`) the widths-against-magnitude figures.
  std::vector<double> ra, dec;
  std::vector<float> magnitude;
  std::string magnitude_band;
  std::string catalog;  // shown in the header
};

struct CatalogReport {
  std::uint64_t stars = 0, summarised = 0;  // summarised: finite medians
  std::vector<std::uint64_t> flag_counts;   // per flag bit 0..5
  std::string variant;
  std::string html;
  std::string summary_json;
};

// Reads the posterior file block by block (it keeps ~50 bytes per star) and builds the page.
// InputError for a file that is not a posterior file or extra columns of the wrong length.
CatalogReport build_catalog_report(const CatalogReportOptions& options);

// Galactic longitude and latitude [deg] of ICRS (ra, dec) [deg].
void icrs_to_galactic(double ra, double dec, double& l, double& b);

}  // namespace irisml::validate
