#pragma once
// Stage "mesh.surface": a closed surface mesh per label of a label map, with VTK.
//
// Method "flying_edges" follows 3D Slicer's binary-labelmap-to-closed-surface conversion
// (vtkBinaryLabelmapToClosedSurfaceConversionRule): mesh in voxel space on the mask padded by one
// voxel (so surfaces touching the border close), vtkDiscreteFlyingEdges3D (or vtkFlyingEdges3D at
// 0.5 after Gaussian pre-smoothing), vtkWindowedSincPolyDataFilter with pass band
// 10^(-4 x smoothing_factor), optional vtkQuadricDecimation, then the image-to-world transform
// (direction x spacing, origin) and vtkPolyDataNormals for consistent outward normals.
// Coordinates are millimetres, LPS unless the config says RAS.
#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <vtkPolyData.h>
#include <vtkSmartPointer.h>

#include "cardioseg/core/config.h"
#include "cardioseg/core/geometry.h"

namespace cardioseg::mesh {

// A label map as plain data: `voxels` in i-fastest raster order over `geometry.size`.
struct LabelVolume {
  Geometry geometry;
  const std::uint8_t* voxels = nullptr;
};

// Method "ball_pivoting", the point-cloud route: the label's mask is Gaussian-smoothed
// (presmoothing_sigma_mm, or the smallest spacing when 0) and cut at 0.5 by flying edges; Open3D
// samples that surface into an oriented point cloud (Poisson disk, one point per
// ball_pivoting_point_spacing_mm, default the smallest spacing, normals from the surface) and
// pivots balls of radii ball_pivoting_radius_factors x point spacing over it (Bernardini et al.,
// IEEE TVCG 1999; open3d::geometry::TriangleMesh::CreateFromPointCloudBallPivoting).
// Limits: the result is not guaranteed closed — where samples are further apart than the largest
// ball's diameter, or the surface bends more sharply than the ball, holes stay (counted in the
// quality figures); it is slower than flying edges; it takes no windowed-sinc smoothing or
// decimation; and it cannot be better than the smoothed iso-surface it samples.
//
// The surface of voxels equal to `label`, in world mm (config.coordinates), by config.method.
// Returns an empty mesh when the label is absent. Throws StageError("mesh.surface", ...) when
// Open3D returns no point cloud.
vtkSmartPointer<vtkPolyData> LabelSurface(const LabelVolume& labels, int label,
                                          const config::MeshConfig& config);

// Signed enclosed volume in mm^3 by the divergence theorem (sum of signed tetrahedra over the
// triangles); positive for a closed mesh whose triangles face outward, and for a shell it is the
// shell's volume (outer minus inner wall).
double SignedVolumeMm3(vtkPolyData* mesh);

struct MeshQuality {
  std::int64_t vertices = 0, triangles = 0;
  double area_mm2 = 0;
  double volume_ml = 0;          // enclosed volume (divergence theorem; meaningful when closed)
  double label_volume_ml = 0;    // the label's voxel volume
  bool watertight = false;       // no boundary edges
  std::int64_t boundary_edges = 0;  // edges used by one triangle only
  std::int64_t holes = 0;        // loops of boundary edges (connected sets of them)
  bool edge_manifold = false;    // no edge shared by more than two triangles
  std::int64_t euler_characteristic = 0;  // V - E + F (2 per closed genus-0 component)
  int components = 0;            // connected pieces
  double hd95_to_label_boundary_mm = -1;  // symmetric 95th percentile; -1 when not computed
};

// Quality figures of `mesh` against the label it came from. The boundary distance pools the
// distances from mesh vertices to the nearest label-boundary point and from every boundary point
// to the nearest point on the mesh, and takes their 95th percentile; boundary points are the
// centres of the faces between label and non-label voxels, in world mm. Skipped when
// `with_distance` is false.
MeshQuality ComputeQuality(vtkPolyData* mesh, const LabelVolume& labels, int label,
                           const config::MeshConfig& config, bool with_distance);
nlohmann::json ToJson(const MeshQuality& q);

// Writes one mesh; the format follows the extension: .stl (binary), .ply (binary), .obj, .vtp.
// Atomic. Throws InputError naming the file on failure or an unknown extension.
void WriteMesh(vtkPolyData* mesh, const std::filesystem::path& path);

struct NamedMesh {
  std::string name;
  std::array<int, 3> color{200, 200, 200};  // RGB 0-255
  vtkSmartPointer<vtkPolyData> mesh;
};

// Writes a binary glTF 2.0 (.glb) scene with one mesh node per entry, each with a material of its
// colour, for web and VR viewers. Geometry is encoded by vtkGLTFWriter and repacked into the GLB
// container (12-byte header, JSON chunk, BIN chunk). glTF's axes are metres in a right-handed
// Y-up frame; cardioseg keeps millimetres in the mesh's own world frame and says so in the
// asset's "extras". Atomic. Throws InputError naming the file on failure.
void WriteGlbScene(const std::vector<NamedMesh>& meshes, const std::filesystem::path& path);

}  // namespace cardioseg::mesh
