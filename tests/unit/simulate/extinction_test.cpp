#include "simulate/extinction.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace irisml::simulate {
namespace {

struct Reference {
  std::vector<double> wavelength, a_lambda;
};

Reference read_reference(const std::string& rv_text) {
  std::string path = std::string(IRISML_TEST_DATA_DIR) + "/extinction/fm_unred_" + rv_text + ".dat";
  std::ifstream in(path);
  Reference ref;
  double w = 0, a = 0;
  while (in >> w >> a) {
    ref.wavelength.push_back(w);
    ref.a_lambda.push_back(a);
  }
  return ref;
}

TEST(F99Test, MatchesFmUnredReferenceCurves) {
  for (const char* rv_text : {"2.3", "3.1", "4.0", "5.3"}) {
    Reference ref = read_reference(rv_text);
    ASSERT_EQ(ref.wavelength.size(), 200u) << "fm_unred_" << rv_text << ".dat";
    double rv = std::stod(rv_text);
    double max_rel = 0, at = 0;
    for (std::size_t i = 0; i < ref.wavelength.size(); ++i) {
      double rel = std::abs(f99_ratio(ref.wavelength[i], rv) / ref.a_lambda[i] - 1.0);
      if (rel > max_rel) {
        max_rel = rel;
        at = ref.wavelength[i];
      }
    }
    std::printf("F99 vs FM_UNRED R_V=%s: max relative error %.3e at %.1f A\n", rv_text, max_rel, at);
    EXPECT_LT(max_rel, 1e-4) << "R_V = " << rv_text << " worst at " << at << " Å";
  }
}

TEST(F99Test, ScienceCheckValues) {
  struct Check {
    double wavelength, rv, expected;
  };
  const Check checks[] = {
      {1500, 2.5, 3.52170}, {1500, 3.1, 2.60251},  {1500, 5.0, 1.57034},  {5500, 2.5, 0.97187},  {5500, 3.1, 0.97780},
      {5500, 5.0, 0.98712}, {22000, 2.5, 0.11032}, {22000, 3.1, 0.10912}, {22000, 5.0, 0.10722},
  };
  for (const auto& c : checks) {
    EXPECT_NEAR(f99_ratio(c.wavelength, c.rv), c.expected, 5e-6) << c.wavelength << " Å, R_V " << c.rv;
  }
}

TEST(F99Test, CurveIsContinuousAtTheUvJoin) {
  // the spline passes through the UV formula's value at 2700 Å
  for (double rv : {2.3, 3.1, 5.3}) {
    EXPECT_NEAR(f99_ratio(2700.0 * (1 + 1e-9), rv), f99_ratio(2700.0, rv), 1e-7);
  }
}

TEST(F99Test, RejectsBadRvAndWavelength) {
  for (double rv : {0.0, -3.1, std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()}) {
    try {
      f99_ratio(5500, rv);
      FAIL() << "R_V " << rv << " accepted";
    } catch (const InputError& e) {
      std::string msg = e.what();
      EXPECT_NE(msg.find("R_V"), std::string::npos) << msg;
      EXPECT_NE(msg.find("> 0"), std::string::npos) << msg;
    }
  }
  EXPECT_THROW(f99_ratio(0.0, 3.1), InputError);
  EXPECT_THROW(f99_ratio(-5.0, 3.1), InputError);
  EXPECT_THROW(F99Curve(std::vector<double>{5000, -1}), InputError);
  F99Curve curve(std::vector<double>{5000});
  double out = 0;
  EXPECT_THROW(curve.ratios(0.0, &out), InputError);
}

TEST(F99Test, PrecomputedCurveEqualsScalarReference) {
  // CK04-like wavelengths: far UV to the mid-IR, including the 2700 Å join
  std::vector<double> wl;
  for (double w = 90.9; w < 1.6e6; w *= 1.013) wl.push_back(w);
  wl.push_back(2700.0);
  wl.push_back(2600.0);
  wl.push_back(1e4 / 5.9);
  F99Curve curve(wl);
  ASSERT_EQ(curve.size(), wl.size());
  std::vector<double> out(wl.size());
  for (double rv : {2.0, 2.5, 3.1, 4.0, 5.3, 6.0}) {
    curve.ratios(rv, out.data());
    double max_rel = 0;
    for (std::size_t i = 0; i < wl.size(); ++i) {
      double ref = f99_ratio(wl[i], rv);
      max_rel = std::max(max_rel, std::abs(out[i] / ref - 1.0));
    }
    EXPECT_LT(max_rel, 1e-12) << "R_V " << rv;
  }
}

}  // namespace
}  // namespace irisml::simulate
