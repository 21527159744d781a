#include "model/checkpoint_info.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.hpp"
#include "core/paths.hpp"
#include "core/text.hpp"
#include "io/hdf5.hpp"

namespace irisml::model {

h5::File open_checkpoint(const std::string& path) {
  if (!file_exists(path)) fail_input("checkpoint '{}' does not exist", path);
  if (!h5::is_hdf5(path)) fail_input("checkpoint '{}' is not an HDF5 file", path);
  h5::silence_errors();
  return h5::File::open(path);
}

CheckpointInfo load_checkpoint_info(const std::string& path) {
  return read_checkpoint_info(open_checkpoint(path), path);
}

CheckpointInfo read_checkpoint_info(const h5::File& f, const std::string& path) {
  if (!f.has_attr("/", "format") || f.attr_string("/", "format") != kCheckpointFormat) {
    fail_input("'{}' is not an IrisML checkpoint (root attribute format != '{}')", path, kCheckpointFormat);
  }
  const auto version = f.attr_int("/", "format_version");
  if (version > kCheckpointVersion) {
    fail_input("checkpoint '{}' has format_version {}, newer than this build reads ({}); update irisml", path, version,
               kCheckpointVersion);
  }
  for (const char* required : {"/filters", "/model"}) {
    if (!f.exists(required)) fail_input("checkpoint '{}' has no '{}'", path, required);
  }
  CheckpointInfo c;
  auto attr_or = [&](const char* name, std::int64_t fallback) {
    return f.has_attr("/", name) ? f.attr_int("/", name) : fallback;
  };
  c.step = f.attr_int("/", "step");
  c.epoch = f.attr_int("/", "epoch");
  c.step_in_epoch = attr_or("step_in_epoch", 0);
  c.seed = static_cast<std::uint64_t>(f.attr_int("/", "seed"));
  c.total_steps = attr_or("total_steps", 0);
  c.steps_per_epoch = attr_or("steps_per_epoch", 0);
  c.global_batch = attr_or("global_batch", 0);
  c.world_size = attr_or("world_size", 0);
  c.train_stars = attr_or("train_stars", 0);
  if (f.has_attr("/", "best_val_loss")) c.best_val_loss = f.attr_double("/", "best_val_loss");
  if (f.has_attr("/", "last_val_loss")) c.last_val_loss = f.attr_double("/", "last_val_loss");
  if (f.has_attr("/", "train_config")) c.train_config = f.attr_string("/", "train_config");
  if (f.has_attr("/", "data_path")) c.data_path = f.attr_string("/", "data_path");
  if (f.has_attr("/", "code_version")) c.code_version = f.attr_string("/", "code_version");
  if (f.has_attr("/", "grid_checksum")) c.grid_checksum = f.attr_string("/", "grid_checksum");
  if (f.has_attr("/", "lineage.parent")) {
    auto& l = c.lineage;
    l.parent = f.attr_string("/", "lineage.parent");
    if (f.has_attr("/", "lineage.parent_checksum")) l.parent_checksum = f.attr_string("/", "lineage.parent_checksum");
    l.parent_step = attr_or("lineage.parent_step", 0);
    if (f.has_attr("/", "lineage.filters_added")) l.filters_added = split(f.attr_string("/", "lineage.filters_added"));
    if (f.has_attr("/", "lineage.embedding_init")) l.embedding_init = f.attr_string("/", "lineage.embedding_init");
    l.freeze_steps = attr_or("lineage.freeze_steps", 0);
    l.freeze_train_norms = attr_or("lineage.freeze_train_norms", 0) != 0;
  }
  for (const auto& name : f.attr_names("/")) {
    if (name.rfind("noise.", 0) == 0) c.noise.emplace_back(name, f.attr_string("/", name));
    if (name.rfind("prior.", 0) == 0) c.prior.emplace_back(name.substr(6), f.attr_double("/", name));
  }
  auto& m = c.model_config;
  m.n_filters = static_cast<int>(f.attr_int("/", "model.n_filters"));
  m.width = static_cast<int>(f.attr_int("/", "model.width"));
  m.layers = static_cast<int>(f.attr_int("/", "model.layers"));
  m.ffn = static_cast<int>(f.attr_int("/", "model.ffn"));
  m.heads = static_cast<int>(f.attr_int("/", "model.heads"));
  m.dropout = f.attr_double("/", "model.dropout");
  m.flow_blocks = static_cast<int>(f.attr_int("/", "model.flow_blocks"));
  m.made_hidden.clear();
  for (double h : f.attr_doubles("/", "model.made_hidden")) m.made_hidden.push_back(static_cast<int>(h));
  m.mixture_components = static_cast<int>(f.attr_int("/", "model.mixture_components"));
  if (f.has_attr("/", "model.activation")) m.activation = f.attr_string("/", "model.activation");
  m.parallax_token = f.has_attr("/", "model.parallax_token") && f.attr_int("/", "model.parallax_token") == 1;
  m.av_prior_token = f.has_attr("/", "model.av_prior_token") && f.attr_int("/", "model.av_prior_token") == 1;
  c.filters = f.read_strings("/filters");
  if (c.filters.size() != static_cast<std::size_t>(m.n_filters)) {
    fail_input("checkpoint '{}' lists {} filters but model.n_filters = {}", path, c.filters.size(), m.n_filters);
  }
  return c;
}

std::vector<std::string> model_differences(const model::ModelConfig& a, const model::ModelConfig& b,
                                           const std::vector<std::string>& filters_a,
                                           const std::vector<std::string>& filters_b, bool compare_filters) {
  std::vector<std::string> out;
  auto cmp = [&](const char* name, auto x, auto y) {
    if (x != y) out.push_back(fmt::format("{}: {} (checkpoint) vs {} (this run)", name, x, y));
  };
  if (compare_filters) cmp("n_filters", a.n_filters, b.n_filters);
  cmp("width", a.width, b.width);
  cmp("layers", a.layers, b.layers);
  cmp("ffn", a.ffn, b.ffn);
  cmp("heads", a.heads, b.heads);
  cmp("dropout", a.dropout, b.dropout);
  cmp("flow_blocks", a.flow_blocks, b.flow_blocks);
  cmp("made_hidden", fmt::format("{}", fmt::join(a.made_hidden, ",")),
      fmt::format("{}", fmt::join(b.made_hidden, ",")));
  cmp("mixture_components", a.mixture_components, b.mixture_components);
  cmp("activation", a.activation, b.activation);
  cmp("parallax_token", a.parallax_token, b.parallax_token);
  cmp("av_prior_token", a.av_prior_token, b.av_prior_token);
  if (compare_filters && filters_a != filters_b) {
    out.push_back(
        fmt::format("filters: {} (checkpoint) vs {} (this run)", fmt::join(filters_a, ","), fmt::join(filters_b, ",")));
  }
  return out;
}

}  // namespace irisml::model
