#include "cardioseg/core/cardiac_function.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace cardioseg {

VentricularFunction ComputeVentricularFunction(const std::vector<double>& volume_ml) {
  if (volume_ml.size() < 2) {
    throw std::invalid_argument("ejection fraction needs at least 2 phases, got " +
                                std::to_string(volume_ml.size()));
  }
  for (double v : volume_ml) {
    if (!std::isfinite(v) || v < 0) {
      throw std::invalid_argument("volume curve holds an invalid volume " + std::to_string(v));
    }
  }
  VentricularFunction f;
  f.volume_ml = volume_ml;
  const auto max = std::max_element(volume_ml.begin(), volume_ml.end());
  const auto min = std::min_element(volume_ml.begin(), volume_ml.end());
  f.ed_phase = static_cast<int>(max - volume_ml.begin());
  f.es_phase = static_cast<int>(min - volume_ml.begin());
  f.edv_ml = *max;
  f.esv_ml = *min;
  if (f.edv_ml <= 0) throw std::invalid_argument("the cavity is empty in every phase (EDV = 0)");
  f.sv_ml = f.edv_ml - f.esv_ml;
  f.ef_percent = 100.0 * f.sv_ml / f.edv_ml;
  return f;
}

nlohmann::json ToJson(const VentricularFunction& f) {
  return {{"volume_ml", f.volume_ml}, {"ed_phase", f.ed_phase}, {"es_phase", f.es_phase},
          {"edv_ml", f.edv_ml},       {"esv_ml", f.esv_ml},     {"sv_ml", f.sv_ml},
          {"ef_percent", f.ef_percent}};
}

}  // namespace cardioseg
