#include "cardioseg/core/intensity_math.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace cardioseg::intensity {

std::vector<double> Percentiles(std::vector<float>& values, const std::vector<double>& percents) {
  if (values.empty()) throw std::invalid_argument("percentiles of an empty set of intensities");
  std::sort(values.begin(), values.end());
  std::vector<double> out;
  out.reserve(percents.size());
  const double last = static_cast<double>(values.size() - 1);
  for (double p : percents) {
    if (!(p >= 0.0 && p <= 100.0)) throw std::invalid_argument("percentile outside [0, 100]");
    const double pos = p / 100.0 * last;
    const auto lo = static_cast<std::size_t>(std::floor(pos));
    const auto hi = std::min(lo + 1, values.size() - 1);
    const double t = pos - static_cast<double>(lo);
    out.push_back(values[lo] + t * (static_cast<double>(values[hi]) - values[lo]));
  }
  return out;
}

Stats ComputeStats(std::vector<float>& values) {
  Stats s;
  if (values.empty()) return s;
  double sum = 0, sum2 = 0;
  for (float v : values) {
    sum += v;
    sum2 += static_cast<double>(v) * v;
  }
  s.count = values.size();
  s.mean = sum / s.count;
  s.sd = std::sqrt(std::max(0.0, sum2 / s.count - s.mean * s.mean));
  const auto p = Percentiles(values, {0, 1, 50, 99, 100});
  s.min = p[0];
  s.p01 = p[1];
  s.p50 = p[2];
  s.p99 = p[3];
  s.max = p[4];
  return s;
}

nlohmann::json ToJson(const Stats& s) {
  return {{"count", s.count}, {"mean", s.mean}, {"sd", s.sd}, {"min", s.min},
          {"p01", s.p01},     {"p50", s.p50},   {"p99", s.p99}, {"max", s.max}};
}

NyulLandmarks LearnNyulScale(const std::vector<std::vector<double>>& image_landmarks,
                             NyulLandmarks landmarks) {
  if (image_landmarks.empty()) throw std::invalid_argument("Nyul: no training images");
  const std::size_t n = landmarks.percentiles.size();
  std::vector<double> sum(n, 0.0);
  for (const auto& m : image_landmarks) {
    if (m.size() != n) throw std::invalid_argument("Nyul: landmark count mismatch");
    const double range = m.back() - m.front();
    if (!(range > 0)) throw std::invalid_argument("Nyul: an image has p_low == p_high");
    for (std::size_t i = 0; i < n; ++i) {
      sum[i] += landmarks.scale_min +
                (m[i] - m.front()) / range * (landmarks.scale_max - landmarks.scale_min);
    }
  }
  landmarks.standard_scale.resize(n);
  for (std::size_t i = 0; i < n; ++i) landmarks.standard_scale[i] = sum[i] / image_landmarks.size();
  return landmarks;
}

double NyulMap(double value, const std::vector<double>& m, const NyulLandmarks& landmarks) {
  const auto& s = landmarks.standard_scale;
  if (m.size() != s.size() || m.size() < 2) {
    throw std::invalid_argument("Nyul: image landmarks do not match the standard scale");
  }
  // Segment whose upper landmark is the first one above `value` (clamped to the end segments,
  // which extrapolate). Degenerate segments (equal landmarks) are skipped.
  std::size_t hi = 1;
  while (hi + 1 < m.size() && (value > m[hi] || m[hi] <= m[hi - 1])) ++hi;
  std::size_t lo = hi - 1;
  while (lo > 0 && m[hi] <= m[lo]) --lo;
  const double width = m[hi] - m[lo];
  if (!(width > 0)) return s[lo];
  return s[lo] + (value - m[lo]) / width * (s[hi] - s[lo]);
}

nlohmann::json ToJson(const NyulLandmarks& l) {
  return {{"method", "nyul"},
          {"reference", "Nyul, Udupa & Zhang, IEEE TMI 19(2):143-150, 2000"},
          {"percentiles", l.percentiles},
          {"standard_scale", l.standard_scale},
          {"scale_min", l.scale_min},
          {"scale_max", l.scale_max}};
}

NyulLandmarks NyulFromJson(const nlohmann::json& j) {
  NyulLandmarks l;
  try {
    l.percentiles = j.at("percentiles").get<std::vector<double>>();
    l.standard_scale = j.at("standard_scale").get<std::vector<double>>();
    l.scale_min = j.at("scale_min").get<double>();
    l.scale_max = j.at("scale_max").get<double>();
  } catch (const nlohmann::json::exception& e) {
    throw std::invalid_argument(std::string("Nyul landmarks: ") + e.what());
  }
  if (l.percentiles.size() != l.standard_scale.size() || l.percentiles.size() < 2) {
    throw std::invalid_argument("Nyul landmarks: percentiles and standard_scale differ in length");
  }
  for (std::size_t i = 1; i < l.percentiles.size(); ++i) {
    if (!(l.percentiles[i] > l.percentiles[i - 1]) ||
        !(l.standard_scale[i] >= l.standard_scale[i - 1])) {
      throw std::invalid_argument("Nyul landmarks: values are not increasing");
    }
  }
  return l;
}

}  // namespace cardioseg::intensity
