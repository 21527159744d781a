// Named column presets: the column names of survey archive tables (Gaia DR3 gaia_source,
// 2MASS PSC, AllWISE, ...) mapped onto filter-registry bands, with each survey's
// missing-value conventions, so that an archive export is read without hand-written
// `--columns` mappings (configs/column_presets.ini; docs/catalog_format.md, "Column presets").
//
// A preset is resolved against a file's columns when the catalogue is opened
// (CatalogReader::open, CatalogOptions::presets): only its columns present in the file
// are used, and its list of the table's other columns is skipped silently.
#pragma once

#include <limits>
#include <string>
#include <vector>

namespace irisml {

// A band read from a magnitude column and its 1-sigma error column [mag].
struct MagnitudeColumns {
  std::string magnitude, error, band;
};

// A band read from a flux column and its 1-sigma error (any unit, the zero point's),
// converted per row to
//   m = zero_point - 2.5 log10(F),   err = sqrt((2.5 / ln 10 * err_F / F)^2 + zero_point_error^2).
// A null flux is missing; F <= 0 is counted as a non-positive flux (no magnitude).
struct FluxColumns {
  std::string flux, error, band;
  double zero_point = 0.0, zero_point_error = 0.0;
};

struct ColumnPreset {
  std::string name;    // section name, e.g. gaia_dr3
  std::string origin;  // "<file>:<line>" of its section, for messages
  std::string description;
  // Alternatives for the star's id and position: the first one present in the file is used.
  std::vector<std::string> id, ra, dec;
  // The same for the parallax and its error [mas] (docs/catalog_format.md, star constraints).
  std::vector<std::string> parallax, parallax_err;
  std::vector<MagnitudeColumns> magnitudes;
  std::vector<FluxColumns> fluxes;
  // Values meaning "no measurement" in its magnitude, flux and error columns (besides
  // empty, null and NaN), e.g. -999 (Pan-STARRS1) or -9999 (SDSS).
  std::vector<double> missing_values;
  // A present magnitude whose error is null (or a missing value) is an upper limit
  // (2MASS PSC, AllWISE): not used, counted per filter.
  bool upper_limits = false;
  // Errors above this are flags, not measurements (2MASS quality 'F': > 8 mag): the band
  // is dropped as unusable.
  double error_flags_above = std::numeric_limits<double>::infinity();
  // The table's other well-known columns, skipped silently when present. An entry ending
  // in '*' matches every column starting with what precedes it.
  std::vector<std::string> skip;
};

class ColumnPresets {
 public:
  // Reads a presets INI file. Throws IoError if it cannot be read, InputError (file:line,
  // key and value, and what is allowed) for a bad entry.
  static ColumnPresets load(const std::string& path);

  const std::string& source() const { return source_; }
  std::vector<std::string> names() const;

  // The presets of a comma-separated list, in that order. `what` names the setting in
  // messages ("--columns-preset"). An unknown or repeated name is an InputError listing
  // the known presets; so are two presets that map the same band or use the same file
  // column (check_compatible).
  std::vector<ColumnPreset> select(const std::string& list, const std::string& what) const;

 private:
  std::string source_;
  std::vector<ColumnPreset> presets_;
};

// InputError naming both presets if two of `presets` map the same band, or use the same
// file column (case-insensitively) for photometry or for photometry in one and id/ra/dec
// in the other. The same id/ra/dec column in several presets is fine (the first listed
// preset's id/ra/dec is used, the others' are skipped).
void check_compatible(const std::vector<ColumnPreset>& presets);

}  // namespace irisml
