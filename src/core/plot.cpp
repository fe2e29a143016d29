#include "cardioseg/core/plot.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <stdexcept>

#include "cardioseg/core/csv.h"
#include "cardioseg/core/error.h"
#include "cardioseg/core/statistics.h"

namespace cardioseg {
namespace {

// 5x7 glyphs, rows top to bottom, '#' = ink.
const std::map<char, const char*>& Font() {
  static const std::map<char, const char*> kFont = {
      {'A', ".###.#...##...#######...##...##...#"}, {'B', "####.#...##...#####.#...##...#####."},
      {'C', ".###.#...##....#....#....#...#.###."}, {'D', "####.#...##...##...##...##...#####."},
      {'E', "######....#....####.#....#....#####"}, {'F', "######....#....####.#....#....#...."},
      {'G', ".###.#...##....#.####...##...#.####"}, {'H', "#...##...##...#######...##...##...#"},
      {'I', ".###...#....#....#....#....#...###."}, {'J', "..###...#....#....#....##..#..##.."},
      {'K', "#...##..#.#.#..##...#.#..#..#.#...#"}, {'L', "#....#....#....#....#....#....#####"},
      {'M', "#...###.###.#.##...##...##...##...#"}, {'N', "#...##...###..##.#.##..###...##...#"},
      {'O', ".###.#...##...##...##...##...#.###."}, {'P', "####.#...##...#####.#....#....#...."},
      {'Q', ".###.#...##...##...##.#.##..#..##.#"}, {'R', "####.#...##...#####.#.#..#..#.#...#"},
      {'S', ".####.....#.....###.....#....#####."}, {'T', "#####..#....#....#....#....#....#.."},
      {'U', "#...##...##...##...##...##...#.###."}, {'V', "#...##...##...##...##...#.#.#...#.."},
      {'W', "#...##...##...##.#.##.#.##.#.#.#.#."}, {'X', "#...##...#.#.#...#...#.#.#...##...#"},
      {'Y', "#...##...#.#.#...#....#....#....#.."}, {'Z', "#####....#...#...#...#...#....#####"},
      {'0', ".###.#...##..###.#.###..##...#.###."}, {'1', "..#...##....#....#....#....#...###."},
      {'2', ".###.#...#....#...#...#...#...#####"}, {'3', "#####...#...#.....#....##...#.###."},
      {'4', "...#...##..#.#.#..#.#####...#....#."}, {'5', "######....####.....#....##...#.###."},
      {'6', "..##..#...#....####.#...##...#.###."}, {'7', "#####....#...#...#...#....#....#..."},
      {'8', ".###.#...##...#.###.#...##...#.###."}, {'9', ".###.#...##...#.####....#...#..##.."},
      {'.', "......................##...##......"}, {'-', "...............###................."},
      {'_', "..............................#####"}, {'(', "...#...#...#....#....#.....#.....#."},
      {')', ".#.....#.....#....#....#...#...#..."}, {'%', "##...##..#...#...#...#...#..##...##"},
      {'/', ".....#...#...#...#...#.....#......."}, {':', ".......##...##.......##...##......."},
      {',', ".....................##...##...#..."}, {'+', ".......#....#..#####..#....#......."}, {' ', "..................................."}};
  return kFont;
}

class Canvas {
 public:
  Canvas(std::size_t w, std::size_t h) : r_{w, h, std::vector<std::uint8_t>(w * h * 3, 255)} {}
  void Set(long x, long y, std::array<int, 3> c) {
    if (x < 0 || y < 0 || x >= static_cast<long>(r_.width) || y >= static_cast<long>(r_.height)) return;
    auto* p = &r_.rgb[(static_cast<std::size_t>(y) * r_.width + static_cast<std::size_t>(x)) * 3];
    for (int i = 0; i < 3; ++i) p[i] = static_cast<std::uint8_t>(c[i]);
  }
  void Rect(long x0, long y0, long x1, long y1, std::array<int, 3> c) {
    for (long y = y0; y <= y1; ++y)
      for (long x = x0; x <= x1; ++x) Set(x, y, c);
  }
  // Bresenham with a square pen of `thickness` pixels.
  void Line(double xa, double ya, double xb, double yb, std::array<int, 3> c, int thickness = 1) {
    long x0 = std::lround(xa), y0 = std::lround(ya);
    const long x1 = std::lround(xb), y1 = std::lround(yb);
    const long dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0);
    const long sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    long err = dx + dy;
    const int h = thickness / 2;
    while (true) {
      Rect(x0 - h, y0 - h, x0 - h + thickness - 1, y0 - h + thickness - 1, c);
      if (x0 == x1 && y0 == y1) break;
      const long e2 = 2 * err;
      if (e2 >= dy) { err += dy; x0 += sx; }
      if (e2 <= dx) { err += dx; y0 += sy; }
    }
  }
  // Text in upper case, `scale` pixels per font pixel; returns the width drawn.
  long Text(long x, long y, const std::string& text, std::array<int, 3> c, int scale = 1) {
    long cx = x;
    for (char ch : text) {
      const char u = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      const auto it = Font().find(u);
      const char* glyph = it == Font().end() ? Font().at('.') : it->second;
      for (int row = 0; row < 7; ++row)
        for (int col = 0; col < 5; ++col)
          if (glyph[row * 5 + col] == '#') Rect(cx + col * scale, y + row * scale, cx + col * scale + scale - 1, y + row * scale + scale - 1, c);
      cx += 6 * scale;
    }
    return cx - x;
  }
  RgbRaster Take() { return std::move(r_); }

