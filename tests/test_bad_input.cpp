// The bad-input matrix: every damaged or inconsistent input is generated here (no binary
// fixtures) and must fail with exit code 1 (2 for usage and config), a message naming the file
// and the cause, and nothing left in the output folder. In a batch the other cases still finish.
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <set>
#include <sstream>

#include <gtest/gtest.h>
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

// NIfTI-1 header field offsets (nifti1.h).
constexpr std::size_t kSizeofHdr = 0, kDim = 40, kPixdim = 76, kVoxOffset = 108,
                      kSformCode = 254, kSrowX = 280;

class BadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    Geometry g;
    g.size = {24, 24, 8};
    g.spacing = {1.5, 1.5, 6.0};
    good_ = dir_ / "good.nii";  // uncompressed, so that header bytes can be patched in place
    imaging::WriteImage(test::Sphere(g, 6.0, 100.0f, 10.0f, 1.0f).GetPointer(), good_);
  }
  // A copy of the good file (made on first use) with `values` written at `offset`.
  template <class T>
  fs::path Patched(const std::string& name, std::size_t offset, const std::vector<T>& values) {
    const auto path = dir_ / name;
    if (!fs::exists(path)) fs::copy_file(good_, path);
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(offset));
    f.write(reinterpret_cast<const char*>(values.data()), static_cast<std::streamsize>(values.size() * sizeof(T)));
    return path;
  }
  // Runs `cardioseg ARGS -o OUT` without a model and checks the failure.
  void ExpectFails(const std::string& args, int code, const std::vector<std::string>& messages,
                   const std::string& extra = " --set inference.unet.model=\"\"") {
    const auto out = dir_ / "out";
    const auto r = RunCommand(kExe + " " + args + " -o " + Quote(out) + extra);
    EXPECT_EQ(r.exit_code, code) << r.output;
    for (const auto& m : messages) EXPECT_NE(r.output.find(m), std::string::npos) << m << "\n" << r.output;
    EXPECT_TRUE(!fs::exists(out) || fs::is_empty(out)) << "partial output left in " << out;
    for (const auto& e : fs::directory_iterator(dir_.path())) {
      EXPECT_EQ(e.path().filename().string().find(".partial-"), std::string::npos) << e.path();
    }
  }
  test::TempDir dir_;
  fs::path good_;
};

TEST_F(BadInput, NonFiniteSformIsRefusedNotAborted) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const auto path = Patched<float>("nan_sform.nii", kSrowX, {nan, 0, 0, 0});
  Patched<short>("nan_sform.nii", kSformCode, {1});
  ExpectFails("run " + Quote(path), 1, {"nan_sform.nii", "sform", "NaN or Inf"});
  const float inf = std::numeric_limits<float>::infinity();
  const auto path2 = Patched<float>("inf_sform.nii", kSrowX + 12, {inf});
  Patched<short>("inf_sform.nii", kSformCode, {1});
  ExpectFails("run " + Quote(path2), 1, {"inf_sform.nii", "NaN or Inf"});
}

// Found by tests/fuzz/fuzz_nifti: niftilib accepts a header whose sizeof_hdr is not 348 (it
// decides the byte order by dim[0]); the header checks once skipped such a file, and ITK then
// aborted the process (vnl_svd: "matrix has non-finite elements") on its NaN sform.
TEST_F(BadInput, FuzzFindingNanSformBehindAWrongSizeofHdrIsRefused) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const auto path = Patched<float>("sizeof.nii", kSrowX + 4, {nan});
  Patched<short>("sizeof.nii", kSformCode, {2});
  Patched<std::uint32_t>("sizeof.nii", kSizeofHdr, {0x8000015Cu});
  ExpectFails("run " + Quote(path), 1, {"sizeof.nii", "sform", "NaN or Inf"});
}

