// Command-line tests: bad inputs must fail with a message naming the problem and leave no
// output; good inputs must keep the input's geometry.
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <itkImageFileWriter.h>
#include <nlohmann/json.hpp>

#include "cardioseg/imaging/io.h"
#include "synthetic.h"
#include "test_util.h"
#include "tiny_model.h"

namespace cardioseg {
namespace {

namespace fs = std::filesystem;
using test::Quote;
using test::RunCommand;

const std::string kExe = CARDIOSEG_EXE;

bool LeftNothing(const fs::path& out) { return !fs::exists(out) || fs::is_empty(out); }

class CliFailure : public ::testing::Test {
 protected:
  void SetUp() override {
    Geometry g;
    g.size = {24, 24, 8};
    good_ = dir_ / "good.nii.gz";
    imaging::WriteImage(test::Sphere(g, 6.0, 100.0f, 10.0f, 1.0f).GetPointer(), good_);
  }
  // Input failures are tested without a model, so that they do not depend on one.
  void ExpectFails(const std::string& args, int code, const std::string& message) {
    const auto out = dir_ / "out";
    const auto r = RunCommand(kExe + " " + args + " -o " + Quote(out) +
                              " --set inference.unet.model=\"\"");
    EXPECT_EQ(r.exit_code, code) << r.output;
    EXPECT_NE(r.output.find(message), std::string::npos) << r.output;
    EXPECT_TRUE(LeftNothing(out)) << "partial output left in " << out;
  }
  test::TempDir dir_;
  fs::path good_;
};

TEST_F(CliFailure, UnknownConfigKey) {
  std::ofstream(dir_ / "c.json") << R"({"preprocess": {"n4": {"shrinkfactor": 2}}})";
  ExpectFails("run " + Quote(good_) + " --config " + Quote(dir_ / "c.json"), 2,
              "preprocess.n4.shrinkfactor: unknown key");
}

TEST_F(CliFailure, ValueOutOfRange) {
  ExpectFails("run " + Quote(good_) + " --set preprocess.n4.spline_order=7", 2,
              "preprocess.n4.spline_order: value 7 is out of range [1, 3]");
}

TEST_F(CliFailure, MissingFile) {
  ExpectFails("run " + Quote(dir_ / "nope.nii.gz"), 1, "nope.nii.gz: no such file");
}

TEST_F(CliFailure, TruncatedNiftiGz) {
  test::WriteTruncatedNifti(dir_.path(), "cut.nii.gz");
  ExpectFails("run " + Quote(dir_ / "cut.nii.gz"), 1, "truncated");
}

TEST_F(CliFailure, FolderWithNoDicom) {
  fs::create_directories(dir_ / "empty_series");
  std::ofstream(dir_ / "empty_series" / "README.txt") << "no images here\n";
  ExpectFails("run " + Quote(dir_ / "empty_series"), 1, "no DICOM image found");
}

TEST_F(CliFailure, TwoDimensionalImage) {
  test::WriteFlatImage(dir_ / "slice.nii.gz", 32);
  ExpectFails("run " + Quote(dir_ / "slice.nii.gz"), 1, "2D image");
}

TEST_F(CliFailure, MissingModel) {
  const auto out = dir_ / "out";
  const auto r = RunCommand(kExe + " run " + Quote(good_) + " -o " + Quote(out) + " --model " +
                            Quote(dir_ / "no-such-model"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("no-such-model"), std::string::npos) << r.output;
  EXPECT_TRUE(LeftNothing(out));
}

TEST(Cli, ConfigPrintAndValidate) {
  auto r = RunCommand(kExe + " config --print --set preprocess.n4.spline_order=2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto resolved = nlohmann::json::parse(r.output);
  EXPECT_EQ(resolved["preprocess"]["n4"]["spline_order"], 2);
  EXPECT_EQ(resolved["preprocess"]["intensity"]["method"], "zscore");
  r = RunCommand(kExe + " config --validate " CARDIOSEG_SOURCE_DIR
                 "/configs/ct.json --set inference.unet.model=\"\"");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  test::TempDir dir;
  std::ofstream(dir / "bad.json") << R"({"preprocess": {"intensity": {"method": "nyul"}}})";
  r = RunCommand(kExe + " config --validate " + Quote(dir / "bad.json"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("nyul_landmarks_file"), std::string::npos) << r.output;
}

TEST(Cli, UsageErrorsExitWith2) {
  EXPECT_EQ(RunCommand(kExe + " run").exit_code, 2);
  EXPECT_EQ(RunCommand(kExe + " frobnicate").exit_code, 2);
  EXPECT_EQ(RunCommand(kExe + " --version").exit_code, 0);
  // Out-of-range numbers are refused before any work, naming the option.
  test::TempDir dir;
  for (const std::string bad : {" run x.nii -o out --phase -5", " run x.nii -o out --threads -5",
                                 " batch in -o out --threads -1", " batch in -o out --shard 1/3/5",
                                 " batch in -o out --shard 4/3", " batch in -o out --shard 1/3x"}) {
    const auto r = RunCommand("cd " + Quote(dir.path()) + " && " + kExe + bad);
    EXPECT_EQ(r.exit_code, 2) << bad << "\n" << r.output;
    const std::string option = bad.substr(bad.rfind("--"), bad.find(' ', bad.rfind("--")) - bad.rfind("--"));
    EXPECT_NE(r.output.find(option), std::string::npos) << bad << "\n" << r.output;
    EXPECT_FALSE(fs::exists(dir / "out")) << bad;
  }
}

void ExpectSameGeometry(const Geometry& a, const Geometry& b) {
  EXPECT_EQ(a.size, b.size);
  // NIfTI stores spacing and origin as float32: equal to that precision.
  for (int i = 0; i < 3; ++i) {
    EXPECT_NEAR(a.spacing[i], b.spacing[i], 1e-6 * std::max(1.0, b.spacing[i]));
    EXPECT_NEAR(a.origin[i], b.origin[i], 1e-4);
  }
  for (int i = 0; i < 9; ++i) EXPECT_NEAR(a.direction[i], b.direction[i], 1e-6);
}

// Runs `cardioseg run --save-intermediate` with a tiny model and checks that the label map and
// the standardized volume keep the input's grid.
void ExpectRunKeepsGeometry(const fs::path& input) {
  test::TempDir out, model;
  test::WriteTinyModel(model.path(), 3, {4.0, 4.0, 10.0});
  const auto r = RunCommand(kExe + " run " + Quote(input) + " -o " + Quote(out.path()) +
                            " --save-intermediate --model " + Quote(model.path()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const Geometry in = imaging::GeometryOf(imaging::ReadVolume(input, {}).image.GetPointer());
  const auto seg = imaging::ReadLabelMap(out / "seg.nii.gz");
  ExpectSameGeometry(imaging::GeometryOf(seg.GetPointer()), in);
  ExpectSameGeometry(
      imaging::GeometryOf(imaging::ReadVolume(out / "standardized.nii.gz", {}).image.GetPointer()), in);
  std::ifstream report_file(out / "report.json");
  const auto report = nlohmann::json::parse(report_file);
  EXPECT_EQ(report["input"]["geometry"], ToJson(in));
  EXPECT_EQ(report["config"]["output"]["save_intermediate"], true);
  EXPECT_EQ(report["model"]["name"], "tiny-test-model");
  const std::vector<std::string> expected{"load", "preprocess.intensity", "inference.unet",
                                          "postprocess.components", "mesh.surface"};
  std::vector<std::string> names;
  for (const auto& s : report["stages"]) names.push_back(s["name"]);
  EXPECT_EQ(names, expected);
  std::ifstream labels_file(out / "labels.json");
  EXPECT_EQ(nlohmann::json::parse(labels_file)["labels"].size(), 3u);
  // Slicer colour table: two comment lines, then "value name R G B A" per label.
  std::ifstream ctbl(out / "labels.ctbl");
  std::vector<std::string> lines;
  for (std::string line; std::getline(ctbl, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(lines[2].rfind("0 background ", 0), 0u) << lines[2];
  EXPECT_EQ(lines[3].rfind("1 label_1 ", 0), 0u) << lines[3];
}

TEST(CliGeometry, ObliqueNiftiKeepsItsGrid) {
  test::TempDir dir;
  const auto input = dir / "oblique.nii.gz";
  imaging::WriteImage(test::Sphere(test::ObliqueGeometry({30, 26, 9}, {1.3, 1.3, 8.0}), 20.0,
                                   100.0f, 10.0f, 2.0f).GetPointer(), input);
  ExpectRunKeepsGeometry(input);
}

TEST(CliGeometry, RealNiftiAndDicomKeepTheirGrid) {
  CARDIOSEG_REQUIRE_SHARED_DATA(data);
  ExpectRunKeepsGeometry(data / "acdc/imagesTr/patient001.nii.gz");
  ExpectRunKeepsGeometry(data / "sunnybrook/SCD0000101/dicom");
}

TEST(CliPreprocessing, SavesN4AndStandardizedVolumesWithoutAModel) {
  test::TempDir dir, out;
  const auto input = dir / "oblique.nii.gz";
  const Geometry g = test::ObliqueGeometry({30, 26, 9}, {1.3, 1.3, 8.0});
  imaging::WriteImage(test::Sphere(g, 20.0, 100.0f, 10.0f, 2.0f).GetPointer(), input);
  const auto r = RunCommand(kExe + " run " + Quote(input) + " -o " + Quote(out.path()) +
                            " --config " CARDIOSEG_SOURCE_DIR "/configs/cine_mri.json" +
                            " --save-intermediate --set inference.unet.model=\"\"" +
                            " --set preprocess.n4.iterations_per_level=[5]");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* name : {"n4_corrected.nii.gz", "bias_field.nii.gz", "standardized.nii.gz"}) {
    ExpectSameGeometry(imaging::GeometryOf(imaging::ReadVolume(out / name, {}).image.GetPointer()), g);
  }
  EXPECT_FALSE(fs::exists(out / "seg.nii.gz"));
  std::ifstream report_file(out / "report.json");
  const auto report = nlohmann::json::parse(report_file);
  const auto& n4 = report["stages"][1];
  EXPECT_EQ(n4["name"], "preprocess.n4");
  EXPECT_EQ(n4["details"]["levels"].size(), 1u);
}

// An MSD-style dataset of `cases` spheres (label 1) under a bias field that rises along i.
void WriteBiasedDataset(const fs::path& dir, int cases) {
  fs::create_directories(dir / "imagesTr");
  fs::create_directories(dir / "labelsTr");
  nlohmann::json dataset{{"name", "biased spheres"}, {"labels", {{"0", "background"}, {"1", "sphere"}}},
                         {"training", nlohmann::json::array()}};
  Geometry g;
  g.size = {28, 24, 6};
  g.spacing = {1.5, 1.5, 6.0};
  for (int c = 0; c < cases; ++c) {
    const std::string id = "case" + std::to_string(c);
    auto image = test::Sphere(g, 9.0 + c, 200.0f, 60.0f, 4.0f, 3 + c);
    auto label = imaging::MakeImage<imaging::LabelMapType>(g);
    const auto truth = test::Sphere(g, 9.0 + c, 1.0f, 0.0f);
    float* p = image->GetBufferPointer();
    for (std::size_t v = 0; v < g.NumberOfVoxels(); ++v) {
      p[v] *= 0.6f + 0.8f * static_cast<float>(v % g.size[0]) / g.size[0];
      label->GetBufferPointer()[v] = static_cast<std::uint8_t>(truth->GetBufferPointer()[v]);
    }
    imaging::WriteImage(image.GetPointer(), dir / "imagesTr" / (id + ".nii.gz"));
    imaging::WriteLabelMap(label.GetPointer(), dir / "labelsTr" / (id + ".nii.gz"));
    dataset["training"].push_back({{"image", "./imagesTr/" + id + ".nii.gz"},
                                   {"label", "./labelsTr/" + id + ".nii.gz"}});
  }
  std::ofstream(dir / "dataset.json") << dataset.dump(2);
}

std::vector<char> ReadBytes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(CliPlanPreprocess, KeepsEachImageWithoutN4AsPreprocessingWithoutN4WouldGiveIt) {
  test::TempDir dataset, cache, plain;
  WriteBiasedDataset(dataset.path(), 3);
  const std::string common = " --config " CARDIOSEG_SOURCE_DIR "/configs/cine_mri.json"
                             " --set preprocess.n4.iterations_per_level=[10,10]"
                             " --set 'inference.unet.model=\"\"' --spacing 2 2 6";
  auto r = RunCommand(kExe + " plan-preprocess " + Quote(dataset.path()) + " -o " + Quote(cache.path()) +
                      common + " --keep-uncorrected");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto plan = nlohmann::json::parse(std::ifstream(cache / "plan.json"));
  EXPECT_TRUE(plan.at("uncorrected_images").get<bool>());
  EXPECT_EQ(plan.at("num_classes"), 2);
  r = RunCommand(kExe + " plan-preprocess " + Quote(dataset.path()) + " -o " + Quote(plain.path()) +
                 common + " --set preprocess.n4.enabled=false");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_FALSE(nlohmann::json::parse(std::ifstream(plain / "plan.json")).at("uncorrected_images").get<bool>());
  for (const std::string id : {"case0", "case1", "case2"}) {
    const auto meta = nlohmann::json::parse(std::ifstream(cache / "cases" / (id + ".json")));
    EXPECT_TRUE(meta.at("uncorrected").get<bool>()) << id;
    const auto shape = meta.at("shape_dhw").get<std::array<std::int64_t, 3>>();
    EXPECT_EQ(shape, (std::array<std::int64_t, 3>{6, 18, 21})) << id;  // 6 x 1.5/2 x ... at 2 x 2 x 6 mm
    const auto corrected = ReadBytes(cache / "cases" / (id + ".image.f32"));
    const auto uncorrected = ReadBytes(cache / "cases" / (id + ".uncorrected.f32"));
    EXPECT_EQ(uncorrected.size(), 4u * shape[0] * shape[1] * shape[2]) << id;
    EXPECT_NE(corrected, uncorrected) << id << ": N4 changed nothing";
    // Exactly the image that preprocessing with N4 off caches.
    EXPECT_EQ(uncorrected, ReadBytes(plain / "cases" / (id + ".image.f32"))) << id;
    EXPECT_FALSE(fs::exists(plain / "cases" / (id + ".uncorrected.f32"))) << id;
  }
  // Without N4 there is nothing to keep: a config error, exit 2.
  test::TempDir refused;
  r = RunCommand(kExe + " plan-preprocess " + Quote(dataset.path()) + " -o " + Quote(refused.path() / "c") +
                 common + " --set preprocess.n4.enabled=false --keep-uncorrected");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--keep-uncorrected"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace cardioseg

namespace cardioseg {
namespace {

// A 4D NIfTI of 3 phases whose bright sphere shrinks, run with --all-phases and a tiny model:
// every phase is segmented into phase_NN/, and the curve and function summarise their reports.
// A 4D cine NIfTI (2 x 2 x 10 mm voxels, 40 ms a phase) of `phases` centred spheres shrinking
// over time: radius radius_mm - shrink_mm x t, 200 inside, 20 outside, Gaussian noise of `noise`;
// phase `blank` (if >= 0) is all zeros; `in_plane` voxels along i and j, 6 slices.
void WriteCine(const fs::path& path, unsigned phases, int blank = -1, std::size_t in_plane = 24,
               double radius_mm = 20.0, double shrink_mm = 4.0, float noise = 3.0f) {
  using Image4 = itk::Image<float, 4>;
  auto image = Image4::New();
  Image4::SizeType size{{in_plane, in_plane, 6, phases}};
  image->SetRegions(Image4::RegionType(size));
  Image4::SpacingType spacing;
  spacing[0] = spacing[1] = 2.0;
  spacing[2] = 10.0;
  spacing[3] = 40.0;
  image->SetSpacing(spacing);
  image->Allocate();
  Geometry g;
  g.size = {in_plane, in_plane, 6};
  g.spacing = {2.0, 2.0, 10.0};
  for (unsigned t = 0; t < phases; ++t) {
    const auto phase = test::Sphere(g, radius_mm - shrink_mm * t, 200.0f, 20.0f, noise, 11 + t);
    float* dst = image->GetBufferPointer() + t * g.NumberOfVoxels();
    if (static_cast<int>(t) == blank) {
      std::fill(dst, dst + g.NumberOfVoxels(), 0.0f);
    } else {
      std::copy(phase->GetBufferPointer(), phase->GetBufferPointer() + g.NumberOfVoxels(), dst);
    }
  }
  auto writer = itk::ImageFileWriter<Image4>::New();
  writer->SetInput(image);
  writer->SetFileName(path.string());
  writer->Update();
}

TEST(CliAllPhases, SegmentsEveryPhaseAndWritesTheVolumeCurve) {
  test::TempDir dir, out, model;
  test::WriteTinyModel(model.path(), 4, {4.0, 4.0, 10.0});
  WriteCine(dir / "cine.nii.gz", 3);

  const auto r = RunCommand(kExe + " run " + Quote(dir / "cine.nii.gz") + " -o " +
                            Quote(out.path()) + " --all-phases --model " + Quote(model.path()) +
                            " --set mesh.surface.enabled=false");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::ifstream summary_file(out / "function.json");
  const auto summary = nlohmann::json::parse(summary_file);
  EXPECT_EQ(summary["phases"], 3);
  for (int t = 0; t < 3; ++t) {
    const fs::path phase_dir = out / ("phase_0" + std::to_string(t));
    std::ifstream report_file(phase_dir / "report.json");
    const auto report = nlohmann::json::parse(report_file);
    EXPECT_EQ(report["input"]["phase"], t);
    for (const auto& [name, ml] : report["label_volumes_ml"].items()) {
      EXPECT_DOUBLE_EQ(summary["volume_curves_ml"][name][t].get<double>(), ml.get<double>());
    }
  }
  std::ifstream csv(out / "volume_curve.csv");
  std::string line;
  int lines = 0;
  while (std::getline(csv, line)) ++lines;
  EXPECT_EQ(lines, 4);  // header + 3 phases
  EXPECT_TRUE(fs::exists(out / "report.html"));  // the series page

  // A 3D input has one phase: refused, nothing written.
  test::TempDir out3;
  Geometry g;
  g.size = {24, 24, 6};
  imaging::WriteImage(test::Sphere(g, 10.0, 100.0f, 10.0f).GetPointer(), dir / "one.nii.gz");
  const auto one = RunCommand(kExe + " run " + Quote(dir / "one.nii.gz") + " -o " +
                              Quote(out3.path() / "x") + " --all-phases --model " +
                              Quote(model.path()));
  EXPECT_EQ(one.exit_code, 1) << one.output;
  EXPECT_NE(one.output.find("single phase"), std::string::npos) << one.output;
  EXPECT_FALSE(fs::exists(out3.path() / "x"));
}

nlohmann::json StageDetails(const fs::path& report_file, const std::string& stage) {
  const auto report = nlohmann::json::parse(std::ifstream(report_file));
  for (const auto& s : report["stages"]) {
    if (s["name"] == stage) return s["details"];
  }
  return nullptr;
}

// Phase 0 finds the heart box with the coarse pass, the next phases take it; the pointwise "sign"
// network gives the same label maps with and without the reuse.
TEST(CliAllPhases, LaterPhasesTakeTheFirstPhasesHeartBox) {
  test::TempDir dir, out, model;
  test::WriteSignModel(model.path(), {2, 16, 16}, {2.0, 2.0, 10.0});
  WriteCine(dir / "cine.nii.gz", 3, -1, 64, 16.0, 2.0, 0.0f);
  const std::string base = kExe + " run " + Quote(dir / "cine.nii.gz") + " --all-phases --model " +
                           Quote(model.path()) + " --set preprocess.n4.enabled=false" +
                           " --set mesh.surface.enabled=false --set inference.unet.heart_box_margin_mm=4";
  auto r = RunCommand(base + " -o " + Quote(out / "reused"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = RunCommand(base + " -o " + Quote(out / "own") + " --set inference.unet.heart_box_reuse_across_phases=false");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (int t = 0; t < 3; ++t) {
    const std::string phase = "phase_0" + std::to_string(t);
    const auto reused = StageDetails(out / "reused" / phase / "report.json", "inference.unet")["heart_box"];
    const auto own = StageDetails(out / "own" / phase / "report.json", "inference.unet")["heart_box"];
    ASSERT_TRUE(reused["used"].get<bool>()) << phase << reused.dump();
    EXPECT_TRUE(own["used"].get<bool>()) << phase << own.dump();
    EXPECT_GT(own["coarse_tiles"].get<int>(), 0) << phase;
    EXPECT_FALSE(own.contains("reused_from_phase")) << phase;
    if (t == 0) {
      EXPECT_GT(reused["coarse_tiles"].get<int>(), 0);
      EXPECT_FALSE(reused.contains("reused_from_phase"));
    } else {
      EXPECT_EQ(reused["coarse_tiles"].get<int>(), 0) << phase;
      EXPECT_EQ(reused.value("reused_from_phase", -1), 0) << phase;
      EXPECT_EQ(reused["model_grid_start_dhw"], StageDetails(out / "reused/phase_00/report.json",
                                                             "inference.unet")["heart_box"]["model_grid_start_dhw"]);
    }
    const auto a = imaging::ReadLabelMap(out / "reused" / phase / "seg.nii.gz");
    const auto b = imaging::ReadLabelMap(out / "own" / phase / "seg.nii.gz");
    const auto n = a->GetLargestPossibleRegion().GetNumberOfPixels();
    EXPECT_TRUE(std::equal(a->GetBufferPointer(), a->GetBufferPointer() + n, b->GetBufferPointer())) << phase;
    EXPECT_GT(std::count(a->GetBufferPointer(), a->GetBufferPointer() + n, 1), 100) << phase;
  }
}

nlohmann::json N4Details(const fs::path& report_file) { return StageDetails(report_file, "preprocess.n4"); }

TEST(CliAllPhases, OneBiasFieldServesEveryPhaseAndAFailedPhaseLeavesNothing) {
  test::TempDir dir, out;
  WriteCine(dir / "cine.nii.gz", 3);
  const std::string base = kExe + " run " + Quote(dir / "cine.nii.gz") +
                           " --all-phases --set inference.unet.model=\"\" --set mesh.surface.enabled=false";
  auto r = RunCommand(base + " -o " + Quote(out / "shared") + " --set preprocess.n4.reuse_across_phases=true");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_FALSE(N4Details(out / "shared/phase_00/report.json").contains("reused_field_of_phase"));
  for (const char* p : {"phase_01", "phase_02"}) {
    const auto d = N4Details(out / "shared" / p / "report.json");
    ASSERT_TRUE(d.contains("reused_field_of_phase")) << p << d.dump();
    EXPECT_EQ(d["reused_field_of_phase"], 0);
  }
  r = RunCommand(base + " -o " + Quote(out / "own"));  // the default: one fit a phase
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_FALSE(N4Details(out / "own/phase_01/report.json").contains("reused_field_of_phase"));
  // Phase 2 blank: its own N4 fit fails, and no phase of the series is left behind.
  WriteCine(dir / "broken.nii.gz", 3, 2);
  r = RunCommand(kExe + " run " + Quote(dir / "broken.nii.gz") + " -o " + Quote(out / "broken") +
                 " --all-phases --set inference.unet.model=\"\" --set mesh.surface.enabled=false"
                 " --set preprocess.n4.reuse_across_phases=false");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("broken.nii.gz"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(out / "broken")) << "phases of a failed series were left";
  for (const auto& e : fs::directory_iterator(out.path())) {
    EXPECT_EQ(e.path().filename().string().find(".partial-"), std::string::npos) << e.path();
  }
}

// A reference labelled 3 on slices 1-4 and a prediction labelled 3 on all 6 slices of the same
// 10x10 in-plane square (Dice 0.8, prediction volume +50 %), written as ref.nii.gz and
// pred.nii.gz into `dir`; returns their grid.
Geometry WriteSlabPair(const fs::path& dir) {
  Geometry g;
  g.size = {20, 20, 6};
  g.spacing = {1.5, 1.5, 8.0};
  auto reference = imaging::MakeImage<imaging::LabelMapType>(g, 0);
  auto prediction = imaging::MakeImage<imaging::LabelMapType>(g, 0);
  for (std::size_t k = 0; k < 6; ++k)
    for (std::size_t j = 5; j < 15; ++j)
      for (std::size_t i = 5; i < 15; ++i) {
        const std::size_t v = (k * 20 + j) * 20 + i;
        if (k >= 1 && k <= 4) reference->GetBufferPointer()[v] = 3;  // slices 0 and 5 not drawn
        prediction->GetBufferPointer()[v] = 3;                      // the model labels every slice
      }
  imaging::WriteLabelMap(reference.GetPointer(), dir / "ref.nii.gz");
  imaging::WriteLabelMap(prediction.GetPointer(), dir / "pred.nii.gz");
  return g;
}

// evaluate --mask scores only inside the mask: a prediction that differs from the reference only
// outside the mask is perfect with it and imperfect without.
TEST(CliEvaluate, MaskRestrictsScoringToTheContouredSlices) {
  test::TempDir dir;
  const Geometry g = WriteSlabPair(dir.path());
  auto mask = imaging::MakeImage<imaging::LabelMapType>(g, 0);
  for (std::size_t v = 20 * 20; v < 5 * 20 * 20; ++v) mask->GetBufferPointer()[v] = 1;
  imaging::WriteLabelMap(mask.GetPointer(), dir / "mask.nii.gz");
  const std::string base = kExe + " evaluate " + Quote(dir / "pred.nii.gz") + " " +
                           Quote(dir / "ref.nii.gz") + " --labels 3";
  auto metrics = [&](const std::string& extra, const fs::path& out) {
    const auto r = RunCommand(base + extra + " -o " + Quote(out));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    std::ifstream in(out / "metrics.json");
    return nlohmann::json::parse(in)["cases"][0]["labels"][0];
  };
  const auto masked = metrics(" --mask " + Quote(dir / "mask.nii.gz"), dir / "masked");
  const auto plain = metrics("", dir / "plain");
  EXPECT_DOUBLE_EQ(masked["dice"].get<double>(), 1.0);
  EXPECT_NEAR(plain["dice"].get<double>(), 2.0 * 4 / (4 + 6), 1e-9);  // 4 of 6 slices shared
}

// Gates turn the metrics into an exit code for CI: 0 when all hold, 3 when one fails (with a
// table on stderr), 2 for a malformed gate; JUnit XML for CI systems.
TEST(CliEvaluate, GatesSetTheExitCodeAndWriteJUnit) {
  test::TempDir dir;
  WriteSlabPair(dir.path());  // Dice 0.8, volume +50 %
  const std::string base = kExe + " evaluate " + Quote(dir / "pred.nii.gz") + " " + Quote(dir / "ref.nii.gz");
  EXPECT_EQ(RunCommand(base + " --min-dice 0.7 --max-volume-diff-pct 60").exit_code, 0);
  auto r = RunCommand(base + " --min-dice 0.9 --junit " + Quote(dir / "junit.xml"));
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.output.find("1 of 1 gates failed"), std::string::npos) << r.output;
  std::ifstream junit_file(dir / "junit.xml");
  std::stringstream junit;
  junit << junit_file.rdbuf();
  EXPECT_NE(junit.str().find("failures=\"1\""), std::string::npos) << junit.str();
  EXPECT_NE(junit.str().find("<failure message=\"dice 0.8 &lt; limit 0.9\""), std::string::npos) << junit.str();
  // A per-label gate wins over the global one.
  EXPECT_EQ(RunCommand(base + " --min-dice 0.9 --min-dice 3=0.75").exit_code, 0);
  EXPECT_EQ(RunCommand(base + " --max-volume-diff-pct 40").exit_code, 3);
  r = RunCommand(base + " --min-dice 0.7 --json");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("\"gates_failed\": 0"), std::string::npos) << r.output;
  EXPECT_EQ(RunCommand(base + " --min-dice lots").exit_code, 2);
}

// `contours` on the real Sunnybrook case writes a reference and a slice mask per contoured phase.
TEST(CliContours, SunnybrookReferencesPerPhase) {
  CARDIOSEG_REQUIRE_SHARED_DATA(data);
  test::TempDir out;
  const auto r = RunCommand(kExe + " contours " + Quote(data / "sunnybrook/SCD0000101") + " -o " +
                            Quote(out.path()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* phase : {"phase_07", "phase_18"}) {
    const auto reference = imaging::ReadLabelMap(out / phase / "reference.nii.gz");
    const auto contoured = imaging::ReadLabelMap(out / phase / "contoured_slices.nii.gz");
    EXPECT_EQ(imaging::GeometryOf(reference.GetPointer()).size,
              (std::array<std::size_t, 3>{256, 256, 12}));
    EXPECT_EQ(imaging::GeometryOf(contoured.GetPointer()).size,
              imaging::GeometryOf(reference.GetPointer()).size);
  }
  std::ifstream in(out / "contours.json");
  EXPECT_EQ(nlohmann::json::parse(in)["phases"].size(), 2u);
  const auto missing = RunCommand(kExe + " contours " + Quote(data / "acdc") + " -o " +
                                  Quote(out / "x"));
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.output.find("dicom"), std::string::npos) << missing.output;
}

}  // namespace
}  // namespace cardioseg

namespace cardioseg {
namespace {

TEST(CliSeries, ListsTheCineSeriesWithItsPhases) {
  CARDIOSEG_REQUIRE_SHARED_DATA(data);
  const auto r = RunCommand(kExe + " series --json " + Quote(data / "sunnybrook/SCD0000101/dicom") +
                            " 2>/dev/null");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto list = nlohmann::json::parse(r.output);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["images"], 240);
  EXPECT_EQ(list[0]["phases"], 20);
  EXPECT_EQ(list[0]["slice_positions"], 12);
  EXPECT_EQ(list[0]["modality"], "MR");
}

}  // namespace
}  // namespace cardioseg
