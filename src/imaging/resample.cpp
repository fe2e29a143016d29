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

IndexBox NonzeroBox(const ImageType* image) {
  const Geometry g = GeometryOf(image);
  std::array<std::size_t, 3> lo = g.size, hi{0, 0, 0};
  const float* p = image->GetBufferPointer();
  bool any = false;
  for (std::size_t k = 0, n = 0; k < g.size[2]; ++k)
    for (std::size_t j = 0; j < g.size[1]; ++j)
      for (std::size_t i = 0; i < g.size[0]; ++i, ++n) {
        if (p[n] == 0.0f) continue;
        any = true;
        const std::size_t idx[3] = {i, j, k};
        for (int a = 0; a < 3; ++a) {
          lo[a] = std::min(lo[a], idx[a]);
          hi[a] = std::max(hi[a], idx[a]);
        }
      }
  IndexBox box;
  if (!any) {
    box.size = g.size;
    return box;
  }
  for (int a = 0; a < 3; ++a) {
    box.start[a] = lo[a];
    box.size[a] = hi[a] - lo[a] + 1;
  }
  return box;
}

template <class TImage>
typename TImage::Pointer Crop(const TImage* image, const IndexBox& box) {
  const Geometry g = GeometryOf(image);
  Geometry c = g;
  c.size = box.size;
  for (int r = 0; r < 3; ++r) {
    c.origin[r] = g.origin[r];
    for (int a = 0; a < 3; ++a) c.origin[r] += g.direction[3 * r + a] * g.spacing[a] * box.start[a];
  }
  auto out = MakeImage<TImage>(c);
  const auto* in = image->GetBufferPointer();
  auto* o = out->GetBufferPointer();
  for (std::size_t k = 0; k < c.size[2]; ++k)
    for (std::size_t j = 0; j < c.size[1]; ++j) {
      const auto* row = in + ((k + box.start[2]) * g.size[1] + (j + box.start[1])) * g.size[0] + box.start[0];
      std::copy(row, row + c.size[0], o + (k * c.size[1] + j) * c.size[0]);
    }
  return out;
}

LabelMapType::Pointer Uncrop(const LabelMapType* cropped, const IndexBox& box, const Geometry& full) {
  auto out = MakeImage<LabelMapType>(full, 0);
  const auto* in = cropped->GetBufferPointer();
  auto* o = out->GetBufferPointer();
  for (std::size_t k = 0; k < box.size[2]; ++k)
    for (std::size_t j = 0; j < box.size[1]; ++j) {
      std::copy(in + (k * box.size[1] + j) * box.size[0], in + (k * box.size[1] + j + 1) * box.size[0],
                o + ((k + box.start[2]) * full.size[1] + (j + box.start[1])) * full.size[0] + box.start[0]);
    }
  return out;
}

template ImageType::Pointer Crop<ImageType>(const ImageType*, const IndexBox&);
template LabelMapType::Pointer Crop<LabelMapType>(const LabelMapType*, const IndexBox&);

}  // namespace cardioseg::imaging
