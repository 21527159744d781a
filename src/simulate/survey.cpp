#include "simulate/survey.hpp"

#include <cmath>

#include <fmt/format.h>

#include "core/error.hpp"
#include "simulate/noise.hpp"

namespace irisml::simulate {

// Limits are approximate 5σ point-source depths of the surveys' public catalogues (Gaia:
// its catalogue limits, with the depths that give its quoted errors), and saturation
// magnitudes (Gaia: Gaia Collaboration 2023, DR3 summary; 2MASS: Skrutskie
// et al. 2006; AllWISE: Cutri et al. 2013; PS1 3π stack: Chambers et al. 2016; SDSS:
// Abazajian et al. 2004; GALEX AIS: Bianchi et al. 2011), in the catalogue systems.
const std::vector<SurveyPattern>& survey_patterns() {
  static const std::vector<SurveyPattern> patterns = [] {
    const SurveyBand g{"Gaia_G", 3.0, 21.0, 0.001, 23.5}, bp{"Gaia_BP", 3.0, 20.5, 0.002, 22.0},
        rp{"Gaia_RP", 3.0, 20.0, 0.002, 21.7};
    const SurveyBand j{"2MASS_J", 4.0, 16.8, 0.02}, h{"2MASS_H", 4.0, 16.1, 0.02}, ks{"2MASS_Ks", 4.0, 15.3, 0.02};
    const SurveyBand w1{"WISE_W1", 8.0, 16.9, 0.02}, w2{"WISE_W2", 7.0, 15.9, 0.02};
    const SurveyBand pg{"PS1_g", 14.0, 23.3, 0.01}, pr{"PS1_r", 14.0, 23.2, 0.01}, pi{"PS1_i", 14.0, 23.1, 0.01},
        pz{"PS1_z", 13.5, 22.3, 0.01}, py{"PS1_y", 12.5, 21.4, 0.01};
    const SurveyBand su{"SDSS_u", 13.0, 22.0, 0.02}, sg{"SDSS_g", 14.0, 22.2, 0.01}, sr{"SDSS_r", 14.0, 22.2, 0.01},
        si{"SDSS_i", 14.0, 21.3, 0.01}, sz{"SDSS_z", 12.5, 20.5, 0.02};
    const SurveyBand nuv{"GALEX_NUV", 12.0, 20.8, 0.03};
    return std::vector<SurveyPattern>{
        {"gaia", "Gaia DR3 G/BP/RP only", "Gaia_G", 8.0, 20.0, {g, bp, rp}},
        {"gaia-2mass-wise", "Gaia DR3 + 2MASS + AllWISE W1/W2", "Gaia_G", 8.0, 19.0, {g, bp, rp, j, h, ks, w1, w2}},
        {"ps1-gaia-2mass",
         "Pan-STARRS1 grizy + Gaia DR3 + 2MASS",
         "Gaia_G",
         12.0,
         20.0,
         {pg, pr, pi, pz, py, g, bp, rp, j, h, ks}},
        {"sdss-galex", "SDSS ugriz + GALEX NUV", "SDSS_r", 14.0, 21.0, {su, sg, sr, si, sz, nuv}},
    };
  }();
  return patterns;
}

const SurveyPattern& survey_pattern(const std::string& name) {
  std::string known;
  for (const auto& p : survey_patterns()) {
    if (p.name == name) return p;
    known += (known.empty() ? "" : ", ") + p.name;
  }
  fail_input("--survey '{}' is not known; known survey patterns: {}", name, known);
}

double survey_error(const SurveyBand& band, double magnitude) {
  const double depth = band.depth > 0 ? band.depth : band.limit;
  const double photometric = 0.2171 * std::pow(10.0, 0.4 * (magnitude - depth));
  return std::sqrt(band.floor * band.floor + photometric * photometric);
}

int observe_survey_star(Philox& rng, const SurveyPattern& pattern, const float* clean, double sigma_sys,
                        double error_scale, float* mag_out, float* err_out, bool* observed) {
  std::size_t ref = 0;
  while (ref < pattern.bands.size() && pattern.bands[ref].filter != pattern.reference) ++ref;
  // m with density ∝ 10^{0.3 m} = e^{k m} on [a, b]: inversion of its CDF.
  const double k = 0.3 * std::log(10.0), a = pattern.reference_min, b = pattern.reference_max;
  const double u = rng.uniform();
  const double m_ref = std::log(std::exp(k * a) + u * (std::exp(k * b) - std::exp(k * a))) / k;
  const double shift = m_ref - clean[ref];
  int kept = 0;
  for (std::size_t i = 0; i < pattern.bands.size(); ++i) {
    const auto& band = pattern.bands[i];
    const double m = clean[i] + shift;
    const double noise = rng.normal();  // drawn for every band: the stream does not depend on detections
    observed[i] = m >= band.bright && m <= band.limit;
    if (!observed[i]) continue;
    const double sigma = survey_error(band, m);
    mag_out[i] = static_cast<float>(m + in_quadrature(sigma, sigma_sys) * noise);
    err_out[i] = static_cast<float>(sigma / error_scale);
    ++kept;
  }
  return kept;
}

}  // namespace irisml::simulate
