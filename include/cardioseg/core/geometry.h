#pragma once
// Image geometry as plain data, so that reports, tests and the LibTorch-only parts can carry it
// without ITK. Axes are the image axes (i, j, k); world coordinates are LPS millimetres, as ITK
// and DICOM use them.
#include <array>
#include <cstddef>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace cardioseg {

struct Geometry {
  std::array<std::size_t, 3> size{0, 0, 0};    // voxels along i, j, k
  std::array<double, 3> spacing{1, 1, 1};      // mm between voxel centres along i, j, k
  std::array<double, 3> origin{0, 0, 0};       // LPS mm of voxel (0, 0, 0)'s centre
  std::array<double, 9> direction{1, 0, 0, 0, 1, 0, 0, 0, 1};  // row-major; column c = axis c

  // Exact equality of every field (no tolerance): "the same grid".
  bool operator==(const Geometry& other) const;
  bool operator!=(const Geometry& other) const { return !(*this == other); }
  std::size_t NumberOfVoxels() const { return size[0] * size[1] * size[2]; }
  // Volume of one voxel in mL (spacing product / 1000).
  double VoxelVolumeMl() const { return spacing[0] * spacing[1] * spacing[2] / 1000.0; }
};

// The same voxel grid up to the precision of file headers (NIfTI stores float32): equal sizes,
// spacings within `relative_tolerance` of each other, origins within `tolerance_mm` and
// direction cosines within `direction_tolerance`. Defaults 1e-4, 1e-3 mm, 1e-4.
bool SameGrid(const Geometry& a, const Geometry& b, double relative_tolerance = 1e-4,
              double tolerance_mm = 1e-3, double direction_tolerance = 1e-4);

// "size 154x154x10, spacing 1.5625x1.5625x10 mm, origin (0, 0, 0) mm, direction (1 0 0; 0 1 0;
// 0 0 1)": for error messages that name two grids.
std::string Describe(const Geometry& geometry);

// {"size": [...], "spacing_mm": [...], "origin_mm": [...], "direction": [[row0], [row1], [row2]]}
nlohmann::json ToJson(const Geometry& geometry);

}  // namespace cardioseg
