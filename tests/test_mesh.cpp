// Surface meshes on synthetic label maps built in memory, and on a real left-atrium label.
#include <cmath>
#include <fstream>

#include <gtest/gtest.h>
#include <vtkCompositeDataIterator.h>
#include <vtkGLTFReader.h>
#include <vtkMultiBlockDataSet.h>
#include <vtkPolyData.h>

#include "cardioseg/core/error.h"
#include "cardioseg/imaging/io.h"
#include "cardioseg/mesh/surface.h"
#include "test_util.h"

namespace cardioseg::mesh {
namespace {

namespace fs = std::filesystem;

struct Volume {
  Geometry geometry;
  std::vector<std::uint8_t> voxels;
  LabelVolume view() const { return {geometry, voxels.data()}; }
};

Volume SphereLabel(const Geometry& g, double radius_mm, int label = 1) {
  Volume v{g, std::vector<std::uint8_t>(g.NumberOfVoxels(), 0)};
  for (std::size_t k = 0, n = 0; k < g.size[2]; ++k)
    for (std::size_t j = 0; j < g.size[1]; ++j)
      for (std::size_t i = 0; i < g.size[0]; ++i, ++n) {
        const double x = (i - (g.size[0] - 1) / 2.0) * g.spacing[0];
        const double y = (j - (g.size[1] - 1) / 2.0) * g.spacing[1];
        const double z = (k - (g.size[2] - 1) / 2.0) * g.spacing[2];
        v.voxels[n] = x * x + y * y + z * z <= radius_mm * radius_mm ? label : 0;
      }
  return v;
}

Volume BoxLabel(const Geometry& g, std::array<std::size_t, 3> lo, std::array<std::size_t, 3> hi) {
  Volume v{g, std::vector<std::uint8_t>(g.NumberOfVoxels(), 0)};
  for (std::size_t k = lo[2]; k <= hi[2]; ++k)
    for (std::size_t j = lo[1]; j <= hi[1]; ++j)
      for (std::size_t i = lo[0]; i <= hi[0]; ++i) v.voxels[(k * g.size[1] + j) * g.size[0] + i] = 1;
  return v;
}

config::MeshConfig Unsmoothed() {
  config::MeshConfig c;
  c.smoothing_factor = 0;
  return c;
}

TEST(Mesh, SphereIsClosedManifoldWithinTwoPercentOfItsVolume) {
  Geometry g;
  g.size = {48, 48, 48};
  const double r = 18.0;
  const auto sphere = SphereLabel(g, r);
  const auto config = Unsmoothed();
  auto surface = LabelSurface(sphere.view(), 1, config);
  const auto q = ComputeQuality(surface, sphere.view(), 1, config, true);
  EXPECT_TRUE(q.watertight);
  EXPECT_TRUE(q.edge_manifold);
  EXPECT_EQ(q.components, 1);
  EXPECT_EQ(q.euler_characteristic, 2);
  const double expected_ml = 4.0 / 3.0 * M_PI * r * r * r / 1000.0;
  EXPECT_NEAR(q.volume_ml, expected_ml, 0.02 * expected_ml);
  EXPECT_LT(q.hd95_to_label_boundary_mm, 1.0);
  // Smoothing keeps it closed and close to the voxel boundary.
  config::MeshConfig smooth;
  const auto qs = ComputeQuality(LabelSurface(sphere.view(), 1, smooth), sphere.view(), 1, smooth, true);
  EXPECT_TRUE(qs.watertight);
  EXPECT_NEAR(qs.volume_ml, expected_ml, 0.03 * expected_ml);
}

TEST(Mesh, AShellEnclosesOnlyItsOwnVolume) {
  // A spherical shell (radii 10 and 17 mm): its inner wall must face the cavity, so the enclosed
  // volume is the shell's, not the outer sphere's plus the cavity's.
  Geometry g;
  g.size = {44, 44, 44};
  Volume shell = SphereLabel(g, 17.0);
  const Volume cavity = SphereLabel(g, 10.0);
  for (std::size_t i = 0; i < shell.voxels.size(); ++i) {
    if (cavity.voxels[i]) shell.voxels[i] = 0;
  }
  for (const auto& config : {Unsmoothed(), config::MeshConfig{}}) {
    const auto q = ComputeQuality(LabelSurface(shell.view(), 1, config), shell.view(), 1, config, false);
    EXPECT_EQ(q.components, 2);
    EXPECT_TRUE(q.watertight);
    EXPECT_NEAR(q.volume_ml, q.label_volume_ml, 0.04 * q.label_volume_ml);
  }
}

TEST(Mesh, AnisotropicSpacingIsHonoured) {
  Geometry g;
  g.size = {20, 20, 8};
  g.spacing = {0.5, 1.0, 5.0};
  const auto box = BoxLabel(g, {2, 2, 2}, {11, 11, 5});  // 10 x 10 x 4 voxels
  auto surface = LabelSurface(box.view(), 1, Unsmoothed());
  double b[6];
  surface->GetBounds(b);
  EXPECT_NEAR(b[1] - b[0], 10 * 0.5, 1e-6);
  EXPECT_NEAR(b[3] - b[2], 10 * 1.0, 1e-6);
  EXPECT_NEAR(b[5] - b[4], 4 * 5.0, 1e-6);
  EXPECT_NEAR(b[0], 1.5 * 0.5, 1e-6);  // voxel 2's lower face at i = 1.5
}

TEST(Mesh, FlippedDirectionFlipsTheMeshAndRasFlipsXY) {
  Geometry g;
  g.size = {20, 20, 10};
  const auto box = BoxLabel(g, {2, 3, 1}, {6, 9, 4});
  double identity[6], flipped[6], ras[6];
  LabelSurface(box.view(), 1, Unsmoothed())->GetBounds(identity);
  Volume mirrored = box;
  mirrored.geometry.direction = {-1, 0, 0, 0, 1, 0, 0, 0, 1};
  auto flipped_mesh = LabelSurface(mirrored.view(), 1, Unsmoothed());
  flipped_mesh->GetBounds(flipped);
  EXPECT_NEAR(flipped[0], -identity[1], 1e-6);
  EXPECT_NEAR(flipped[1], -identity[0], 1e-6);
  EXPECT_NEAR(flipped[2], identity[2], 1e-6);
  // Still a closed mesh with outward normals: the same positive enclosed volume as unflipped
  // (discrete flying edges chamfers the box's edges, so a little below the voxel volume).
  const auto q = ComputeQuality(flipped_mesh, mirrored.view(), 1, Unsmoothed(), false);
  const auto q0 = ComputeQuality(LabelSurface(box.view(), 1, Unsmoothed()), box.view(), 1,
                                 Unsmoothed(), false);
  EXPECT_GT(q.volume_ml, 0.9 * 5 * 7 * 4 / 1000.0);
  EXPECT_NEAR(q.volume_ml, q0.volume_ml, 1e-9);
  auto config = Unsmoothed();
  config.coordinates = "RAS";
  LabelSurface(box.view(), 1, config)->GetBounds(ras);
  EXPECT_NEAR(ras[0], -identity[1], 1e-6);
  EXPECT_NEAR(ras[2], -identity[3], 1e-6);
  EXPECT_NEAR(ras[4], identity[4], 1e-6);
}

TEST(Mesh, WritersProduceReadableFilesAndGlbHoldsEveryMesh) {
  Geometry g;
  g.size = {30, 30, 30};
  auto a = SphereLabel(g, 6.0);
  const auto config = Unsmoothed();
  std::vector<NamedMesh> scene;
  for (int m = 0; m < 3; ++m) {
    Volume v = a;
    v.geometry.origin = {20.0 * m, 0, 0};
    scene.push_back({"part " + std::to_string(m), {50 * m, 100, 200}, LabelSurface(v.view(), 1, config)});
  }
  test::TempDir dir;
  for (const char* ext : {".stl", ".ply", ".obj", ".vtp"}) {
    WriteMesh(scene[0].mesh, dir / (std::string("m") + ext));
    EXPECT_GT(std::filesystem::file_size(dir / (std::string("m") + ext)), 1000u) << ext;
  }
  EXPECT_THROW(WriteMesh(scene[0].mesh, dir / "m.xyz"), InputError);
  WriteGlbScene(scene, dir / "scene.glb");
  std::ifstream glb(dir / "scene.glb", std::ios::binary);
  char magic[4];
  glb.read(magic, 4);
  EXPECT_EQ(std::string(magic, 4), "glTF");
  auto reader = vtkSmartPointer<vtkGLTFReader>::New();
  reader->SetFileName((dir / "scene.glb").c_str());
  reader->Update();
  int meshes = 0;
  auto it = vtkSmartPointer<vtkCompositeDataIterator>::Take(reader->GetOutput()->NewIterator());
  for (it->InitTraversal(); !it->IsDoneWithTraversal(); it->GoToNextItem()) {
    auto* poly = vtkPolyData::SafeDownCast(it->GetCurrentDataObject());
    if (poly && poly->GetNumberOfPolys() > 0) ++meshes;
  }
  EXPECT_EQ(meshes, 3);
}

TEST(Mesh, BallPivotingOnASphereGivesVerticesWithinOneVoxel) {
  Geometry g;
  g.size = {36, 36, 26};
  g.spacing = {1.0, 1.0, 1.5};
  g.origin = {-5.0, 7.0, 2.0};
  const double r = 13.0;
  const auto sphere = SphereLabel(g, r);
  config::MeshConfig c;
  c.method = "ball_pivoting";
  const auto surface = LabelSurface(sphere.view(), 1, c);
  ASSERT_GT(surface->GetNumberOfPolys(), 500);
  double centre[3];
  for (int d = 0; d < 3; ++d) centre[d] = g.origin[d] + (g.size[d] - 1) / 2.0 * g.spacing[d];
  double worst = 0;
  for (vtkIdType i = 0; i < surface->GetNumberOfPoints(); ++i) {
    double p[3];
    surface->GetPoint(i, p);
    const double dist = std::sqrt((p[0] - centre[0]) * (p[0] - centre[0]) +
                                  (p[1] - centre[1]) * (p[1] - centre[1]) +
                                  (p[2] - centre[2]) * (p[2] - centre[2]));
    worst = std::max(worst, std::abs(dist - r));
  }
  EXPECT_LT(worst, 1.0) << "a vertex lies " << worst << " mm off the sphere";
  const auto q = ComputeQuality(surface, sphere.view(), 1, c, false);
  EXPECT_GE(q.holes, 0);
  EXPECT_EQ(q.watertight, q.holes == 0);
  EXPECT_GT(q.volume_ml, 0.9 * 4.0 / 3.0 * M_PI * r * r * r / 1000.0);  // mostly closed, outward
}

TEST(Mesh, PresmoothingAndDecimationKeepTheSphereClosedAndItsVolume) {
  Geometry g;
  g.size = {40, 40, 40};
  const double r = 14.0, exact_ml = 4.0 / 3.0 * M_PI * r * r * r / 1000.0;
  const auto sphere = SphereLabel(g, r);
  auto config = Unsmoothed();
  const auto plain = ComputeQuality(LabelSurface(sphere.view(), 1, config), sphere.view(), 1, config, false);
  config.presmoothing_sigma_mm = 1.0;
  const auto smooth = ComputeQuality(LabelSurface(sphere.view(), 1, config), sphere.view(), 1, config, true);
  EXPECT_TRUE(smooth.watertight);
  EXPECT_NEAR(smooth.volume_ml, exact_ml, 0.03 * exact_ml);
  EXPECT_LT(smooth.hd95_to_label_boundary_mm, 1.0);
  config.decimation = 0.5;
  const auto decimated = ComputeQuality(LabelSurface(sphere.view(), 1, config), sphere.view(), 1, config, false);
  EXPECT_TRUE(decimated.watertight);
  EXPECT_NEAR(static_cast<double>(decimated.triangles), 0.5 * smooth.triangles, 0.05 * smooth.triangles);
  EXPECT_NEAR(decimated.volume_ml, exact_ml, 0.03 * exact_ml);
  EXPECT_GT(plain.triangles, 0);
}

TEST(Mesh, HolesAreCountedAsBoundaryLoops) {
  Geometry g;
  g.size = {24, 24, 24};
  const auto sphere = SphereLabel(g, 8.0);
  const auto config = Unsmoothed();
  auto surface = LabelSurface(sphere.view(), 1, config);
  EXPECT_EQ(ComputeQuality(surface, sphere.view(), 1, config, false).holes, 0);
  // Delete two triangles far apart: two holes of three boundary edges each.
  surface->BuildLinks();
  surface->DeleteCell(0);
  surface->DeleteCell(surface->GetNumberOfCells() - 1);
  surface->RemoveDeletedCells();
  const auto q = ComputeQuality(surface, sphere.view(), 1, config, false);
  EXPECT_FALSE(q.watertight);
  EXPECT_EQ(q.boundary_edges, 6);
  EXPECT_EQ(q.holes, 2);
}

TEST(RealMesh, LeftAtriumMeshIsWatertightWithinThreePercentOfTheLabelVolume) {
  CARDIOSEG_REQUIRE_SHARED_DATA(data);
  const auto labels = imaging::ReadLabelMap(data / "la2018/labelsTr/la_06SR5RBREL16DQ6M8LWS.nii.gz");
  const LabelVolume view{imaging::GeometryOf(labels.GetPointer()), labels->GetBufferPointer()};
  config::MeshConfig config;  // defaults: flying edges + windowed-sinc smoothing
  const auto surface = LabelSurface(view, 1, config);
  const auto q = ComputeQuality(surface, view, 1, config, true);
  EXPECT_TRUE(q.watertight);
  EXPECT_TRUE(q.edge_manifold);
  EXPECT_NEAR(q.volume_ml, q.label_volume_ml, 0.03 * q.label_volume_ml);
  EXPECT_LT(q.hd95_to_label_boundary_mm, 1.5);
}

}  // namespace
}  // namespace cardioseg::mesh