// Found by tests/fuzz/fuzz_nifti: a sform whose normalised columns are not a rotation (a third
// column of length 1.8e25 along x) reached itk::ImageBase::SetDirection, whose exception escaped
// the reader as a raw ITK error.
TEST_F(BadInput, FuzzFindingDegenerateSformIsRefusedWithTheFileNamed) {
  const auto path = Patched<float>("degenerate.nii", kSrowX,
                                   {-1.5f, 0.0f, 1.8133887e25f, 4.5144667e27f, 8.559124e-39f, -1.5f,
                                    0.0f, 255.658f, 0.0f, 0.0f, 1.5f, 576.2f});
  Patched<short>("degenerate.nii", kSformCode, {2});
  ExpectFails("run " + Quote(path), 1, {"degenerate.nii", "sform"});
}

// Found by tests/fuzz/fuzz_nifti: a pixdim of 2.4e20 made ITK's reader spend minutes in an SVD
// of the orientation matrix.
TEST_F(BadInput, ImplausibleVoxelSizeIsRefusedAtOnce) {
  const auto path = Patched<float>("huge_pixdim.nii", kPixdim + 12, {2.398e20f});
  ExpectFails("run " + Quote(path), 1, {"huge_pixdim.nii", "pixdim[3]", "not a plausible voxel size"});
}

TEST_F(BadInput, ZeroOrNonFinitePixdimIsRefused) {
  const float bad[] = {0.0f, std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()};
  for (int i = 0; i < 3; ++i) {
    const auto name = "pixdim" + std::to_string(i) + ".nii";
    const auto path = Patched<float>(name, kPixdim + 4 * (i + 1), {bad[i]});
    ExpectFails("run " + Quote(path), 1, {name, "pixdim[" + std::to_string(i + 1) + "]", "voxel spacing"});
  }
}

TEST_F(BadInput, ASformScaleThatDisagreesWithPixdimIsReported) {
  // srow_x = (3, 0, 0, 0): column 1 is 3 mm long while pixdim[1] says 1.5 mm.
  const auto path = Patched<float>("scaled.nii", kSrowX, {3.0f, 0.0f, 0.0f, 0.0f});
  Patched<short>("scaled.nii", kSformCode, {1});
  const auto out = dir_ / "scaled";
  const auto r = RunCommand(kExe + " run " + Quote(path) + " -o " + Quote(out) +
                            " --set inference.unet.model=\"\" --set preprocess.n4.enabled=false");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("sform column 1 has length 3 mm but pixdim[1] = 1.5 mm"), std::string::npos) << r.output;
  const auto report = nlohmann::json::parse(std::ifstream(out / "report.json"));
  ASSERT_TRUE(report["input"].contains("header_warnings")) << report["input"].dump();
  EXPECT_NE(report["input"]["header_warnings"][0].get<std::string>().find("the spacing read is"),
            std::string::npos);
}

TEST_F(BadInput, VoxOffsetInsideTheHeaderIsRefused) {
  const auto path = Patched<float>("offset.nii", kVoxOffset, {100.0f});
  ExpectFails("run " + Quote(path), 1, {"offset.nii", "vox_offset"});
}

TEST_F(BadInput, AHeaderClaimingAHugeVolumeIsRefusedBeforeAllocation) {
  const auto path = Patched<short>("huge.nii", kDim, {3, 1024, 1024, 1024});
  ExpectFails("run " + Quote(path), 1, {"huge.nii", "too large", "1024 x 1024 x 1024", "max_memory_gib"});
  // The limit is configurable: a small one refuses even the good file.
  ExpectFails("run " + Quote(good_) + " --set input.max_memory_gib=0.00001", 1, {"good.nii", "too large"});
}

