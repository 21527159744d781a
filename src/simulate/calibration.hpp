// Per-band photometric calibration (docs/observation_model.md, "Per-band calibration"):
// for each band b a zero-point offset δ_b and a systematic error σ_sys,b, estimated from
// real labelled stars (`irisml calibrate`). A catalogue magnitude m_b is read as
//   m_b = M_b(θ) + μ + δ_b + noise,   noise ~ N(0, err_b² + σ_sys,b²),
// so inference uses m_b − δ_b and σ_b² = err_b² + σ_sys,b² (σ_sys,b replacing the single
// σ_sys of the observation model for that band). Only differences of the δ_b matter (a
// common shift is the star's offset μ); files fix their mean over the bands at 0.
//
// File format (INI, io/ini.hpp): a [calibration] section (free-text keys: method,
// stars, source, ...) and one section per band named as in the filter registry, with
// keys offset and sigma_sys [mag] (required), offset_err, sigma_sys_err [mag], stars.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace irisml::simulate {

struct BandCalibration {
  double offset = 0.0, sigma_sys = 0.0;  // [mag]
  double offset_err = std::numeric_limits<double>::quiet_NaN(),
         sigma_sys_err = std::numeric_limits<double>::quiet_NaN();
  std::int64_t stars = 0;  // stars the estimate rests on (0 = not recorded)
};

class Calibration {
 public:
  // Reads and checks a calibration file. Every band must be one of `known_bands` (the
  // filter registry) and appear once; offset and sigma_sys finite, |offset| < 1 mag,
  // 0 <= sigma_sys < 1 mag. Throws IoError if unreadable, InputError (file:line, key,
  // value and what is allowed) otherwise.
  static Calibration load(const std::string& path, const std::vector<std::string>& known_bands);

  // Writes the file atomically (a partial file renamed into place). `info` goes into the
  // [calibration] section in order.
  void save(const std::string& path, const std::vector<std::pair<std::string, std::string>>& info) const;

  const std::string& source() const { return source_; }
  const std::vector<std::pair<std::string, BandCalibration>>& bands() const { return bands_; }
  void set(const std::string& band, const BandCalibration& c);
  const BandCalibration* find(const std::string& band) const;

  // The calibration of `bands`, in that order. A band the file does not cover is an
  // InputError naming every such band, the file, and `what` uses them.
  std::vector<BandCalibration> for_bands(const std::vector<std::string>& bands, const std::string& what) const;

  // Every number in the file, for resume keys and output attributes.
  std::string describe() const;

 private:
  std::string source_;
  std::vector<std::pair<std::string, BandCalibration>> bands_;
};

}  // namespace irisml::simulate
