#include "model/config.hpp"

#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.hpp"

namespace irisml::model {

const std::vector<std::string>& parameter_names() {
  static const std::vector<std::string> names{"teff", "logg", "mh", "av", "rv"};
  return names;
}

void ModelConfig::validate() const {
  std::vector<std::string> bad;
  if (n_filters < 1) bad.push_back(fmt::format("n_filters={} (must be >= 1)", n_filters));
  if (width < 1) bad.push_back(fmt::format("width={} (must be >= 1)", width));
  if (layers < 1) bad.push_back(fmt::format("layers={} (must be >= 1)", layers));
  if (ffn < 1) bad.push_back(fmt::format("ffn={} (must be >= 1)", ffn));
  if (heads < 1) {
    bad.push_back(fmt::format("heads={} (must be >= 1)", heads));
  } else if (width >= 1 && width % heads != 0) {
    bad.push_back(fmt::format("width={} is not divisible by heads={}", width, heads));
  }
  if (!(std::isfinite(dropout) && dropout >= 0.0 && dropout < 1.0)) {
    bad.push_back(fmt::format("dropout={} (must be in [0, 1))", dropout));
  }
  if (flow_blocks < 1) bad.push_back(fmt::format("flow_blocks={} (must be >= 1)", flow_blocks));
  if (made_hidden.empty()) bad.push_back("made_hidden is empty (need at least one hidden layer)");
  for (std::size_t i = 0; i < made_hidden.size(); ++i) {
    // Every hidden layer needs at least one unit of each autoregressive degree 0..D-1.
    if (made_hidden[i] < kNumParams) {
      bad.push_back(
          fmt::format("made_hidden[{}]={} (must be >= {}, the number of parameters)", i, made_hidden[i], kNumParams));
    }
  }
  if (mixture_components < 1) {
    bad.push_back(fmt::format("mixture_components={} (must be >= 1)", mixture_components));
  }
  if (activation != "relu" && activation != "gelu") {
    bad.push_back(fmt::format("activation='{}' (must be 'relu' or 'gelu')", activation));
  }
  if (!bad.empty()) fail_input("invalid model configuration: {}", fmt::join(bad, "; "));
}

std::string ModelConfig::describe() const {
  return fmt::format(
             "n_filters={} width={} layers={} ffn={} heads={} dropout={} flow_blocks={} made_hidden={} "
             "mixture_components={} activation={}",
             n_filters, width, layers, ffn, heads, dropout, flow_blocks, fmt::join(made_hidden, ","),
             mixture_components, activation) +
         (parallax_token ? " parallax_token=1" : "") + (av_prior_token ? " av_prior_token=1" : "");
}

}  // namespace irisml::model
