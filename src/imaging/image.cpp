#include "cardioseg/imaging/image.h"

#include <stdexcept>

#include <itkImageRegionConstIterator.h>

namespace cardioseg::imaging {

template <class TImage>
Geometry GeometryOf(const TImage* image) {
  Geometry g;
  const auto& region = image->GetLargestPossibleRegion();
  for (unsigned i = 0; i < 3; ++i) {
    g.size[i] = region.GetSize()[i];
    g.spacing[i] = image->GetSpacing()[i];
    g.origin[i] = image->GetOrigin()[i];
    for (unsigned j = 0; j < 3; ++j) g.direction[3 * i + j] = image->GetDirection()(i, j);
  }
  return g;
}

template <class TImage>
void SetGeometry(TImage* image, const Geometry& g) {
  typename TImage::RegionType region;
  typename TImage::SpacingType spacing;
  typename TImage::PointType origin;
  typename TImage::DirectionType direction;
  for (unsigned i = 0; i < 3; ++i) {
    region.SetIndex(i, 0);
    region.SetSize(i, g.size[i]);
    spacing[i] = g.spacing[i];
    origin[i] = g.origin[i];
    for (unsigned j = 0; j < 3; ++j) direction(i, j) = g.direction[3 * i + j];
  }
  image->SetRegions(region);
  image->SetSpacing(spacing);
  image->SetOrigin(origin);
  image->SetDirection(direction);
}

template <class TImage>
typename TImage::Pointer MakeImage(const Geometry& geometry, typename TImage::PixelType value) {
  auto image = TImage::New();
  SetGeometry(image.GetPointer(), geometry);
  image->Allocate();
  image->FillBuffer(value);
  return image;
}

std::vector<float> MaskedValues(const ImageType* image, const LabelMapType* mask) {
  std::vector<float> values;
  const auto region = image->GetLargestPossibleRegion();
  if (mask && mask->GetLargestPossibleRegion().GetSize() != region.GetSize()) {
    throw std::invalid_argument("mask size differs from image size");
  }
  values.reserve(region.GetNumberOfPixels());
  const float* v = image->GetBufferPointer();
  const std::uint8_t* m = mask ? mask->GetBufferPointer() : nullptr;
  for (std::size_t i = 0, n = region.GetNumberOfPixels(); i < n; ++i) {
    if (!m || m[i]) values.push_back(v[i]);
  }
  return values;
}

template Geometry GeometryOf<ImageType>(const ImageType*);
template Geometry GeometryOf<LabelMapType>(const LabelMapType*);
template void SetGeometry<ImageType>(ImageType*, const Geometry&);
template void SetGeometry<LabelMapType>(LabelMapType*, const Geometry&);
template ImageType::Pointer MakeImage<ImageType>(const Geometry&, float);
template LabelMapType::Pointer MakeImage<LabelMapType>(const Geometry&, std::uint8_t);

}  // namespace cardioseg::imaging
