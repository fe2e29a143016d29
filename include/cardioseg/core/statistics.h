#pragma once
// Correlation coefficients for `cardioseg analyze` (metadata against scan metrics), agreement of
// a measurement with a reference for `cardioseg evaluate --clinical`, and the grouping of cases
// into subjects shared by training splits and clinical evaluation.
#include <string>
#include <vector>

namespace cardioseg {

struct Correlation {
  double pearson = 0;   // Pearson's r
  double spearman = 0;  // Spearman's rho: Pearson's r of the ranks, ties get their average rank
  int n = 0;            // pairs used (pairs with a NaN on either side are left out)
};

// NaN coefficients when fewer than 3 pairs remain or one side is constant.
// Throws std::invalid_argument when x and y differ in length.
Correlation Correlate(const std::vector<double>& x, const std::vector<double>& y);

// Ranks 1..n with ties averaged (as scipy.stats.rankdata's "average").
std::vector<double> AverageRanks(const std::vector<double>& values);

// Agreement of a method's measurements with reference measurements of the same subjects
// (Bland & Altman, "Statistical methods for assessing agreement between two methods of clinical
// measurement", Lancet 1986), as the ACDC challenge reports it (Bernard et al., IEEE TMI 2018):
// differences d = predicted - reference;
//   bias = mean(d); sd = sample standard deviation of d (n - 1);
//   limits of agreement = bias -/+ 1.96 sd; mae = mean |d|; pearson_r of (predicted, reference).
// Pairs with a NaN on either side are left out. sd, limits and r are NaN below 2 (r: 3) pairs or
// when one side is constant. Throws std::invalid_argument when the lengths differ.
struct Agreement {
  int n = 0;
  double pearson_r = 0;
  double bias = 0, sd = 0;
  double loa_lower = 0, loa_upper = 0;
  double mae = 0;
};
Agreement ComputeAgreement(const std::vector<double>& predicted, const std::vector<double>& reference);

// The subject (patient) a case id belongs to: an ECMAScript regular expression searched in the
// id; its first capture group, or the whole match when it has none. The id itself when the
// pattern is empty or does not match. Throws std::invalid_argument for an invalid expression.
// Example: "^(patient[0-9]+)" maps ACDC's "patient001" and "patient001_es" to "patient001".
std::string SubjectOf(const std::string& case_id, const std::string& subject_pattern);

}  // namespace cardioseg
