#include <fstream>
#include <set>

#include <gtest/gtest.h>
#include <itkImageFileWriter.h>

#include "cardioseg/core/error.h"
#include "cardioseg/imaging/dicom.h"
#include "cardioseg/imaging/intensity.h"
#include "cardioseg/imaging/io.h"
#include "cardioseg/imaging/metrics.h"
#include "cardioseg/imaging/n4.h"
#include "cardioseg/imaging/postprocess.h"
#include "cardioseg/imaging/resample.h"
#include "synthetic.h"
#include "test_util.h"

namespace cardioseg::imaging {
namespace {

using test::ObliqueGeometry;
using test::Sphere;

TEST(N4, RemovesASmoothBiasFromASphere) {
  Geometry g;
  g.size = {48, 48, 32};
  g.spacing = {2.0, 2.0, 2.0};
  auto truth = Sphere(g, 30.0, 100.0f, 30.0f, 2.0f);
  // Multiplicative bias exp(0.5 * x / extent): about 0.78 to 1.28 across the volume.
  auto biased = MakeImage<ImageType>(g);
  const float* t = truth->GetBufferPointer();
  float* b = biased->GetBufferPointer();
  for (std::size_t k = 0, idx = 0; k < g.size[2]; ++k) {
    for (std::size_t j = 0; j < g.size[1]; ++j) {
      for (std::size_t i = 0; i < g.size[0]; ++i, ++idx) {
        const double u = (double(i) / (g.size[0] - 1) - 0.5) + 0.5 * (double(j) / (g.size[1] - 1) - 0.5);
        b[idx] = t[idx] * static_cast<float>(std::exp(0.5 * u));
      }
    }
  }
  const double before = test::Correlation(biased.GetPointer(), truth.GetPointer());
  config::N4Config c;
  c.shrink_factors = {2, 2, 2};
  c.spline_distance_mm = 50;
  c.mask = "none";
  const auto result = CorrectBiasField(biased.GetPointer(), c);
  const double after = test::Correlation(result.corrected.GetPointer(), truth.GetPointer());
  EXPECT_LT(before, 0.99);
  EXPECT_GE(after, 0.99) << "correlation before " << before;
  EXPECT_EQ(GeometryOf(result.corrected.GetPointer()), g);
  ASSERT_FALSE(result.levels.empty());
  EXPECT_EQ(result.levels.size(), c.iterations_per_level.size());
}

TEST(N4, HandlesNonPositiveIntensities) {
  Geometry g;
  g.size = {32, 32, 16};
  auto image = Sphere(g, 10.0, 50.0f, -20.0f, 1.0f);
  config::N4Config c;
  c.shrink_factors = {2, 2, 1};
  const auto result = CorrectBiasField(image.GetPointer(), c);
  EXPECT_DOUBLE_EQ(result.intensity_shift, 1.0 - *std::min_element(
      image->GetBufferPointer(), image->GetBufferPointer() + g.NumberOfVoxels()));
  const float* out = result.corrected->GetBufferPointer();
  for (std::size_t i = 0; i < g.NumberOfVoxels(); ++i) ASSERT_TRUE(std::isfinite(out[i]));
}

TEST(Intensity, ZScoreGivesMeanZeroSdOneInsideTheMask) {
  const Geometry g = ObliqueGeometry({24, 20, 8}, {1.2, 1.2, 8.0});
  auto image = Sphere(g, 40.0, 300.0f, 0.0f, 25.0f);
  // Zero the outside so "nonzero" masks the sphere only.
  float* p = image->GetBufferPointer();
  auto truth = Sphere(g, 40.0, 1.0f, 0.0f);
  for (std::size_t i = 0; i < g.NumberOfVoxels(); ++i) p[i] *= truth->GetBufferPointer()[i];
  config::IntensityConfig c;
  c.mask = "nonzero";
  const auto result = Standardize(image.GetPointer(), c);
  auto mask = IntensityMask(image.GetPointer(), "nonzero");
  auto values = MaskedValues(result.image.GetPointer(), mask.GetPointer());
  const auto stats = intensity::ComputeStats(values);
  EXPECT_NEAR(stats.mean, 0.0, 1e-4);
  EXPECT_NEAR(stats.sd, 1.0, 1e-4);
  EXPECT_EQ(GeometryOf(result.image.GetPointer()), g);
}

TEST(Intensity, CtWindowMapsOntoUnitInterval) {
  Geometry g;
  g.size = {8, 8, 4};
  auto image = Sphere(g, 2.0, 900.0f, -1000.0f);
  config::IntensityConfig c;
  c.method = "ct_window";
  const auto result = Standardize(image.GetPointer(), c);
  const float* o = result.image->GetBufferPointer();
  EXPECT_EQ(*std::min_element(o, o + g.NumberOfVoxels()), 0.0f);
  EXPECT_EQ(*std::max_element(o, o + g.NumberOfVoxels()), 1.0f);
}

TEST(Intensity, NyulLandmarksMapOntoTheStandardScale) {
  Geometry g;
  g.size = {20, 20, 10};
  auto a = Sphere(g, 6.0, 200.0f, 50.0f, 10.0f, 1);
  auto b = MakeImage<ImageType>(g);  // b = 3 a + 40: same histogram shape, other scale
  for (std::size_t i = 0; i < g.NumberOfVoxels(); ++i) {
    b->GetBufferPointer()[i] = 3 * a->GetBufferPointer()[i] + 40;
  }
  const auto landmarks = LearnNyulLandmarks({a.GetPointer(), b.GetPointer()}, "all");
  test::TempDir dir;
  const auto file = dir / "landmarks.json";
  std::ofstream(file) << intensity::ToJson(landmarks).dump();
  config::IntensityConfig c;
  c.method = "nyul";
  c.nyul_landmarks_file = file.string();
  c.clip_percentiles = {landmarks.percentiles.front(), landmarks.percentiles.back()};
  for (const ImageType* image : {a.GetPointer(), b.GetPointer()}) {
    const auto result = Standardize(image, c);
    auto values = MaskedValues(result.image.GetPointer(), nullptr);
    const auto mapped = intensity::Percentiles(values, landmarks.percentiles);
    for (std::size_t i = 0; i < mapped.size(); ++i) {
      EXPECT_NEAR(mapped[i], landmarks.standard_scale[i], 0.5) << "landmark " << i;
    }
  }
}

TEST(Resample, InverseReturnsTheExactInputGeometry) {
  const Geometry g = ObliqueGeometry({40, 36, 9}, {1.5625, 1.5625, 10.0});
  auto image = Sphere(g, 25.0, 100.0f, 0.0f);
  config::ResampleConfig c;
  c.enabled = true;
  c.target_spacing_mm = {1.0, 1.0, 5.0};
  auto resampled = ResampleImage(image.GetPointer(), c);
  const Geometry r = GeometryOf(resampled.GetPointer());
  EXPECT_EQ(r.size, (std::array<std::size_t, 3>{63, 56, 18}));
  EXPECT_EQ(r.direction, g.direction);
  EXPECT_EQ(r.origin, g.origin);
  auto back = ResampleOnto(resampled.GetPointer(), g, Interpolation::kLinear);
  EXPECT_EQ(GeometryOf(back.GetPointer()), g);
  auto labels = MakeImage<LabelMapType>(GeometryOf(resampled.GetPointer()), 2);
  EXPECT_EQ(GeometryOf(ResampleLabelsOnto(labels.GetPointer(), g).GetPointer()), g);
}

TEST(Resample, NoInterpolationAcrossSparseSlicesUnlessAsked) {
  Geometry g;
  g.size = {16, 16, 6};
  g.spacing = {1.5, 1.5, 10.0};
  auto image = MakeImage<ImageType>(g);
  for (std::size_t k = 0; k < 6; ++k) {
    for (std::size_t i = 0; i < 256; ++i) image->GetBufferPointer()[k * 256 + i] = 100.0f * k;
  }
  config::ResampleConfig c;
  c.target_spacing_mm = {1.0, 1.0, 4.0};
  auto values_of = [&](const config::ResampleConfig& cfg) {
    auto out = ResampleImage(image.GetPointer(), cfg);
    const float* p = out->GetBufferPointer();
    return std::set<float>(p, p + out->GetLargestPossibleRegion().GetNumberOfPixels());
  };
  for (float v : values_of(c)) EXPECT_EQ(std::fmod(v, 100.0f), 0.0f) << v;
  c.interpolate_across_slices = true;
  const auto blended = values_of(c);
  EXPECT_TRUE(std::any_of(blended.begin(), blended.end(),
                          [](float v) { return std::fmod(v, 100.0f) != 0.0f; }));
}

TEST(Io, NiftiAndNrrdRoundTripKeepGeometry) {
  const Geometry g = ObliqueGeometry({12, 10, 7}, {0.7, 0.9, 5.0});
  auto image = Sphere(g, 4.0, 1.0f, 0.0f);
  test::TempDir dir;
  for (const char* name : {"a.nii.gz", "a.nrrd", "a.mha"}) {
    imaging::WriteImage(image.GetPointer(), dir / name);  // not ADL's itk::WriteImage
    const auto back = ReadVolume(dir / name, {});
    const Geometry r = GeometryOf(back.image.GetPointer());
    EXPECT_EQ(r.size, g.size) << name;
    for (int i = 0; i < 3; ++i) {
      EXPECT_NEAR(r.spacing[i], g.spacing[i], 1e-6) << name;
      EXPECT_NEAR(r.origin[i], g.origin[i], 1e-4) << name;
    }
    for (int i = 0; i < 9; ++i) EXPECT_NEAR(r.direction[i], g.direction[i], 1e-6) << name;
  }
}

std::string InputErrorOf(const std::filesystem::path& path) {
  try {
    ReadVolume(path, {});
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(Io, RejectsBadInputsWithTheFileAndTheProblem) {
  test::TempDir dir;
  EXPECT_NE(InputErrorOf(dir / "missing.nii.gz").find("no such file"), std::string::npos);

  test::WriteFlatImage(dir / "flat.nii.gz");
  const auto msg2d = InputErrorOf(dir / "flat.nii.gz");
  EXPECT_NE(msg2d.find("2D image"), std::string::npos) << msg2d;
  EXPECT_NE(msg2d.find("flat.nii.gz"), std::string::npos) << msg2d;

  test::WriteTruncatedNifti(dir.path(), "cut.nii.gz");
  EXPECT_NE(InputErrorOf(dir / "cut.nii.gz").find("truncated"), std::string::npos)
      << InputErrorOf(dir / "cut.nii.gz");

  std::filesystem::create_directories(dir / "nodicom");
  std::ofstream(dir / "nodicom" / "notes.txt") << "not an image\n";
  EXPECT_NE(InputErrorOf(dir / "nodicom").find("no DICOM image"), std::string::npos);
  std::ofstream(dir / "notes.txt") << "not an image\n";
  EXPECT_NE(InputErrorOf(dir / "notes.txt").find("not a recognised image"), std::string::npos);
}

TEST(Dicom, GroupsACineSeriesIntoPhasesAlongTheSliceNormal) {
  std::vector<DicomSlice> slices;
  // 3 positions along -z (normal of row x col = +z), 2 phases each, files shuffled.
  for (int pos : {2, 0, 1}) {
    for (int phase : {1, 0}) {
      DicomSlice s;
      s.file = "p" + std::to_string(pos) + "t" + std::to_string(phase);
      s.position = {0, 0, 10.0 * pos};
      s.has_position = true;
      s.trigger_time_ms = 40.0 * phase;
      s.instance_number = pos * 2 + phase;
      slices.push_back(s);
    }
  }
  const auto phases = GroupIntoPhases(slices);
  ASSERT_EQ(phases.size(), 2u);
  EXPECT_EQ(phases[0], (std::vector<std::string>{"p0t0", "p1t0", "p2t0"}));
  EXPECT_EQ(phases[1], (std::vector<std::string>{"p0t1", "p1t1", "p2t1"}));
  slices.pop_back();
  EXPECT_THROW(GroupIntoPhases(slices), std::invalid_argument);
}

}  // namespace
}  // namespace cardioseg::imaging

namespace cardioseg::imaging {
namespace {

LabelMapType::Pointer Box(const Geometry& g, std::array<int, 3> lo, std::array<int, 3> hi, int value) {
  auto image = MakeImage<LabelMapType>(g, 0);
  for (int z = lo[2]; z <= hi[2]; ++z)
    for (int y = lo[1]; y <= hi[1]; ++y)
      for (int x = lo[0]; x <= hi[0]; ++x)
        image->GetBufferPointer()[(z * g.size[1] + y) * g.size[0] + x] = value;
  return image;
}

TEST(Metrics, DistancesAreInMillimetresOnAnisotropicGrids) {
  Geometry g;
  g.size = {10, 10, 10};
  g.spacing = {0.5, 1.0, 3.0};
  // Two full planes two slices apart along k: every surface distance is 2 x 3 mm = 6 mm.
  auto a = Box(g, {0, 0, 2}, {9, 9, 2}, 1);
  auto b = Box(g, {0, 0, 4}, {9, 9, 4}, 1);
  auto m = Evaluate(a.GetPointer(), b.GetPointer(), {1})[0];
  EXPECT_DOUBLE_EQ(m.dice, 0.0);
  EXPECT_NEAR(m.hd95_mm, 6.0, 1e-4);
  EXPECT_NEAR(m.assd_mm, 6.0, 1e-4);
  // Planes three columns apart along i: 3 x 0.5 mm.
  a = Box(g, {2, 0, 0}, {2, 9, 9}, 1);
  b = Box(g, {5, 0, 0}, {5, 9, 9}, 1);
  m = Evaluate(a.GetPointer(), b.GetPointer(), {1})[0];
  EXPECT_NEAR(m.hd95_mm, 1.5, 1e-4);
  EXPECT_NEAR(m.assd_mm, 1.5, 1e-4);
}

TEST(Metrics, DiceIouVolumesAndEmptyConventions) {
  Geometry g;
  g.size = {10, 10, 10};
  g.spacing = {1.0, 1.0, 3.0};
  auto a = Box(g, {2, 2, 2}, {5, 5, 5}, 2);  // 64 voxels of 3 mm^3
  auto b = Box(g, {2, 2, 3}, {5, 5, 6}, 2);  // shifted one slice: overlap 48
  const auto m = Evaluate(a.GetPointer(), b.GetPointer(), {2, 3});
  EXPECT_DOUBLE_EQ(m[0].dice, 0.75);
  EXPECT_DOUBLE_EQ(m[0].iou, 0.6);
  EXPECT_NEAR(m[0].volume_pred_ml, 0.192, 1e-9);
  EXPECT_NEAR(m[0].volume_difference_ml, 0.0, 1e-9);
  EXPECT_GT(m[0].hd95_mm, 0.0);
  EXPECT_LE(m[0].hd95_mm, 3.0 + 1e-6);
  EXPECT_DOUBLE_EQ(m[1].dice, 1.0);  // label 3 absent from both
  EXPECT_DOUBLE_EQ(m[1].hd95_mm, 0.0);
  auto empty = MakeImage<LabelMapType>(g, 0);
  const auto one_empty = Evaluate(empty.GetPointer(), b.GetPointer(), {2})[0];
  EXPECT_DOUBLE_EQ(one_empty.dice, 0.0);
  EXPECT_TRUE(std::isnan(one_empty.hd95_mm));
}

TEST(Postprocess, KeepsTheLargestComponentAndFillsHoles) {
  Geometry g;
  g.size = {20, 20, 10};
  auto labels = Box(g, {2, 2, 2}, {10, 10, 7}, 1);
  labels->GetBufferPointer()[(5 * 20 + 6) * 20 + 6] = 0;      // a hole inside
  labels->GetBufferPointer()[(5 * 20 + 15) * 20 + 15] = 1;    // an island
  config::ComponentsConfig c;
  const auto clean = CleanComponents(labels.GetPointer(), c);
  EXPECT_EQ(clean->GetBufferPointer()[(5 * 20 + 6) * 20 + 6], 1);
  EXPECT_EQ(clean->GetBufferPointer()[(5 * 20 + 15) * 20 + 15], 0);
  EXPECT_NEAR(LabelVolumesMl(clean.GetPointer()).at(1), 9 * 9 * 6 / 1000.0, 1e-9);
}

TEST(Postprocess, TheLargestComponentKeepsAnAtriumsVeinStubs) {
  // A left atrium: a ball with four thin vein stubs (2 x 2 voxels across, 8 long) leaving it,
  // one of them bent; and a separate blob of false positive.
  Geometry g;
  g.size = {40, 40, 30};
  auto labels = MakeImage<LabelMapType>(g, 0);
  auto* p = labels->GetBufferPointer();
  const auto at = [&](int i, int j, int k) -> std::uint8_t& { return p[(k * 40 + j) * 40 + i]; };
  for (int k = 0; k < 30; ++k) {
    for (int j = 0; j < 40; ++j) {
      for (int i = 0; i < 40; ++i) {
        const int x = i - 20, y = j - 20, z = k - 12;
        if (x * x + y * y + z * z <= 64) at(i, j, k) = 1;
      }
    }
  }
  std::size_t stub_voxels = 0;
  for (int t = 0; t < 8; ++t) {
    for (int a = 0; a < 2; ++a) {
      for (int b = 0; b < 2; ++b) {
        for (auto* v : {&at(28 + t, 20 + a, 12 + b), &at(4 + t, 20 + a, 12 + b),
                        &at(20 + a, 28 + t, 12 + b), &at(20 + a, 20 + b, 20 + t)}) {
          stub_voxels += *v == 0;
          *v = 1;
        }
      }
    }
  }
  for (int j = 0; j < 4; ++j) at(36, 20 + j, 12) = at(36, 20 + j, 13) = 1;  // the bend
  for (int k = 24; k < 27; ++k) at(34, 34, k) = at(35, 34, k) = 1;          // the blob
  const auto before = LabelVolumesMl(labels.GetPointer()).at(1);
  const auto clean = CleanComponents(labels.GetPointer(), config::ComponentsConfig{});
  EXPECT_GT(stub_voxels, 100u);
  EXPECT_EQ(clean->GetBufferPointer()[(13 * 40 + 23) * 40 + 36], 1);  // the bend's end
  EXPECT_EQ(clean->GetBufferPointer()[(25 * 40 + 34) * 40 + 34], 0);  // the blob
  EXPECT_NEAR(LabelVolumesMl(clean.GetPointer()).at(1), before - 6 / 1000.0, 1e-9);
}

}  // namespace
}  // namespace cardioseg::imaging

#include "cardioseg/pipeline/pipeline.h"

namespace cardioseg::pipeline {
namespace {

TEST(Clinical, VolumesAndMyocardialMassAt105GramsPerMl) {
  const auto figures = ClinicalFigures(
      nlohmann::json{{"left ventricle cavity", 120.0}, {"left ventricle myocardium", 80.0}});
  EXPECT_DOUBLE_EQ(figures["lv_cavity_volume_ml"].get<double>(), 120.0);
  EXPECT_DOUBLE_EQ(figures["lv_myocardial_mass_g"].get<double>(), 84.0);
  EXPECT_FALSE(figures.contains("rv_cavity_volume_ml"));
  EXPECT_TRUE(ClinicalFigures(nlohmann::json{{"left atrium", 50.0}}).empty());
}

TEST(Naming, LabelNamesBecomeFileNames) {
  EXPECT_EQ(FileNameOf("Left ventricle cavity"), "left_ventricle_cavity");
  EXPECT_EQ(FileNameOf("  RV / cavity! "), "rv_cavity");
  EXPECT_EQ(FileNameOf("***"), "label");
}

}  // namespace
}  // namespace cardioseg::pipeline

namespace cardioseg::imaging {
namespace {

TEST(Crop, NonzeroBoxCropKeepsPositionAndUncropRestoresTheGrid) {
  const Geometry g = test::ObliqueGeometry({20, 16, 6}, {1.5, 1.5, 8.0});
  auto image = MakeImage<ImageType>(g, 0.0f);
  for (std::size_t k = 1; k <= 3; ++k)
    for (std::size_t j = 4; j <= 9; ++j)
      for (std::size_t i = 2; i <= 12; ++i) image->GetBufferPointer()[(k * 16 + j) * 20 + i] = 5.0f;
  const auto box = NonzeroBox(image.GetPointer());
  EXPECT_EQ(box.start, (std::array<std::size_t, 3>{2, 4, 1}));
  EXPECT_EQ(box.size, (std::array<std::size_t, 3>{11, 6, 3}));
  const auto cropped = Crop(image.GetPointer(), box);
  // The cropped grid's first voxel sits where voxel (2, 4, 1) sat.
  ImageType::IndexType index{{2, 4, 1}};
  ImageType::PointType expected, got;
  image->TransformIndexToPhysicalPoint(index, expected);
  cropped->TransformIndexToPhysicalPoint({{0, 0, 0}}, got);
  for (int a = 0; a < 3; ++a) EXPECT_NEAR(got[a], expected[a], 1e-9);
  const float* c = cropped->GetBufferPointer();
  EXPECT_TRUE(std::all_of(c, c + 11 * 6 * 3, [](float v) { return v == 5.0f; }));
  auto labels = MakeImage<LabelMapType>(GeometryOf(cropped.GetPointer()), 1);
  const auto full = Uncrop(labels.GetPointer(), box, g);
  EXPECT_EQ(GeometryOf(full.GetPointer()), g);
  std::size_t ones = 0;
  for (std::size_t i = 0; i < g.NumberOfVoxels(); ++i) ones += full->GetBufferPointer()[i];
  EXPECT_EQ(ones, 11u * 6 * 3);
}

}  // namespace
}  // namespace cardioseg::imaging

#include <itkImageFileReader.h>
#include <itkRGBPixel.h>

#include "cardioseg/imaging/preview.h"

namespace cardioseg::imaging {
namespace {

TEST(Preview, PngDecodesWithOneRowPerLabelledSliceAndOneColumnPerPanel) {
  Geometry g;
  g.size = {20, 16, 8};
  auto image = test::Sphere(g, 5.0, 100.0f, 10.0f, 1.0f);
  auto prediction = MakeImage<LabelMapType>(g, 0);
  for (std::size_t k = 2; k <= 4; ++k) prediction->GetBufferPointer()[k * 320 + 8 * 20 + 10] = 1;
  test::TempDir dir;
  const std::vector<PreviewLabel> colors{{1, {255, 0, 0}}};
  auto size = WritePreview(image.GetPointer(), prediction.GetPointer(), nullptr, colors, dir / "a.png");
  EXPECT_EQ(size, (std::array<std::size_t, 2>{2 * 20, 3 * 16}));
  size = WritePreview(image.GetPointer(), prediction.GetPointer(), prediction.GetPointer(), colors,
                      dir / "b.png");
  EXPECT_EQ(size, (std::array<std::size_t, 2>{3 * 20, 3 * 16}));
  using Rgb = itk::Image<itk::RGBPixel<std::uint8_t>, 2>;
  auto reader = itk::ImageFileReader<Rgb>::New();
  reader->SetFileName((dir / "b.png").string());
  reader->Update();
  const auto decoded = reader->GetOutput()->GetLargestPossibleRegion().GetSize();
  EXPECT_EQ(decoded[0], 60u);
  EXPECT_EQ(decoded[1], 48u);
  // The labelled voxel of the first row is tinted red in the prediction panel, gray in the image.
  const auto tinted = reader->GetOutput()->GetPixel({{2 * 20 + 10, 8}});
  const auto plain = reader->GetOutput()->GetPixel({{10, 8}});
  EXPECT_GT(int(tinted[0]), int(tinted[1]));
  EXPECT_EQ(plain[0], plain[1]);
}

TEST(Preview, TrainingCurvesPngFromTheLog) {
  test::TempDir dir;
  {
    std::ofstream csv(dir / "training_log.csv");
    csv << "epoch,learning_rate,train_loss,val_mean_dice,val_dice_rv,val_dice_lv,epoch_seconds\n"
        << "1,0.01,1.5,,,,60\n2,0.009,1.1,0.5,0.4,0.6,61\n3,0.008,0.8,,,,60\n"
        << "4,0.007,0.6,0.8,0.7,0.9,62\n";
  }
  const auto log = ReadTrainingLog(dir / "training_log.csv");
  ASSERT_EQ(log.epoch.size(), 4u);
  EXPECT_EQ(log.dice_names, (std::vector<std::string>{"val_mean_dice", "val_dice_rv", "val_dice_lv"}));
  EXPECT_TRUE(std::isnan(log.dice[1][0]));
  EXPECT_DOUBLE_EQ(log.dice[2][3], 0.9);
  const auto raster = DrawTrainingCurves(log, {{255, 0, 0}, {0, 0, 255}});
  WriteRgbPng(raster, dir / "curves.png");
  using Rgb = itk::Image<itk::RGBPixel<std::uint8_t>, 2>;
  auto reader = itk::ImageFileReader<Rgb>::New();
  reader->SetFileName((dir / "curves.png").string());
  reader->Update();
  const auto size = reader->GetOutput()->GetLargestPossibleRegion().GetSize();
  EXPECT_EQ(size[0], raster.width);
  EXPECT_EQ(size[1], raster.height);
  // Each class's curve is drawn in its colour.
  std::size_t red = 0, blue = 0;
  for (std::size_t i = 0; i + 2 < raster.rgb.size(); i += 3) {
    red += raster.rgb[i] == 255 && raster.rgb[i + 1] == 0 && raster.rgb[i + 2] == 0;
    blue += raster.rgb[i] == 0 && raster.rgb[i + 1] == 0 && raster.rgb[i + 2] == 255;
  }
  EXPECT_GT(red, 200u);
  EXPECT_GT(blue, 200u);
  std::ofstream(dir / "not_a_log.csv") << "a,b\n1,2\n";
  EXPECT_THROW(ReadTrainingLog(dir / "not_a_log.csv"), InputError);
}

}  // namespace
}  // namespace cardioseg::imaging

#include "cardioseg/core/cardiac_function.h"
#include "cardioseg/imaging/contours.h"

namespace cardioseg::imaging {
namespace {

std::size_t Count(const std::vector<std::uint8_t>& mask) {
  std::size_t n = 0;
  for (auto v : mask) n += v;
  return n;
}

TEST(Contours, RasterizedAreaMatchesTheShoelaceArea) {
  // A circle (r = 20 px, 90 vertices) off the pixel grid, and a concave star, as Sunnybrook
  // polygons come: sub-pixel vertices in (x = column, y = row) order.
  Polygon circle, star;
  for (int i = 0; i < 90; ++i) {
    const double t = 2 * M_PI * i / 90;
    circle.push_back({40.3 + 20 * std::cos(t), 37.7 + 20 * std::sin(t)});
  }
  for (int i = 0; i < 10; ++i) {
    const double t = 2 * M_PI * i / 10, r = i % 2 ? 12.0 : 28.0;
    star.push_back({50.5 + r * std::cos(t), 45.25 + r * std::sin(t)});
  }
  EXPECT_NEAR(ShoelaceArea(circle), M_PI * 400, 0.01 * M_PI * 400);
  for (const auto* polygon : {&circle, &star}) {
    const auto mask = RasterizePolygon(*polygon, 100, 90);
    const double area = ShoelaceArea(*polygon);
    EXPECT_NEAR(static_cast<double>(Count(mask)), area, 0.02 * area);
  }
  // Pixel centres decide: a square with corners at half pixels holds exactly its pixels.
  const Polygon square{{1.5, 2.5}, {5.5, 2.5}, {5.5, 4.5}, {1.5, 4.5}};
  const auto mask = RasterizePolygon(square, 8, 8);
  EXPECT_EQ(Count(mask), 8u);  // columns 2..5, rows 3..4
  EXPECT_EQ(mask[3 * 8 + 2], 1);
  EXPECT_EQ(mask[2 * 8 + 2], 0);
  EXPECT_EQ(mask[3 * 8 + 6], 0);
  // A polygon partly outside the slice is clipped, not wrapped.
  const Polygon outside{{-10, -10}, {3.2, -10}, {3.2, 3.2}, {-10, 3.2}};
  EXPECT_EQ(Count(RasterizePolygon(outside, 8, 8)), 16u);
}

TEST(Contours, MalformedFilesNameTheFileAndLine) {
  test::TempDir dir;
  {
    std::ofstream(dir / "bad-icontour-manual.txt") << "1.0 2.0\n3.0 abc\n";
    std::ofstream(dir / "short-icontour-manual.txt") << "1.0 2.0\n3.0 4.0\n";
  }
  try {
    ReadContourFile(dir / "bad-icontour-manual.txt");
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("bad-icontour-manual.txt"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("line 2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(ReadContourFile(dir / "short-icontour-manual.txt"), InputError);
  EXPECT_THROW(ReadContourFile(dir / "absent.txt"), InputError);
}

TEST(CardiacFunction, EjectionFractionOfASyntheticPhaseSeries) {
  // Spheres of known radius as the LV cavity of 6 phases on an anisotropic grid; volumes come
  // from the label maps, as in `run --all-phases`.
  const std::vector<double> radii_mm{30, 28, 24, 21, 23, 27};
  Geometry g;
  g.size = {90, 90, 30};
  g.spacing = {0.9, 0.9, 2.5};
  std::vector<double> measured, exact;
  for (double r : radii_mm) {
    const auto sphere = Sphere(g, r, 1.0f, 0.0f);
    auto labels = MakeImage<LabelMapType>(g, 0);
    for (std::size_t i = 0; i < g.NumberOfVoxels(); ++i) {
      labels->GetBufferPointer()[i] = sphere->GetBufferPointer()[i] > 0.5f ? 3 : 0;
    }
    measured.push_back(LabelVolumesMl(labels.GetPointer()).at(3));
    exact.push_back(4.0 / 3.0 * M_PI * r * r * r / 1000.0);
  }
  const auto f = ComputeVentricularFunction(measured);
  const double edv = exact[0], esv = exact[3];
  EXPECT_EQ(f.ed_phase, 0);
  EXPECT_EQ(f.es_phase, 3);
  EXPECT_NEAR(f.edv_ml, edv, 0.02 * edv);
  EXPECT_NEAR(f.esv_ml, esv, 0.02 * esv);
  EXPECT_NEAR(f.sv_ml, f.edv_ml - f.esv_ml, 1e-9);
  EXPECT_NEAR(f.ef_percent, 100 * (edv - esv) / edv, 1.0);  // 65.7 %
  EXPECT_THROW(ComputeVentricularFunction({12.0}), std::invalid_argument);
  EXPECT_THROW(ComputeVentricularFunction({0.0, 0.0}), std::invalid_argument);
}

}  // namespace
}  // namespace cardioseg::imaging

#include "cardioseg/core/markup.h"
#include "cardioseg/imaging/dicom_seg.h"

namespace cardioseg::imaging {
namespace {

// A label map of a synthetic DICOM series, written as a DICOM SEG and read back: the same voxels
// on the same slices, frames at the source positions referencing the source instances, one
// segment per non-empty label with its SNOMED CT code.
TEST(DicomSeg, SyntheticSeriesRoundTripsSliceBySlice) {
  test::TempDir dir;
  test::WriteDicomSeries(dir / "series", 6);
  const auto loaded = ReadVolume(dir / "series", {});
  ASSERT_EQ(loaded.slice_files.size(), 6u);
  auto labels = MakeImage<LabelMapType>(GeometryOf(loaded.image.GetPointer()));
  std::uint8_t* l = labels->GetBufferPointer();
  // Label 1: an off-centre disk on slices 1-3 (left-right and up-down asymmetric); label 3: a
  // box on slices 2-5; label 2 nowhere; slice 0 empty.
  for (std::size_t k = 0; k < 6; ++k) {
    for (std::size_t j = 0; j < 32; ++j) {
      for (std::size_t i = 0; i < 32; ++i) {
        const double x = double(i) - 8, y = double(j) - 20;
        std::uint8_t v = 0;
        if (k >= 1 && k <= 3 && x * x + y * y < 25) v = 1;
        if (k >= 2 && i >= 18 && i < 30 && j >= 3 && j < 9) v = 3;
        l[(k * 32 + j) * 32 + i] = v;
      }
    }
  }
  const std::vector<SegmentDescription> segments{{1, "right ventricle cavity", {0, 0, 255}},
                                                 {2, "left ventricle myocardium", {0, 255, 0}},
                                                 {3, "left ventricle cavity", {255, 0, 0}}};
  WriteDicomSeg(labels.GetPointer(), loaded.slice_files, segments, dir / "seg.dcm", "test", "0.1");
  const auto frames = test::ExpectDicomSegMatches(
      dir / "seg.dcm", labels.GetPointer(), loaded.slice_files,
      {{1, "right ventricle cavity"}, {2, "left ventricle myocardium"}, {3, "left ventricle cavity"}});
  EXPECT_EQ(frames, 3u + 4u);
  const auto object = ReadDicomSeg(dir / "seg.dcm");
  EXPECT_EQ(object.segment_labels, (std::vector<std::string>{"right ventricle cavity", "left ventricle cavity"}));
  EXPECT_EQ(object.study_uid, "1.2.826.0.1.3680043.2.1125.1.41");
  EXPECT_EQ(object.frame_of_reference_uid, "1.2.826.0.1.3680043.2.1125.1.43");

  // A label map of another grid is refused before anything is written.
  EXPECT_THROW(WriteDicomSeg(labels.GetPointer(), {loaded.slice_files.begin(), loaded.slice_files.end() - 1},
                             segments, dir / "bad.dcm", "test", "0.1"),
               Error);
  EXPECT_FALSE(std::filesystem::exists(dir / "bad.dcm"));
}

// Found by tests/fuzz/fuzz_dicom: a SeriesDescription in Latin-1 (ISO_IR 100, not UTF-8) made the
// JSON of the series list throw. It is read as Latin-1 and reported in UTF-8.
TEST(DicomSeries, Latin1SeriesDescriptionIsReportedInUtf8) {
  test::TempDir dir;
  test::WriteDicomSeries(dir / "series", 4, "C\xF4ur \xE9t\xE9");
  const auto loaded = ReadVolume(dir / "series", {});
  EXPECT_EQ(loaded.source["series_description"], "C\u00f4ur \u00e9t\u00e9");
  EXPECT_NO_THROW((void)loaded.source.dump());
  EXPECT_EQ(AsUtf8("caf\xC3\xA9"), "caf\xC3\xA9");  // valid UTF-8 is left alone
}

TEST(DicomSeg, AnatomicCodesAreTheSnomedCodesOfTheHeart) {
  EXPECT_EQ(AnatomicCodeFor("left ventricle cavity").value, "87878005");
  EXPECT_EQ(AnatomicCodeFor("LV").value, "87878005");
  EXPECT_EQ(AnatomicCodeFor("right ventricle cavity").value, "53085002");
  EXPECT_EQ(AnatomicCodeFor("left ventricle myocardium").value, "74281007");
  EXPECT_EQ(AnatomicCodeFor("Left Atrium").value, "82471001");
  EXPECT_EQ(AnatomicCodeFor("aorta").value, "85756007");
  EXPECT_EQ(AnatomicCodeFor("LV").scheme, "SCT");
}

}  // namespace
}  // namespace cardioseg::imaging
