#pragma once
// Manual contours of the Sunnybrook Cardiac Data (Radau et al., "Evaluation Framework for
// Algorithms Segmenting Short Axis Cardiac MRI", MIDAS Journal 2009), rasterized into label maps
// on the grid of the contoured cardiac phase, so that a Sunnybrook case is evaluated like any
// other (`cardioseg evaluate`, `run --gt`).
//
// Files: `<case>/i-contours/IM-0001-NNNN-icontour-manual.txt` (LV endocardium) and
// `<case>/o-contours/IM-0001-NNNN-ocontour-manual.txt` (LV epicardium), one "x y" pair per line in
// pixel coordinates of DICOM image NNNN (InstanceNumber): x along the row (column index), y down
// the column (row index), (0, 0) the centre of the first pixel as in DICOM.
//
// Rasterization: a pixel belongs to a polygon when its centre lies inside it (even-odd rule), so
// the pixel area matches the polygon's shoelace area up to the boundary discretization.
// Label values follow the shipped ACDC model: 3 = LV cavity (inside the endocardium),
// 2 = LV myocardium (inside the epicardium, outside the endocardium); 0 elsewhere.
#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cardioseg/imaging/image.h"

namespace cardioseg::imaging {

using Polygon = std::vector<std::array<double, 2>>;  // closed implicitly; pixel units (x, y)

// Reads one contour file. Throws InputError naming the file when it cannot be read, a line is not
// two numbers, or it has fewer than 3 points.
Polygon ReadContourFile(const std::filesystem::path& file);

// Absolute area enclosed by `polygon` (shoelace formula), in pixel units squared.
double ShoelaceArea(const Polygon& polygon);

// Fills the pixels of a `columns` x `rows` slice whose centres are inside `polygon` (even-odd
// rule). Returns a row-major mask [rows][columns] of 0/1.
std::vector<std::uint8_t> RasterizePolygon(const Polygon& polygon, std::size_t columns,
                                           std::size_t rows);

inline constexpr std::uint8_t kContourMyocardium = 2;
inline constexpr std::uint8_t kContourLvCavity = 3;

// One contoured cardiac phase of a Sunnybrook case.
struct ContourPhase {
  int phase = 0;                          // 0-based phase index, as `run --phase`
  LabelMapType::Pointer labels;           // on the phase's DICOM grid: 2 myocardium, 3 LV cavity
  LabelMapType::Pointer contoured;        // 1 on the slices that carry an endocardial contour
  std::vector<int> slices;                // 0-based slice indices with an endocardial contour
  bool has_epicardium = false;            // whether o-contours exist at this phase
  nlohmann::json details;                 // per-slice files and areas (pixel and mm^2)
};

// Rasterizes the contours of a Sunnybrook case. `dicom_folder` holds the cine series (read as in
// dicom.h); `contour_folders` are searched (non-recursively) for *-icontour-manual.txt and
// *-ocontour-manual.txt. Each contour is placed on the slice of its image's position in the
// volume of its image's phase. Returns one entry per contoured phase, by phase.
// Throws InputError when the folder has no DICOM series, a contour names an image number absent
// from the series, or a contour file is malformed.
std::vector<ContourPhase> RasterizeSunnybrookContours(
    const std::filesystem::path& dicom_folder,
    const std::vector<std::filesystem::path>& contour_folders);

}  // namespace cardioseg::imaging
