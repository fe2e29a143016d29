#pragma once
// Correlation coefficients for `cardioseg analyze` (metadata against scan metrics).
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

}  // namespace cardioseg
