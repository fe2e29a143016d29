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
  const std::string command = std::string(CARDIOSEG_EXE) + " batch " + test::Quote(in.path()) +
                              " -o " + test::Quote(out.path()) + " --model " +
                              test::Quote(model.path()) + " --set mesh.surface.enabled=false";
  auto r = test::RunCommand(command + " --jobs 2");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  auto summary = Summary(out.path());
  EXPECT_EQ(summary["done"], 3);
  EXPECT_EQ(summary["failed"], 2);
  EXPECT_EQ(summary["model_loads"], 1);
  EXPECT_EQ(summary["overlapped_inference"], true);
  for (const auto& c : summary["cases"]) {
    if (c["case"] == "truncated") {
      EXPECT_NE(c["reason"].get<std::string>().find("truncated"), std::string::npos);
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
  r = test::RunCommand(command + " --resume");
  summary = Summary(out.path());
  EXPECT_EQ(summary["skipped"], 1);
  EXPECT_EQ(summary["done"], 2);
  for (const auto& c : summary["cases"]) {
    if (c["status"] == "skipped") {
      EXPECT_EQ(c["case"], "patient001");
    }
  }
  EXPECT_TRUE(fs::exists(out / "patient002" / "seg.nii.gz"));
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
