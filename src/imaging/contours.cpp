#include "cardioseg/imaging/contours.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include <spdlog/spdlog.h>

#include "cardioseg/core/error.h"
#include "cardioseg/imaging/dicom.h"
#include "cardioseg/imaging/postprocess.h"

namespace cardioseg::imaging {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct ContourFile {
  fs::path path;
  int image_number = 0;
  bool endocardium = true;  // i-contour; false: o-contour (epicardium)
};

std::vector<ContourFile> FindContourFiles(const std::vector<fs::path>& folders) {
  // IM-0001-0048-icontour-manual.txt: the last number before the kind is the image number.
  static const std::regex kName(R"(.*-(\d+)-([io])contour-manual\.txt)");
  std::vector<ContourFile> out;
  for (const auto& folder : folders) {
    if (!fs::is_directory(folder)) continue;
    for (const auto& entry : fs::directory_iterator(folder)) {
      std::smatch m;
      const std::string name = entry.path().filename().string();
      if (!entry.is_regular_file() || !std::regex_match(name, m, kName)) continue;
      out.push_back({entry.path(), std::stoi(m[1].str()), m[2].str() == "i"});
    }
  }
  std::sort(out.begin(), out.end(), [](const ContourFile& a, const ContourFile& b) {
    return a.path < b.path;
  });
  return out;
}

}  // namespace

Polygon ReadContourFile(const fs::path& file) {
  std::ifstream in(file);
  if (!in) throw InputError(file.string(), "cannot open the contour file");
  Polygon polygon;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::istringstream s(line);
    double x = 0, y = 0;
    std::string rest;
    if (!(s >> x >> y) || (s >> rest)) {
      throw InputError(file.string(), "line " + std::to_string(number) +
                                          " is not an \"x y\" pair of pixel coordinates: \"" +
                                          line + "\"");
    }
    polygon.push_back({x, y});
  }
  if (polygon.size() < 3) {
    throw InputError(file.string(), "a contour needs at least 3 points, the file has " +
                                        std::to_string(polygon.size()));
  }
  return polygon;
}

double ShoelaceArea(const Polygon& p) {
  double twice = 0;
  for (std::size_t i = 0, n = p.size(); i < n; ++i) {
    const auto& a = p[i];
    const auto& b = p[(i + 1) % n];
    twice += a[0] * b[1] - b[0] * a[1];
  }
  return std::abs(twice) / 2;
}

std::vector<std::uint8_t> RasterizePolygon(const Polygon& p, std::size_t columns, std::size_t rows) {
  std::vector<std::uint8_t> mask(columns * rows, 0);
  std::vector<double> crossings;
  for (std::size_t r = 0; r < rows; ++r) {
    // Scanline through pixel centres at y = r: x of every edge crossing (half-open rule on y so
    // that a vertex on the scanline is counted once).
    const double y = static_cast<double>(r);
    crossings.clear();
    for (std::size_t i = 0, n = p.size(); i < n; ++i) {
      const auto& a = p[i];
      const auto& b = p[(i + 1) % n];
      if ((a[1] <= y) == (b[1] <= y)) continue;
      crossings.push_back(a[0] + (y - a[1]) * (b[0] - a[0]) / (b[1] - a[1]));
    }
    std::sort(crossings.begin(), crossings.end());
    for (std::size_t k = 0; k + 1 < crossings.size(); k += 2) {
      // Pixel centres x = c with crossings[k] < c <= crossings[k+1].
      const long first = std::max(0L, static_cast<long>(std::floor(crossings[k])) + 1);
      const long last = std::min(static_cast<long>(columns) - 1,
                                 static_cast<long>(std::floor(crossings[k + 1])));
      for (long c = first; c <= last; ++c) mask[r * columns + static_cast<std::size_t>(c)] = 1;
    }
  }
  return mask;
}

