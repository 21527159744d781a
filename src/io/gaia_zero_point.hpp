// The parallax zero point of Gaia EDR3/DR3 as a function of magnitude, colour and
// ecliptic latitude: Lindegren et al. (2021, A&A 649, A4), their Appendix A and the
// coefficient tables of its functions Z5 (five-parameter solutions) and Z6 (six-parameter
// solutions), dated 2020-07-20. It is a property of the catalogue's astrometry, applied
// while a catalogue is read (`--parallax-zero-point lindegren2021`, docs/distance.md).
#pragma once

namespace irisml {

// The archive's astrometric_params_solved of a five- and a six-parameter solution; any
// other value (31 and 95 aside; 3 is a two-parameter solution without a parallax) has no
// zero point here.
inline constexpr int kGaiaFiveParameter = 31;
inline constexpr int kGaiaSixParameter = 95;

// The zero point [mas] to subtract from a published parallax, for a source of G magnitude
// `g` (phot_g_mean_mag), `nu_eff` (nu_eff_used_in_astrometry, five-parameter solutions)
// or `pseudocolour` (six-parameter) [1/µm], ecliptic latitude `ecl_lat` [deg] and
// `params_solved`. Outside 6 < G < 21 the coefficients of the nearest end are used;
// colours are clamped by the basis functions as in the paper. NaN if an input the
// solution needs is not finite, or params_solved is neither 31 nor 95.
double gaia_parallax_zero_point(double g, double nu_eff, double pseudocolour, double ecl_lat, double params_solved);

}  // namespace irisml
