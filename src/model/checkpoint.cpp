#include "model/checkpoint.hpp"

#include <hdf5.h>

#include <cmath>
#include <cstdio>
#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <torch/torch.h>

#include "core/error.hpp"
#include "core/fnv1a.hpp"
#include "core/paths.hpp"
#include "core/text.hpp"
#include "io/hdf5.hpp"

namespace irisml::model {

namespace {

const char* dtype_name(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat32: return "float32";
    case torch::kFloat64: return "float64";
    case torch::kFloat16: return "float16";
    case torch::kBFloat16: return "bfloat16";
    case torch::kInt64: return "int64";
    case torch::kInt32: return "int32";
    case torch::kInt16: return "int16";
    case torch::kInt8: return "int8";
    case torch::kUInt8: return "uint8";
    case torch::kBool: return "bool";
    default: return nullptr;
  }
}

torch::ScalarType dtype_from_name(const std::string& name, const std::string& where) {
  for (auto t : {torch::kFloat32, torch::kFloat64, torch::kFloat16, torch::kBFloat16, torch::kInt64, torch::kInt32,
                 torch::kInt16, torch::kInt8, torch::kUInt8, torch::kBool}) {
    if (name == dtype_name(t)) return t;
  }
  fail_input("{}: unknown dtype '{}'", where, name);
}

template <typename T>
void write_typed(h5::File& f, const std::string& name, const std::vector<std::uint64_t>& dims, const torch::Tensor& t) {
  f.create_dataset<T>(name, dims);
  if (t.numel() > 0) f.write_rows<T>(name, 0, dims[0], t.data_ptr<T>());
}

void write_tensor(h5::File& f, const std::string& name, const torch::Tensor& tensor) {
  const char* dtype = dtype_name(tensor.scalar_type());
  if (!dtype) fail_input("checkpoint tensor '{}' has unsupported dtype {}", name, c10::toString(tensor.scalar_type()));
  auto t = tensor.detach().to(torch::kCPU).contiguous();
  std::vector<std::uint64_t> dims;
  for (auto d : t.sizes()) dims.push_back(static_cast<std::uint64_t>(d));
  const bool scalar = dims.empty();
  if (scalar) dims.push_back(1);
  switch (t.scalar_type()) {
    case torch::kFloat32: write_typed<float>(f, name, dims, t); break;
    case torch::kFloat64: write_typed<double>(f, name, dims, t); break;
    case torch::kFloat16:
    case torch::kBFloat16: write_typed<float>(f, name, dims, t.to(torch::kFloat32)); break;
    case torch::kInt64: write_typed<std::int64_t>(f, name, dims, t); break;
    case torch::kInt32: write_typed<std::int32_t>(f, name, dims, t); break;
    case torch::kInt16: write_typed<std::int32_t>(f, name, dims, t.to(torch::kInt32)); break;
    case torch::kInt8: write_typed<std::int8_t>(f, name, dims, t); break;
    case torch::kUInt8: write_typed<std::uint8_t>(f, name, dims, t); break;
    case torch::kBool: write_typed<std::uint8_t>(f, name, dims, t.to(torch::kUInt8)); break;
    default: break;
  }
  f.set_attr(name, "dtype", std::string(dtype));
  if (scalar) f.set_attr(name, "scalar", std::int64_t{1});
}

template <typename T>
torch::Tensor read_typed(const h5::File& f, const std::string& name, const std::vector<std::int64_t>& shape,
                         torch::ScalarType stored) {
  auto out = torch::empty(shape, torch::TensorOptions().dtype(stored));
  if (out.numel() > 0) f.read_rows<T>(name, 0, static_cast<std::uint64_t>(shape[0]), out.data_ptr<T>());
  return out;
}

torch::Tensor read_tensor(const h5::File& f, const std::string& name) {
  const std::string where = fmt::format("'{}' in '{}'", name, f.path());
  if (!f.has_attr(name, "dtype")) fail_input("checkpoint dataset {} has no 'dtype' attribute", where);
  const auto dtype = dtype_from_name(f.attr_string(name, "dtype"), where);
  std::vector<std::int64_t> shape;
  for (auto d : f.dims(name)) shape.push_back(static_cast<std::int64_t>(d));
  if (shape.empty()) fail_input("checkpoint dataset {} is an HDF5 scalar; tensors are stored with rank >= 1", where);
  torch::Tensor t;
  switch (dtype) {
    case torch::kFloat32:
    case torch::kFloat16:
    case torch::kBFloat16: t = read_typed<float>(f, name, shape, torch::kFloat32); break;
    case torch::kFloat64: t = read_typed<double>(f, name, shape, torch::kFloat64); break;
    case torch::kInt64: t = read_typed<std::int64_t>(f, name, shape, torch::kInt64); break;
    case torch::kInt32:
    case torch::kInt16: t = read_typed<std::int32_t>(f, name, shape, torch::kInt32); break;
    case torch::kInt8: t = read_typed<std::int8_t>(f, name, shape, torch::kInt8); break;
    case torch::kUInt8:
    case torch::kBool: t = read_typed<std::uint8_t>(f, name, shape, torch::kUInt8); break;
    default: break;
  }
  t = t.to(dtype);
  if (f.has_attr(name, "scalar") && f.attr_int(name, "scalar") == 1) t = t.reshape({});
  return t;
}

std::vector<double> to_doubles(const std::vector<int>& v) { return {v.begin(), v.end()}; }

}  // namespace

