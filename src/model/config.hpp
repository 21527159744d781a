// Sizes of the posterior estimator (set encoder + conditional MAF). Every field is a
// config key; the defaults are the published configuration (docs/model.md §4) except
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
  // A parallax token: a star's parallax enters the encoder as one more token (embedding
  // row n_filters; model/star_tokens.hpp). Set by training with parallaxes.
  bool parallax_token = false;
  // An A_V-prior token: a star's extinction prior (a Gaussian; a bound alone is turned into
  // one, model/star_tokens.hpp) as one more token, embedding row av_prior_row().
  bool av_prior_token = false;

  // Rows of the token embedding: the filters, then the parallax's, then the A_V prior's.
  int embedding_rows() const { return n_filters + (parallax_token ? 1 : 0) + (av_prior_token ? 1 : 0); }
  int parallax_row() const { return n_filters; }
  int av_prior_row() const { return n_filters + (parallax_token ? 1 : 0); }

  // Throws InputError naming every bad value and what is allowed.
  void validate() const;

  // One line, for logs and checkpoint attributes:
  // "n_filters=25 width=256 layers=10 ffn=768 heads=8 dropout=0.05 flow_blocks=10
  //  made_hidden=256,256 mixture_components=5 activation=relu", then " parallax_token=1"
  //  and " av_prior_token=1" for a model with them.
  std::string describe() const;
};

}  // namespace irisml::model
