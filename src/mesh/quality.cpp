#include <algorithm>
#include <cmath>
#include <functional>
#include <unordered_map>

#include <vtkCellArray.h>
#include <vtkIdList.h>
#include <vtkMassProperties.h>
#include <vtkPoints.h>
#include <vtkPolyDataConnectivityFilter.h>
#include <vtkStaticCellLocator.h>
#include <vtkStaticPointLocator.h>
#include <vtkTriangleFilter.h>

#include "cardioseg/mesh/surface.h"

namespace cardioseg::mesh {
namespace {

// Centres of the faces between label voxels and non-label voxels (or the grid border), in the
// mesh's world frame. At most `max_points`, taken evenly, to bound the cost on huge labels.
vtkSmartPointer<vtkPoints> BoundaryFaceCentres(const LabelVolume& labels, int label,
                                               const std::string& coordinates,
                                               std::size_t max_points) {
  const Geometry& g = labels.geometry;
  const auto& s = g.size;
  std::vector<std::array<double, 3>> faces;
  auto at = [&](long i, long j, long k) {
    if (i < 0 || j < 0 || k < 0 || i >= long(s[0]) || j >= long(s[1]) || k >= long(s[2])) return false;
    return labels.voxels[(k * s[1] + j) * s[0] + i] == label;
  };
  for (long k = 0; k < long(s[2]); ++k)
    for (long j = 0; j < long(s[1]); ++j)
      for (long i = 0; i < long(s[0]); ++i) {
        if (!at(i, j, k)) continue;
        const long d[6][3] = {{-1, 0, 0}, {1, 0, 0}, {0, -1, 0}, {0, 1, 0}, {0, 0, -1}, {0, 0, 1}};
        for (const auto& n : d) {
          if (!at(i + n[0], j + n[1], k + n[2])) {
            faces.push_back({i + 0.5 * n[0], j + 0.5 * n[1], k + 0.5 * n[2]});
          }
        }
      }
  const std::size_t step = std::max<std::size_t>(1, faces.size() / std::max<std::size_t>(1, max_points));
  auto points = vtkSmartPointer<vtkPoints>::New();
  const double flip = coordinates == "RAS" ? -1.0 : 1.0;
  for (std::size_t f = 0; f < faces.size(); f += step) {
    double world[3];
    for (int r = 0; r < 3; ++r) {
      world[r] = g.origin[r];
      for (int c = 0; c < 3; ++c) world[r] += g.direction[3 * r + c] * g.spacing[c] * faces[f][c];
      if (r < 2) world[r] *= flip;
    }
    points->InsertNextPoint(world);
  }
  return points;
}

}  // namespace

MeshQuality ComputeQuality(vtkPolyData* mesh, const LabelVolume& labels, int label,
                           const config::MeshConfig& config, bool with_distance) {
  MeshQuality q;
  std::size_t voxels = 0;
  for (std::size_t i = 0, n = labels.geometry.NumberOfVoxels(); i < n; ++i) {
    voxels += labels.voxels[i] == label;
  }
  q.label_volume_ml = voxels * labels.geometry.VoxelVolumeMl();
  q.vertices = mesh->GetNumberOfPoints();
  q.triangles = mesh->GetNumberOfPolys();
  if (q.triangles == 0) return q;

  auto triangles = vtkSmartPointer<vtkTriangleFilter>::New();
  triangles->SetInputData(mesh);
  auto mass = vtkSmartPointer<vtkMassProperties>::New();
  mass->SetInputConnection(triangles->GetOutputPort());
  mass->Update();
  q.area_mm2 = mass->GetSurfaceArea();
  q.volume_ml = SignedVolumeMm3(mesh) / 1000.0;

  // Edge use counts: 1 = boundary (a hole), > 2 = non-manifold.
  std::unordered_map<std::uint64_t, int> edges;
  auto polys = mesh->GetPolys();
  auto ids = vtkSmartPointer<vtkIdList>::New();
  for (polys->InitTraversal(); polys->GetNextCell(ids);) {
    const vtkIdType n = ids->GetNumberOfIds();
    for (vtkIdType e = 0; e < n; ++e) {
      auto a = static_cast<std::uint64_t>(ids->GetId(e));
      auto b = static_cast<std::uint64_t>(ids->GetId((e + 1) % n));
      if (a > b) std::swap(a, b);
      ++edges[(a << 32) | b];
    }
  }
  std::int64_t boundary = 0, non_manifold = 0;
  for (const auto& [key, count] : edges) {
    boundary += count == 1;
    non_manifold += count > 2;
  }
  q.watertight = boundary == 0;
  q.edge_manifold = non_manifold == 0;
  q.boundary_edges = boundary;
  // Holes: connected loops of boundary edges (union-find over their end points).
  if (boundary > 0) {
    std::unordered_map<std::uint64_t, std::uint64_t> parent;
    std::function<std::uint64_t(std::uint64_t)> find = [&](std::uint64_t x) {
      auto it = parent.find(x);
      if (it == parent.end()) return parent[x] = x;
      if (it->second == x) return x;
      return it->second = find(it->second);
    };
    for (const auto& [key, count] : edges) {
      if (count != 1) continue;
      const std::uint64_t a = find(key >> 32), b = find(key & 0xffffffffu);
      if (a != b) parent[a] = b;
    }
    for (const auto& [node, up] : parent) q.holes += node == up;
  }
  q.euler_characteristic = q.vertices - static_cast<std::int64_t>(edges.size()) + q.triangles;

  auto connectivity = vtkSmartPointer<vtkPolyDataConnectivityFilter>::New();
  connectivity->SetInputData(mesh);
  connectivity->SetExtractionModeToAllRegions();
  connectivity->Update();
  q.components = connectivity->GetNumberOfExtractedRegions();

  if (with_distance) {
    auto boundary_points = BoundaryFaceCentres(labels, label, config.coordinates, 200000);
    std::vector<float> d;
    auto boundary_set = vtkSmartPointer<vtkPolyData>::New();
    boundary_set->SetPoints(boundary_points);
    auto point_locator = vtkSmartPointer<vtkStaticPointLocator>::New();
    point_locator->SetDataSet(boundary_set);
    point_locator->BuildLocator();
    for (vtkIdType v = 0; v < mesh->GetNumberOfPoints(); ++v) {
      double x[3], y[3];
      mesh->GetPoint(v, x);
      boundary_points->GetPoint(point_locator->FindClosestPoint(x), y);
      d.push_back(static_cast<float>(std::sqrt(vtkMath::Distance2BetweenPoints(x, y))));
    }
    auto cell_locator = vtkSmartPointer<vtkStaticCellLocator>::New();
    cell_locator->SetDataSet(mesh);
    cell_locator->BuildLocator();
    for (vtkIdType p = 0; p < boundary_points->GetNumberOfPoints(); ++p) {
      double x[3], closest[3], dist2 = 0;
      vtkIdType cell;
      int sub;
      boundary_points->GetPoint(p, x);
      cell_locator->FindClosestPoint(x, closest, cell, sub, dist2);
      d.push_back(static_cast<float>(std::sqrt(dist2)));
    }
    const auto k = static_cast<std::size_t>(std::ceil(0.95 * d.size())) - 1;
    std::nth_element(d.begin(), d.begin() + k, d.end());
    q.hd95_to_label_boundary_mm = d[k];
  }
  return q;
}

nlohmann::json ToJson(const MeshQuality& q) {
  nlohmann::json j = {{"vertices", q.vertices},
                      {"triangles", q.triangles},
                      {"area_mm2", q.area_mm2},
                      {"volume_ml", q.volume_ml},
                      {"label_volume_ml", q.label_volume_ml},
                      {"watertight", q.watertight},
                      {"holes", q.holes},
                      {"boundary_edges", q.boundary_edges},
                      {"edge_manifold", q.edge_manifold},
                      {"euler_characteristic", q.euler_characteristic},
                      {"components", q.components}};
  if (q.hd95_to_label_boundary_mm >= 0) j["hd95_to_label_boundary_mm"] = q.hd95_to_label_boundary_mm;
  return j;
}

}  // namespace cardioseg::mesh
