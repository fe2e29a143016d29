#pragma once
// A small untrained model folder (model.json + weights.pt) for tests that need a network but not
// a good one: pipeline geometry, failure paths, loading.
#include <array>
#include <cstdint>
#include <filesystem>

namespace cardioseg::test {

// Writes a 2-level U-Net for `num_classes` classes working at `spacing_mm` (i, j, k) with a
// [4, 16, 16] patch into `dir`. Weights are random from a fixed seed.
void WriteTinyModel(const std::filesystem::path& dir, int num_classes,
                    const std::array<double, 3>& spacing_mm);

// Writes a TorchScript network whose logits are [-x, x] (labels background, heart): foreground
// exactly where the normalised input is > 0, at any scale and tiling, so the heart-box pass can be
// checked against the whole-volume prediction. `patch` is [D, H, W]; `spacing_mm` (i, j, k).
void WriteSignModel(const std::filesystem::path& dir, const std::array<std::int64_t, 3>& patch,
                    const std::array<double, 3>& spacing_mm);

}  // namespace cardioseg::test