 private:
  RgbRaster r_;
};

std::string Format(double v) {
  std::ostringstream s;
  s.precision(std::abs(v) >= 10 ? 0 : (std::abs(v) >= 1 ? 1 : 2));
  s << std::fixed << v;
  return s.str();
}

constexpr std::array<std::array<int, 3>, 6> kPalette{{{220, 60, 60}, {60, 160, 60}, {60, 90, 220},
                                                      {200, 140, 0}, {150, 60, 180}, {0, 160, 170}}};

struct Panel {
  long x0, y0, x1, y1;  // plot area in pixels
  double xmin, xmax, ymin, ymax;
  double X(double v) const { return x0 + (v - xmin) / (xmax - xmin) * (x1 - x0); }
  double Y(double v) const { return y1 - (v - ymin) / (ymax - ymin) * (y1 - y0); }
};

void DrawAxes(Canvas& c, const Panel& p, const std::string& title, bool epoch_labels) {
  const std::array<int, 3> grid{225, 225, 225}, ink{40, 40, 40};
  for (int t = 0; t <= 4; ++t) {
    const double v = p.ymin + (p.ymax - p.ymin) * t / 4;
    c.Line(p.x0, p.Y(v), p.x1, p.Y(v), grid);
    const std::string label = Format(v);
    c.Text(p.x0 - 8 - static_cast<long>(label.size()) * 6, std::lround(p.Y(v)) - 3, label, ink);
  }
  const double span = p.xmax - p.xmin;
  const double step = std::max(1.0, std::pow(10.0, std::floor(std::log10(std::max(span, 1.0) / 2))) *
                                        (span / std::pow(10.0, std::floor(std::log10(std::max(span, 1.0) / 2))) > 10 ? 2 : 1));
  for (double v = std::ceil(p.xmin / step) * step; v <= p.xmax + 1e-9; v += step) {
    c.Line(p.X(v), p.y0, p.X(v), p.y1, grid);
    if (epoch_labels) {
      const std::string label = Format(v);
      c.Text(std::lround(p.X(v)) - static_cast<long>(label.size()) * 3, p.y1 + 8, label, ink);
    }
  }
  c.Line(p.x0, p.y1, p.x1, p.y1, ink);
  c.Line(p.x0, p.y0, p.x0, p.y1, ink);
  c.Text(p.x0, p.y0 - 20, title, ink, 2);
}

}  // namespace

