#pragma once
// Training curves drawn from training_log.csv into an RGB raster (no plotting library in the
// dependency set; the picture is simple enough to draw directly). Writing it as PNG is done by
// imaging::WriteRgbPng (libpng).
//
// Layout: two panels sharing the epoch axis — training loss (top, autoscaled) and validation
// Dice (bottom, 0..1): the mean as a thick black line, each class in its colour, with a legend.
// Text uses a built-in 5x7 bitmap font (upper case, digits, ". - _ ( ) % / : ,").
#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace cardioseg {

struct TrainingLog {
  std::vector<double> epoch, train_loss;
  // Validation columns by name ("val_mean_dice", "val_dice_<class>"); NaN where not validated.
  std::vector<std::string> dice_names;
  std::vector<std::vector<double>> dice;  // dice[c][row]
};

// Parses training_log.csv (header: epoch, learning_rate, train_loss, val_mean_dice,
// val_dice_<class>..., epoch_seconds; empty cells where validation did not run). Throws
// InputError naming the file when it cannot be read or lacks the epoch/train_loss columns.
TrainingLog ReadTrainingLog(const std::filesystem::path& csv);

struct RgbRaster {
  std::size_t width = 0, height = 0;
  std::vector<std::uint8_t> rgb;  // row-major, 3 bytes per pixel
};

// Draws the two panels; `colors` are the classes' colours in dice_names order after the mean
// (missing ones get a default palette). Throws std::invalid_argument for an empty log.
RgbRaster DrawTrainingCurves(const TrainingLog& log,
                             const std::vector<std::array<int, 3>>& colors = {});

// A Bland-Altman plot: one dot per subject at (mean of the two methods, predicted - reference),
// the bias as a solid line and the limits of agreement (bias -/+ 1.96 sd) dashed, each labelled
// with its value; `title` above, `unit` on the axes (e.g. "%", "G"). Throws
// std::invalid_argument when no pair is finite or the lengths differ.
RgbRaster DrawBlandAltman(const std::string& title, const std::string& unit,
                          const std::vector<double>& predicted, const std::vector<double>& reference);

}  // namespace cardioseg
