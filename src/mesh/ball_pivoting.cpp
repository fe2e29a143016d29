// Method "ball_pivoting" of mesh.surface: Open3D's ball-pivoting algorithm (Bernardini et al.,
// "The Ball-Pivoting Algorithm for Surface Reconstruction", IEEE TVCG 5(4), 1999) on an oriented
// point cloud sampled from the label's Gaussian-smoothed surface. The only translation unit that
// includes Open3D.
#include "surface_internal.h"

#include <algorithm>
#include <cmath>

#include <open3d/geometry/PointCloud.h>
#include <open3d/geometry/TriangleMesh.h>
#include <vtkCellArray.h>
#include <vtkPointData.h>
#include <vtkPoints.h>

#include "cardioseg/core/error.h"

namespace cardioseg::mesh {

vtkSmartPointer<vtkPolyData> BallPivotingSurface(const LabelVolume& labels, int label,
                                                 const config::MeshConfig& config) {
  const auto& sp = labels.geometry.spacing;
  const double min_spacing = std::min({sp[0], sp[1], sp[2]});
  // 1. The oriented surface to sample: flying edges at 0.5 on the Gaussian-smoothed mask, with
  //    outward point normals, in world mm.
  config::MeshConfig iso_config = config;
  iso_config.method = "flying_edges";
  iso_config.smoothing_factor = 0;
  iso_config.decimation = 0;
  if (iso_config.presmoothing_sigma_mm <= 0) iso_config.presmoothing_sigma_mm = min_spacing;
  const auto iso = FlyingEdgesSurface(labels, label, iso_config);
  if (iso->GetNumberOfPolys() == 0) return iso;

  open3d::geometry::TriangleMesh source;
  source.vertices_.resize(static_cast<std::size_t>(iso->GetNumberOfPoints()));
  source.vertex_normals_.resize(source.vertices_.size());
  auto* normals = iso->GetPointData()->GetNormals();
  for (vtkIdType i = 0; i < iso->GetNumberOfPoints(); ++i) {
    double p[3], n[3];
    iso->GetPoint(i, p);
    normals->GetTuple(i, n);
    source.vertices_[i] = {p[0], p[1], p[2]};
    source.vertex_normals_[i] = {n[0], n[1], n[2]};
  }
  auto ids = vtkSmartPointer<vtkIdList>::New();
  auto polys = iso->GetPolys();
  for (polys->InitTraversal(); polys->GetNextCell(ids);) {
    for (vtkIdType t = 1; t + 1 < ids->GetNumberOfIds(); ++t) {
      source.triangles_.push_back({static_cast<int>(ids->GetId(0)), static_cast<int>(ids->GetId(t)),
                                   static_cast<int>(ids->GetId(t + 1))});
    }
  }

  // 2. Poisson-disk samples about `spacing` apart, normals interpolated from the vertices.
  const double spacing =
      config.ball_pivoting_point_spacing_mm > 0 ? config.ball_pivoting_point_spacing_mm : min_spacing;
  const double area = source.GetSurfaceArea();
  // Poisson-disk samples at distance d cover about d^2 * sqrt(3)/2 each (hexagonal packing).
  const auto samples = static_cast<std::size_t>(
      std::max(100.0, area / (spacing * spacing * std::sqrt(3.0) / 2.0)));
  const auto cloud = source.SamplePointsPoissonDisk(samples, 5.0, nullptr, false);
  if (!cloud || !cloud->HasNormals()) {
    throw StageError("mesh.surface", "ball pivoting: Open3D returned no oriented point cloud");
  }

  // 3. Pivot balls of the configured radii (multiples of the point spacing).
  std::vector<double> radii;
  for (double f : config.ball_pivoting_radius_factors) radii.push_back(f * spacing);
  const auto pivoted = open3d::geometry::TriangleMesh::CreateFromPointCloudBallPivoting(*cloud, radii);

  auto points = vtkSmartPointer<vtkPoints>::New();
  points->SetDataTypeToDouble();
  for (const auto& v : pivoted->vertices_) points->InsertNextPoint(v.x(), v.y(), v.z());
  auto cells = vtkSmartPointer<vtkCellArray>::New();
  for (const auto& t : pivoted->triangles_) {
    const vtkIdType tri[3] = {t(0), t(1), t(2)};
    cells->InsertNextCell(3, tri);
  }
  auto out = vtkSmartPointer<vtkPolyData>::New();
  out->SetPoints(points);
  out->SetPolys(cells);
  // Ball pivoting orients triangles by the point normals (outward); a mesh that came out
  // inverted is reversed as flying edges' is.
  return OrientOutward(out);
}

}  // namespace cardioseg::mesh
