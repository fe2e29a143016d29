#pragma once
// Stage "preprocess.resample": resampling to a target spacing and back onto the input grid.
// Images use linear or cubic B-spline interpolation, label maps nearest neighbour. Along a sparse
// axis (spacing > anisotropy_ratio x the finest spacing) images are resampled by nearest
// neighbour unless interpolate_across_slices is set (nnU-Net's "separate z" rule, Isensee et al.,
// Nature Methods 18:203-211, 2021).
#include <array>

#include "cardioseg/core/config.h"
#include "cardioseg/core/geometry.h"
#include "cardioseg/imaging/image.h"

namespace cardioseg::imaging {

enum class Interpolation { kNearest, kLinear, kBSpline };

// The grid of `input` resampled to `target_spacing_mm` (0 keeps an axis): same origin and
// direction, size round(size * spacing / target) and at least 1 along each axis.
Geometry ResampledGeometry(const Geometry& input, const std::array<double, 3>& target_spacing_mm);

// Which axes of `geometry` are sparse under `anisotropy_ratio`.
std::array<bool, 3> SparseAxes(const Geometry& geometry, double anisotropy_ratio);

// Resamples `image` to the config's target spacing (see ResampleConfig).
ImageType::Pointer ResampleImage(const ImageType* image, const config::ResampleConfig& config);

// Resamples onto exactly `reference` (size, spacing, origin, direction): the inverse of
// ResampleImage when `reference` is the input's geometry. Points outside the source take 0.
ImageType::Pointer ResampleOnto(const ImageType* image, const Geometry& reference,
                                Interpolation interpolation);
LabelMapType::Pointer ResampleLabelsOnto(const LabelMapType* labels, const Geometry& reference);

// Crop to the nonzero box (nnU-Net's cropping): the smallest index box holding every voxel of
// `image` that is not 0. Returns the whole grid when every voxel is 0. Index order (i, j, k).
struct IndexBox {
  std::array<std::size_t, 3> start{0, 0, 0};
  std::array<std::size_t, 3> size{0, 0, 0};
};
IndexBox NonzeroBox(const ImageType* image);

// The sub-volume of `image` inside `box`, with its physical position kept (origin moved to the
// box's first voxel, same spacing and direction).
template <class TImage>
typename TImage::Pointer Crop(const TImage* image, const IndexBox& box);

// A label map on `full` (zeros) with `cropped` (a Crop of that grid by `box`) pasted in place.
LabelMapType::Pointer Uncrop(const LabelMapType* cropped, const IndexBox& box, const Geometry& full);

}  // namespace cardioseg::imaging