// A full disk, simulated per file by RLIMIT_FSIZE (prlimit; SIGXFSZ ignored so that write() fails
// with EFBIG as it would with ENOSPC): for each output file, a limit just below its size makes
// the run fail with the write named, exit 1 and nothing left; in batch both cases fail, each with
// its reason, and the summaries are written.
TEST_F(BadInput, AFullDiskFailsTheCaseCleanlyAtEveryOutputFile) {
  if (!fs::exists("/usr/bin/prlimit")) GTEST_SKIP() << "prlimit (util-linux) is not installed";
  test::WriteTinyModel(dir_ / "model", 3, {1.5, 1.5, 6.0});
  const std::string args = " --model " + Quote(dir_ / "model") + " --set preprocess.n4.enabled=false";
  const auto full = dir_ / "full";
  auto r = RunCommand(kExe + " run " + Quote(good_) + " -o " + Quote(full) + args);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::set<std::uintmax_t> sizes;
  for (const auto& e : fs::directory_iterator(full)) {
    if (e.file_size() > 64) sizes.insert(e.file_size());
  }
  ASSERT_GE(sizes.size(), 4u);  // seg, report.json, report.html, preview.png, meshes
  const auto limited = [&](std::uintmax_t bytes, const std::string& command) {
    // Double quotes outside: the command's own single-quoted paths pass through to the inner sh.
    return RunCommand("sh -c \"trap '' XFSZ; exec prlimit --fsize=" + std::to_string(bytes) + " " + command + "\"");
  };
  for (const auto size : sizes) {
    const auto out = dir_ / "out";
    r = limited(size - 1, kExe + " run " + Quote(good_) + " -o " + Quote(out) + args);
    EXPECT_EQ(r.exit_code, 1) << "limit " << size - 1 << " bytes:\n" << r.output;
    EXPECT_TRUE(r.output.find("File too large") != std::string::npos ||
                r.output.find("could not write") != std::string::npos)
        << "limit " << size - 1 << ": the error does not name the failed write:\n" << r.output;
    EXPECT_FALSE(fs::exists(out)) << "limit " << size - 1 << ": partial output left";
    for (const auto& e : fs::directory_iterator(dir_.path())) {
      EXPECT_EQ(e.path().filename().string().find(".partial-"), std::string::npos) << e.path();
    }
  }
  fs::create_directories(dir_ / "in");
  fs::copy_file(good_, dir_ / "in" / "a.nii");
  fs::copy_file(good_, dir_ / "in" / "b.nii");
  // The limit: just below the largest file a case of this batch writes.
  r = RunCommand(kExe + " batch " + Quote(dir_ / "in") + " -o " + Quote(dir_ / "batch_full") + args);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::uintmax_t largest = 0;
  for (const auto& e : fs::directory_iterator(dir_ / "batch_full" / "a")) largest = std::max(largest, e.file_size());
  r = limited(largest - 1, kExe + " batch " + Quote(dir_ / "in") + " -o " + Quote(dir_ / "batch") + args);
  EXPECT_NE(r.exit_code, 0) << r.output;
  const auto summary = nlohmann::json::parse(std::ifstream(dir_ / "batch" / "summary.json"));
  ASSERT_EQ(summary["cases"].size(), 2u);
  for (const auto& c : summary["cases"]) {
    EXPECT_EQ(c["status"], "failed") << c.dump();
    EXPECT_FALSE(fs::exists(dir_ / "batch" / c["case"].get<std::string>())) << c.dump();
  }
  EXPECT_TRUE(fs::exists(dir_ / "batch" / "summary.csv"));
}

// A spacing wrong by x20 would make the model grid 20 x 20 x 20 times larger: refused before the
// resampling allocates it, with the sizes and the spacing named.
TEST_F(BadInput, AModelGridBeyondTheMemoryLimitIsRefusedBeforeResampling) {
  Geometry g;
  g.size = {24, 24, 8};
  g.spacing = {30.0, 30.0, 120.0};  // x20 the tiny model's 1.5 x 1.5 x 6 mm
  imaging::WriteImage(test::Sphere(g, 120.0, 100.0f, 10.0f, 1.0f).GetPointer(), dir_ / "huge_spacing.nii");
  test::WriteTinyModel(dir_ / "model", 3, {1.5, 1.5, 6.0});
  // 480 x 480 x 160 voxels x (2 x 3 + 3) floats = 1.3 GiB, over a 1 GiB limit.
  ExpectFails("run " + Quote(dir_ / "huge_spacing.nii"), 1,
              {"huge_spacing.nii", "model grid", "input.max_memory_gib", "30 x 30 x 120 mm"},
              " --model " + Quote(dir_ / "model") + " --set input.max_memory_gib=1");
}

