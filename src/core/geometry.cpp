#include "cardioseg/core/geometry.h"

#include <nlohmann/json.hpp>

namespace cardioseg {

bool Geometry::operator==(const Geometry& o) const {
  return size == o.size && spacing == o.spacing && origin == o.origin && direction == o.direction;
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
