// Training and the shipped models on real scans (skipped when CARDIOSEG_TEST_DATA is unset).
#include <algorithm>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cardioseg/imaging/io.h"
#include "cardioseg/nn/train.h"
#include "cardioseg/pipeline/plan.h"
#include "test_util.h"

namespace cardioseg {
namespace {

namespace fs = std::filesystem;

TEST(RealTraining, AFewIterationsOnTwoAcdcCasesLowerTheLoss) {
  CARDIOSEG_REQUIRE_SHARED_DATA(data);
  test::TempDir cache, model;
  pipeline::PlanOptions plan;
  plan.dataset_dir = data / "acdc";
  plan.cache_dir = cache.path();
  plan.config = config::FromJson(nlohmann::json::parse(
      R"({"preprocess": {"n4": {"enabled": false}}, "inference": {"unet": {"model": ""}}})"));
  plan.spacing_mm = {3.2, 3.2, 10.0};
  plan.max_patch_voxels = 8 * 48 * 48;
  plan.max_cases = 2;
  const auto planned = pipeline::PlanPreprocess(plan);
  EXPECT_EQ(planned["num_classes"], 4);
  EXPECT_TRUE(fs::exists(cache / "fingerprint.csv"));

  nn::TrainConfig config;
  config.base_channels = 4;
  config.max_levels = 3;
  config.epochs = 4;
  config.iterations_per_epoch = 4;
  config.validation_fraction = 0.5;
  config.validate_every = 4;
  config.learning_rate = 0.02;
  config.device = "cpu";
  config.augmentation.spatial_probability = 0;
  nn::TrainOptions options;
  const auto summary = nn::Train(cache.path(), model.path(), config, options);
  EXPECT_EQ(summary.epochs_done, 4);
  EXPECT_LT(summary.last_epoch_loss, summary.first_epoch_loss);
  for (const char* f : {"model.json", "weights.pt", "training_log.csv", "trainer_state.json"}) {
    EXPECT_TRUE(fs::exists(model / f)) << f;
  }
  // Deterministic on CPU for a seed: a fresh run repeats the first epoch's loss exactly.
  test::TempDir again;
  nn::TrainOptions one_epoch;
  one_epoch.max_epochs_this_run = 1;
  EXPECT_EQ(nn::Train(cache.path(), again.path(), config, one_epoch).first_epoch_loss,
            summary.first_epoch_loss);
  // --resume continues after the last epoch instead of starting over.
  config.epochs = 5;
  options.resume = true;
  EXPECT_EQ(nn::Train(cache.path(), model.path(), config, options).epochs_done, 5);
}

double Dice(const imaging::LabelMapType* a, const imaging::LabelMapType* b, int label) {
  const auto n = a->GetLargestPossibleRegion().GetNumberOfPixels();
  const auto* pa = a->GetBufferPointer();
  const auto* pb = b->GetBufferPointer();
  double inter = 0, sum = 0;
  for (std::size_t i = 0; i < n; ++i) {
    inter += (pa[i] == label) && (pb[i] == label);
    sum += (pa[i] == label) + (pb[i] == label);
  }
  return sum == 0 ? 1.0 : 2 * inter / sum;
}

TEST(RealShippedModel, AcdcModelScoresDice08PerLabelOnHeldOutCases) {
  CARDIOSEG_REQUIRE_SHARED_DATA(data);
  const fs::path model = CARDIOSEG_SOURCE_DIR "/models/acdc-cine-mri";
  ASSERT_TRUE(fs::exists(model / "model.json")) << "the shipped ACDC model is missing";
  // Two of the model's held-out cases (split.json). Not every held-out case clears 0.8 on every
  // label (see models/acdc-cine-mri/README.md: patient011's RV is 0.795, patient047's RV is
  // missed); these two are named so the test checks a fixed, stated regression.
  std::ifstream split_file(model / "split.json");
  const auto held_out = nlohmann::json::parse(split_file)["validation"];
  for (const std::string id : {"patient027", "patient028"}) {
    ASSERT_NE(std::find(held_out.begin(), held_out.end(), id), held_out.end()) << id;
    const fs::path image = data / "acdc/imagesTr" / (id + ".nii.gz");
    test::TempDir out;
    const fs::path truth_path = data / "acdc/labelsTr" / (id + ".nii.gz");
    // Default config: no --config and no --model, as a user would run it.
    const auto r = test::RunCommand(std::string(CARDIOSEG_EXE) + " run " + test::Quote(image) +
                                    " -o " + test::Quote(out.path()) + " --threads 2 --gt " +
                                    test::Quote(truth_path));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto seg = imaging::ReadLabelMap(out / "seg.nii.gz");
    const auto truth = imaging::ReadLabelMap(truth_path);
    const auto in = imaging::GeometryOf(imaging::ReadVolume(image, {}).image.GetPointer());
    const auto g = imaging::GeometryOf(seg.GetPointer());
    EXPECT_EQ(g.size, in.size);
    for (int i = 0; i < 3; ++i) EXPECT_NEAR(g.spacing[i], in.spacing[i], 1e-6);
    std::ifstream report_file(out / "report.json");
    const auto report = nlohmann::json::parse(report_file);
    for (int label = 1; label <= 3; ++label) {
      const double dice = Dice(seg.GetPointer(), truth.GetPointer(), label);
      EXPECT_GE(dice, 0.8) << id << " label " << label;
      EXPECT_NEAR(report["evaluation"]["labels"][label - 1]["dice"].get<double>(), dice, 1e-9);
    }
    // A mesh per label, listed in the report, and the clinical figures.
    const auto& stages = report["stages"];
    const auto mesh_stage = std::find_if(stages.begin(), stages.end(), [](const nlohmann::json& s) {
      return s["name"] == "mesh.surface";
    });
    ASSERT_NE(mesh_stage, stages.end());
    EXPECT_EQ((*mesh_stage)["details"]["meshes"].size(), 3u);
    for (const auto& m : (*mesh_stage)["details"]["meshes"]) {
      EXPECT_TRUE(fs::exists(out / (m["file_stem"].get<std::string>() + ".stl")));
      EXPECT_TRUE(m["quality"]["watertight"].get<bool>()) << m["name"];
    }
    EXPECT_TRUE(fs::exists(out / "scene.glb"));
    EXPECT_GT(report["clinical"]["lv_myocardial_mass_g"].get<double>(), 20.0);
  }
}

TEST(RealShippedModel, LeftAtriumModelScoresDice085OnAHeldOutCase) {
  CARDIOSEG_REQUIRE_SHARED_DATA(data);
  const fs::path model = CARDIOSEG_SOURCE_DIR "/models/la-lge-mri";
  const std::string id = "la_0RZDK210BSMWAA6467LU";  // held out: models/la-lge-mri/split.json
  test::TempDir out;
  const auto r = test::RunCommand(
      std::string(CARDIOSEG_EXE) + " run " + test::Quote(data / "la2018/imagesTr" / (id + ".nii.gz")) +
      " -o " + test::Quote(out.path()) + " --config " CARDIOSEG_SOURCE_DIR "/configs/lge_mri.json" +
      " --threads 2 --set 'mesh.surface.formats=[\"stl\"]'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto seg = imaging::ReadLabelMap(out / "seg.nii.gz");
  const auto truth = imaging::ReadLabelMap(data / "la2018/labelsTr" / (id + ".nii.gz"));
  EXPECT_GE(Dice(seg.GetPointer(), truth.GetPointer(), 1), 0.85);
  EXPECT_TRUE(fs::exists(out / "mesh_left_atrium.stl"));
}

}  // namespace
}  // namespace cardioseg