TEST_F(BadInput, OutputPathThatIsAFileIsRefusedBeforeTheWork) {
  std::ofstream(dir_ / "out") << "a file";
  const auto r = RunCommand(kExe + " run " + Quote(good_) + " -o " + Quote(dir_ / "out") +
                            " --set inference.unet.model=\"\"");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("is a file"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("load"), std::string::npos) << "the case ran before the check: " << r.output;
}

TEST_F(BadInput, ForeignFilesInTheOutputFolderAreNotMixedWith) {
  fs::create_directories(dir_ / "mine");
  std::ofstream(dir_ / "mine" / "thesis.docx") << "precious";
  const auto r = RunCommand(kExe + " run " + Quote(good_) + " -o " + Quote(dir_ / "mine") +
                            " --set inference.unet.model=\"\"");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("not a cardioseg output"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(dir_ / "mine" / "thesis.docx"));
}

TEST_F(BadInput, ARerunReplacesThePreviousCaseWhole) {
  const auto out = dir_ / "case";
  const std::string base = kExe + " run " + Quote(good_) + " -o " + Quote(out) +
                           " --set inference.unet.model=\"\" --set preprocess.n4.enabled=false";
  ASSERT_EQ(RunCommand(base + " --save-intermediate").exit_code, 0);
  ASSERT_TRUE(fs::exists(out / "standardized.nii.gz"));
  const auto r = RunCommand(base);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(out / "report.json"));
  EXPECT_FALSE(fs::exists(out / "standardized.nii.gz")) << "a file of the previous run was left";
  // An orphaned staging folder of a killed run (pid that no longer runs) is cleaned up.
  fs::create_directories(dir_ / ".case.partial-999999999-0");
  ASSERT_EQ(RunCommand(base).exit_code, 0);
  EXPECT_FALSE(fs::exists(dir_ / ".case.partial-999999999-0"));
}

