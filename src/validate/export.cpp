#include "validate/export.hpp"

#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <map>
#include <memory>
#include <tuple>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/fnv1a.hpp"
#include "core/paths.hpp"
#include "core/text.hpp"
#include "validate/evaluate.hpp"
#include "posterior/format.hpp"
#include "io/fits.hpp"
#include "io/hdf5.hpp"
#include "io/text_writer.hpp"

namespace irisml::validate {

namespace P = posterior;
using Type = ExportColumn::Type;

const char* to_string(TableFormat format) {
  switch (format) {
    case TableFormat::Fits: return "FITS";
    case TableFormat::Ecsv: return "ECSV";
    case TableFormat::Csv: return "CSV";
  }
  return "?";
}

TableFormatChoice table_format_of(const std::string& path) {
  const std::string name = lower(path);
  for (const char* ext : {".fits", ".fit", ".fts"}) {
    if (ends_with(name, ext)) return {TableFormat::Fits, false};
    if (ends_with(name, std::string(ext) + ".gz")) {
      fail_input(
          "--output '{}': a gzip-compressed FITS table is not written (cfitsio would build the whole file in "
          "memory); write '{}' and compress it afterwards, or use .ecsv.gz / .csv.gz",
          path, path.substr(0, path.size() - 3));
    }
  }
  for (const auto& [ext, format] :
       {std::pair<std::string, TableFormat>{".ecsv", TableFormat::Ecsv}, {".csv", TableFormat::Csv}}) {
    if (ends_with(name, ext)) return {format, false};
    if (ends_with(name, ext + ".gz")) return {format, true};
  }
  fail_input(
      "--output '{}': the table format comes from the name; allowed endings: .fits, .fit, .fts, .ecsv, "
      ".ecsv.gz, .csv, .csv.gz",
      path);
}

// ------------------------------------------------------------ the columns ----

namespace {

// Parameter labels and units for descriptions (units: astropy's generic unit strings).
constexpr const char* kLabels[P::kParameters] = {"Teff", "log g", "[M/H]", "A_V", "R_V"};
constexpr const char* kUnits[P::kParameters] = {"K", "dex(cm / s2)", "dex", "mag", ""};

struct Statistic {
  const char* dataset;  // under the group
  const char* suffix;   // column name suffix
  int bound;            // -1: an N × 5 dataset; 0/1: lower/upper of an N × 5 × 2 interval
  const char* what;
};
constexpr Statistic kStatistics[] = {
    {"median", "median", -1, "posterior median"},
    {"mean", "mean", -1, "posterior mean"},
    {"std", "std", -1, "posterior standard deviation"},
    {"p16", "p16", -1, "16th percentile"},
    {"p84", "p84", -1, "84th percentile"},
    {"hdi68", "hdi68_lo", 0, "lower end of the 68% highest-density interval"},
    {"hdi68", "hdi68_hi", 1, "upper end of the 68% highest-density interval"},
    {"hdi95", "hdi95_lo", 0, "lower end of the 95% highest-density interval"},
    {"hdi95", "hdi95_hi", 1, "upper end of the 95% highest-density interval"},
};

struct Physical {
  const char* name;
  const char* unit;
  const char* label;
};
constexpr Physical kPhysical[] = {{"distance", "pc", "distance"},
                                  {"radius", "solRad", "radius"},
                                  {"mass", "solMass", "current mass"},
                                  {"age", "Gyr", "age (isochrone prior)"}};
constexpr const char* kPhysicalStats[3][2] = {
    {"p16", "16th percentile"}, {"median", "median"}, {"p84", "84th percentile"}};

ExportColumn column(std::string name, std::string unit, std::string description, Type type, std::string dataset,
                    std::uint64_t stride = 1, std::uint64_t offset = 0) {
  ExportColumn c;
  c.name = std::move(name);
  c.unit = std::move(unit);
  c.description = std::move(description);
  c.type = type;
  c.dataset = std::move(dataset);
  c.stride = stride;
  c.offset = offset;
  return c;
}

// The nine summary columns per parameter of one group ("" = the sampler's, "importance/").
void add_parameter_columns(const h5::File& f, const std::string& group, const std::string& prefix,
                           const std::string& qualifier, std::vector<ExportColumn>& out) {
  for (int p = 0; p < P::kParameters; ++p) {
    for (const auto& s : kStatistics) {
      const std::string dataset = group + s.dataset;
      if (!f.exists(dataset)) continue;
      const std::uint64_t stride = s.bound < 0 ? P::kParameters : 2 * P::kParameters;
      const std::uint64_t offset = s.bound < 0 ? static_cast<std::uint64_t>(p) : 2 * p + s.bound;
      out.push_back(column(fmt::format("{}{}_{}", prefix, P::kParameterNames[p], s.suffix), kUnits[p],
                           fmt::format("{}{} of {}", s.what, qualifier, kLabels[p]), Type::Float32, dataset, stride,
                           offset));
    }
  }
}

// One float column per (dataset, description) of `group` that the file holds, named
// prefix + dataset.
void add_scalar_columns(const h5::File& f, const std::string& group, const std::string& prefix,
                        const std::vector<std::pair<std::string, std::string>>& datasets,
                        std::vector<ExportColumn>& out) {
  for (const auto& [name, what] : datasets) {
    if (f.exists(group + name)) out.push_back(column(prefix + name, "", what, Type::Float32, group + name));
  }
}

// The columns of an open posterior file (after its format check).
std::vector<ExportColumn> columns_of(const h5::File& f, bool with_positions) {
  const std::string& posterior = f.path();
  check_posterior_format(f);
  if (f.exists("parameter_names")) {
    const auto names = f.read_strings("parameter_names");
    for (int p = 0; p < P::kParameters; ++p) {
      if (names.size() != P::kParameters || names[static_cast<std::size_t>(p)] != P::kParameterNames[p]) {
        fail_input("posterior file '{}': /parameter_names should be teff, logg, mh, av, rv in this order", posterior);
      }
    }
  }
  std::vector<ExportColumn> out;
  if (f.exists("id")) {
    auto c = column("id", "", "star id from the input catalogue", Type::String, "id");
    c.width = std::max<std::size_t>(1, f.string_width("id"));
    out.push_back(c);
  }
  if (with_positions) {
    out.push_back(column("ra", "deg", "right ascension from the input catalogue", Type::Float64, ""));
    out.push_back(column("dec", "deg", "declination from the input catalogue", Type::Float64, ""));
  }
  out.push_back(column("n_bands", "", "bands used for the star", Type::Int32, "n_bands"));
  out.push_back(column("flags", "", "flag bits (the flag_* columns; docs/posterior_format.md)", Type::Int32, "flags"));
  for (const auto& flag : P::kFlagBits) {
    auto c = column(std::string("flag_") + flag.key, "", flag.meaning, Type::Bool, "flags");
    c.bit = flag.bit;
    out.push_back(c);
  }
  add_parameter_columns(f, "", "", "", out);
  if (f.exists("ppc_chi2")) {
    out.push_back(column("ppc_chi2", "", "posterior-predictive check: chi2_min per degree of freedom", Type::Float32,
                         "ppc_chi2"));
  }
  if (f.exists("ppc_p")) {
    out.push_back(column("ppc_p", "", "posterior-predictive p-value (uniform for stars the model describes)",
                         Type::Float32, "ppc_p"));
  }
  if (f.exists("importance/median")) {
    add_parameter_columns(f, "importance/", "iw_", " (importance-reweighted)", out);
    add_scalar_columns(f, "importance/", "iw_",
                       {{"ess", "effective sample size of the importance weights"},
                        {"ess_fraction", "ESS / proposals: below the threshold the flow is not trusted (flag_low_ess)"},
                        {"proposals", "flow samples reweighted (S, or more after a retry)"}},
                       out);
  }
  add_scalar_columns(f, "reference/", "ref_",
                     {{"ess", "effective sample size of the reference fit"},
                      {"rounds", "adaptive rounds of the reference fit"},
                      {"evaluations", "likelihood evaluations of the reference fit"}},
                     out);
  for (const auto& q : kPhysical) {
    const std::string dataset = std::string("physical/") + q.name;
    if (!f.exists(dataset)) continue;
    for (int k = 0; k < 3; ++k) {
      out.push_back(column(fmt::format("{}_{}", q.name, kPhysicalStats[k][0]), q.unit,
                           fmt::format("{} of the {} (from the parallax)", kPhysicalStats[k][1], q.label),
                           Type::Float32, dataset, 3, static_cast<std::uint64_t>(k)));
    }
  }
  return out;
}

}  // namespace

std::vector<ExportColumn> export_columns(const std::string& posterior, bool with_positions) {
  return columns_of(h5::File::open(posterior), with_positions);
}

// ------------------------------------------------------------ provenance ----

namespace {

struct HeaderItem {
  std::string fits_key;  // ≤ 8 characters
  std::string name;      // ECSV meta key
  std::string value;
  bool numeric = false;
  std::string comment;
};

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
  return text;
}

// FNV-1a of a regular file's bytes ("" when it is not one that can be read).
std::string file_checksum(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in || !file_exists(path)) return "";
  Fnv1a hash;
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    hash.bytes(buffer.data(), static_cast<std::size_t>(in.gcount()));
  }
  if (in.bad()) return "";
  return hash.to_hex_string();
}

