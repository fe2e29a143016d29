#include "cardioseg/mesh/surface.h"

#include <cmath>

#include <vtkCellArray.h>
#include <vtkIdList.h>
#include <vtkReverseSense.h>
#include <vtkDiscreteFlyingEdges3D.h>
#include <vtkFlyingEdges3D.h>
#include <vtkImageCast.h>
#include <vtkImageData.h>
#include <vtkImageGaussianSmooth.h>
#include <vtkMatrix4x4.h>
#include <vtkPointData.h>
#include <vtkPolyDataNormals.h>
#include <vtkQuadricDecimation.h>
#include <vtkTransform.h>
#include <vtkTransformPolyDataFilter.h>
#include <vtkTriangleFilter.h>
#include <vtkUnsignedCharArray.h>
#include <vtkWindowedSincPolyDataFilter.h>

#include "surface_internal.h"
#include "cardioseg/core/error.h"

namespace cardioseg::mesh {
namespace {

constexpr const char* kStage = "mesh.surface";

// The label's mask in voxel space (spacing 1, origin 0), padded by one voxel on every side so
// that surfaces touching the grid border close. Voxel (i, j, k) of the label map sits at (i+1,
// j+1, k+1) here. Returns null when the label is absent.
vtkSmartPointer<vtkImageData> PaddedMask(const LabelVolume& labels, int label) {
  const auto& s = labels.geometry.size;
  auto image = vtkSmartPointer<vtkImageData>::New();
  image->SetDimensions(static_cast<int>(s[0] + 2), static_cast<int>(s[1] + 2),
                       static_cast<int>(s[2] + 2));
  image->AllocateScalars(VTK_UNSIGNED_CHAR, 1);
  auto* out = static_cast<std::uint8_t*>(image->GetScalarPointer());
  std::fill(out, out + (s[0] + 2) * (s[1] + 2) * (s[2] + 2), 0);
  bool any = false;
  for (std::size_t k = 0; k < s[2]; ++k) {
    for (std::size_t j = 0; j < s[1]; ++j) {
      const std::uint8_t* row = labels.voxels + (k * s[1] + j) * s[0];
      std::uint8_t* dst = out + ((k + 1) * (s[1] + 2) + (j + 1)) * (s[0] + 2) + 1;
      for (std::size_t i = 0; i < s[0]; ++i) {
        dst[i] = row[i] == label;
        any = any || dst[i];
      }
    }
  }
  return any ? image : nullptr;
}

// Padded voxel index -> world mm: origin + D * diag(spacing) * (index - 1), RAS flips x and y.
vtkSmartPointer<vtkTransform> VoxelToWorld(const Geometry& g, const std::string& coordinates) {
  auto m = vtkSmartPointer<vtkMatrix4x4>::New();
  const double flip[3] = {coordinates == "RAS" ? -1.0 : 1.0, coordinates == "RAS" ? -1.0 : 1.0, 1.0};
  for (int r = 0; r < 3; ++r) {
    double translation = g.origin[r];
    for (int c = 0; c < 3; ++c) {
      const double a = g.direction[3 * r + c] * g.spacing[c];
      m->SetElement(r, c, flip[r] * a);
      translation -= a;  // the one-voxel padding
    }
    m->SetElement(r, 3, flip[r] * translation);
  }
  auto t = vtkSmartPointer<vtkTransform>::New();
  t->SetMatrix(m);
  return t;
}

}  // namespace

double SignedVolumeMm3(vtkPolyData* mesh) {
  double volume = 0;
  auto ids = vtkSmartPointer<vtkIdList>::New();
  auto polys = mesh->GetPolys();
  for (polys->InitTraversal(); polys->GetNextCell(ids);) {
    // Fan-triangulate each polygon around its first vertex.
    double p0[3], p1[3], p2[3];
    mesh->GetPoint(ids->GetId(0), p0);
    for (vtkIdType t = 1; t + 1 < ids->GetNumberOfIds(); ++t) {
      mesh->GetPoint(ids->GetId(t), p1);
      mesh->GetPoint(ids->GetId(t + 1), p2);
      volume += (p0[0] * (p1[1] * p2[2] - p1[2] * p2[1]) - p0[1] * (p1[0] * p2[2] - p1[2] * p2[0]) +
                 p0[2] * (p1[0] * p2[1] - p1[1] * p2[0])) / 6.0;
    }
  }
  return volume;
}

vtkSmartPointer<vtkPolyData> LabelSurface(const LabelVolume& labels, int label,
                                          const config::MeshConfig& config) {
  if (config.method == "ball_pivoting") return BallPivotingSurface(labels, label, config);
  if (config.method != "flying_edges") {
    throw StageError(kStage, "unknown method \"" + config.method + "\"");
  }
  return FlyingEdgesSurface(labels, label, config);
}

vtkSmartPointer<vtkPolyData> FlyingEdgesSurface(const LabelVolume& labels, int label,
                                                const config::MeshConfig& config) {
  auto mask = PaddedMask(labels, label);
  if (!mask) return vtkSmartPointer<vtkPolyData>::New();

  vtkSmartPointer<vtkPolyData> surface;
  if (config.presmoothing_sigma_mm > 0) {
    // Smooth the 0/1 mask in voxel units (sigma_mm / spacing per axis), cut at 0.5.
    // In float: smoothing the uint8 mask in place would truncate every fraction to 0.
    auto cast = vtkSmartPointer<vtkImageCast>::New();
    cast->SetInputData(mask);
    cast->SetOutputScalarTypeToFloat();
    auto smooth = vtkSmartPointer<vtkImageGaussianSmooth>::New();
    smooth->SetInputConnection(cast->GetOutputPort());
    const auto& sp = labels.geometry.spacing;
    smooth->SetStandardDeviations(config.presmoothing_sigma_mm / sp[0],
                                  config.presmoothing_sigma_mm / sp[1],
                                  config.presmoothing_sigma_mm / sp[2]);
    smooth->SetRadiusFactors(3, 3, 3);
    auto edges = vtkSmartPointer<vtkFlyingEdges3D>::New();
    edges->SetInputConnection(smooth->GetOutputPort());
    edges->SetValue(0, 0.5);
    edges->ComputeNormalsOff();
    edges->ComputeGradientsOff();
    edges->Update();
    surface = edges->GetOutput();
  } else {
    auto edges = vtkSmartPointer<vtkDiscreteFlyingEdges3D>::New();
    edges->SetInputData(mask);
    edges->SetValue(0, 1);
    edges->ComputeNormalsOff();
    edges->ComputeGradientsOff();
    edges->ComputeScalarsOff();
    edges->Update();
    surface = edges->GetOutput();
  }

  if (config.smoothing_factor > 0 && surface->GetNumberOfPoints() > 0) {
    auto sinc = vtkSmartPointer<vtkWindowedSincPolyDataFilter>::New();
    sinc->SetInputData(surface);
    sinc->SetNumberOfIterations(config.smoothing_iterations);
    sinc->SetPassBand(std::pow(10.0, -4.0 * config.smoothing_factor));
    sinc->BoundarySmoothingOff();
    sinc->FeatureEdgeSmoothingOff();
    sinc->NonManifoldSmoothingOn();
    sinc->NormalizeCoordinatesOn();
    sinc->Update();
    surface = sinc->GetOutput();
  }
  if (config.decimation > 0 && surface->GetNumberOfPolys() > 0) {
    auto triangles = vtkSmartPointer<vtkTriangleFilter>::New();
    triangles->SetInputData(surface);
    auto decimate = vtkSmartPointer<vtkQuadricDecimation>::New();
    decimate->SetInputConnection(triangles->GetOutputPort());
    decimate->SetTargetReduction(config.decimation);
    decimate->VolumePreservationOn();
    decimate->Update();
    surface = decimate->GetOutput();
  }
  auto transform = vtkSmartPointer<vtkTransformPolyDataFilter>::New();
  transform->SetInputData(surface);
  transform->SetTransform(VoxelToWorld(labels.geometry, config.coordinates));
  transform->Update();
  // Flying edges orients every piece of the surface the same way relative to the label (the
  // inner wall of a shell faces into its cavity). A mirroring transform (a direction flip, RAS)
  // reverses that, so the whole mesh is reversed when its signed volume comes out negative.
  // Per-piece auto-orientation would be wrong here: it turns a shell's inner wall outward.
  return OrientOutward(transform->GetOutput());
}

vtkSmartPointer<vtkPolyData> OrientOutward(vtkPolyData* mesh) {
  vtkSmartPointer<vtkPolyData> world = mesh;
  if (SignedVolumeMm3(world) < 0) {
    auto reverse = vtkSmartPointer<vtkReverseSense>::New();
    reverse->SetInputData(world);
    reverse->ReverseCellsOn();
    reverse->Update();
    world = reverse->GetOutput();
  }
  auto normals = vtkSmartPointer<vtkPolyDataNormals>::New();
  normals->SetInputData(world);
  normals->ConsistencyOn();
  normals->AutoOrientNormalsOff();
  normals->SplittingOff();
  normals->ComputePointNormalsOn();
  normals->ComputeCellNormalsOff();
  normals->Update();
  return normals->GetOutput();
}

}  // namespace cardioseg::mesh
