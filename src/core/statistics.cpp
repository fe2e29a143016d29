#include "cardioseg/core/statistics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <regex>
#include <stdexcept>

namespace cardioseg {
namespace {

double Pearson(const std::vector<double>& x, const std::vector<double>& y) {
  const double n = static_cast<double>(x.size());
  const double mx = std::accumulate(x.begin(), x.end(), 0.0) / n;
  const double my = std::accumulate(y.begin(), y.end(), 0.0) / n;
  double sxy = 0, sxx = 0, syy = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  if (sxx <= 0 || syy <= 0) return std::numeric_limits<double>::quiet_NaN();
  return sxy / std::sqrt(sxx * syy);
}

}  // namespace

std::vector<double> AverageRanks(const std::vector<double>& values) {
  std::vector<std::size_t> order(values.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return values[a] < values[b]; });
  std::vector<double> ranks(values.size());
  for (std::size_t i = 0; i < order.size();) {
    std::size_t j = i;
    while (j + 1 < order.size() && values[order[j + 1]] == values[order[i]]) ++j;
    const double rank = (static_cast<double>(i) + static_cast<double>(j)) / 2.0 + 1.0;
    for (std::size_t k = i; k <= j; ++k) ranks[order[k]] = rank;
    i = j + 1;
  }
  return ranks;
}

Correlation Correlate(const std::vector<double>& x, const std::vector<double>& y) {
  if (x.size() != y.size()) throw std::invalid_argument("Correlate: x and y differ in length");
  std::vector<double> a, b;
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (std::isfinite(x[i]) && std::isfinite(y[i])) {
      a.push_back(x[i]);
      b.push_back(y[i]);
    }
  }
  Correlation c;
  c.n = static_cast<int>(a.size());
  if (a.size() < 3) {
    c.pearson = c.spearman = std::numeric_limits<double>::quiet_NaN();
    return c;
  }
  c.pearson = Pearson(a, b);
  c.spearman = Pearson(AverageRanks(a), AverageRanks(b));
  return c;
}

Agreement ComputeAgreement(const std::vector<double>& predicted, const std::vector<double>& reference) {
  if (predicted.size() != reference.size()) {
    throw std::invalid_argument("ComputeAgreement: predicted and reference differ in length");
  }
  std::vector<double> p, r, d;
  for (std::size_t i = 0; i < predicted.size(); ++i) {
    if (std::isfinite(predicted[i]) && std::isfinite(reference[i])) {
      p.push_back(predicted[i]);
      r.push_back(reference[i]);
      d.push_back(predicted[i] - reference[i]);
    }
  }
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  Agreement a;
  a.n = static_cast<int>(d.size());
  if (d.empty()) {
    a.pearson_r = a.bias = a.sd = a.loa_lower = a.loa_upper = a.mae = kNaN;
    return a;
  }
  const double n = static_cast<double>(d.size());
  a.bias = std::accumulate(d.begin(), d.end(), 0.0) / n;
  a.mae = 0;
  for (double v : d) a.mae += std::abs(v) / n;
  if (d.size() < 2) {
    a.sd = a.loa_lower = a.loa_upper = kNaN;
  } else {
    double ss = 0;
    for (double v : d) ss += (v - a.bias) * (v - a.bias);
    a.sd = std::sqrt(ss / (n - 1));
    a.loa_lower = a.bias - 1.96 * a.sd;
    a.loa_upper = a.bias + 1.96 * a.sd;
  }
  a.pearson_r = p.size() < 3 ? kNaN : Pearson(p, r);
  return a;
}

std::string SubjectOf(const std::string& case_id, const std::string& subject_pattern) {
  if (subject_pattern.empty()) return case_id;
  std::regex re;
  try {
    re = std::regex(subject_pattern, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    throw std::invalid_argument("'" + subject_pattern + "' is not a valid regular expression (" +
                                e.what() + ")");
  }
  std::smatch m;
  if (!std::regex_search(case_id, m, re)) return case_id;
  if (m.size() > 1 && m[1].matched) return m[1].str();
  return m[0].str();
}

}  // namespace cardioseg
