#pragma once
// Internal to cardioseg_mesh: the two surface methods behind LabelSurface (surface.h).
#include "cardioseg/mesh/surface.h"

namespace cardioseg::mesh {

// Method "flying_edges" (surface.h), whatever config.method says.
vtkSmartPointer<vtkPolyData> FlyingEdgesSurface(const LabelVolume& labels, int label,
                                                const config::MeshConfig& config);

// Reverses every triangle when the signed volume is negative (a mirroring transform, or an
// inverted reconstruction), then computes consistent point normals without auto-orientation
// (which would turn a shell's inner wall outward).
vtkSmartPointer<vtkPolyData> OrientOutward(vtkPolyData* mesh);

// Method "ball_pivoting" (surface.h); in ball_pivoting.cpp, the only file that includes Open3D.
vtkSmartPointer<vtkPolyData> BallPivotingSurface(const LabelVolume& labels, int label,
                                                 const config::MeshConfig& config);

}  // namespace cardioseg::mesh
