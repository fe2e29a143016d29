// Mesh benchmark (run by hand): time per label of mesh.surface and its quality figures.
//
//   bench_mesh LABELMAP [--config FILE] [--method flying_edges|ball_pivoting|both]
//   bench_mesh --synthetic 512 512 300 [...]     three nested ellipsoid labels in memory
//
// Prints, per method and label: meshing seconds, quality seconds, vertices, triangles,
// watertightness and holes, enclosed volume against the label volume, HD95 to the label boundary.
// `--method both` runs flying edges and ball pivoting side by side on the same labels.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "cardioseg/core/config.h"
#include "cardioseg/imaging/io.h"
#include "cardioseg/mesh/surface.h"

int main(int argc, char** argv) {
  using namespace cardioseg;
  using Clock = std::chrono::steady_clock;
  std::string config_file, input, method;
  std::vector<std::size_t> synthetic;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--config" && i + 1 < argc) config_file = argv[++i];
    else if (a == "--method" && i + 1 < argc) method = argv[++i];
    else if (a == "--synthetic" && i + 3 < argc) {
      for (int k = 0; k < 3; ++k) synthetic.push_back(std::stoul(argv[++i]));
    } else input = a;
  }
  if (input.empty() && synthetic.empty()) {
    std::fprintf(stderr, "usage: bench_mesh LABELMAP [--config FILE] | --synthetic NI NJ NK\n");
    return 2;
  }
  spdlog::set_level(spdlog::level::warn);
  const auto base = config::Resolve(config_file, {}).mesh.surface;
  std::vector<std::string> methods{method.empty() ? base.method : method};
  if (method == "both") methods = {"flying_edges", "ball_pivoting"};
  Geometry g;
  std::vector<std::uint8_t> voxels;
  imaging::LabelMapType::Pointer loaded;
  if (!synthetic.empty()) {
    g.size = {synthetic[0], synthetic[1], synthetic[2]};
    g.spacing = {0.7, 0.7, 0.7};
    voxels.assign(g.NumberOfVoxels(), 0);
    // Three nested ellipsoids: label 3 inside label 2 inside label 1 (shells).
    for (std::size_t k = 0, n = 0; k < g.size[2]; ++k)
      for (std::size_t j = 0; j < g.size[1]; ++j)
        for (std::size_t i = 0; i < g.size[0]; ++i, ++n) {
          const double x = (double(i) / g.size[0] - 0.5) / 0.4;
          const double y = (double(j) / g.size[1] - 0.5) / 0.3;
          const double z = (double(k) / g.size[2] - 0.5) / 0.35;
          const double r = x * x + y * y + z * z;
          voxels[n] = r < 0.25 ? 3 : r < 0.5 ? 2 : r < 1.0 ? 1 : 0;
        }
  } else {
    loaded = imaging::ReadLabelMap(input);
    g = imaging::GeometryOf(loaded.GetPointer());
    voxels.assign(loaded->GetBufferPointer(), loaded->GetBufferPointer() + g.NumberOfVoxels());
  }
  const mesh::LabelVolume view{g, voxels.data()};
  for (const auto& m : methods) {
    auto config = base;
    config.method = m;
    std::printf("grid %zu x %zu x %zu, method %s, smoothing %.2f\n", g.size[0], g.size[1],
                g.size[2], config.method.c_str(), config.smoothing_factor);
    std::printf("label  mesh_s  quality_s  vertices  triangles  watertight  holes  volume_ml  "
                "label_ml  hd95_mm\n");
    for (int label = 1; label < 256; ++label) {
      if (std::find(voxels.begin(), voxels.end(), label) == voxels.end()) continue;
      auto t = Clock::now();
      auto surface = mesh::LabelSurface(view, label, config);
      const double mesh_s = std::chrono::duration<double>(Clock::now() - t).count();
      t = Clock::now();
      const auto q = mesh::ComputeQuality(surface, view, label, config, config.boundary_distance);
      const double quality_s = std::chrono::duration<double>(Clock::now() - t).count();
      std::printf("%5d  %6.2f  %9.2f  %8lld  %9lld  %10s  %5lld  %9.2f  %8.2f  %7.3f\n", label,
                  mesh_s, quality_s, static_cast<long long>(q.vertices),
                  static_cast<long long>(q.triangles), q.watertight ? "yes" : "no",
                  static_cast<long long>(q.holes), q.volume_ml, q.label_volume_ml,
                  q.hd95_to_label_boundary_mm);
    }
  }
  return 0;
}
