#pragma once
// Global ventricular function from a cine volume curve (one cavity volume per cardiac phase).
//
// End-diastole (ED) is the phase of largest cavity volume and end-systole (ES) the phase of
// smallest, as in the volumetric definition used when ECG markers are absent (Schulz-Menger et
// al., "Standardized image interpretation and post-processing in CMR", JCMR 2020, section 3.1):
//   EDV = max volume, ESV = min volume (mL), SV = EDV - ESV (mL), EF = SV / EDV (%).
// Each ventricle gets its own ED/ES phases; the phases are reported so that a user who wants the
// LV's phases for the RV can read the RV curve at them.
#include <vector>

#include <nlohmann/json.hpp>

namespace cardioseg {

struct VentricularFunction {
  std::vector<double> volume_ml;  // the curve, one value per phase (0-based)
  int ed_phase = 0, es_phase = 0;
  double edv_ml = 0, esv_ml = 0, sv_ml = 0;
  double ef_percent = 0;
};

// Throws std::invalid_argument when the curve has fewer than 2 phases, a negative or non-finite
// volume, or EDV = 0 (no cavity segmented in any phase).
VentricularFunction ComputeVentricularFunction(const std::vector<double>& volume_ml);

nlohmann::json ToJson(const VentricularFunction& f);

}  // namespace cardioseg
