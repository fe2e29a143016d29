#pragma once
// Internal to cardioseg_mesh: the two surface methods behind LabelSurface (surface.h).
#include <cstddef>
#include <vector>

#include "cardioseg/mesh/surface.h"

namespace cardioseg::mesh {

// Method "flying_edges" (surface.h), whatever config.method says.
vtkSmartPointer<vtkPolyData> FlyingEdgesSurface(const LabelVolume& labels, int label,
                                                const config::MeshConfig& config);

// Reverses every triangle when the signed volume is negative (a mirroring transform, or an
// inverted reconstruction), then computes consistent point normals without auto-orientation
// (which would turn a shell's inner wall outward).
vtkSmartPointer<vtkPolyData> OrientOutward(vtkPolyData* mesh);

struct BallPivotingInfo {
  std::size_t points = 0;
  double point_spacing_mm = 0;
  double presmoothing_sigma_mm = 0;
  std::vector<double> radii_mm;
};

// Method "ball_pivoting" (surface.h). Fills `info` when given.
vtkSmartPointer<vtkPolyData> BallPivotingSurface(const LabelVolume& labels, int label,
                                                 const config::MeshConfig& config,
                                                 BallPivotingInfo* info = nullptr);

}  // namespace cardioseg::mesh
