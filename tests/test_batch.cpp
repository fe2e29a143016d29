// `cardioseg batch`: discovery, shards, failure isolation and resume.
#include <fstream>
#include <set>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cardioseg/core/error.h"
#include "cardioseg/pipeline/batch.h"
#include "synthetic.h"
#include "test_util.h"
#include "tiny_model.h"

namespace cardioseg::pipeline {
namespace {

namespace fs = std::filesystem;

TEST(Batch, ShardsPartitionTheCasesExactlyOnce) {
  test::TempDir dir;
  for (int i = 0; i < 10; ++i) std::ofstream(dir / ("case" + std::to_string(i) + ".nii.gz")) << "x";
  fs::create_directories(dir / "dicom_case");
  const auto cases = DiscoverCases(dir.path());
  ASSERT_EQ(cases.size(), 11u);
  EXPECT_EQ(cases.front().id, "case0");
  std::multiset<std::string> seen;
  for (int k = 1; k <= 3; ++k) {
    for (const auto& c : SelectShard(cases, k, 3)) seen.insert(c.id);
  }
  EXPECT_EQ(seen.size(), cases.size());
  for (const auto& c : cases) EXPECT_EQ(seen.count(c.id), 1u) << c.id;
  EXPECT_THROW(SelectShard(cases, 4, 3), UsageError);
  EXPECT_EQ(ParseShard("2/3"), (std::pair<int, int>{2, 3}));
  for (const char* bad : {"4/3", "0/3", "1/3x", "1/3/5", "x/3", "/3", "3", "1/0"}) {
    EXPECT_THROW(ParseShard(bad), UsageError) << bad;
  }
}

TEST(Batch, ListFileResolvesRelativePaths) {
  test::TempDir dir;
  std::ofstream(dir / "list.txt") << "# cases\na.nii.gz\n\n" << (dir / "b.nrrd").string() << "\n";
  const auto cases = DiscoverCases(dir / "list.txt");
  ASSERT_EQ(cases.size(), 2u);
  EXPECT_EQ(cases[0].input, dir / "a.nii.gz");
  EXPECT_EQ(cases[1].id, "b");
}

nlohmann::json Summary(const fs::path& out) {
  std::ifstream in(out / "summary.json");
  return nlohmann::json::parse(in);
}

TEST(RealBatch, BadFilesFailAloneAndResumeRedoesOnlyMissingCases) {
  CARDIOSEG_REQUIRE_SHARED_DATA(data);
  test::TempDir in, out, model;
  test::WriteTinyModel(model.path(), 4, {4.0, 4.0, 10.0});
  for (const char* id : {"patient001", "patient002", "patient003"}) {
    fs::create_symlink(data / "acdc/imagesTr" / (std::string(id) + ".nii.gz"),
                       in / (std::string(id) + ".nii.gz"));
  }
  test::TempDir scratch;
  test::WriteTruncatedNifti(scratch.path(), "cut.nii.gz");
  fs::copy_file(scratch / "cut.nii.gz", in / "truncated.nii.gz");
  std::ofstream(in / "notes.txt") << "not an image\n";
  test::WriteFlatImage(in / "flat.nii.gz");  // wrong dimension: 2D
  const std::string command = std::string(CARDIOSEG_EXE) + " batch " + test::Quote(in.path()) +
                              " -o " + test::Quote(out.path()) + " --model " +
                              test::Quote(model.path()) + " --set mesh.surface.enabled=false";
  auto r = test::RunCommand(command + " --jobs 2 --overlap on");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  auto summary = Summary(out.path());
  EXPECT_EQ(summary["done"], 3);
  EXPECT_EQ(summary["failed"], 3);
  EXPECT_EQ(summary["model_loads"], 1);
  EXPECT_EQ(summary["overlapped_inference"], true);
  for (const auto& c : summary["cases"]) {
    if (c["case"] == "truncated") {
      EXPECT_NE(c["reason"].get<std::string>().find("truncated"), std::string::npos);
    }
    if (c["case"] == "flat") {
      EXPECT_NE(c["reason"].get<std::string>().find("2D image"), std::string::npos) << c["reason"];
    }
    if (c["case"] == "notes") {
      EXPECT_NE(c["reason"].get<std::string>().find("not a recognised image"), std::string::npos);
    }
    if (c["status"] == "failed") {
      EXPECT_FALSE(fs::exists(out / c["case"].get<std::string>() / "report.json"));
    }
  }
  EXPECT_TRUE(fs::exists(out / "summary.csv"));

  // patient002 lost its outputs; patient003's label map was altered in place (same size): only
  // the SHA-256 recorded in its report tells.
  fs::remove_all(out / "patient002");
  {
    std::fstream seg(out / "patient003" / "seg.nii.gz", std::ios::in | std::ios::out | std::ios::binary);
    seg.seekg(100);
    char byte = 0;
    seg.get(byte);
    seg.seekp(100);
    seg.put(static_cast<char>(byte ^ 0x5a));
  }
  r = test::RunCommand(command + " --resume");  // --overlap auto: off on the CPU
  summary = Summary(out.path());
  EXPECT_EQ(summary["overlapped_inference"], false);
  EXPECT_EQ(summary["skipped"], 1);
  EXPECT_EQ(summary["done"], 2);
  for (const auto& c : summary["cases"]) {
    if (c["status"] == "skipped") {
      EXPECT_EQ(c["case"], "patient001");
    }
  }
  EXPECT_TRUE(fs::exists(out / "patient002" / "seg.nii.gz"));
}

// SIGTERM in the middle of a batch: cases in flight finish, the others are listed as not run,
// the exit code is non-zero, and no partial file is left anywhere.
TEST(RealBatch, SigtermStopsCleanly) {
  CARDIOSEG_REQUIRE_SHARED_DATA(data);
  test::TempDir in, out, model;
  test::WriteTinyModel(model.path(), 4, {4.0, 4.0, 10.0});
  for (int i = 1; i <= 8; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "patient%03d", i);
    fs::create_symlink(data / "acdc/imagesTr" / (std::string(id) + ".nii.gz"),
                       in / (std::string(id) + ".nii.gz"));
  }
  const std::string command = "exec " + std::string(CARDIOSEG_EXE) + " --log-level warn batch " +
                              test::Quote(in.path()) + " -o " + test::Quote(out.path()) +
                              " --model " + test::Quote(model.path()) + " --jobs 1" +
                              " --set mesh.surface.enabled=false";
  // Start in the background, send SIGTERM as soon as the first case's report exists.
  {
    std::ofstream script(in.path().parent_path() / (in.path().filename().string() + ".sh"));
    script << "(" << command << ") &\npid=$!\n"
           << "for i in $(seq 1 600); do [ -e " << test::Quote(out / "patient001" / "report.json")
           << " ] && break; sleep 0.05; done\n"
           << "kill -TERM $pid\nwait $pid\necho exit=$?\n";
  }
  const auto r = test::RunCommand(
      "bash " + test::Quote(in.path().parent_path() / (in.path().filename().string() + ".sh")));
  EXPECT_NE(r.output.find("exit=1"), std::string::npos) << r.output;
  const auto summary = Summary(out.path());
  EXPECT_GE(summary["done"].get<int>(), 1);
  EXPECT_GE(summary["not_run"].get<int>(), 1);
  EXPECT_EQ(summary["done"].get<int>() + summary["not_run"].get<int>(), 8);
  for (const auto& c : summary["cases"]) {
    const fs::path dir = out / c["case"].get<std::string>();
    if (c["status"] == "done") {
      EXPECT_TRUE(CaseComplete(dir)) << dir;
    } else {
      EXPECT_TRUE(!fs::exists(dir) || fs::is_empty(dir)) << dir;
    }
  }
  for (const auto& e : fs::recursive_directory_iterator(out.path())) {
    EXPECT_EQ(e.path().filename().string().find(".partial-"), std::string::npos) << e.path();
  }
  fs::remove(in.path().parent_path() / (in.path().filename().string() + ".sh"));
}

// The Snakemake workflow in scripts/snakemake runs one `cardioseg run` per case locally and
// writes the summary; its Slurm profile passes a dry run. scripts/install-deps.sh --python (what
// scripts/test.sh runs) installs Debian's snakemake.
TEST(RealBatch, SnakemakeWorkflowRunsTwoCasesLocally) {
  CARDIOSEG_REQUIRE_SHARED_DATA(data);
  if (test::RunCommand("snakemake --version").exit_code != 0) {
    GTEST_SKIP() << "snakemake not installed (scripts/install-deps.sh --python installs it)";
  }
  test::TempDir in, out, work, model;
  test::WriteTinyModel(model.path(), 4, {4.0, 4.0, 10.0});
  for (const char* id : {"patient004", "patient005"}) {
    fs::create_symlink(data / "acdc/imagesTr" / (std::string(id) + ".nii.gz"),
                       in / (std::string(id) + ".nii.gz"));
  }
  const std::string snakefile = std::string(CARDIOSEG_SOURCE_DIR) + "/scripts/snakemake/Snakefile";
  const std::string config = " --config input_dir=" + test::Quote(in.path()) +
                             " output_dir=" + test::Quote(out.path()) +
                             " cardioseg=" + test::Quote(CARDIOSEG_EXE) +
                             " threads=1 'run_args=--model " + model.path().string() +
                             " --set mesh.surface.enabled=false'";
  const auto dry = test::RunCommand("snakemake -n -s " + test::Quote(snakefile) + " --profile " +
                                    test::Quote(std::string(CARDIOSEG_SOURCE_DIR) +
                                                "/scripts/snakemake/slurm") +
                                    " --directory " + test::Quote(work.path()) + config);
  EXPECT_EQ(dry.exit_code, 0) << dry.output;
  EXPECT_FALSE(fs::exists(out / "patient004"));  // a dry run runs nothing

  const auto r = test::RunCommand("snakemake -s " + test::Quote(snakefile) + " --cores 2" +
                                  " --directory " + test::Quote(work.path()) + config);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* id : {"patient004", "patient005"}) {
    EXPECT_TRUE(fs::exists(out / id / "report.json")) << id;
    EXPECT_TRUE(fs::exists(out / id / "seg.nii.gz")) << id;
  }
  std::ifstream csv(out / "summary.csv");
  std::vector<std::string> lines;
  for (std::string line; std::getline(csv, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[1].rfind("patient004,", 0), 0u) << lines[1];
  EXPECT_NE(lines[2].find(",done,"), std::string::npos) << lines[2];
}

}  // namespace
}  // namespace cardioseg::pipeline