// A reference on another grid (shifted origin, flipped axis) is refused, not scored.
TEST_F(BadInput, ComparisonsRefuseAnotherGrid) {
  Geometry g;
  g.size = {24, 24, 8};
  g.spacing = {1.5, 1.5, 6.0};
  auto labels = imaging::MakeImage<imaging::LabelMapType>(g, 0);
  for (std::size_t v = 24 * 24 * 2; v < 24 * 24 * 5; ++v) labels->GetBufferPointer()[v] = (v % 24 > 8) ? 1 : 0;
  imaging::WriteLabelMap(labels.GetPointer(), dir_ / "a.nii.gz");
  Geometry shifted = g;
  shifted.origin[0] += 5.0;
  auto moved = imaging::MakeImage<imaging::LabelMapType>(shifted, 0);
  std::memcpy(moved->GetBufferPointer(), labels->GetBufferPointer(), g.NumberOfVoxels());
  imaging::WriteLabelMap(moved.GetPointer(), dir_ / "shifted.nii.gz");
  Geometry flipped = g;
  flipped.direction = {-1, 0, 0, 0, 1, 0, 0, 0, 1};
  auto mirrored = imaging::MakeImage<imaging::LabelMapType>(flipped, 0);
  std::memcpy(mirrored->GetBufferPointer(), labels->GetBufferPointer(), g.NumberOfVoxels());
  imaging::WriteLabelMap(mirrored.GetPointer(), dir_ / "flipped.nii.gz");
  for (const char* other : {"shifted.nii.gz", "flipped.nii.gz"}) {
    const auto r = RunCommand(kExe + " evaluate " + Quote(dir_ / "a.nii.gz") + " " + Quote(dir_ / other));
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_NE(r.output.find("different grids"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("origin"), std::string::npos) << r.output;
  }
  // run --gt: refused before the pipeline runs, nothing written.
  fs::remove(good_);
  imaging::WriteImage(test::Sphere(g, 6.0, 100.0f, 10.0f, 1.0f).GetPointer(), good_);
  ExpectFails("run " + Quote(good_) + " --gt " + Quote(dir_ / "shifted.nii.gz"), 1,
              {"shifted.nii.gz", "another grid"});
}

TEST_F(BadInput, ModelCardsThatDisagreeWithTheirWeightsAreRefused) {
  const auto run_with = [&](const fs::path& model) {
    return "run " + Quote(good_) + " --model " + Quote(model);
  };
  // 4-class weights under a card that says 2 classes.
  test::WriteTinyModel(dir_ / "m4", 4, {1.5, 1.5, 6.0});
  test::WriteTinyModel(dir_ / "m2", 2, {1.5, 1.5, 6.0});
  fs::copy_file(dir_ / "m4" / "weights.pt", dir_ / "m2" / "weights.pt", fs::copy_options::overwrite_existing);
  ExpectFails(run_with(dir_ / "m2"), 1, {"weights.pt", "do not match the architecture"}, "");
  // Card fields out of range.
  const auto edit = [&](const std::string& name, const std::function<void(nlohmann::json&)>& change) {
    test::WriteTinyModel(dir_ / name, 2, {1.5, 1.5, 6.0});
    auto card = nlohmann::json::parse(std::ifstream(dir_ / name / "model.json"));
    change(card);
    std::ofstream(dir_ / name / "model.json") << card.dump();
    return dir_ / name;
  };
  ExpectFails(run_with(edit("classes", [](auto& c) { c["architecture"]["num_classes"] = 100000000; })), 1,
              {"model.json", "num_classes"}, "");
  ExpectFails(run_with(edit("label300", [](auto& c) { c["labels"][1]["value"] = 300; })), 1,
              {"model.json", "300"}, "");
  ExpectFails(run_with(edit("spacing", [](auto& c) { c["spacing_mm"][2] = -1.0; })), 1,
              {"model.json", "spacing_mm"}, "");
  // Found by tests/fuzz/fuzz_model_card: a float where an integer belongs was cast (undefined
  // behaviour for 1e54); a patch size of 16.5 was truncated to 16.
  ExpectFails(run_with(edit("float", [](auto& c) { c["architecture"]["num_classes"] = 1.28111e54; })), 1,
              {"model.json", "architecture.num_classes", "expected an integer"}, "");
  ExpectFails(run_with(edit("half", [](auto& c) { c["patch_size_dhw"][0] = 16.5; })), 1,
              {"model.json", "patch_size_dhw", "expected an integer"}, "");
}

// DICOM files cut short: GDCM 3.0 aborts the process on some (an assertion), and reads others
// with a warning only. Each is refused with the file named, in `series`, `run` and `batch`.
TEST_F(BadInput, TruncatedDicomFilesAreRefusedNotAborted) {
  const auto resize = [](const fs::path& f, std::uintmax_t size) { fs::resize_file(f, size); };
  {  // File meta information cut short.
    const auto files = test::WriteDicomSeries(dir_ / "meta", 6);
    resize(files[2], 150);
    ExpectFails("run " + Quote(dir_ / "meta"), 1, {"IM-0003.dcm", "truncated DICOM file"});
    const auto r = RunCommand(kExe + " series " + Quote(dir_ / "meta"));
    EXPECT_EQ(r.exit_code, 1) << r.output;
  }
  {  // Cut inside an element of the data set, before the pixel data.
    const auto files = test::WriteDicomSeries(dir_ / "header", 6);
    resize(files[2], fs::file_size(files[2]) - 2048 - 40);  // before the 2048 bytes of pixels
    ExpectFails("run " + Quote(dir_ / "header"), 1, {"IM-0003.dcm", "truncated DICOM file"});
    EXPECT_EQ(RunCommand(kExe + " series " + Quote(dir_ / "header")).exit_code, 1);
  }
  {  // The first slice cut short in its pixel data (a series shorter by one slice would pass).
    const auto files = test::WriteDicomSeries(dir_ / "first", 6);
    resize(files[0], fs::file_size(files[0]) - 10);
    ExpectFails("run " + Quote(dir_ / "first"), 1, {"IM-0001.dcm", "truncated DICOM pixel data"});
  }
  {  // A value length beyond the end of the file (GDCM would allocate it: up to 4 GiB).
    const auto files = test::WriteDicomSeries(dir_ / "length", 6);
    std::fstream f(files[1], std::ios::in | std::ios::out | std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    const auto at = bytes.find(std::string("\x08\x00\x60\x00", 4));  // (0008,0060) Modality
    ASSERT_NE(at, std::string::npos);
    f.seekp(static_cast<std::streamoff>(at + 6));  // explicit VR "CS": 2-byte length
    f.write("\xF0\xFF", 2);
    f.close();
    ExpectFails("run " + Quote(dir_ / "length"), 1, {"IM-0002.dcm", "truncated DICOM file"});
  }
  {  // Pixel data cut short.
    const auto files = test::WriteDicomSeries(dir_ / "pixels", 6);
    resize(files[3], fs::file_size(files[3]) - 500);
    ExpectFails("run " + Quote(dir_ / "pixels"), 1, {"IM-0004.dcm", "truncated DICOM pixel data"});
  }
  {  // Found by tests/fuzz/fuzz_dicom: file meta information without TransferSyntaxUID (its first
     // element's group changed); GDCM then took a value length of 2.2 GB from the data set.
    const auto files = test::WriteDicomSeries(dir_ / "syntax", 6);
    std::fstream f(files[4], std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(132);
    f.write("\x00\x00", 2);
    f.close();
    ExpectFails("run " + Quote(dir_ / "syntax"), 1, {"IM-0005.dcm", "DICOM file"});
  }
  {  // The intact series reads.
    test::WriteDicomSeries(dir_ / "intact", 6);
    const auto out = dir_ / "intact-out";
    const auto r = RunCommand(kExe + " run " + Quote(dir_ / "intact") + " -o " + Quote(out) +
                              " --set inference.unet.model=\"\" --set preprocess.n4.enabled=false");
    EXPECT_EQ(r.exit_code, 0) << r.output;
  }
}

TEST_F(BadInput, BrokenConfigsExitWith2NamingTheFileAndTheProblem) {
  std::string deep(70000, '[');
  deep += std::string(70000, ']');
  std::ofstream(dir_ / "deep.json") << "{\"a\": " << deep << "}";
  ExpectFails("run " + Quote(good_) + " --config " + Quote(dir_ / "deep.json"), 2,
              {"deep.json", "nested deeper than"});
  std::ofstream(dir_ / "overflow.json") << R"({"runtime": {"threads": 1e999}})";
  ExpectFails("run " + Quote(good_) + " --config " + Quote(dir_ / "overflow.json"), 2,
              {"overflow.json", "invalid JSON", "number overflow"});
  std::ofstream(dir_ / "utf8.json") << "{\"input\": {\"dicom_series_uid\": \"\xff\xfe\"}}";
  ExpectFails("run " + Quote(good_) + " --config " + Quote(dir_ / "utf8.json"), 2,
              {"utf8.json", "invalid JSON", "UTF-8"});
  fs::create_directories(dir_ / "folder.json");
  ExpectFails("run " + Quote(good_) + " --config " + Quote(dir_ / "folder.json"), 1,
              {"folder.json", "not a regular file"});
}

TEST_F(BadInput, MetaImageDataFileOutsideItsFolderOrShortIsRefused) {
  fs::create_directories(dir_ / "upload");
  const std::string header =
      "ObjectType = Image\nNDims = 3\nDimSize = 8 8 4\nElementSpacing = 1 1 2\n"
      "ElementType = MET_FLOAT\nElementDataFile = ";
  std::ofstream(dir_ / "secret.raw", std::ios::binary) << std::string(8 * 8 * 4 * 4, '\x01');
  std::ofstream(dir_ / "upload" / "escape.mhd") << header << "../secret.raw\n";
  ExpectFails("run " + Quote(dir_ / "upload" / "escape.mhd"), 1,
              {"escape.mhd", "outside the header's folder", "allow_external_data_files"});
  std::ofstream(dir_ / "upload" / "short.raw", std::ios::binary) << std::string(100, '\x01');
  std::ofstream(dir_ / "upload" / "short.mhd") << header << "short.raw\n";
  ExpectFails("run " + Quote(dir_ / "upload" / "short.mhd"), 1, {"short.mhd", "truncated data file", "100 of 1024"});
}

TEST_F(BadInput, BatchResumeRedoesCasesOfAnotherModel) {
  fs::create_directories(dir_ / "in");
  fs::copy_file(good_, dir_ / "in" / "a.nii");
  test::WriteTinyModel(dir_ / "m1", 2, {1.5, 1.5, 6.0});
  test::WriteTinyModel(dir_ / "m3", 3, {1.5, 1.5, 6.0});
  const std::string base = kExe + " batch " + Quote(dir_ / "in") + " -o " + Quote(dir_ / "out") +
                           " --set preprocess.n4.enabled=false --set mesh.surface.enabled=false --resume";
  auto r = RunCommand(base + " --model " + Quote(dir_ / "m1"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto summary = nlohmann::json::parse(std::ifstream(dir_ / "out" / "summary.json"));
  EXPECT_EQ(summary["cases"][0]["status"], "done");
  r = RunCommand(base + " --model " + Quote(dir_ / "m1"));
  summary = nlohmann::json::parse(std::ifstream(dir_ / "out" / "summary.json"));
  EXPECT_EQ(summary["cases"][0]["status"], "skipped") << r.output;
  // Another model's weights: redone.
  r = RunCommand(base + " --model " + Quote(dir_ / "m3"));
  summary = nlohmann::json::parse(std::ifstream(dir_ / "out" / "summary.json"));
  EXPECT_EQ(summary["cases"][0]["status"], "done") << r.output;
  // A changed config is another result: redone.
  r = RunCommand(base + " --model " + Quote(dir_ / "m3") + " --set postprocess.components.largest_component=false");
  summary = nlohmann::json::parse(std::ifstream(dir_ / "out" / "summary.json"));
  EXPECT_EQ(summary["cases"][0]["status"], "done") << r.output;
  // No inference at all, as `run` allows.
  r = RunCommand(kExe + " batch " + Quote(dir_ / "in") + " -o " + Quote(dir_ / "plain") +
                 " --set inference.unet.model=\"\" --set preprocess.n4.enabled=false");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(dir_ / "plain" / "a" / "report.json")) << r.output;
  // index.html: a row per case linking its report.html, failures with their reason.
  std::ofstream(dir_ / "in" / "broken.nii") << "not an image";
  r = RunCommand(base + " --model " + Quote(dir_ / "m3"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  std::ifstream index_file(dir_ / "out" / "index.html");
  std::stringstream index;
  index << index_file.rdbuf();
  EXPECT_NE(index.str().find("href=\"a/report.html\""), std::string::npos) << index.str();
  EXPECT_NE(index.str().find("<td>broken</td><td>failed</td>"), std::string::npos) << index.str();
  EXPECT_TRUE(fs::exists(dir_ / "out" / "a" / "report.html"));
}

// `compare`: a run reproduces its baseline exactly; a changed label map, a lost case or an extra
// one fails with exit code 3 unless the tolerances or flags allow it.
TEST_F(BadInput, CompareChecksARunFolderAgainstItsBaseline) {
  fs::create_directories(dir_ / "in");
  fs::copy_file(good_, dir_ / "in" / "a.nii");
  fs::copy_file(good_, dir_ / "in" / "b.nii");
  test::WriteTinyModel(dir_ / "m", 2, {1.5, 1.5, 6.0});
  const auto batch = [&](const fs::path& out) {
    return RunCommand(kExe + " batch " + Quote(dir_ / "in") + " -o " + Quote(out) + " --model " +
                      Quote(dir_ / "m") + " --set preprocess.n4.enabled=false --set output.report_html=false");
  };
  ASSERT_EQ(batch(dir_ / "base").exit_code, 0);
  ASSERT_EQ(batch(dir_ / "new").exit_code, 0);
  const std::string compare = kExe + " compare " + Quote(dir_ / "base") + " " + Quote(dir_ / "new");
  auto r = RunCommand(compare + " --junit " + Quote(dir_ / "junit.xml"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("all hold"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(dir_ / "junit.xml"));
  // Ventricular function (function.json of --all-phases): EF must match within ef_points.
  const auto function = [](double ef) {
    return nlohmann::json{{"function", {{"lv", {{"edv_ml", 100.0}, {"esv_ml", 100.0 - ef}, {"ef_percent", ef}}}}}}.dump();
  };
  std::ofstream(dir_ / "base" / "b" / "function.json") << function(40);
  std::ofstream(dir_ / "new" / "b" / "function.json") << function(40);
  EXPECT_EQ(RunCommand(compare).exit_code, 0);
  std::ofstream(dir_ / "new" / "b" / "function.json") << function(45);
  r = RunCommand(compare);
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.output.find("lv ef_percent 45"), std::string::npos) << r.output;
  fs::remove(dir_ / "base" / "b" / "function.json");
  fs::remove(dir_ / "new" / "b" / "function.json");
  // A label map that changed: one voxel flipped in case b.
  auto seg = imaging::ReadLabelMap(dir_ / "new" / "b" / "seg.nii.gz");
  auto* p = seg->GetBufferPointer();
  const auto n = seg->GetLargestPossibleRegion().GetNumberOfPixels();
  std::size_t flipped = 0;
  for (std::size_t i = 0; i < n && flipped < 20; ++i) {
    if (p[i] == 1) { p[i] = 0; ++flipped; }
  }
  ASSERT_GT(flipped, 0u);
  imaging::WriteLabelMap(seg.GetPointer(), dir_ / "new" / "b" / "seg.nii.gz");
  r = RunCommand(compare);
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.output.find("b: label 1 dice"), std::string::npos) << r.output;
  std::ofstream(dir_ / "loose.json") << R"({"label_map": {"min_dice": 0.9, "max_hd95_mm": 50}, "volumes": {"rel_pct": 100}})";
  r = RunCommand(compare + " --tolerances " + Quote(dir_ / "loose.json"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  // A missing case fails unless allowed.
  fs::remove_all(dir_ / "new" / "a");
  EXPECT_EQ(RunCommand(compare + " --tolerances " + Quote(dir_ / "loose.json")).exit_code, 3);
  EXPECT_EQ(RunCommand(compare + " --tolerances " + Quote(dir_ / "loose.json") + " --allow-missing").exit_code, 0);
  std::ofstream(dir_ / "bad.json") << R"({"label_map": {"min_dice": 2}})";
  EXPECT_EQ(RunCommand(compare + " --tolerances " + Quote(dir_ / "bad.json")).exit_code, 2);
}

}  // namespace
}  // namespace cardioseg
