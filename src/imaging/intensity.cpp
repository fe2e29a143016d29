#include "cardioseg/imaging/intensity.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <itkOtsuThresholdImageFilter.h>

#include "cardioseg/core/config.h"
#include "cardioseg/core/error.h"

namespace cardioseg::imaging {
namespace {

constexpr const char* kStage = "preprocess.intensity";

template <class F>
ImageType::Pointer Map(const ImageType* image, F f) {
  auto out = MakeImage<ImageType>(GeometryOf(image));
  const float* in = image->GetBufferPointer();
  float* o = out->GetBufferPointer();
  for (std::size_t i = 0, n = image->GetLargestPossibleRegion().GetNumberOfPixels(); i < n; ++i) {
    o[i] = static_cast<float>(f(in[i]));
  }
  return out;
}

std::vector<float> ValuesOrThrow(const ImageType* image, const LabelMapType* mask,
                                 const std::string& mask_kind) {
  auto values = MaskedValues(image, mask);
  if (values.empty()) throw StageError(kStage, "the \"" + mask_kind + "\" mask is empty");
  return values;
}

}  // namespace

LabelMapType::Pointer IntensityMask(const ImageType* image, const std::string& kind) {
  if (kind == "all") return nullptr;
  if (kind == "nonzero") {
    auto mask = MakeImage<LabelMapType>(GeometryOf(image));
    const float* in = image->GetBufferPointer();
    std::uint8_t* m = mask->GetBufferPointer();
    for (std::size_t i = 0, n = image->GetLargestPossibleRegion().GetNumberOfPixels(); i < n; ++i) {
      m[i] = in[i] != 0.0f;
    }
    return mask;
  }
  if (kind == "otsu") {
    auto otsu = itk::OtsuThresholdImageFilter<ImageType, LabelMapType>::New();
    otsu->SetInput(image);
    otsu->SetInsideValue(0);
    otsu->SetOutsideValue(1);
    otsu->Update();
    return otsu->GetOutput();
  }
  throw std::invalid_argument("unknown intensity mask \"" + kind + "\"");
}

StandardizeResult Standardize(const ImageType* image, const config::IntensityConfig& config) {
  StandardizeResult result;
  auto mask = IntensityMask(image, config.mask);
  auto values = ValuesOrThrow(image, mask.GetPointer(), config.mask);
  auto& d = result.details;
  d["method"] = config.method;
  d["mask"] = config.mask;
  d["mask_voxels"] = values.size();
  d["before"] = ToJson(intensity::ComputeStats(values));  // sorts `values`

  if (config.method == "none") {
    result.image = Map(image, [](float v) { return v; });
  } else if (config.method == "ct_window") {
    const double lo = config.ct_window_hu[0], hi = config.ct_window_hu[1];
    result.image = Map(image, [&](float v) { return (std::clamp<double>(v, lo, hi) - lo) / (hi - lo); });
    d["window_hu"] = config.ct_window_hu;
  } else {
    const auto bounds = intensity::Percentiles(
        values, {config.clip_percentiles[0], config.clip_percentiles[1]});
    const double lo = bounds[0], hi = bounds[1];
    d["clip_intensities"] = {lo, hi};
    if (config.method == "zscore") {
      double sum = 0, sum2 = 0;
      for (float v : values) {
        const double c = std::clamp<double>(v, lo, hi);
        sum += c;
        sum2 += c * c;
      }
      const double mean = sum / values.size();
      const double sd = std::sqrt(std::max(0.0, sum2 / values.size() - mean * mean));
      if (!(sd > 1e-8)) throw StageError(kStage, "intensities inside the mask are constant (sd 0)");
      d["mean"] = mean;
      d["sd"] = sd;
      result.image = Map(image, [&](float v) { return (std::clamp<double>(v, lo, hi) - mean) / sd; });
    } else {  // nyul
      intensity::NyulLandmarks landmarks;
      try {
        landmarks = intensity::NyulFromJson(config::ReadJsonFile(config.nyul_landmarks_file));
      } catch (const std::exception& e) {
        throw StageError(kStage, config.nyul_landmarks_file + ": " + e.what());
      }
      const auto image_landmarks = intensity::Percentiles(values, landmarks.percentiles);
      d["landmarks_file"] = config.nyul_landmarks_file;
      d["image_landmarks"] = image_landmarks;
      result.image = Map(image, [&](float v) {
        return intensity::NyulMap(std::clamp<double>(v, lo, hi), image_landmarks, landmarks);
      });
    }
  }
  auto after = MaskedValues(result.image.GetPointer(), mask.GetPointer());
  d["after"] = ToJson(intensity::ComputeStats(after));
  return result;
}

intensity::NyulLandmarks LearnNyulLandmarks(const std::vector<const ImageType*>& images,
                                            const std::string& mask_kind,
                                            intensity::NyulLandmarks landmarks) {
  std::vector<std::vector<double>> per_image;
  for (const ImageType* image : images) {
    auto mask = IntensityMask(image, mask_kind);
    auto values = ValuesOrThrow(image, mask.GetPointer(), mask_kind);
    per_image.push_back(intensity::Percentiles(values, landmarks.percentiles));
  }
  try {
    return intensity::LearnNyulScale(per_image, landmarks);
  } catch (const std::invalid_argument& e) {
    throw StageError(kStage, e.what());
  }
}

}  // namespace cardioseg::imaging
