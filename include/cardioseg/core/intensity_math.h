#pragma once
// Intensity statistics and the Nyul-Udupa standardization as pure functions over plain data
// (no ITK), so they are unit-tested without images.
#include <filesystem>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace cardioseg::intensity {

// Percentiles of `values` for each p in `percents` (0-100), with linear interpolation between
// order statistics (numpy's default "linear" method). `values` is sorted in place.
// Throws std::invalid_argument if `values` is empty or a p is outside [0, 100].
std::vector<double> Percentiles(std::vector<float>& values, const std::vector<double>& percents);

struct Stats {
  double mean = 0, sd = 0, min = 0, max = 0;
  double p01 = 0, p50 = 0, p99 = 0;  // 1st, 50th, 99th percentiles
  std::size_t count = 0;
};
// Mean, population standard deviation, extremes and percentiles. `values` is sorted in place.
Stats ComputeStats(std::vector<float>& values);
nlohmann::json ToJson(const Stats& stats);

// Nyul-Udupa piecewise-linear histogram standardization (Nyul, Udupa & Zhang, "New variants of
// a method of MRI scale standardization", IEEE TMI 19(2):143-150, 2000).
struct NyulLandmarks {
  // Landmark percentiles, increasing, first and last are the clipping percentiles p_low, p_high.
  // Default: 1, 10, 20, ..., 90, 99 (the decile variant).
  std::vector<double> percentiles{1, 10, 20, 30, 40, 50, 60, 70, 80, 90, 99};
  // Standard-scale positions of the landmarks, learned from a training set; same length as
  // percentiles; the first is scale_min and the last scale_max.
  std::vector<double> standard_scale;
  double scale_min = 0.0;    // s1
  double scale_max = 100.0;  // s2
};

// Learns the standard scale from each training image's landmark intensities (one vector per
// image, at `landmarks.percentiles`): each image's landmarks are mapped linearly so that p_low ->
// s1 and p_high -> s2, and the mapped positions are averaged. Returns `landmarks` with
// standard_scale filled. Throws std::invalid_argument on empty input, a size mismatch, or an
// image whose p_low equals its p_high.
NyulLandmarks LearnNyulScale(const std::vector<std::vector<double>>& image_landmarks,
                             NyulLandmarks landmarks = {});

// Maps intensity `value` of an image whose landmark intensities are `image_landmarks` onto the
// standard scale: linear between consecutive landmarks, extended linearly beyond the first and
// last segment. Landmarks that coincide are skipped. Throws std::invalid_argument if the sizes
// differ from landmarks.standard_scale.
double NyulMap(double value, const std::vector<double>& image_landmarks,
               const NyulLandmarks& landmarks);

// JSON form: {"method": "nyul", "percentiles": [...], "standard_scale": [...],
// "scale_min": s1, "scale_max": s2}. FromJson throws std::invalid_argument when fields are missing,
// of unequal length or not increasing.
nlohmann::json ToJson(const NyulLandmarks& landmarks);
NyulLandmarks NyulFromJson(const nlohmann::json& json);

}  // namespace cardioseg::intensity