TrainingLog ReadTrainingLog(const std::filesystem::path& csv) {
  std::ifstream in(csv);
  if (!in) throw InputError(csv.string(), "cannot open the training log");
  std::string line;
  if (!std::getline(in, line)) throw InputError(csv.string(), "empty training log");
  const auto header = SplitCsvLine(line);
  int epoch_col = -1, loss_col = -1;
  std::vector<int> dice_cols;
  TrainingLog log;
  for (std::size_t i = 0; i < header.size(); ++i) {
    if (header[i] == "epoch") epoch_col = static_cast<int>(i);
    else if (header[i] == "train_loss") loss_col = static_cast<int>(i);
    else if (header[i].rfind("val_", 0) == 0 && header[i].find("dice") != std::string::npos) {
      dice_cols.push_back(static_cast<int>(i));
      log.dice_names.push_back(header[i]);
    }
  }
  if (epoch_col < 0 || loss_col < 0) {
    throw InputError(csv.string(), "not a training log: no \"epoch\" and \"train_loss\" columns");
  }
  log.dice.resize(dice_cols.size());
  auto number = [](const std::vector<std::string>& cells, int col) {
    if (col >= static_cast<int>(cells.size()) || cells[col].empty()) {
      return std::numeric_limits<double>::quiet_NaN();
    }
    try {
      return std::stod(cells[col]);
    } catch (const std::exception&) {
      return std::numeric_limits<double>::quiet_NaN();
    }
  };
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const auto cells = SplitCsvLine(line);
    log.epoch.push_back(number(cells, epoch_col));
    log.train_loss.push_back(number(cells, loss_col));
    for (std::size_t d = 0; d < dice_cols.size(); ++d) log.dice[d].push_back(number(cells, dice_cols[d]));
  }
  return log;
}

RgbRaster DrawTrainingCurves(const TrainingLog& log, const std::vector<std::array<int, 3>>& colors) {
  if (log.epoch.empty()) throw std::invalid_argument("the training log has no epoch");
  constexpr std::size_t kWidth = 900, kHeight = 640;
  Canvas c(kWidth, kHeight);
  double xmin = log.epoch.front(), xmax = log.epoch.back();
  if (xmax <= xmin) xmax = xmin + 1;
  double lmin = std::numeric_limits<double>::infinity(), lmax = -lmin;
  for (double v : log.train_loss) {
    if (std::isfinite(v)) { lmin = std::min(lmin, v); lmax = std::max(lmax, v); }
  }
  if (!std::isfinite(lmin)) { lmin = 0; lmax = 1; }
  if (lmax - lmin < 1e-6) lmax = lmin + 1;
  const double pad = 0.05 * (lmax - lmin);
  const Panel loss{90, 40, 860, 270, xmin, xmax, std::max(0.0, lmin - pad), lmax + pad};
  const Panel dice{90, 340, 860, 570, xmin, xmax, 0.0, 1.0};
  DrawAxes(c, loss, "TRAINING LOSS", false);
  DrawAxes(c, dice, "VALIDATION DICE", true);
  c.Text(kWidth / 2 - 15, dice.y1 + 24, "EPOCH", {40, 40, 40}, 1);

  auto curve = [&](const Panel& p, const std::vector<double>& y, std::array<int, 3> color, int pen) {
    long last = -1;
    for (std::size_t i = 0; i < y.size(); ++i) {
      if (!std::isfinite(y[i]) || !std::isfinite(log.epoch[i])) continue;
      if (last >= 0) c.Line(p.X(log.epoch[last]), p.Y(y[last]), p.X(log.epoch[i]), p.Y(y[i]), color, pen);
      c.Rect(std::lround(p.X(log.epoch[i])) - pen, std::lround(p.Y(y[i])) - pen,
             std::lround(p.X(log.epoch[i])) + pen, std::lround(p.Y(y[i])) + pen, color);
      last = static_cast<long>(i);
    }
  };
  curve(loss, log.train_loss, {30, 30, 30}, 2);
  long legend_x = dice.x0;
  std::size_t class_index = 0;
  for (std::size_t d = 0; d < log.dice.size(); ++d) {
    const bool mean = log.dice_names[d] == "val_mean_dice";
    std::array<int, 3> color{0, 0, 0};
    if (!mean) {
      color = class_index < colors.size() ? colors[class_index] : kPalette[class_index % kPalette.size()];
      ++class_index;
    }
    curve(dice, log.dice[d], color, mean ? 2 : 1);
    std::string name = log.dice_names[d];
    name = mean ? "MEAN" : name.substr(std::string("val_dice_").size() <= name.size() ? 9 : 0);
    c.Rect(legend_x, dice.y1 + 44, legend_x + 10, dice.y1 + 52, color);
    legend_x += 16 + c.Text(legend_x + 14, dice.y1 + 45, name, {40, 40, 40}) + 12;
  }
  return c.Take();
}

