#pragma once
// preview.png: a montage of slices through the segmented heart for eyeballing results.
#include <array>
#include <filesystem>
#include <vector>

#include "cardioseg/core/plot.h"
#include "cardioseg/imaging/image.h"

namespace cardioseg::imaging {

struct PreviewLabel {
  int value = 0;
  std::array<int, 3> color{255, 0, 0};  // RGB 0-255
};

// Writes an RGB PNG (atomically): one row per slice along k, up to `max_rows` slices spread
// evenly over the slices that hold a label (of `prediction`, else of `reference`, else the middle
// of the volume); columns [image | reference | prediction], or [image | prediction] without a
// reference. The image is windowed to its 1st-99th percentiles; labels are blended at 50 % in
// their colours. Pixels are voxels (no in-plane resampling). Returns {width, height} in pixels.
// Throws std::invalid_argument when the grids differ, InputError when the file cannot be written.
std::array<std::size_t, 2> WritePreview(const ImageType* image, const LabelMapType* prediction,
                                        const LabelMapType* reference,
                                        const std::vector<PreviewLabel>& labels,
                                        const std::filesystem::path& path, std::size_t max_rows = 4);

// Writes an RGB raster (e.g. DrawTrainingCurves) as PNG, encoded by libpng in memory and written
// atomically. Throws InputError naming the file when it cannot be written, std::invalid_argument
// when the raster's bytes do not match width x height x 3.
void WriteRgbPng(const RgbRaster& raster, const std::filesystem::path& path);

}  // namespace cardioseg::imaging
