#pragma once
// ITK image types used across cardioseg and conversions to the ITK-free Geometry.
#include <cstdint>
#include <vector>

#include <itkImage.h>

#include "cardioseg/core/geometry.h"

namespace cardioseg::imaging {

// Scans are handled as float voxels (MRI arbitrary units, CT HU) on a 3D grid.
using ImageType = itk::Image<float, 3>;
// Label maps and binary masks: 0 = background, 1..255 = labels.
using LabelMapType = itk::Image<std::uint8_t, 3>;

// Size, spacing, origin and direction of an ITK image's largest possible region.
template <class TImage>
Geometry GeometryOf(const TImage* image);

// Copies `geometry` onto `image` (spacing, origin, direction, regions) without allocating.
template <class TImage>
void SetGeometry(TImage* image, const Geometry& geometry);

// A new image with `geometry`, allocated and filled with `value`.
template <class TImage>
typename TImage::Pointer MakeImage(const Geometry& geometry, typename TImage::PixelType value = 0);

// The intensities of `image` where `mask` is nonzero (all voxels when `mask` is null).
// Throws std::invalid_argument if the mask's size differs from the image's.
std::vector<float> MaskedValues(const ImageType* image, const LabelMapType* mask);

}  // namespace cardioseg::imaging
