// Regression tests on the real scans of ../shared/data (skipped when CARDIOSEG_TEST_DATA is unset).
#include <memory>

#include <gtest/gtest.h>
#include <itkGDCMImageIO.h>
#include <itkImageFileReader.h>
#include <nifti1_io.h>

#include "cardioseg/core/error.h"
#include "cardioseg/imaging/contours.h"
#include "cardioseg/core/config.h"
#include "cardioseg/imaging/dicom.h"
#include "cardioseg/imaging/dicom_seg.h"
#include "cardioseg/imaging/io.h"
#include "cardioseg/imaging/postprocess.h"
#include "synthetic.h"
#include "test_util.h"

namespace cardioseg::imaging {
namespace {

namespace fs = std::filesystem;

TEST(RealAcdc, SpacingEqualsPixdimAndDirectionComesFromTheSform) {
  CARDIOSEG_REQUIRE_SHARED_DATA(data);
  for (const char* name : {"patient001", "patient027", "patient100"}) {
    const fs::path path = data / "acdc" / "imagesTr" / (std::string(name) + ".nii.gz");
    std::unique_ptr<nifti_image, void (*)(nifti_image*)> header(
        nifti_image_read(path.c_str(), 0), nifti_image_free);
    ASSERT_TRUE(header) << path;
    ASSERT_EQ(header->qform_code, 0) << "the quirk this test is about";
    const auto volume = ReadVolume(path, {});
    const Geometry g = GeometryOf(volume.image.GetPointer());
    EXPECT_EQ(g.size, (std::array<std::size_t, 3>{std::size_t(header->nx), std::size_t(header->ny),
                                                   std::size_t(header->nz)}));
    for (int i = 0; i < 3; ++i) {
      EXPECT_DOUBLE_EQ(g.spacing[i], header->pixdim[i + 1]) << name << " axis " << i;
    }
    EXPECT_GT(g.spacing[2], 4.0) << name << ": a 1 mm slice spacing would mean the sform was used";
    // sform diag(-1, -1, 1) in RAS is the identity in LPS.
    EXPECT_EQ(g.direction, (std::array<double, 9>{1, 0, 0, 0, 1, 0, 0, 0, 1})) << name;
  }
}

TEST(RealAcdc, LabelMapReadsOnTheImageGrid) {
  CARDIOSEG_REQUIRE_SHARED_DATA(data);
  const auto image = ReadVolume(data / "acdc/imagesTr/patient001.nii.gz", {});
  const auto labels = ReadLabelMap(data / "acdc/labelsTr/patient001.nii.gz");
  EXPECT_EQ(GeometryOf(labels.GetPointer()), GeometryOf(image.image.GetPointer()));
  const auto* l = labels->GetBufferPointer();
  const auto n = labels->GetLargestPossibleRegion().GetNumberOfPixels();
  EXPECT_EQ(*std::max_element(l, l + n), 3);
}

TEST(RealLa2018, ComponentCleanUpKeepsTheExpertsPulmonaryVeinStubs) {
  CARDIOSEG_REQUIRE_SHARED_DATA(data);
  // la_BZUFJX66T0W6ZPVTL9DU has the most voxels outside its largest component of the 60 labels
  // (205 of 134,441, in three specks); the others have fewer.
  for (const std::string id : {"la_BZUFJX66T0W6ZPVTL9DU", "la_0RZDK210BSMWAA6467LU"}) {
    const auto truth = ReadLabelMap(data / "la2018/labelsTr" / (id + ".nii.gz"));
    const auto clean = CleanComponents(truth.GetPointer(), config::ComponentsConfig{});
    const double before = LabelVolumesMl(truth.GetPointer()).at(1);
    const double after = LabelVolumesMl(clean.GetPointer()).at(1);
    EXPECT_LE(after, before * 1.002) << id;  // hole filling adds next to nothing
    EXPECT_GE(after, before * 0.998) << id << ": the clean-up removed atrium (vein stubs?)";
  }
}

TEST(RealSunnybrook, CineSeriesSplitsInto20PhasesOf12Slices10mmApart) {
  CARDIOSEG_REQUIRE_SHARED_DATA(data);
  const fs::path folder = data / "sunnybrook/SCD0000101/dicom";
  const auto series = ScanDicomFolder(folder);
  ASSERT_EQ(series.size(), 1u);
  EXPECT_EQ(series[0].slices.size(), 240u);
  const auto phases = GroupIntoPhases(series[0].slices);
  ASSERT_EQ(phases.size(), 20u);
  for (const auto& p : phases) EXPECT_EQ(p.size(), 12u);

  config::InputConfig input;
  input.phase = 7;
  const auto volume = ReadVolume(folder, input);
  const Geometry g = GeometryOf(volume.image.GetPointer());
  EXPECT_EQ(g.size, (std::array<std::size_t, 3>{256, 256, 12}));
  EXPECT_NEAR(g.spacing[0], 1.367188, 1e-5);
  EXPECT_NEAR(g.spacing[2], 10.0, 0.01);
  EXPECT_EQ(volume.source["phases"], 20);
  EXPECT_EQ(volume.source["slice_positions"], 12);
  // Phases follow TriggerTime: phase 8 comes after phase 7 in the cardiac cycle.
  input.phase = 8;
  EXPECT_GT(ReadVolume(folder, input).source["trigger_time_ms"].get<double>(),
            volume.source["trigger_time_ms"].get<double>());
  EXPECT_GT(volume.source["trigger_time_ms"].get<double>(), 0.0);
  input.phase = 20;
  EXPECT_THROW(ReadVolume(folder, input), InputError);
}

TEST(RealSunnybrook, ContoursLandOnTheirPhasesAndSlices) {
  CARDIOSEG_REQUIRE_SHARED_DATA(data);
  const fs::path root = data / "sunnybrook/SCD0000101";
  const auto phases =
      RasterizeSunnybrookContours(root / "dicom", {root / "i-contours", root / "o-contours"});
  // Instances run slice-major, 20 phases per position (data README): image 48 is phase 7 of
  // position 2, image 59 phase 18 of position 2. i-contours exist at both, o-contours at 18.
  ASSERT_EQ(phases.size(), 2u);
  EXPECT_EQ(phases[0].phase, 7);
  EXPECT_EQ(phases[1].phase, 18);
  EXPECT_FALSE(phases[0].has_epicardium);
  EXPECT_TRUE(phases[1].has_epicardium);
  for (const auto& p : phases) {
    EXPECT_EQ(p.slices.size(), 9u);
    config::InputConfig input;
    input.phase = p.phase;
    const auto volume = ReadVolume(root / "dicom", input);
    const Geometry grid = GeometryOf(volume.image.GetPointer());
    EXPECT_EQ(GeometryOf(p.labels.GetPointer()).size, grid.size);
    EXPECT_EQ(GeometryOf(p.labels.GetPointer()).origin, grid.origin);
    const std::size_t plane = grid.size[0] * grid.size[1];
    for (const auto& c : p.details["contours"]) {
      const std::size_t z = c["slice"];
      // The labelled slice holds the very pixels of the contoured image.
      auto reader = itk::ImageFileReader<ImageType>::New();
      reader->SetImageIO(itk::GDCMImageIO::New());
      char name[32];
      std::snprintf(name, sizeof name, "IM-%04d.dcm", c["image"].get<int>());
      reader->SetFileName((root / "dicom" / name).string());
      reader->Update();
      EXPECT_TRUE(std::equal(reader->GetOutput()->GetBufferPointer(),
                             reader->GetOutput()->GetBufferPointer() + plane,
                             volume.image->GetBufferPointer() + z * plane))
          << name << " is not slice " << z << " of phase " << p.phase;
      // Area of the drawn region against the polygon (2 %).
      const std::uint8_t* l = p.labels->GetBufferPointer() + z * plane;
      const bool endo = c["kind"] == "endocardium";
      const auto pixels = std::count_if(l, l + plane, [&](std::uint8_t v) {
        return endo ? v == kContourLvCavity : v != 0;
      });
      const double polygon_px = c["polygon_area_mm2"].get<double>() / (grid.spacing[0] * grid.spacing[1]);
      EXPECT_NEAR(static_cast<double>(pixels), polygon_px, 0.02 * polygon_px) << c["file"];
    }
  }
  // ED (phase 18) has the larger cavity, and myocardium only where the epicardium is drawn.
  EXPECT_GT(phases[1].details["lv_cavity_ml"].get<double>(),
            phases[0].details["lv_cavity_ml"].get<double>());
  EXPECT_EQ(phases[0].details["lv_myocardium_ml"].get<double>(), 0.0);
  EXPECT_GT(phases[1].details["lv_myocardium_ml"].get<double>(), 50.0);
}

TEST(RealCt, Jpeg2000SeriesWithEmptySeriesUidLoads) {
  CARDIOSEG_REQUIRE_SHARED_DATA(data);
  const auto volume = ReadVolume(data / "ct_samples/abdomen_ct_dicom_jpeg2000", {});
  const Geometry g = GeometryOf(volume.image.GetPointer());
  EXPECT_EQ(g.size, (std::array<std::size_t, 3>{512, 512, 20}));
  EXPECT_EQ(volume.source["series_uid"], "");
  const float* p = volume.image->GetBufferPointer();
  const auto [lo, hi] = std::minmax_element(p, p + g.NumberOfVoxels());
  EXPECT_LE(*lo, -1000.0f);  // air in HU: the rescale slope/intercept were applied
  EXPECT_GE(*hi, 300.0f);    // bone/contrast: pixels were decoded, not left blank
}

TEST(RealCt, ChestCtaNiftiLoadsAt15mm) {
  CARDIOSEG_REQUIRE_SHARED_DATA(data);
  const auto volume = ReadVolume(data / "ct_samples/chest_cta_crop.nii.gz", {});
  const Geometry g = GeometryOf(volume.image.GetPointer());
  EXPECT_EQ(g.size, (std::array<std::size_t, 3>{122, 102, 112}));
  EXPECT_NEAR(g.spacing[0], 1.5, 1e-6);
}

// `cardioseg run` on one phase of the Sunnybrook cine series (240 files, 20 phases of 12
// positions under one SeriesInstanceUID) writes seg.dcm beside seg.nii.gz: the same voxels,
// frames on that phase's 12 source images and referencing them.
TEST(RealDicomSeg, CinePhaseOfAMultiPhaseSeriesRoundTrips) {
  CARDIOSEG_REQUIRE_SHARED_DATA(data);
  const fs::path folder = data / "sunnybrook/SCD0000101/dicom";
  test::TempDir dir;
  const auto r = test::RunCommand(std::string(CARDIOSEG_EXE) + " --log-level warn run " + test::Quote(folder) +
                                  " -o " + test::Quote(dir / "out") + " --set input.phase=7" +
                                  " --set preprocess.n4.enabled=false --set output.report_html=false" +
                                  " --set inference.unet.model=\"" CARDIOSEG_SOURCE_DIR "/models/acdc-cine-mri\"");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto report = config::ReadJsonFile(dir / "out/report.json");
  bool listed = false;
  for (const auto& o : report["outputs"]) listed |= o["file"] == "seg.dcm" && o["source_images"] == 12;
  EXPECT_TRUE(listed) << report["outputs"].dump();
  config::InputConfig input;
  input.phase = 7;
  const auto loaded = ReadVolume(folder, input);
  const auto labels = ReadLabelMap(dir / "out/seg.nii.gz");
  const auto frames = test::ExpectDicomSegMatches(
      dir / "out/seg.dcm", labels.GetPointer(), loaded.slice_files,
      {{1, "right ventricle cavity"}, {2, "left ventricle myocardium"}, {3, "left ventricle cavity"}});
  EXPECT_GE(frames, 12u);  // the heart spans several of the 12 slices for each label
}

// The JPEG 2000 CT series (lossy source images, empty SeriesInstanceUID): a thresholded label map
// (bone, contrast) written as SEG and read back.
TEST(RealDicomSeg, Jpeg2000CtSeriesRoundTrips) {
  CARDIOSEG_REQUIRE_SHARED_DATA(data);
  const auto loaded = ReadVolume(data / "ct_samples/abdomen_ct_dicom_jpeg2000", {});
  auto labels = MakeImage<LabelMapType>(GeometryOf(loaded.image.GetPointer()));
  const float* hu = loaded.image->GetBufferPointer();
  std::uint8_t* l = labels->GetBufferPointer();
  for (std::size_t i = 0, n = labels->GetLargestPossibleRegion().GetNumberOfPixels(); i < n; ++i) {
    l[i] = hu[i] > 300 ? 1 : (hu[i] > 150 ? 2 : 0);
  }
  test::TempDir dir;
  WriteDicomSeg(labels.GetPointer(), loaded.slice_files, {{1, "left atrium", {255, 0, 0}}, {2, "aorta", {0, 0, 255}}},
                dir / "seg.dcm", "test", "0.1");
  EXPECT_GE(test::ExpectDicomSegMatches(dir / "seg.dcm", labels.GetPointer(), loaded.slice_files,
                                        {{1, "left atrium"}, {2, "aorta"}}),
            20u);
}

}  // namespace
}  // namespace cardioseg::imaging