std::vector<ContourPhase> RasterizeSunnybrookContours(const fs::path& dicom_folder,
                                                      const std::vector<fs::path>& contour_folders) {
  const auto files = FindContourFiles(contour_folders);
  if (files.empty()) {
    std::string where;
    for (const auto& f : contour_folders) where += (where.empty() ? "" : ", ") + f.string();
    throw InputError(where, "no *-icontour-manual.txt or *-ocontour-manual.txt file found");
  }
  const auto all = ScanDicomFolder(dicom_folder);
  const DicomSeries& series = all.front();
  std::vector<std::vector<std::string>> phases;
  try {
    phases = GroupIntoPhases(series.slices);
  } catch (const std::invalid_argument& e) {
    throw InputError(dicom_folder.string(), e.what());
  }
  // File -> (phase, position) and instance number -> slice.
  std::map<std::string, std::pair<int, int>> where;
  for (std::size_t k = 0; k < phases.size(); ++k) {
    for (std::size_t i = 0; i < phases[k].size(); ++i) {
      where[phases[k][i]] = {static_cast<int>(k), static_cast<int>(i)};
    }
  }
  std::map<int, const DicomSlice*> by_instance;
  for (const auto& s : series.slices) by_instance[s.instance_number] = &s;

  std::map<int, ContourPhase> out;
  for (const auto& contour : files) {
    const auto it = by_instance.find(contour.image_number);
    if (it == by_instance.end()) {
      throw InputError(contour.path.string(), "names image " + std::to_string(contour.image_number) +
                                                  ", but the DICOM series in " +
                                                  dicom_folder.string() +
                                                  " has no image with that InstanceNumber");
    }
    const DicomSlice& slice = *it->second;
    const int phase = where.at(slice.file).first;
    ContourPhase& entry = out[phase];
    if (!entry.labels) {
      config::InputConfig input;
      input.phase = phase;
      const auto volume = ReadDicomFolder(dicom_folder, input);
      const Geometry grid = GeometryOf(volume.image.GetPointer());
      entry.phase = phase;
      entry.labels = MakeImage<LabelMapType>(grid, 0);
      entry.contoured = MakeImage<LabelMapType>(grid, 0);
      entry.details = {{"phase", phase}, {"contours", json::array()}};
    }
    // The slice of this image in the phase volume: its position mapped through the volume grid.
    ImageType::PointType point;
    for (int d = 0; d < 3; ++d) point[d] = slice.position[d];
    LabelMapType::IndexType origin_index;
    entry.labels->TransformPhysicalPointToIndex(point, origin_index);
    const auto size = entry.labels->GetLargestPossibleRegion().GetSize();
    if (origin_index[0] != 0 || origin_index[1] != 0 || origin_index[2] < 0 ||
        origin_index[2] >= static_cast<long>(size[2])) {
      throw InputError(contour.path.string(), "image " + std::to_string(contour.image_number) +
                                                  " does not lie on a slice of phase " +
                                                  std::to_string(phase) + "'s volume");
    }
    const auto z = static_cast<std::size_t>(origin_index[2]);
    const Polygon polygon = ReadContourFile(contour.path);
    const auto mask = RasterizePolygon(polygon, size[0], size[1]);
    std::uint8_t* labels = entry.labels->GetBufferPointer() + z * size[0] * size[1];
    std::uint8_t* contoured = entry.contoured->GetBufferPointer() + z * size[0] * size[1];
    std::size_t pixels = 0;
    for (std::size_t i = 0; i < mask.size(); ++i) {
      if (!mask[i]) continue;
      ++pixels;
      if (contour.endocardium) {
        labels[i] = kContourLvCavity;
      } else if (labels[i] != kContourLvCavity) {
        labels[i] = kContourMyocardium;
      }
    }
    if (contour.endocardium) {
      std::fill(contoured, contoured + size[0] * size[1], 1);
      entry.slices.push_back(static_cast<int>(z));
    } else {
      entry.has_epicardium = true;
    }
    const auto spacing = entry.labels->GetSpacing();
    entry.details["contours"].push_back(
        {{"file", contour.path.filename().string()},
         {"kind", contour.endocardium ? "endocardium" : "epicardium"},
         {"image", contour.image_number},
         {"slice", z},
         {"points", polygon.size()},
         {"polygon_area_mm2", ShoelaceArea(polygon) * spacing[0] * spacing[1]},
         {"pixels", pixels}});
  }
  std::vector<ContourPhase> result;
  for (auto& [phase, entry] : out) {
    std::sort(entry.slices.begin(), entry.slices.end());
    entry.slices.erase(std::unique(entry.slices.begin(), entry.slices.end()), entry.slices.end());
    entry.details["slices"] = entry.slices;
    entry.details["has_epicardium"] = entry.has_epicardium;
    // Volumes over the contoured slices only (slices without contours are not labelled).
    const auto ml = LabelVolumesMl(entry.labels.GetPointer());
    for (const auto& [value, key] : {std::pair<int, const char*>{kContourLvCavity, "lv_cavity_ml"},
                                     {kContourMyocardium, "lv_myocardium_ml"}}) {
      entry.details[key] = ml.count(value) ? ml.at(value) : 0.0;
    }
    result.push_back(std::move(entry));
  }
  spdlog::info("{}: {} contour files on {} phase(s)", dicom_folder.string(), files.size(),
               result.size());
  return result;
}

}  // namespace cardioseg::imaging
