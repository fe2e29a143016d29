#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cardioseg/core/intensity_math.h"

namespace cardioseg::intensity {
namespace {

TEST(Percentiles, LinearInterpolationLikeNumpy) {
  std::vector<float> v{4, 1, 3, 2, 5};
  const auto p = Percentiles(v, {0, 25, 50, 90, 100});
  EXPECT_DOUBLE_EQ(p[0], 1.0);
  EXPECT_DOUBLE_EQ(p[1], 2.0);
  EXPECT_DOUBLE_EQ(p[2], 3.0);
  EXPECT_NEAR(p[3], 4.6, 1e-9);  // numpy.percentile([1..5], 90) = 4.6
  EXPECT_DOUBLE_EQ(p[4], 5.0);
  std::vector<float> empty;
  EXPECT_THROW(Percentiles(empty, {50}), std::invalid_argument);
}

TEST(Nyul, TrainingLandmarksMapOntoTheStandardScale) {
  NyulLandmarks l;
  l.percentiles = {1, 50, 99};
  // Two images whose landmarks differ by a linear scaling map onto the same standard scale.
  const std::vector<double> a{10, 60, 110}, b{20, 120, 220};
  const auto learned = LearnNyulScale({a, b}, l);
  ASSERT_EQ(learned.standard_scale.size(), 3u);
  EXPECT_DOUBLE_EQ(learned.standard_scale[0], 0.0);
  EXPECT_DOUBLE_EQ(learned.standard_scale[1], 50.0);
  EXPECT_DOUBLE_EQ(learned.standard_scale[2], 100.0);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_NEAR(NyulMap(a[i], a, learned), learned.standard_scale[i], 1e-9);
    EXPECT_NEAR(NyulMap(b[i], b, learned), learned.standard_scale[i], 1e-9);
  }
  EXPECT_NEAR(NyulMap(35, a, learned), 25.0, 1e-9);  // linear inside a segment
  EXPECT_NEAR(NyulMap(0, a, learned), -10.0, 1e-9);  // first segment extended
}

TEST(Nyul, NonLinearHistogramsAlignAtEveryLandmark) {
  NyulLandmarks l;
  l.percentiles = {1, 50, 99};
  const std::vector<double> a{0, 10, 100}, b{0, 90, 100};
  const auto learned = LearnNyulScale({a, b}, l);
  EXPECT_DOUBLE_EQ(learned.standard_scale[1], 50.0);  // mean of 10 and 90
  EXPECT_NEAR(NyulMap(10, a, learned), 50.0, 1e-9);
  EXPECT_NEAR(NyulMap(90, b, learned), 50.0, 1e-9);
}

TEST(Nyul, JsonRoundTripAndValidation) {
  NyulLandmarks l;
  l.percentiles = {1, 50, 99};
  l = LearnNyulScale({{1, 2, 3}}, l);
  const auto back = NyulFromJson(ToJson(l));
  EXPECT_EQ(back.standard_scale, l.standard_scale);
  auto bad = ToJson(l);
  bad["percentiles"] = {1, 99};
  EXPECT_THROW(NyulFromJson(bad), std::invalid_argument);
}

TEST(Stats, MeanSdAndPercentiles) {
  std::vector<float> v{2, 4, 4, 4, 5, 5, 7, 9};
  const auto s = ComputeStats(v);
  EXPECT_DOUBLE_EQ(s.mean, 5.0);
  EXPECT_DOUBLE_EQ(s.sd, 2.0);
  EXPECT_DOUBLE_EQ(s.min, 2.0);
  EXPECT_DOUBLE_EQ(s.max, 9.0);
}

}  // namespace
}  // namespace cardioseg::intensity

#include "cardioseg/core/statistics.h"

namespace cardioseg {
namespace {

TEST(Statistics, PearsonAndSpearmanAgainstHandComputedValues) {
  // y = x^3: monotonic, so Spearman 1; Pearson below 1.
  const std::vector<double> x{1, 2, 3, 4, 5}, cube{1, 8, 27, 64, 125};
  const auto c = Correlate(x, cube);
  EXPECT_EQ(c.n, 5);
  EXPECT_DOUBLE_EQ(c.spearman, 1.0);
  // Hand computation: mean x 3, mean y 45; sxy = 1176... r = 0.94311
  EXPECT_NEAR(c.pearson, 0.943118, 1e-5);
  // Ties get their average rank: scipy.stats.rankdata([3, 1, 3, 2]) = [3.5, 1, 3.5, 2].
  EXPECT_EQ(AverageRanks({3, 1, 3, 2}), (std::vector<double>{3.5, 1, 3.5, 2}));
  // A NaN pair is left out; a decreasing relation gives -1.
  const auto d = Correlate({1, 2, std::nan(""), 4}, {8, 6, 5, 2});
  EXPECT_EQ(d.n, 3);
  EXPECT_DOUBLE_EQ(d.spearman, -1.0);
  EXPECT_TRUE(std::isnan(Correlate({1, 1, 1}, {1, 2, 3}).pearson));
  EXPECT_THROW(Correlate({1, 2}, {1}), std::invalid_argument);
}

}  // namespace
}  // namespace cardioseg
