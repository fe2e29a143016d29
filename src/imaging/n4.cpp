#include "cardioseg/imaging/n4.h"

#include <limits>

#include <algorithm>
#include <cmath>

#include <itkBSplineControlPointImageFilter.h>
#include <itkCommand.h>
#include <itkN4BiasFieldCorrectionImageFilter.h>
#include <itkOtsuThresholdImageFilter.h>
#include <itkShrinkImageFilter.h>

#include "cardioseg/core/error.h"

namespace cardioseg::imaging {
namespace {

constexpr const char* kStage = "preprocess.n4";
using Corrector = itk::N4BiasFieldCorrectionImageFilter<ImageType, LabelMapType, ImageType>;

// Records the last iteration of each fitting level.
class LevelObserver : public itk::Command {
 public:
  using Self = LevelObserver;
  using Pointer = itk::SmartPointer<Self>;
  itkNewMacro(Self);
  std::vector<N4Level> levels;

  void Execute(itk::Object* caller, const itk::EventObject& event) override {
    Execute(static_cast<const itk::Object*>(caller), event);
  }
  void Execute(const itk::Object* caller, const itk::EventObject& event) override {
    if (!itk::IterationEvent().CheckEvent(&event)) return;
    const auto* filter = static_cast<const Corrector*>(caller);
    const int level = static_cast<int>(filter->GetCurrentLevel());
    if (levels.empty() || levels.back().level != level) levels.push_back({level, 0, 0});
    levels.back().iterations = static_cast<int>(filter->GetElapsedIterations());
    levels.back().convergence = filter->GetCurrentConvergenceMeasurement();
  }
};

template <class TImage>
typename TImage::Pointer Shrink(const TImage* image, const std::array<int, 3>& factors) {
  auto shrink = itk::ShrinkImageFilter<TImage, TImage>::New();
  shrink->SetInput(image);
  for (unsigned i = 0; i < 3; ++i) shrink->SetShrinkFactor(i, factors[i]);
  shrink->Update();
  return shrink->GetOutput();
}

}  // namespace

N4Result CorrectBiasField(const ImageType* input, const config::N4Config& config) {
  N4Result result;
  const Geometry g = GeometryOf(input);
  const std::size_t n = g.NumberOfVoxels();
  const float* in = input->GetBufferPointer();
  std::size_t non_finite = 0;
  for (std::size_t i = 0; i < n; ++i) non_finite += !std::isfinite(in[i]);
  if (non_finite > 0) {
    throw StageError(kStage, std::to_string(non_finite) + " voxels are NaN or Inf: the image data is "
                             "corrupt or not a magnitude image");
  }
  const auto [lowest, highest] = std::minmax_element(in, in + n);
  if (*lowest == *highest) {
    throw StageError(kStage, "the image is constant (every voxel " + std::to_string(*lowest) +
                             "): nothing to correct or segment");
  }
  const float min_value = *lowest;
  result.intensity_shift = min_value <= 0 ? 1.0 - min_value : 0.0;

  auto shifted = MakeImage<ImageType>(g);
  float* s = shifted->GetBufferPointer();
  for (std::size_t i = 0; i < n; ++i) s[i] = in[i] + static_cast<float>(result.intensity_shift);

  LabelMapType::Pointer mask;
  if (config.mask == "otsu") {
    auto otsu = itk::OtsuThresholdImageFilter<ImageType, LabelMapType>::New();
    otsu->SetInput(shifted);
    otsu->SetInsideValue(0);  // below the threshold: background
    otsu->SetOutsideValue(1);
    otsu->SetNumberOfHistogramBins(200);
    otsu->Update();
    mask = otsu->GetOutput();
  } else {
    mask = MakeImage<LabelMapType>(g, 1);
  }

  // Shrink factors larger than an axis would leave no voxel along it.
  std::array<int, 3> factors = config.shrink_factors;
  for (int i = 0; i < 3; ++i) factors[i] = std::max(1, std::min<int>(factors[i], g.size[i] / 2));
  auto small_image = Shrink(shifted.GetPointer(), factors);
  auto small_mask = Shrink(mask.GetPointer(), factors);
  const auto* m = small_mask->GetBufferPointer();
  result.mask_voxels = std::count_if(m, m + small_mask->GetLargestPossibleRegion().GetNumberOfPixels(),
                                     [](std::uint8_t v) { return v != 0; });
  if (result.mask_voxels < 8) {
    throw StageError(kStage, "the " + config.mask + " mask is (nearly) empty: " +
                                 std::to_string(result.mask_voxels) + " voxels");
  }

  auto corrector = Corrector::New();
  corrector->SetInput(small_image);
  corrector->SetMaskImage(small_mask);
  corrector->SetMaskLabel(1);
  Corrector::VariableSizeArrayType iterations(config.iterations_per_level.size());
  for (std::size_t i = 0; i < config.iterations_per_level.size(); ++i) {
    iterations[i] = config.iterations_per_level[i];
  }
  corrector->SetMaximumNumberOfIterations(iterations);
  corrector->SetNumberOfFittingLevels(static_cast<unsigned>(config.iterations_per_level.size()));
  corrector->SetConvergenceThreshold(config.convergence_threshold);
  corrector->SetSplineOrder(config.spline_order);
  corrector->SetNumberOfHistogramBins(config.histogram_bins);
  corrector->SetWienerFilterNoise(config.wiener_filter_noise);
  corrector->SetBiasFieldFullWidthAtHalfMaximum(config.bias_field_fwhm);
  // Mesh elements per axis from the knot distance, as ANTs' "-b [d]": ceil(extent / d), >= 1.
  Corrector::ArrayType control_points;
  for (unsigned i = 0; i < 3; ++i) {
    const double extent = g.spacing[i] * static_cast<double>(g.size[i] - 1);
    const int elements = std::max(1, static_cast<int>(std::ceil(extent / config.spline_distance_mm)));
    control_points[i] = elements + config.spline_order;
  }
  corrector->SetNumberOfControlPoints(control_points);
  auto observer = LevelObserver::New();
  corrector->AddObserver(itk::IterationEvent(), observer);
  try {
    corrector->Update();
  } catch (const itk::ExceptionObject& e) {
    throw StageError(kStage, std::string("ITK N4 failed: ") + e.GetDescription());
  }
  result.levels = observer->levels;

  // The fitted log field, evaluated on the full-resolution input grid.
  using Lattice = Corrector::BiasFieldControlPointLatticeType;
  using LogFieldImage = itk::Image<Lattice::PixelType, 3>;
  auto bspliner = itk::BSplineControlPointImageFilter<Lattice, LogFieldImage>::New();
  bspliner->SetInput(corrector->GetLogBiasFieldControlPointLattice());
  bspliner->SetSplineOrder(corrector->GetSplineOrder());
  bspliner->SetSize(input->GetLargestPossibleRegion().GetSize());
  bspliner->SetOrigin(input->GetOrigin());
  bspliner->SetSpacing(input->GetSpacing());
  bspliner->SetDirection(input->GetDirection());
  bspliner->Update();
  const auto* log_field = bspliner->GetOutput()->GetBufferPointer();

  result.bias_field = MakeImage<ImageType>(g);
  result.corrected = MakeImage<ImageType>(g);
  float* bias = result.bias_field->GetBufferPointer();
  float* out = result.corrected->GetBufferPointer();
  const auto shift = static_cast<float>(result.intensity_shift);
  for (std::size_t i = 0; i < n; ++i) {
    bias[i] = std::exp(log_field[i][0]);
    out[i] = s[i] / bias[i] - shift;
  }
  return result;
}

N4Result ApplyBiasField(const ImageType* image, const ImageType* bias_field) {
  const Geometry g = GeometryOf(image);
  if (!SameGrid(g, GeometryOf(bias_field))) {
    throw StageError(kStage, "the bias field to reuse lies on another grid than this volume");
  }
  const std::size_t n = g.NumberOfVoxels();
  const float* in = image->GetBufferPointer();
  const float* bias = bias_field->GetBufferPointer();
  float min_value = std::numeric_limits<float>::infinity();
  for (std::size_t i = 0; i < n; ++i) min_value = std::min(min_value, in[i]);
  N4Result result;
  result.intensity_shift = min_value <= 0 ? 1.0 - min_value : 0.0;
  const auto shift = static_cast<float>(result.intensity_shift);
  result.corrected = MakeImage<ImageType>(g);
  float* out = result.corrected->GetBufferPointer();
  for (std::size_t i = 0; i < n; ++i) out[i] = (in[i] + shift) / bias[i] - shift;
  result.bias_field = const_cast<ImageType*>(bias_field);
  return result;
}

nlohmann::json ToJson(const N4Result& r) {
  nlohmann::json levels = nlohmann::json::array();
  for (const auto& l : r.levels) {
    levels.push_back({{"level", l.level}, {"iterations", l.iterations},
                      {"convergence", l.convergence}});
  }
  float lo = 0, hi = 0;
  if (r.bias_field) {
    const float* b = r.bias_field->GetBufferPointer();
    const auto n = r.bias_field->GetLargestPossibleRegion().GetNumberOfPixels();
    const auto [mn, mx] = std::minmax_element(b, b + n);
    lo = *mn;
    hi = *mx;
  }
  return {{"levels", levels},
          {"intensity_shift", r.intensity_shift},
          {"mask_voxels_shrunk", r.mask_voxels},
          {"bias_field_min", lo},
          {"bias_field_max", hi}};
}

}  // namespace cardioseg::imaging
