#include "cardioseg/imaging/resample.h"

#include <algorithm>
#include <cmath>

#include <itkBSplineInterpolateImageFunction.h>
#include <itkLinearInterpolateImageFunction.h>
#include <itkNearestNeighborInterpolateImageFunction.h>
#include <itkResampleImageFilter.h>

namespace cardioseg::imaging {
namespace {

template <class TImage>
typename TImage::Pointer Resample(const TImage* image, const Geometry& reference,
                                  Interpolation interpolation) {
  auto filter = itk::ResampleImageFilter<TImage, TImage>::New();
  filter->SetInput(image);
  auto grid = TImage::New();
  SetGeometry(grid.GetPointer(), reference);
  filter->SetUseReferenceImage(true);
  filter->SetReferenceImage(grid);
  filter->SetDefaultPixelValue(0);
  switch (interpolation) {
    case Interpolation::kNearest:
      filter->SetInterpolator(itk::NearestNeighborInterpolateImageFunction<TImage, double>::New());
      break;
    case Interpolation::kLinear:
      filter->SetInterpolator(itk::LinearInterpolateImageFunction<TImage, double>::New());
      break;
    case Interpolation::kBSpline: {
      auto bspline = itk::BSplineInterpolateImageFunction<TImage, double, double>::New();
      bspline->SetSplineOrder(3);
      filter->SetInterpolator(bspline);
      break;
    }
  }
  filter->Update();
  typename TImage::Pointer out = filter->GetOutput();
  out->DisconnectPipeline();
  return out;
}

}  // namespace

Geometry ResampledGeometry(const Geometry& input, const std::array<double, 3>& target) {
  Geometry g = input;
  for (int i = 0; i < 3; ++i) {
    if (target[i] <= 0) continue;
    g.spacing[i] = target[i];
    const double n = std::round(static_cast<double>(input.size[i]) * input.spacing[i] / target[i]);
    g.size[i] = static_cast<std::size_t>(std::max(1.0, n));
  }
  return g;
}

std::array<bool, 3> SparseAxes(const Geometry& g, double ratio) {
  const double finest = *std::min_element(g.spacing.begin(), g.spacing.end());
  return {g.spacing[0] > ratio * finest, g.spacing[1] > ratio * finest,
          g.spacing[2] > ratio * finest};
}

ImageType::Pointer ResampleImage(const ImageType* image, const config::ResampleConfig& config) {
  const Geometry input = GeometryOf(image);
  const Geometry target = ResampledGeometry(input, config.target_spacing_mm);
  const Interpolation interpolation =
      config.interpolation == "bspline" ? Interpolation::kBSpline : Interpolation::kLinear;
  const auto sparse = SparseAxes(input, config.anisotropy_ratio);
  const bool separate = !config.interpolate_across_slices &&
                        std::any_of(sparse.begin(), sparse.end(), [](bool s) { return s; });
  if (!separate) return Resample(image, target, interpolation);
  // First the dense axes with interpolation, keeping the sparse axes' grid (so every sample lies
  // exactly on an input slice), then the sparse axes by nearest neighbour.
  Geometry dense = target;
  for (int i = 0; i < 3; ++i) {
    if (sparse[i]) {
      dense.size[i] = input.size[i];
      dense.spacing[i] = input.spacing[i];
    }
  }
  auto in_plane = Resample(image, dense, interpolation);
  if (dense == target) return in_plane;
  return Resample(in_plane.GetPointer(), target, Interpolation::kNearest);
}

ImageType::Pointer ResampleOnto(const ImageType* image, const Geometry& reference,
                                Interpolation interpolation) {
  return Resample(image, reference, interpolation);
}

LabelMapType::Pointer ResampleLabelsOnto(const LabelMapType* labels, const Geometry& reference) {
  return Resample(labels, reference, Interpolation::kNearest);
}

}  // namespace cardioseg::imaging
