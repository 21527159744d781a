#include "infer/posterior_writer.hpp"

#include <limits>

#include "core/error.hpp"
#include "model/config.hpp"

namespace irisml::infer {

namespace {

std::vector<std::uint64_t> extra_dims(std::uint64_t rows, const ExtraColumn& c) {
  std::vector<std::uint64_t> dims{rows};
  dims.insert(dims.end(), c.trailing.begin(), c.trailing.end());
  return dims;
}

}  // namespace

void create_output(h5::File& f, const OutputLayout& l, const SampleJob& job, const SamplerSettings& s,
                   const std::string& catalog_path, bool with_ppc, const BlockProcessor& processor) {
  const std::uint64_t N = l.rows;
  f.set_attr("/", "format", std::string(kPosteriorFormat));
  f.set_attr("/", "format_version", kPosteriorFormatVersion);
  f.set_attr("/", "samples_per_star", std::int64_t{l.samples});
  f.set_attr("/", "seed", static_cast<std::int64_t>(s.seed));
  f.set_attr("/", "model", job.model_path);
  f.set_attr("/", "catalog", catalog_path);
  f.set_attr("/", "bands_min", std::int64_t{s.bands_min});
  f.set_attr("/", "bands_max", std::int64_t{s.bands_max});
  f.set_attr("/", "sigma_max", s.sigma_max);
  f.set_attr("/", "range_sigma", s.range_sigma);
  f.set_attr("/", "ppc_alpha", with_ppc ? s.ppc_alpha : std::numeric_limits<double>::quiet_NaN());
  f.set_attr("/", "input_error_min", s.input_error_min);
  f.set_attr("/", "input_sigma_sys", s.input_sigma_sys);
  f.set_attr("/", "ppc_sigma_floor", with_ppc ? s.ppc_sigma_floor : std::numeric_limits<double>::quiet_NaN());
  f.set_attr("/", "flags_description", processor.flags_description());
  if (!s.parallax_zero_point_text.empty()) f.set_attr("/", "parallax_zero_point", s.parallax_zero_point_text);
  f.write_strings("/parameter_names", model::parameter_names());
  f.write_strings("/filters", job.model_filters);
  for (const char* name : {"/median", "/mean", "/std", "/p16", "/p84"}) f.create_dataset<float>(name, {N, 5});
  f.create_dataset<float>("/hdi68", {N, 5, 2});
  f.create_dataset<float>("/hdi95", {N, 5, 2});
  f.create_dataset<std::int32_t>("/n_bands", {N});
  f.create_dataset<std::uint32_t>("/flags", {N});
  f.create_dataset<float>("/ppc_chi2", {N});
  f.create_dataset<float>("/ppc_p", {N});
  if (l.keep_samples) f.create_dataset<float>("/samples", {N, static_cast<std::uint64_t>(l.samples), 5});
  if (l.id_width > 0) f.create_string_dataset("/id", N, l.id_width);
  for (const auto& c : l.extra) f.create_dataset<float>(c.name, extra_dims(N, c));
  for (const auto& [name, value] : processor.attributes()) f.set_attr("/", name, value);
}

bool layout_matches(const h5::File& f, const OutputLayout& l) {
  try {
    if (!f.has_attr("/", "format") || f.attr_string("/", "format") != kPosteriorFormat) return false;
    const std::uint64_t N = l.rows;
    for (const char* name : {"/median", "/mean", "/std", "/p16", "/p84"}) {
      if (!f.exists(name) || f.dims(name) != std::vector<std::uint64_t>{N, 5}) return false;
    }
    for (const char* name : {"/hdi68", "/hdi95"}) {
      if (!f.exists(name) || f.dims(name) != std::vector<std::uint64_t>{N, 5, 2}) return false;
    }
    for (const char* name : {"/n_bands", "/flags", "/ppc_chi2", "/ppc_p"}) {
      if (!f.exists(name) || f.dims(name) != std::vector<std::uint64_t>{N}) return false;
    }
    if (l.keep_samples != f.exists("/samples")) return false;
    if (l.keep_samples && f.dims("/samples") != std::vector<std::uint64_t>{N, static_cast<std::uint64_t>(l.samples), 5})
      return false;
    if ((l.id_width > 0) != f.exists("/id")) return false;
    for (const auto& c : l.extra) {
      if (!f.exists(c.name) || f.dims(c.name) != extra_dims(N, c)) return false;
    }
    return true;
  } catch (const Error&) {
    return false;
  }
}

void write_block(h5::File& f, const OutputLayout& layout, std::uint64_t row0, std::uint64_t nrows, BlockResult& res,
                 std::vector<std::string>& ids) {
  if (nrows == 0) {  // idle this round: valid pointers for the empty selections
    res = BlockResult{};
    for (auto* v : {&res.median, &res.mean, &res.std, &res.p16, &res.p84, &res.hdi68, &res.hdi95, &res.ppc_chi2,
                    &res.ppc_p, &res.samples}) {
      v->assign(1, 0.0f);
    }
    res.n_bands.assign(1, 0);
    res.flags.assign(1, 0u);
    res.extra.assign(layout.extra.size(), std::vector<float>(1, 0.0f));
    ids.clear();
  }
  f.write_rows("/median", row0, nrows, res.median.data());
  f.write_rows("/mean", row0, nrows, res.mean.data());
  f.write_rows("/std", row0, nrows, res.std.data());
  f.write_rows("/p16", row0, nrows, res.p16.data());
  f.write_rows("/p84", row0, nrows, res.p84.data());
  f.write_rows("/hdi68", row0, nrows, res.hdi68.data());
  f.write_rows("/hdi95", row0, nrows, res.hdi95.data());
  f.write_rows("/n_bands", row0, nrows, res.n_bands.data());
  f.write_rows("/flags", row0, nrows, res.flags.data());
  f.write_rows("/ppc_chi2", row0, nrows, res.ppc_chi2.data());
  f.write_rows("/ppc_p", row0, nrows, res.ppc_p.data());
  if (layout.keep_samples) {
    if (res.samples.empty()) res.samples.assign(1, 0.0f);
    f.write_rows("/samples", row0, nrows, res.samples.data());
  }
  for (std::size_t ci = 0; ci < layout.extra.size(); ++ci) {
    f.write_rows(layout.extra[ci].name, row0, nrows, res.extra[ci].data());
  }
  if (layout.id_width > 0) f.write_string_rows("/id", row0, ids, layout.id_width);
  f.flush();
}

}  // namespace irisml::infer
