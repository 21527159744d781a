// The χ² distribution's upper tail, for goodness-of-fit p-values.
#pragma once

namespace irisml {

// P(X > x) for X ~ χ²(dof), dof > 0 (need not be an integer): the regularised upper
// incomplete gamma function Q(dof/2, x/2), to ~1e-14 relative. 1 for x ≤ 0; NaN for
// dof ≤ 0 or a NaN argument.
double chi2_survival(double x, double dof);

}  // namespace irisml
