// Sizes of the posterior estimator (set encoder + conditional MAF). Every field is a
// config key; the defaults are the published configuration (science.md §3) except
// n_filters, which comes from the filter list of the training set.
#pragma once

#include <string>
#include <vector>

namespace irisml::model {

// Number of physical parameters: Teff [K], log g, [M/H], A_V, R_V.
inline constexpr int kNumParams = 5;

// Names of the parameters in θ order (for messages and files).
const std::vector<std::string>& parameter_names();

struct ModelConfig {
  int n_filters = 0;                       // filter vocabulary (embedding rows)
  int width = 256;                         // token / context width M
  int layers = 10;                         // transformer layers L
  int ffn = 768;                           // feed-forward width
  int heads = 8;                           // attention heads; width % heads == 0
  double dropout = 0.05;                   // in [0, 1)
  int flow_blocks = 10;                    // MADE blocks
  std::vector<int> made_hidden{256, 256};  // hidden widths of each MADE
  int mixture_components = 5;              // Gaussian-mixture base components
  std::string activation = "relu";         // feed-forward activation: "relu" (PyTorch's
                                           // TransformerEncoderLayer default) or "gelu"

  // Throws InputError naming every bad value and what is allowed.
  void validate() const;

  // One line, for logs and checkpoint attributes:
  // "n_filters=25 width=256 layers=10 ffn=768 heads=8 dropout=0.05 flow_blocks=10
  //  made_hidden=256,256 mixture_components=5 activation=relu".
  std::string describe() const;
};

}  // namespace irisml::model
