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

// Bland-Altman and ACDC's ejection fraction, against values computed by hand.
TEST(Statistics, ClinicalAgreementAgainstHandComputedValues) {
  // EF = (EDV - ESV) / EDV: a predicted (150 mL, 90 mL) heart has EF 40 %, the reference
  // (160 mL, 80 mL) 50 %: a difference of -10 points.
  const auto ef = [](double edv, double esv) { return 100.0 * (edv - esv) / edv; };
  EXPECT_DOUBLE_EQ(ef(150, 90), 40.0);
  EXPECT_DOUBLE_EQ(ef(160, 80), 50.0);
  // Differences predicted - reference: 2, -1, 4, 3 -> bias 2, sample sd sqrt(14/3) = 2.160247,
  // limits 2 -/+ 1.96 x 2.160247 = -2.234084 .. 6.234084, MAE (2 + 1 + 4 + 3) / 4 = 2.5.
  const std::vector<double> predicted{52, 59, 44, 33}, reference{50, 60, 40, 30};
  const Agreement a = ComputeAgreement(predicted, reference);
  EXPECT_EQ(a.n, 4);
  EXPECT_DOUBLE_EQ(a.bias, 2.0);
  EXPECT_NEAR(a.sd, 2.160247, 1e-6);
  EXPECT_NEAR(a.loa_lower, -2.234084, 1e-6);
  EXPECT_NEAR(a.loa_upper, 6.234084, 1e-6);
  EXPECT_DOUBLE_EQ(a.mae, 2.5);
  // r: x = reference, y = predicted; means 45, 47; sxy = 5*5 + 15*12 + (-5)(-3) + (-15)(-14) = 430,
  // sxx = 25 + 225 + 25 + 225 = 500, syy = 25 + 144 + 9 + 196 = 374 -> r = 430 / sqrt(500 x 374).
  EXPECT_NEAR(a.pearson_r, 430.0 / std::sqrt(500.0 * 374.0), 1e-12);
  // NaN pairs are left out; one pair has no sd.
  const Agreement one = ComputeAgreement({1, std::nan("")}, {0, 5});
  EXPECT_EQ(one.n, 1);
  EXPECT_DOUBLE_EQ(one.bias, 1.0);
  EXPECT_TRUE(std::isnan(one.sd));
  EXPECT_THROW(ComputeAgreement({1}, {1, 2}), std::invalid_argument);
  // Subjects: the first group of the pattern, or the id itself.
  EXPECT_EQ(SubjectOf("patient001_es", "^(patient[0-9]+)"), "patient001");
  EXPECT_EQ(SubjectOf("case7", "^(patient[0-9]+)"), "case7");
}

}  // namespace
}  // namespace cardioseg
