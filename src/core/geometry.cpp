#include "cardioseg/core/geometry.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include <nlohmann/json.hpp>

namespace cardioseg {

bool Geometry::operator==(const Geometry& o) const {
  return size == o.size && spacing == o.spacing && origin == o.origin && direction == o.direction;
}

bool SameGrid(const Geometry& a, const Geometry& b, double relative_tolerance, double tolerance_mm,
              double direction_tolerance) {
  if (a.size != b.size) return false;
  for (int i = 0; i < 3; ++i) {
    const double scale = std::max(std::abs(a.spacing[i]), std::abs(b.spacing[i]));
    if (!(std::abs(a.spacing[i] - b.spacing[i]) <= relative_tolerance * scale)) return false;
    if (!(std::abs(a.origin[i] - b.origin[i]) <= tolerance_mm)) return false;
  }
  for (int i = 0; i < 9; ++i) {
    if (!(std::abs(a.direction[i] - b.direction[i]) <= direction_tolerance)) return false;
  }
  return true;
}

std::string Describe(const Geometry& g) {
  std::ostringstream s;
  s.precision(6);
  s << "size " << g.size[0] << "x" << g.size[1] << "x" << g.size[2] << ", spacing " << g.spacing[0]
    << "x" << g.spacing[1] << "x" << g.spacing[2] << " mm, origin (" << g.origin[0] << ", "
    << g.origin[1] << ", " << g.origin[2] << ") mm, direction (";
  for (int r = 0; r < 3; ++r) {
    s << (r ? "; " : "") << g.direction[3 * r] << " " << g.direction[3 * r + 1] << " "
      << g.direction[3 * r + 2];
  }
  s << ")";
  return s.str();
}

nlohmann::json ToJson(const Geometry& g) {
  nlohmann::json direction = nlohmann::json::array();
  for (int r = 0; r < 3; ++r) {
    direction.push_back({g.direction[3 * r], g.direction[3 * r + 1], g.direction[3 * r + 2]});
  }
  return {{"size", g.size}, {"spacing_mm", g.spacing}, {"origin_mm", g.origin},
          {"direction", direction}};
}

}  // namespace cardioseg