std::vector<HeaderItem> provenance(const h5::File& f, const ExportOptions& options) {
  std::vector<HeaderItem> items = {
      {"CREATOR", "creator", "irisml export", false, "program that wrote this table"},
      {"IRISVER", "code_version", options.code_version, false, "irisml version"},
      {"DATE", "date", utc_now(), false, "UTC time the table was written"},
      {"COMMAND", "command", options.command, false, "command that wrote this table"},
      {"POSTFILE", "posterior", options.posterior, false, "posterior file exported"},
  };
  // The posterior's own provenance, as recorded by sample/fit.
  const std::tuple<const char*, const char*, const char*> attributes[] = {
      {"MODEL", "model", "checkpoint (or spectral grid) of the posteriors"},
      {"CATALOG", "catalog", "input catalogue"},
      {"SEED", "seed", "sampling seed"},
      {"NSAMPLES", "samples_per_star", "posterior samples per star"},
      {"IMPORTAN", "importance", "importance reweighting"},
      {"ESSTHR", "importance_ess_threshold", "ESS/S below which flag_low_ess is set"},
      {"REFERENC", "reference", "reference fit method"},
      {"SIGSYS", "likelihood_sigma_sys", "systematic error of the likelihood [mag]"},
      {"PLXZP", "parallax_zero_point", "parallax zero point subtracted [mas], or lindegren2021"},
      {"PPCALPHA", "ppc_alpha", "p-value below which flag_ppc is set"},
  };
  for (const auto& [key, name, comment] : attributes) {
    if (!f.has_attr("/", name)) continue;
    HeaderItem item{key, name, "", false, comment};
    try {
      item.value = f.attr_string("/", name);
    } catch (const InputError&) {  // not a string: a number
      item.value = fmt::format("{}", f.attr_double("/", name));
      item.numeric = std::isfinite(f.attr_double("/", name));
    }
    items.push_back(item);
  }
  if (f.has_attr("/", "model")) {
    const std::string sum = file_checksum(f.attr_string("/", "model"));
    if (!sum.empty()) {
      items.push_back({"MODELSUM", "model_checksum", sum, false, "FNV-1a of the model file, read at export"});
    }
  }
  return items;
}