RgbRaster DrawBlandAltman(const std::string& title, const std::string& unit,
                          const std::vector<double>& predicted, const std::vector<double>& reference) {
  const Agreement a = ComputeAgreement(predicted, reference);
  if (a.n == 0) throw std::invalid_argument("Bland-Altman plot: no finite pair");
  std::vector<double> mean, diff;
  for (std::size_t i = 0; i < predicted.size(); ++i) {
    if (std::isfinite(predicted[i]) && std::isfinite(reference[i])) {
      mean.push_back((predicted[i] + reference[i]) / 2);
      diff.push_back(predicted[i] - reference[i]);
    }
  }
  const auto [mn, mx] = std::minmax_element(mean.begin(), mean.end());
  double xmin = *mn, xmax = *mx;
  if (xmax - xmin < 1e-6) { xmin -= 1; xmax += 1; }
  const double xpad = 0.05 * (xmax - xmin);
  double ymin = *std::min_element(diff.begin(), diff.end());
  double ymax = *std::max_element(diff.begin(), diff.end());
  for (double v : {a.bias, a.loa_lower, a.loa_upper, 0.0}) {
    if (std::isfinite(v)) { ymin = std::min(ymin, v); ymax = std::max(ymax, v); }
  }
  if (ymax - ymin < 1e-6) { ymin -= 1; ymax += 1; }
  const double ypad = 0.08 * (ymax - ymin);
  constexpr std::size_t kWidth = 760, kHeight = 520;
  Canvas c(kWidth, kHeight);
  const Panel p{90, 50, 600, 440, xmin - xpad, xmax + xpad, ymin - ypad, ymax + ypad};
  DrawAxes(c, p, title, true);
  const std::array<int, 3> ink{40, 40, 40}, blue{40, 80, 200}, red{200, 50, 50};
  c.Text(p.x0 + 120, p.y1 + 24, "X: MEAN OF BOTH (" + unit + ")   Y: PRED - REF (" + unit + ")", ink);
  const auto hline = [&](double v, std::array<int, 3> color, bool dashed, const std::string& label) {
    if (!std::isfinite(v)) return;
    for (long x = p.x0; x < p.x1; x += dashed ? 12 : 1) {
      c.Line(x, p.Y(v), std::min<long>(p.x1, x + (dashed ? 6 : 1)), p.Y(v), color, 2);
    }
    c.Text(p.x1 + 8, std::lround(p.Y(v)) - 3, label + " " + Format(v), color);
  };
  c.Line(p.x0, p.Y(0), p.x1, p.Y(0), {170, 170, 170});
  hline(a.bias, blue, false, "BIAS");
  hline(a.loa_upper, red, true, "+1.96 SD");
  hline(a.loa_lower, red, true, "-1.96 SD");
  for (std::size_t i = 0; i < mean.size(); ++i) {
    const long x = std::lround(p.X(mean[i])), y = std::lround(p.Y(diff[i]));
    c.Rect(x - 3, y - 3, x + 3, y + 3, {20, 20, 20});
    c.Rect(x - 2, y - 2, x + 2, y + 2, {120, 200, 255});
  }
  c.Text(p.x0, p.y1 + 44, "N " + std::to_string(a.n) + "   R " + Format(a.pearson_r) + "   MAE " +
                              Format(a.mae), ink);
  return c.Take();
}

}  // namespace cardioseg
