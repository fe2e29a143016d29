#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cardioseg/core/atomic_file.h"
#include "cardioseg/core/config.h"
#include "cardioseg/core/error.h"
#include "test_util.h"

namespace cardioseg {
namespace {

using nlohmann::json;

std::string ConfigErrorOf(const json& document) {
  try {
    config::FromJson(document);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(Config, MissingKeysTakeDocumentedDefaults) {
  const auto c = config::FromJson(json::object());
  EXPECT_TRUE(c.preprocess.n4.enabled);
  EXPECT_EQ(c.preprocess.n4.shrink_factors, (std::array<int, 3>{4, 4, 1}));
  EXPECT_EQ(c.preprocess.intensity.method, "zscore");
  EXPECT_FALSE(c.preprocess.resample.enabled);
  EXPECT_EQ(c.input.phase, 0);
}

TEST(Config, ResolvedDocumentRoundTrips) {
  auto c = config::FromJson(json::parse(R"({"preprocess": {"n4": {"spline_order": 2}}})"));
  const json resolved = config::ToJson(c);
  EXPECT_EQ(resolved["preprocess"]["n4"]["spline_order"], 2);
  EXPECT_EQ(resolved["preprocess"]["intensity"]["clip_percentiles"], json::parse("[0.5, 99.5]"));
  EXPECT_EQ(config::ToJson(config::FromJson(resolved)), resolved);
}

TEST(Config, UnknownKeyIsAnErrorNamingItsPath) {
  const auto msg = ConfigErrorOf(json::parse(R"({"preprocess": {"n4": {"shrink": 2}}})"));
  EXPECT_NE(msg.find("preprocess.n4.shrink: unknown key"), std::string::npos) << msg;
  EXPECT_NE(ConfigErrorOf(json::parse(R"({"bogus": {}})")).find("bogus: unknown key"),
            std::string::npos);
}

TEST(Config, OutOfRangeValueNamesValueAndRange) {
  const auto msg = ConfigErrorOf(json::parse(R"({"preprocess": {"n4": {"shrink_factors": [4, 4, 0]}}})"));
  EXPECT_NE(msg.find("preprocess.n4.shrink_factors[2]: value 0 is out of range [1, 16]"),
            std::string::npos) << msg;
  const auto msg2 = ConfigErrorOf(json::parse(R"({"preprocess": {"n4": {"convergence_threshold": 2.5}}})"));
  EXPECT_NE(msg2.find("2.5 is out of range [0, 1]"), std::string::npos) << msg2;
}

TEST(Config, WrongTypeAndBadChoiceAreErrors) {
  EXPECT_NE(ConfigErrorOf(json::parse(R"({"preprocess": {"n4": {"enabled": "yes"}}})"))
                .find("expected a boolean"), std::string::npos);
  EXPECT_NE(ConfigErrorOf(json::parse(R"({"preprocess": {"intensity": {"method": "minmax"}}})"))
                .find("is not one of"), std::string::npos);
  EXPECT_NE(ConfigErrorOf(json::parse(R"({"runtime": {"threads": 1.5}})"))
                .find("expected an integer"), std::string::npos);
  EXPECT_NE(ConfigErrorOf(json::parse(R"({"preprocess": {"n4": {"iterations_per_level": []}}})"))
                .find("expected an array of [1, 8] values"), std::string::npos);
}

TEST(Config, CrossFieldChecks) {
  EXPECT_NE(ConfigErrorOf(json::parse(R"({"preprocess": {"intensity": {"clip_percentiles": [90, 10]}}})"))
                .find("lower percentile must be below"), std::string::npos);
  EXPECT_NE(ConfigErrorOf(json::parse(R"({"preprocess": {"intensity": {"method": "nyul"}}})"))
                .find("nyul_landmarks_file"), std::string::npos);
}

TEST(Config, OverridesParseJsonValuesAndBareStrings) {
  json doc = json::object();
  config::ApplyOverride(doc, "preprocess.n4.shrink_factors=[2,2,1]");
  config::ApplyOverride(doc, "preprocess.intensity.method=ct_window");
  config::ApplyOverride(doc, "preprocess.n4.enabled=false");
  const auto c = config::FromJson(doc);
  EXPECT_EQ(c.preprocess.n4.shrink_factors, (std::array<int, 3>{2, 2, 1}));
  EXPECT_EQ(c.preprocess.intensity.method, "ct_window");
  EXPECT_FALSE(c.preprocess.n4.enabled);
  EXPECT_THROW(config::ApplyOverride(doc, "no_equals_sign"), UsageError);
  EXPECT_THROW(config::ApplyOverride(doc, "preprocess.n4.enabled.x=1"), ConfigError);
}

TEST(Config, ResolveNamesTheFileOnErrors) {
  test::TempDir dir;
  const auto path = dir / "bad.json";
  std::ofstream(path) << R"({"preprocess": {"n4": {"enabled": true,)";
  try {
    config::Resolve(path, {});
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.json: invalid JSON"), std::string::npos);
  }
  EXPECT_THROW(config::Resolve(dir / "missing.json", {}), InputError);
}

TEST(Config, ShippedPresetsAreValid) {
  for (const auto& entry : std::filesystem::directory_iterator(CARDIOSEG_SOURCE_DIR "/configs")) {
    if (entry.path().extension() != ".json") continue;
    EXPECT_NO_THROW(config::Resolve(entry.path(), {})) << entry.path();
  }
}

TEST(AtomicFile, FailedWriteLeavesNothing) {
  test::TempDir dir;
  const auto target = dir / "out.nii.gz";
  EXPECT_THROW(WriteAtomically(target,
                               [](const std::filesystem::path& tmp) {
                                 std::ofstream(tmp) << "partial";
                                 throw std::runtime_error("writer failed");
                               }),
               std::runtime_error);
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
  WriteTextAtomically(target, "done");
  EXPECT_TRUE(std::filesystem::exists(target));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 1);
}

TEST(AtomicFile, TemporaryNameKeepsDoubleExtension) {
  const auto tmp = TemporaryPathFor("/x/seg.nii.gz").filename().string();
  EXPECT_EQ(tmp.rfind(".seg.partial-", 0), 0u) << tmp;
  EXPECT_EQ(tmp.substr(tmp.size() - 7), ".nii.gz");
}

}  // namespace
}  // namespace cardioseg