void save_checkpoint(const std::string& path, const Checkpoint& c) {
  h5::silence_errors();
  const std::string partial = partial_path(path);
  std::optional<h5::File> file;
  try {
    file.emplace(h5::File::create(partial));
    h5::File& f = *file;
    f.set_attr("/", "format", std::string(kCheckpointFormat));
    f.set_attr("/", "format_version", kCheckpointVersion);
    f.set_attr("/", "code_version", c.code_version);
    f.set_attr("/", "step", c.step);
    f.set_attr("/", "epoch", c.epoch);
    f.set_attr("/", "step_in_epoch", c.step_in_epoch);
    f.set_attr("/", "seed", static_cast<std::int64_t>(c.seed));
    f.set_attr("/", "total_steps", c.total_steps);
    f.set_attr("/", "steps_per_epoch", c.steps_per_epoch);
    f.set_attr("/", "global_batch", c.global_batch);
    f.set_attr("/", "world_size", c.world_size);
    f.set_attr("/", "train_stars", c.train_stars);
    f.set_attr("/", "best_val_loss", c.best_val_loss);
    f.set_attr("/", "last_val_loss", c.last_val_loss);
    f.set_attr("/", "train_config", c.train_config);
    f.set_attr("/", "data_path", c.data_path);
    for (const auto& [key, value] : c.noise) f.set_attr("/", key, value);
    for (const auto& [key, value] : c.prior) f.set_attr("/", "prior." + key, value);
    if (!c.grid_checksum.empty()) f.set_attr("/", "grid_checksum", c.grid_checksum);
    if (!c.lineage.parent.empty()) {
      const auto& l = c.lineage;
      f.set_attr("/", "lineage.parent", l.parent);
      f.set_attr("/", "lineage.parent_checksum", l.parent_checksum);
      f.set_attr("/", "lineage.parent_step", l.parent_step);
      f.set_attr("/", "lineage.filters_added", fmt::format("{}", fmt::join(l.filters_added, ",")));
      f.set_attr("/", "lineage.embedding_init", l.embedding_init);
      f.set_attr("/", "lineage.freeze_steps", l.freeze_steps);
      f.set_attr("/", "lineage.freeze_train_norms", std::int64_t{l.freeze_train_norms ? 1 : 0});
    }
    const auto& m = c.model_config;
    f.set_attr("/", "model_config", m.describe());
    f.set_attr("/", "model.n_filters", std::int64_t{m.n_filters});
    f.set_attr("/", "model.width", std::int64_t{m.width});
    f.set_attr("/", "model.layers", std::int64_t{m.layers});
    f.set_attr("/", "model.ffn", std::int64_t{m.ffn});
    f.set_attr("/", "model.heads", std::int64_t{m.heads});
    f.set_attr("/", "model.dropout", m.dropout);
    f.set_attr("/", "model.flow_blocks", std::int64_t{m.flow_blocks});
    f.set_attr("/", "model.made_hidden", to_doubles(m.made_hidden));
    f.set_attr("/", "model.mixture_components", std::int64_t{m.mixture_components});
    f.set_attr("/", "model.activation", m.activation);
    if (m.parallax_token) f.set_attr("/", "model.parallax_token", std::int64_t{1});  // absent = none
    if (m.av_prior_token) f.set_attr("/", "model.av_prior_token", std::int64_t{1});
    if (c.filters.size() != static_cast<std::size_t>(m.n_filters)) {
      fail_input("checkpoint: {} filters given for a model with n_filters={}", c.filters.size(), m.n_filters);
    }
    f.write_strings("/filters", c.filters);
    f.create_group("/model");
    for (const auto& [name, t] : c.model_state) write_tensor(f, "/model/" + name, t);
    f.create_group("/optimizer");
    for (const auto& [name, t] : c.optimizer_state) {
      // exp_avg/<parameter> → group /optimizer/exp_avg, dataset named by the parameter
      write_tensor(f, "/optimizer/" + name, t);
    }
    f.close();
  } catch (...) {
    // A partial checkpoint (it may have filled the disk) goes; the old one is intact.
    if (file) {
      file->discard();  // closes and removes it
    } else {
      std::remove(partial.c_str());
    }
    throw;
  }
  commit_partial(path);
}

