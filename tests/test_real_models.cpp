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

// Volume of `label` in mL.
double VolumeMl(const imaging::LabelMapType* labels, int label) {
  const auto n = labels->GetLargestPossibleRegion().GetNumberOfPixels();
  const auto* p = labels->GetBufferPointer();
  const auto s = labels->GetSpacing();
  double count = 0;
  for (std::size_t i = 0; i < n; ++i) count += p[i] == label;
  return count * s[0] * s[1] * s[2] / 1000.0;
}

// The heart-box pass of `report` (run's report.json) left every labelled voxel of `truth` inside
// its box, or was not used.
void ExpectHeartBoxHoldsTheLabels(const nlohmann::json& report, const imaging::LabelMapType* truth,
                                  const std::string& name) {
  const auto& stages = report["stages"];
  const auto unet = std::find_if(stages.begin(), stages.end(),
                                 [](const nlohmann::json& s) { return s["name"] == "inference.unet"; });
  ASSERT_NE(unet, stages.end());
  const auto& box = (*unet)["details"]["heart_box"];
  if (!box["used"].get<bool>()) return;
  const auto start = box["input_start_ijk"].get<std::array<long long, 3>>();
  const auto size = box["input_size_ijk"].get<std::array<long long, 3>>();
  const auto extent = truth->GetLargestPossibleRegion().GetSize();
  const auto* p = truth->GetBufferPointer();
  long long cut = 0, labelled = 0;
  for (long long k = 0; k < static_cast<long long>(extent[2]); ++k)
    for (long long j = 0; j < static_cast<long long>(extent[1]); ++j)
      for (long long i = 0; i < static_cast<long long>(extent[0]); ++i) {
        if (!p[(k * extent[1] + j) * extent[0] + i]) continue;
        ++labelled;
        const long long ijk[3] = {i, j, k};
        for (int a = 0; a < 3; ++a) {
          if (ijk[a] < start[a] || ijk[a] >= start[a] + size[a]) {
            ++cut;
            break;
          }
        }
      }
  EXPECT_GT(labelled, 0) << name;
  EXPECT_EQ(cut, 0) << name << ": the heart box cut " << cut << " labelled voxels";
}

// The shipped cine model on two held-out patients (split.json), both frames, as a user runs it
// (default config): Dice per label at ED, and the LV ejection fraction against the experts'.
TEST(RealShippedModel, AcdcModelMeasuresTheLvEjectionFractionOfHeldOutPatients) {
  CARDIOSEG_REQUIRE_SHARED_DATA(data);
  const fs::path model = CARDIOSEG_SOURCE_DIR "/models/acdc-cine-mri";
  ASSERT_TRUE(fs::exists(model / "model.json")) << "the shipped ACDC model is missing";
  std::ifstream split_file(model / "split.json");
  const auto held_out = nlohmann::json::parse(split_file)["validation_subjects"];
  for (const std::string id : {"patient002", "patient005"}) {
    ASSERT_NE(std::find(held_out.begin(), held_out.end(), id), held_out.end()) << id;
    double ef[2] = {0, 0};  // predicted, reference
    double lv[2][2] = {{0, 0}, {0, 0}};  // [ED, ES][predicted, reference] mL
    for (int frame = 0; frame < 2; ++frame) {
      const std::string name = id + (frame == 0 ? "" : "_es");
      const fs::path image = data / "acdc/imagesTr" / (name + ".nii.gz");
      const fs::path truth_path = data / "acdc/labelsTr" / (name + ".nii.gz");
      test::TempDir out;
      // Default config: no --config and no --model, as a user would run it; meshes at ED.
      const auto r = test::RunCommand(std::string(CARDIOSEG_EXE) + " run " + test::Quote(image) + " -o " +
                                      test::Quote(out / "case") + " --threads 2 --gt " + test::Quote(truth_path) +
                                      (frame == 0 ? "" : " --set mesh.surface.enabled=false"));
      ASSERT_EQ(r.exit_code, 0) << r.output;
      const auto seg = imaging::ReadLabelMap(out / "case/seg.nii.gz");
      const auto truth = imaging::ReadLabelMap(truth_path);
      EXPECT_EQ(imaging::GeometryOf(seg.GetPointer()).size, imaging::GeometryOf(truth.GetPointer()).size);
      lv[frame][0] = VolumeMl(seg.GetPointer(), 3);
      lv[frame][1] = VolumeMl(truth.GetPointer(), 3);
      const auto report = nlohmann::json::parse(std::ifstream(out / "case/report.json"));
      ExpectHeartBoxHoldsTheLabels(report, truth.GetPointer(), name);
      if (frame == 1) continue;
      for (int label = 1; label <= 3; ++label) {
        const double dice = Dice(seg.GetPointer(), truth.GetPointer(), label);
        EXPECT_GE(dice, 0.8) << name << " label " << label;
        EXPECT_NEAR(report["evaluation"]["labels"][label - 1]["dice"].get<double>(), dice, 1e-9);
      }
      // A watertight mesh per label, the clinical figures and the viewer page.
      const auto& stages = report["stages"];
      const auto mesh_stage = std::find_if(stages.begin(), stages.end(), [](const nlohmann::json& s) {
        return s["name"] == "mesh.surface";
      });
      ASSERT_NE(mesh_stage, stages.end());
      EXPECT_EQ((*mesh_stage)["details"]["meshes"].size(), 3u);
      for (const auto& m : (*mesh_stage)["details"]["meshes"]) {
        EXPECT_TRUE(m["quality"]["watertight"].get<bool>()) << m["name"];
      }
      EXPECT_GT(report["clinical"]["lv_myocardial_mass_g"].get<double>(), 20.0);
      EXPECT_TRUE(fs::exists(out / "case/report.html"));
    }
    for (int k = 0; k < 2; ++k) ef[k] = 100.0 * (lv[0][k] - lv[1][k]) / lv[0][k];
    EXPECT_NEAR(ef[0], ef[1], 8.0) << id << ": LV EF " << ef[0] << " % against the experts' " << ef[1] << " %";
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
  ExpectHeartBoxHoldsTheLabels(nlohmann::json::parse(std::ifstream(out / "report.json")),
                               truth.GetPointer(), id);
  EXPECT_TRUE(fs::exists(out / "mesh_left_atrium.stl"));
}

}  // namespace
}  // namespace cardioseg
