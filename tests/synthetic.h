#pragma once
// Tiny synthetic volumes built in memory (as ITK's and MONAI's tests do).
#include <cmath>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "cardioseg/imaging/image.h"

namespace cardioseg::test {

// A geometry with anisotropic spacing, a non-zero origin and a rotated direction (30 degrees
// about k), so that tests notice any axis, spacing or direction mix-up.
inline Geometry ObliqueGeometry(std::array<std::size_t, 3> size, std::array<double, 3> spacing) {
  Geometry g;
  g.size = size;
  g.spacing = spacing;
  g.origin = {-12.5, 30.25, 101.0};
  const double c = std::cos(M_PI / 6), s = std::sin(M_PI / 6);
  g.direction = {c, -s, 0, s, c, 0, 0, 0, 1};
  return g;
}

// Sphere of `radius_mm` centred in the grid: `inside` within, `outside` elsewhere, plus Gaussian
// noise of `noise_sd` from a fixed seed.
inline imaging::ImageType::Pointer Sphere(const Geometry& g, double radius_mm, float inside,
                                          float outside, float noise_sd = 0, unsigned seed = 7) {
  auto image = imaging::MakeImage<imaging::ImageType>(g);
  std::mt19937 rng(seed);
  std::normal_distribution<float> noise(0, noise_sd > 0 ? noise_sd : 1);
  float* p = image->GetBufferPointer();
  for (std::size_t k = 0; k < g.size[2]; ++k) {
    for (std::size_t j = 0; j < g.size[1]; ++j) {
      for (std::size_t i = 0; i < g.size[0]; ++i) {
        const double x = (i - (g.size[0] - 1) / 2.0) * g.spacing[0];
        const double y = (j - (g.size[1] - 1) / 2.0) * g.spacing[1];
        const double z = (k - (g.size[2] - 1) / 2.0) * g.spacing[2];
        const bool in = x * x + y * y + z * z <= radius_mm * radius_mm;
        *p++ = (in ? inside : outside) + (noise_sd > 0 ? noise(rng) : 0.0f);
      }
    }
  }
  return image;
}

// Writes a 2D float image (size x size) to `path`: an input cardioseg must refuse.
void WriteFlatImage(const std::filesystem::path& path, unsigned size = 16);

// Writes a 64x64x32 .nii.gz to `dir`/full.nii.gz and a copy cut to half its bytes to `dir`/`name`.
void WriteTruncatedNifti(const std::filesystem::path& dir, const std::string& name);

// Writes a DICOM series of `slices` 32x32 int16 MR images (one file each, IM-NNNN.dcm, 4 mm
// apart along z, one SeriesInstanceUID) into `dir`; returns the file paths in slice order.
std::vector<std::filesystem::path> WriteDicomSeries(const std::filesystem::path& dir, int slices,
                                                    const std::string& series_description = "");

// Pearson correlation of two images' voxels.
inline double Correlation(const imaging::ImageType* a, const imaging::ImageType* b) {
  const std::size_t n = a->GetLargestPossibleRegion().GetNumberOfPixels();
  const float* x = a->GetBufferPointer();
  const float* y = b->GetBufferPointer();
  double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
  for (std::size_t i = 0; i < n; ++i) {
    sx += x[i];
    sy += y[i];
    sxx += double(x[i]) * x[i];
    syy += double(y[i]) * y[i];
    sxy += double(x[i]) * y[i];
  }
  const double cov = sxy / n - sx / n * sy / n;
  return cov / std::sqrt((sxx / n - sx / n * sx / n) * (syy / n - sy / n * sy / n));
}

}  // namespace cardioseg::test

namespace cardioseg::test {

// Checks a DICOM SEG written for `labels` from the DICOM slices `slice_files` (slice k =
// slice_files[k]), with GoogleTest assertions: rows and columns; one segment per non-empty label
// of `names` (value -> SegmentLabel) with its SNOMED CT code; every frame lies at the
// ImagePositionPatient of a source slice (exactly, as the source's strings give it), references
// that slice's SOPInstanceUID, and holds exactly the label's voxels of that slice; every slice
// holding a label has its frame. Returns the number of frames checked.
std::size_t ExpectDicomSegMatches(const std::filesystem::path& seg, const imaging::LabelMapType* labels,
                                  const std::vector<std::filesystem::path>& slice_files,
                                  const std::vector<std::pair<int, std::string>>& names);

}  // namespace cardioseg::test
