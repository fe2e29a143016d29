#include "cardioseg/nn/tiling.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace cardioseg::nn {

std::vector<std::int64_t> TileStarts(std::int64_t size, std::int64_t tile, double step_fraction) {
  if (tile <= 0) throw std::invalid_argument("tile size must be positive");
  if (!(step_fraction > 0 && step_fraction <= 1)) {
    throw std::invalid_argument("step fraction must be in (0, 1]");
  }
  if (size <= tile) return {0};
  const double target_step = tile * step_fraction;
  const auto steps = static_cast<std::int64_t>(std::ceil((size - tile) / target_step)) + 1;
  const double actual = static_cast<double>(size - tile) / (steps - 1);
  std::vector<std::int64_t> starts;
  for (std::int64_t s = 0; s < steps; ++s) {
    starts.push_back(static_cast<std::int64_t>(std::llround(actual * s)));
  }
  return starts;
}

std::vector<Shape3> TileOrigins(const Shape3& size, const Shape3& tile, double step_fraction) {
  const auto d = TileStarts(size[0], tile[0], step_fraction);
  const auto h = TileStarts(size[1], tile[1], step_fraction);
  const auto w = TileStarts(size[2], tile[2], step_fraction);
  std::vector<Shape3> origins;
  for (auto z : d) {
    for (auto y : h) {
      for (auto x : w) origins.push_back({z, y, x});
    }
  }
  return origins;
}

std::int64_t TileCount(const Shape3& size, const Shape3& tile, double step_fraction) {
  std::int64_t n = 1;
  for (int a = 0; a < 3; ++a) n *= static_cast<std::int64_t>(TileStarts(size[a], tile[a], step_fraction).size());
  return n;
}

Shape3 StretchedTile(const Shape3& size, const Shape3& patch, const Shape3& multiple, double max_stretch) {
  if (!(max_stretch >= 1)) throw std::invalid_argument("tile stretch must be >= 1");
  Shape3 tile = patch;
  for (int a = 0; a < 3; ++a) {
    if (size[a] <= 0 || patch[a] <= 0 || multiple[a] <= 0) {
      throw std::invalid_argument("tile stretch: sizes and multiples must be positive");
    }
    if (size[a] <= patch[a]) continue;
    const std::int64_t covering = (size[a] + multiple[a] - 1) / multiple[a] * multiple[a];
    if (covering <= max_stretch * static_cast<double>(patch[a])) tile[a] = covering;
  }
  return tile;
}

Box3 HeartBoxOnFineGrid(const Shape3& coarse_first, const Shape3& coarse_last,
                        const Shape3& coarse_size, const Shape3& size, const Shape3& margin,
                        const Shape3& patch) {
  Box3 box;
  for (int a = 0; a < 3; ++a) {
    if (coarse_size[a] <= 0 || size[a] <= 0 || patch[a] <= 0 || margin[a] < 0) {
      throw std::invalid_argument("heart box: sizes must be positive");
    }
    if (coarse_first[a] < 0 || coarse_last[a] < coarse_first[a] || coarse_last[a] >= coarse_size[a]) {
      throw std::invalid_argument("heart box: the coarse box lies outside the coarse grid");
    }
    // Coarse voxel c covers [c, c + 1) * scale on the fine grid.
    const double scale = static_cast<double>(size[a]) / static_cast<double>(coarse_size[a]);
    std::int64_t first = static_cast<std::int64_t>(std::floor(coarse_first[a] * scale)) - margin[a];
    std::int64_t end = static_cast<std::int64_t>(std::ceil((coarse_last[a] + 1) * scale)) + margin[a];
    first = std::max<std::int64_t>(first, 0);
    end = std::min(end, size[a]);
    const std::int64_t want = std::min(patch[a], size[a]);
    if (end - first < want) {
      const std::int64_t grow = want - (end - first);
      first = std::max<std::int64_t>(0, first - grow / 2);
      end = first + want;
      if (end > size[a]) {
        end = size[a];
        first = end - want;
      }
    }
    box.start[a] = first;
    box.size[a] = end - first;
  }
  return box;
}

std::vector<float> GaussianImportanceMap(const Shape3& tile, double sigma_scale) {
  std::array<std::vector<double>, 3> axis;
  for (int a = 0; a < 3; ++a) {
    const double centre = (tile[a] - 1) / 2.0;
    const double sigma = std::max(1e-6, tile[a] * sigma_scale);
    for (std::int64_t i = 0; i < tile[a]; ++i) {
      const double x = (i - centre) / sigma;
      axis[a].push_back(std::exp(-0.5 * x * x));
    }
  }
  std::vector<float> map(static_cast<std::size_t>(tile[0] * tile[1] * tile[2]));
  std::size_t n = 0;
  double peak = 0;
  for (std::int64_t z = 0; z < tile[0]; ++z) {
    for (std::int64_t y = 0; y < tile[1]; ++y) {
      for (std::int64_t x = 0; x < tile[2]; ++x) {
        const double v = axis[0][z] * axis[1][y] * axis[2][x];
        peak = std::max(peak, v);
        map[n++] = static_cast<float>(v);
      }
    }
  }
  float smallest = std::numeric_limits<float>::max();
  for (float& v : map) {
    v = static_cast<float>(v / peak);
    if (v > 0) smallest = std::min(smallest, v);
  }
  for (float& v : map) {
    if (!(v > 0)) v = smallest;
  }
  return map;
}

std::vector<LevelPlan> PlanLevels(const std::array<double, 3>& spacing_mm, const Shape3& patch,
                                  int max_levels, std::int64_t min_feature_size) {
  std::vector<LevelPlan> levels;
  std::array<double, 3> spacing = spacing_mm;
  Shape3 size = patch;
  for (int level = 0; level < max_levels; ++level) {
    LevelPlan plan;
    const double finest = *std::min_element(spacing.begin(), spacing.end());
    for (int a = 0; a < 3; ++a) plan.kernel[a] = spacing[a] < 2 * finest ? 3 : 1;
    if (level > 0) {
      // Pool into this level from the previous one.
      bool any = false;
      for (int a = 0; a < 3; ++a) {
        const bool pool = spacing[a] < 2 * finest && size[a] / 2 >= min_feature_size;
        plan.stride[a] = pool ? 2 : 1;
        any = any || pool;
      }
      if (!any) break;
      for (int a = 0; a < 3; ++a) {
        if (plan.stride[a] == 2) {
          spacing[a] *= 2;
          size[a] /= 2;
        }
      }
      const double new_finest = *std::min_element(spacing.begin(), spacing.end());
      for (int a = 0; a < 3; ++a) plan.kernel[a] = spacing[a] < 2 * new_finest ? 3 : 1;
    }
    levels.push_back(plan);
  }
  return levels;
}

Shape3 DivisibleShape(const Shape3& shape, const std::vector<LevelPlan>& levels) {
  Shape3 factor{1, 1, 1};
  for (const auto& l : levels) {
    for (int a = 0; a < 3; ++a) factor[a] *= l.stride[a];
  }
  Shape3 out;
  for (int a = 0; a < 3; ++a) out[a] = (shape[a] + factor[a] - 1) / factor[a] * factor[a];
  return out;
}

}  // namespace cardioseg::nn
