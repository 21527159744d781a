// The filter registry: which photometric bands exist, where their transmission
// curves are, and how each is turned into a magnitude (AB or Vega system,
// photon-counting or energy-integrating detector, catalogue offsets).
//
// The registry is an INI file (configs/filters.ini):
//   [sets]
//   paper = GALEX_FUV, GALEX_NUV, ...      ; named lists of bands ("all" is built in)
//   [SDSS_u]                               ; one section per band
//   file = filters/SDSS_u.dat              ; relative to the data directory (or absolute)
//   system = AB                            ; AB | Vega
//   detector = photon                      ; photon | energy
//   catalog_offset = -0.04                 ; added to a catalogue magnitude (default 0)
//   vega_magnitude = 0                     ; Vega's magnitude in a Vega system (default 0)
//   survey = SDSS                          ; free text (default empty)
//   clip_negative = no                     ; yes: set tiny negative responses to 0
//   add_zeros = 4180, 7600                 ; rows (λ, 0) added to the table (default none)
// `#` and `;` start comments (at the start of a line, or after whitespace); an
// indented line without `=` continues the previous value.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace irisml::simulate {

struct FilterSpec {
  enum class System { AB, Vega };
  enum class Detector { Photon, Energy };

  std::string name;
  std::string file;  // as written in the INI (relative to the data directory unless absolute)
  std::string survey;
  System system = System::AB;
  // Photon: <f> = ∫ f T λ dλ / ∫ T λ dλ. Energy: <f> = ∫ f T dλ / ∫ T dλ (e.g. the
  // 2MASS relative spectral responses, which already contain the λ factor).
  Detector detector = Detector::Photon;
  double catalog_offset = 0.0;  // mag added to a catalogue magnitude to put it on `system`
  double vega_magnitude = 0.0;  // Vega's own magnitude in this (Vega) system, e.g. 0.023 for Gaia
  // The published curve has tiny negative values (noise, e.g. the Gaia DR2 G
  // tail): set them to 0 if they are within 1e-3 of the peak, instead of failing.
  bool clip_negative = false;
  // Rows (λ, 0) added to the published table, where it omits zeros: e.g. the SDSS u
  // table jumps from 4160 to 7620 Å (the red leak), and a straight line across
  // the gap would invent transmission there.
  std::vector<double> add_zeros;
};

const char* to_string(FilterSpec::System system);
const char* to_string(FilterSpec::Detector detector);

// A transmission curve: wavelength [Å] strictly increasing, response ≥ 0. The
// response is 0 outside the table and linear between its rows.
struct FilterCurve {
  std::vector<double> wavelength;
  std::vector<double> response;
};

// Reads a two-column text table (wavelength [Å], response; blank lines and
// lines starting with '#' are skipped). Throws IoError if the file cannot be
// read and InputError, naming the file, line and value, unless: there are at
// least 2 rows, each with exactly two numbers, wavelengths are finite, > 0 and
// strictly increasing, responses are finite and ≥ 0 (see FilterSpec::clip_negative)
// and not all zero. `name` is the band name used in messages.
FilterCurve load_filter_curve(const std::string& path, const std::string& name, bool clip_negative = false);

// Inserts rows (λ, 0) into the curve. Throws InputError (naming the band) if a
// wavelength is not finite, lies outside the table or equals a table row.
void insert_zero_rows(FilterCurve& curve, const std::vector<double>& wavelengths, const std::string& name);

namespace detail {
// The reader behind load_filter_curve, shared with the Vega spectrum:
// `what` starts each message (e.g. "filter 'SDSS_g' curve"), `value_name` names
// the second column ("response", "flux").
FilterCurve read_two_column_table(const std::string& path, const std::string& what, const std::string& value_name,
                                  bool clip_negative);
}  // namespace detail

class FilterRegistry {
 public:
  // Reads the INI registry; `data_dir` is where relative curve files are found.
  // Throws IoError if the file cannot be read, InputError (file:line) for a
  // malformed line, an unknown key, a missing `file`/`system`/`detector`, a bad
  // value, a duplicate band or set, or a set naming an unknown band. Curve
  // files are read (and validated) by curve().
  static FilterRegistry load(const std::string& ini_path, const std::string& data_dir);

  // Unknown name → InputError listing the known names.
  const FilterSpec& get(const std::string& name) const;
  bool contains(const std::string& name) const;
  // Band names in the order of the INI file.
  std::vector<std::string> names() const;
  // Set names (including the built-in "all").
  std::vector<std::string> set_names() const;
  // The bands of a named set; "all" is every band in INI order. Unknown set →
  // InputError listing the known sets.
  std::vector<std::string> set(const std::string& set_name) const;
  // A comma-separated list whose items are band names or set names, expanded in
  // order ("paper", "all", "SDSS_g,SDSS_r", "paper,Gaia_DR2_G"). Whitespace
  // around items is ignored. Throws InputError for an empty list, an empty
  // item, an unknown name (listing the known ones) or a band named twice.
  std::vector<std::string> resolve(const std::string& comma_list) const;
  // Loads and validates the band's curve from data_dir (load_filter_curve, then
  // clip_negative and add_zeros as the spec says).
  FilterCurve curve(const std::string& name) const;
  // The full path of the band's curve file.
  std::string curve_path(const std::string& name) const;

  const std::string& data_dir() const { return data_dir_; }
  const std::string& source() const { return source_; }  // the INI path

 private:
  std::string source_;
  std::string data_dir_;
  std::vector<FilterSpec> bands_;                                       // INI order
  std::map<std::string, std::size_t> index_;                            // name → bands_ index
  std::vector<std::pair<std::string, std::vector<std::string>>> sets_;  // INI order, without "all"
};

}  // namespace irisml::simulate