// ---------------------------------------------------------------- blocks ----

// One block of rows: every dataset the columns use, as doubles (float32 values come back
// exactly), and the ids.
struct Block {
  std::uint64_t row0 = 0, rows = 0;
  std::map<std::string, std::vector<double>> numbers;
  std::vector<std::string> id;
};

Block read_block(const h5::File& f, const std::vector<ExportColumn>& columns, std::uint64_t row0, std::uint64_t rows) {
  Block b;
  b.row0 = row0;
  b.rows = rows;
  for (const auto& c : columns) {
    if (c.dataset.empty()) continue;  // the catalogue's positions
    if (c.type == Type::String) {
      b.id = f.read_string_rows(c.dataset, row0, rows);  // the one string column
      continue;
    }
    if (b.numbers.count(c.dataset)) continue;  // read for an earlier column
    auto& values = b.numbers[c.dataset];
    values.resize(rows * c.stride);
    f.read_rows<double>(c.dataset, row0, rows, values.data());
  }
  return b;
}

double number_at(const Block& b, const ExportOptions& options, const ExportColumn& c, std::uint64_t i) {
  if (c.dataset.empty()) return (c.name == "ra" ? options.ra : options.dec)[b.row0 + i];
  const double v = b.numbers.at(c.dataset)[i * c.stride + c.offset];
  if (c.type == Type::Bool) return (static_cast<std::uint32_t>(v) & c.bit) ? 1.0 : 0.0;
  return v;
}