#include "cardioseg/imaging/io.h"
#include "cardioseg/pipeline/analyze.h"
#include "synthetic.h"

namespace cardioseg::pipeline {
namespace {

// An MSD-style dataset of 4 spheres of growing radius on a 2 x 2 x 4 mm grid, labelled, with a
// metadata table whose "radius_mm" column follows the label volume and whose "group" column is
// categorical, plus one case without metadata.
TEST(Analyze, MetricsJoinMetadataAndCorrelate) {
  test::TempDir dir, out;
  fs::create_directories(dir / "imagesTr");
  fs::create_directories(dir / "labelsTr");
  std::ofstream(dir / "dataset.json") << R"({"labels": {"0": "background", "1": "LV cavity"}})";
  Geometry g;
  g.size = {48, 48, 16};
  g.spacing = {2.0, 2.0, 4.0};
  const std::vector<double> radii{10, 13, 16, 19, 22};
  std::ofstream meta(dir / "meta.csv");
  meta << "group,case,radius_mm\n";
  for (std::size_t c = 0; c < radii.size(); ++c) {
    const std::string id = "case" + std::to_string(c);
    const auto image = test::Sphere(g, radii[c], 300.0f, 20.0f, 4.0f, 5 + c);
    imaging::WriteImage(image.GetPointer(), dir / "imagesTr" / (id + "_0000.nii.gz"));
    auto labels = imaging::MakeImage<imaging::LabelMapType>(g, 0);
    const auto mask = test::Sphere(g, radii[c], 1.0f, 0.0f);
    for (std::size_t i = 0; i < g.NumberOfVoxels(); ++i) {
      labels->GetBufferPointer()[i] = mask->GetBufferPointer()[i] > 0.5f;
    }
    imaging::WriteLabelMap(labels.GetPointer(), dir / "labelsTr" / (id + ".nii.gz"));
    if (c < 4) meta << (c % 2 ? "A" : "B") << "," << id << "," << radii[c] << "\n";
  }
  meta.close();
  AnalyzeOptions options;
  options.n4_config.shrink_factors = {1, 1, 1};
  const auto cases = AnalyzeDataset(dir.path(), options);
  ASSERT_EQ(cases.size(), 5u);
  const auto& first = cases[0];
  EXPECT_EQ(first.id, "case0");  // "_0000" channel suffix stripped to find the label map
  EXPECT_TRUE(first.error.empty()) << first.error;
  EXPECT_DOUBLE_EQ(first.values.at("spacing_k_mm"), 4.0);
  EXPECT_DOUBLE_EQ(first.values.at("size_i"), 48.0);
  const double exact_ml = 4.0 / 3.0 * M_PI * 10 * 10 * 10 / 1000.0;
  EXPECT_NEAR(first.values.at("volume_ml_lv_cavity"), exact_ml, 0.1 * exact_ml);
  EXPECT_GT(first.values.at("snr"), 10.0);  // 300 over noise sd 4
  EXPECT_GT(first.values.at("cnr"), 10.0);
  EXPECT_NEAR(first.values.at("bias_field_cv"), 0.0, 0.05);  // no bias was added

  const auto metadata = ReadMetadata(dir / "meta.csv");
  EXPECT_EQ(metadata.columns, (std::vector<std::string>{"group", "radius_mm"}));
  const auto correlations = WriteAnalysis(cases, &metadata, out.path());
  bool found = false;
  for (const auto& c : correlations) {
    EXPECT_NE(c["metadata"], "group");  // categorical: not correlated
    if (c["metadata"] == "radius_mm" && c["metric"] == "volume_ml_lv_cavity") {
      found = true;
      EXPECT_EQ(c["n"], 4);  // case4 has no metadata
      EXPECT_DOUBLE_EQ(c["spearman"].get<double>(), 1.0);
      EXPECT_GT(c["pearson"].get<double>(), 0.95);
    }
  }
  EXPECT_TRUE(found);
  std::ifstream csv(out / "analysis.csv");
  std::string header, row;
  std::getline(csv, header);
  std::getline(csv, row);
  EXPECT_EQ(header.rfind("case,group,radius_mm,", 0), 0u) << header;
  EXPECT_EQ(row.rfind("case0,B,10,", 0), 0u) << row;
  EXPECT_TRUE(fs::exists(out / "correlations.csv"));
}

}  // namespace
}  // namespace cardioseg::pipeline
