// Survey-like observation for `irisml catalog make --survey`: the band pattern of a
// real survey combination, errors that grow with magnitude, detection (faint) and
// saturation (bright) limits, and optionally under-reported errors — so that coverage
// can also be measured outside the training noise model (docs/catalog_format.md).
#pragma once

#include <string>
#include <vector>

#include "core/rng.hpp"

namespace irisml::simulate {

struct SurveyBand {
  std::string filter;  // registry name
  double bright = 0;   // saturation: brighter magnitudes are not observed
  double limit = 0;    // catalogue limit: fainter magnitudes are not observed
  double floor = 0;    // error floor [mag] (calibration, the brightest stars)
  double depth = 0;    // magnitude of signal-to-noise 5 (0 = the limit itself)
};

struct SurveyPattern {
  std::string name, description;
  std::string reference;  // band whose apparent magnitude is drawn
  double reference_min = 0, reference_max = 0;
  std::vector<SurveyBand> bands;
};

// The built-in patterns (gaia, gaia-2mass-wise, ps1-gaia-2mass, sdss-galex).
const std::vector<SurveyPattern>& survey_patterns();
// By name; InputError listing the known names otherwise.
const SurveyPattern& survey_pattern(const std::string& name);

// The error of a band at apparent magnitude m: √(floor² + (0.2171·10^{0.4(m − depth)})²),
// i.e. signal-to-noise 5 at the depth for a background-limited source (Gaia's
// catalogue stops well before its 5σ depth: G errors are ~0.01 mag at G = 20).
double survey_error(const SurveyBand& band, double magnitude);

// Observes one star: `clean` holds its magnitudes in the pattern's band order (any
// common offset: a 1 R_sun star at 10 pc). Draws the reference band's apparent
// magnitude with density ∝ 10^{0.3 m} on [reference_min, reference_max] (star counts
// grow with magnitude), shifts every band by the same amount, keeps the bands between
// their bright and faint limits, and draws each observed magnitude with the error
// √(σ² + sigma_sys²); the quoted error is σ / error_scale (error_scale > 1
// under-reports). observed[b] says which bands are kept. Returns the number kept.
int observe_survey_star(Philox& rng, const SurveyPattern& pattern, const float* clean, double sigma_sys,
                        double error_scale, float* mag_out, float* err_out, bool* observed);

}  // namespace irisml::simulate