// ---------------------------------------------------------------- sinks ----

class Sink {
 public:
  virtual ~Sink() = default;
  virtual void write(const Block& b) = 0;
  virtual void close() = 0;
};

class FitsSink : public Sink {
 public:
  FitsSink(const std::string& path, const std::vector<ExportColumn>& columns, const ExportOptions& options,
           const std::vector<HeaderItem>& header, std::uint64_t rows)
      : file_(fits::File::create(path)), columns_(columns), options_(options) {
    file_.write_key("ORIGIN", std::string("IrisML"), "neural posterior estimation of stellar parameters");
    std::vector<fits::ColumnSpec> specs;
    for (const auto& c : columns) {
      std::string form = "1E";
      if (c.type == Type::Float64) form = "1D";
      if (c.type == Type::Int32) form = "1J";
      if (c.type == Type::Bool) form = "1L";
      if (c.type == Type::String) form = fmt::format("{}A", c.width);
      specs.push_back({c.name, form, fits_unit(c.unit), c.description});
    }
    file_.create_table("IRISML", specs, static_cast<std::int64_t>(rows));
    for (const auto& h : header) {
      if (h.numeric) {
        file_.write_key(h.fits_key, std::stod(h.value), h.comment);
      } else {
        file_.write_long_key(h.fits_key, h.value, h.comment);
      }
    }
  }

  // Column by column within chunks of rows that fit cfitsio's buffers.
  void write(const Block& b) override {
    const auto chunk = static_cast<std::uint64_t>(file_.optimal_rows());
    for (std::uint64_t r0 = 0; r0 < b.rows; r0 += chunk) {
      const std::uint64_t n = std::min(chunk, b.rows - r0);
      const auto first = static_cast<std::int64_t>(b.row0 + r0);
      for (const auto& c : columns_) {
        switch (c.type) {
          case Type::String:
            file_.write_rows(c.name, first, std::vector<std::string>(b.id.begin() + r0, b.id.begin() + r0 + n));
            break;
          case Type::Float32: file_.write_rows(c.name, first, numbers<float>(b, c, r0, n)); break;
          case Type::Float64: file_.write_rows(c.name, first, numbers<double>(b, c, r0, n)); break;
          case Type::Int32: file_.write_rows(c.name, first, numbers<std::int32_t>(b, c, r0, n)); break;
          case Type::Bool: file_.write_logical_rows(c.name, first, numbers<std::uint8_t>(b, c, r0, n)); break;
        }
      }
    }
  }

  void close() override { file_.close(); }

 private:
  // FITS knows no "dex": log g and [M/H] carry TUNIT 'dex' (what Gaia's and most surveys'
  // tables use); the description says which logarithm.
  static std::string fits_unit(const std::string& unit) { return unit.rfind("dex", 0) == 0 ? "dex" : unit; }

  template <typename T>
  std::vector<T> numbers(const Block& b, const ExportColumn& c, std::uint64_t r0, std::uint64_t n) const {
    std::vector<T> out(n);
    for (std::uint64_t i = 0; i < n; ++i) out[i] = static_cast<T>(number_at(b, options_, c, r0 + i));
    return out;
  }

  fits::File file_;
  const std::vector<ExportColumn>& columns_;
  const ExportOptions& options_;
};

// A text value quoted for a comma-separated line when it needs it.
std::string csv_field(const std::string& s) {
  if (!s.empty() && s.find_first_of(",\"\n\r") == std::string::npos && s.front() != ' ' && s.back() != ' ') return s;
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"') out += '"';
    out += ch;
  }
  return out + "\"";
}

// A YAML single-quoted scalar.
std::string yaml_quoted(const std::string& s) {
  std::string out = "'";
  for (char ch : s) {
    if (ch == '\'') out += '\'';
    out += (ch == '\n' || ch == '\r') ? ' ' : ch;
  }
  return out + "'";
}

class TextSink : public Sink {
 public:
  TextSink(const std::string& path, bool gzip, bool ecsv, const std::vector<ExportColumn>& columns,
           const ExportOptions& options, const std::vector<HeaderItem>& header)
      : out_(path, gzip), columns_(columns), options_(options) {
    std::string text;
    if (ecsv) text = ecsv_header(header);
    for (std::size_t k = 0; k < columns.size(); ++k) text += (k ? "," : "") + columns[k].name;
    out_.write(text + "\n");
  }