Checkpoint load_checkpoint(const std::string& path, bool with_optimizer) {
  const auto f = open_checkpoint(path);
  Checkpoint c;
  static_cast<CheckpointInfo&>(c) = read_checkpoint_info(f, path);
  for (const auto& name : f.dataset_names("/model")) {
    auto t = read_tensor(f, "/model/" + name);
    // a diverged or corrupted model would turn every posterior into NaN without a word
    if (t.is_floating_point() && !torch::isfinite(t).all().item<bool>()) {
      fail_input(
          "checkpoint '{}': tensor '{}' holds {} non-finite value(s) of {}; the model is unusable (diverged "
          "training?) — use an earlier checkpoint or best.h5",
          path, name, (~torch::isfinite(t)).sum().item<std::int64_t>(), t.numel());
    }
    c.model_state.emplace_back(name, std::move(t));
  }
  if (with_optimizer && f.exists("/optimizer")) {
    for (const auto& name : f.dataset_names("/optimizer")) {
      c.optimizer_state.emplace_back(name, read_tensor(f, "/optimizer/" + name));
    }
    for (const char* group : {"exp_avg", "exp_avg_sq", "param_step"}) {
      const std::string g = std::string("/optimizer/") + group;
      if (!f.exists(g)) continue;
      for (const auto& name : f.dataset_names(g)) {
        c.optimizer_state.emplace_back(std::string(group) + "/" + name, read_tensor(f, g + "/" + name));
      }
    }
  }
  return c;
}

model::PosteriorEstimator build_model(const Checkpoint& checkpoint) {
  model::PosteriorEstimator model(checkpoint.model_config);
  model->load_named_state(checkpoint.model_state);
  model->eval();
  return model;
}

std::string model_checksum(const std::vector<std::pair<std::string, torch::Tensor>>& state) {
  Fnv1a h;
  for (const auto& [name, tensor] : state) {
    h.u64(name.size());
    h.bytes(name.data(), name.size());
    auto t = tensor.detach().to(torch::kCPU).contiguous();
    h.u64(static_cast<std::uint64_t>(t.scalar_type()));
    h.u64(static_cast<std::uint64_t>(t.dim()));
    for (auto d : t.sizes()) h.u64(static_cast<std::uint64_t>(d));
    h.bytes(t.data_ptr(), t.numel() * t.element_size());
  }
  return h.to_hex_string();
}

}  // namespace irisml::model