  void write(const Block& b) override {
    std::string text;
    for (std::uint64_t i = 0; i < b.rows; ++i) {
      for (std::size_t k = 0; k < columns_.size(); ++k) {
        if (k) text += ',';
        const auto& c = columns_[k];
        if (c.type == Type::String) {
          text += csv_field(b.id[i]);
          continue;
        }
        const double v = number_at(b, options_, c, i);
        switch (c.type) {
          case Type::Float32: text += format_float(static_cast<float>(v)); break;
          case Type::Float64: text += format_float(v); break;
          case Type::Int32: text += fmt::format("{}", static_cast<std::int64_t>(v)); break;
          case Type::Bool: text += v != 0 ? "True" : "False"; break;
          case Type::String: break;
        }
      }
      text += '\n';
    }
    out_.write(text);
  }

  void close() override { out_.close(); }

 private:
  // Shortest text that reads back to the same value; "nan", "inf", "-inf" as numpy writes them.
  template <typename T>
  static std::string format_float(T v) {
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    return fmt::format("{}", v);
  }

  std::string ecsv_header(const std::vector<HeaderItem>& header) const {
    std::string h = "# %ECSV 1.0\n# ---\n# delimiter: ','\n# datatype:\n";
    for (const auto& c : columns_) {
      const char* type = "float32";
      if (c.type == Type::Float64) type = "float64";
      if (c.type == Type::Int32) type = "int32";
      if (c.type == Type::Bool) type = "bool";
      if (c.type == Type::String) type = "string";
      h += fmt::format("# - {{name: {}", c.name);
      if (!c.unit.empty()) h += fmt::format(", unit: {}", yaml_quoted(c.unit));
      h += fmt::format(", datatype: {}", type);
      if (!c.description.empty()) h += fmt::format(", description: {}", yaml_quoted(c.description));
      h += "}\n";
    }
    h += "# meta: !!omap\n";
    for (const auto& item : header) {
      h += fmt::format("# - {{{}: {}}}\n", item.name, item.numeric ? item.value : yaml_quoted(item.value));
    }
    return h + "# schema: astropy-2.0\n";
  }

  TextWriter out_;
  const std::vector<ExportColumn>& columns_;
  const ExportOptions& options_;
};

}  // namespace

ExportResult export_table(const ExportOptions& options) {
  ExportResult result;
  result.format = table_format_of(options.output);
  const bool positions = !options.ra.empty() || !options.dec.empty();
  h5::File f = h5::File::open(options.posterior);
  result.columns = columns_of(f, positions);
  const auto dims = f.dims("flags");
  result.rows = dims.empty() ? 0 : dims[0];
  if (positions && (options.ra.size() != result.rows || options.dec.size() != result.rows)) {
    fail_input("positions for {} rows given for posterior file '{}' of {} rows", options.ra.size(), options.posterior,
               result.rows);
  }
  for (const auto& c : result.columns) {
    if (c.dataset.empty()) continue;
    const auto d = f.dims(c.dataset);
    std::uint64_t per_row = 1;
    for (std::size_t k = 1; k < d.size(); ++k) per_row *= d[k];
    if (d.empty() || d[0] != result.rows || per_row != c.stride) {
      fail_input("posterior file '{}': /{} has an unexpected shape for {} stars (docs/posterior_format.md)",
                 options.posterior, c.dataset, result.rows);
    }
  }
  const std::vector<HeaderItem> header = provenance(f, options);
  const std::string partial = partial_path(options.output);
  try {
    std::unique_ptr<Sink> sink;
    if (result.format.format == TableFormat::Fits) {
      sink = std::make_unique<FitsSink>(partial, result.columns, options, header, result.rows);
    } else {
      sink = std::make_unique<TextSink>(partial, result.format.gzip, result.format.format == TableFormat::Ecsv,
                                        result.columns, options, header);
    }
    const std::uint64_t step = std::max<std::uint64_t>(1, options.block_rows);
    for (std::uint64_t row0 = 0; row0 < result.rows; row0 += step) {
      sink->write(read_block(f, result.columns, row0, std::min(step, result.rows - row0)));
    }
    sink->close();
  } catch (...) {
    std::remove(partial.c_str());
    throw;
  }
  commit_partial(options.output);
  return result;
}

}  // namespace irisml::validate
