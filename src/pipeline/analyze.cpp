#include "cardioseg/pipeline/analyze.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include <itkBinaryBallStructuringElement.h>
#include <itkBinaryDilateImageFilter.h>
#include <spdlog/spdlog.h>

#include "cardioseg/core/atomic_file.h"
#include "cardioseg/core/csv.h"
#include "cardioseg/core/error.h"
#include "cardioseg/core/intensity_math.h"
#include "cardioseg/core/statistics.h"
#include "cardioseg/imaging/intensity.h"
#include "cardioseg/imaging/io.h"
#include "cardioseg/imaging/n4.h"
#include "cardioseg/imaging/postprocess.h"
#include "cardioseg/pipeline/batch.h"
#include "cardioseg/pipeline/pipeline.h"

namespace cardioseg::pipeline {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using imaging::ImageType;
using imaging::LabelMapType;

// Mean, sd and percentiles (intensity::ComputeStats); NaN everywhere for no values.
intensity::Stats StatsOf(std::vector<float> values) {
  if (values.empty()) {
    intensity::Stats none;
    none.mean = none.sd = none.p01 = none.p50 = none.p99 = std::nan("");
    return none;
  }
  return intensity::ComputeStats(values);
}

std::vector<float> Where(const ImageType* image, const LabelMapType* mask, bool inside) {
  std::vector<float> out;
  const float* p = image->GetBufferPointer();
  const std::uint8_t* m = mask->GetBufferPointer();
  for (std::size_t i = 0, n = image->GetLargestPossibleRegion().GetNumberOfPixels(); i < n; ++i) {
    if ((m[i] != 0) == inside) out.push_back(p[i]);
  }
  return out;
}

std::map<int, std::string> LabelNames(const fs::path& dataset) {
  std::map<int, std::string> names;
  std::ifstream in(dataset / "dataset.json");
  if (!in) return names;
  try {
    const json doc = json::parse(in);
    for (const auto& [key, value] : doc.at("labels").items()) {
      // MSD: {"0": "background", ...}; nnU-Net v2: {"background": 0, ...}.
      if (value.is_string()) names[std::stoi(key)] = value.get<std::string>();
      else if (value.is_number_integer()) names[value.get<int>()] = key;
    }
  } catch (const std::exception&) {
    names.clear();
  }
  return names;
}

void Analyze(CaseMetrics& c, const AnalyzeOptions& options, const std::map<int, std::string>& names) {
  config::InputConfig input;
  const auto image = imaging::ReadVolume(c.image, input).image;
  const Geometry g = imaging::GeometryOf(image.GetPointer());
  auto& v = c.values;
  const char* axes = "ijk";
  for (int d = 0; d < 3; ++d) {
    v[std::string("size_") + axes[d]] = static_cast<double>(g.size[d]);
    v[std::string("spacing_") + axes[d] + "_mm"] = g.spacing[d];
  }
  {
    auto all = imaging::MaskedValues(image.GetPointer(), nullptr);
    const auto s = intensity::ComputeStats(all);
    v["intensity_mean"] = s.mean;
    v["intensity_sd"] = s.sd;
    v["intensity_p01"] = s.p01;
    v["intensity_p50"] = s.p50;
    v["intensity_p99"] = s.p99;
  }
  const auto otsu = imaging::IntensityMask(image.GetPointer(), "otsu");
  const double signal = StatsOf(Where(image.GetPointer(), otsu.GetPointer(), true)).mean;
  const double noise = StatsOf(Where(image.GetPointer(), otsu.GetPointer(), false)).sd;
  v["snr"] = noise > 0 ? 0.655 * signal / noise : std::nan("");

  if (!c.labels.empty()) {
    const auto labels = imaging::ReadLabelMap(c.labels);
    if (labels->GetLargestPossibleRegion().GetSize() != image->GetLargestPossibleRegion().GetSize()) {
      throw InputError(c.labels.string(), "label map and image differ in size");
    }
    for (const auto& [label, ml] : imaging::LabelVolumesMl(labels.GetPointer())) {
      const auto it = names.find(label);
      v["volume_ml_" + FileNameOf(it != names.end() ? it->second : "label " + std::to_string(label))] = ml;
    }
    auto any = imaging::MakeImage<LabelMapType>(g, 0);
    const std::uint8_t* l = labels->GetBufferPointer();
    for (std::size_t i = 0; i < g.NumberOfVoxels(); ++i) any->GetBufferPointer()[i] = l[i] != 0;
    using Ball = itk::BinaryBallStructuringElement<std::uint8_t, 3>;
    Ball ball;
    Ball::SizeType radius{{3, 3, 0}};
    ball.SetRadius(radius);
    ball.CreateStructuringElement();
    auto dilate = itk::BinaryDilateImageFilter<LabelMapType, LabelMapType, Ball>::New();
    dilate->SetInput(any);
    dilate->SetKernel(ball);
    dilate->SetForegroundValue(1);
    dilate->Update();
    std::vector<float> inside, ring;
    const float* p = image->GetBufferPointer();
    const std::uint8_t* d = dilate->GetOutput()->GetBufferPointer();
    for (std::size_t i = 0; i < g.NumberOfVoxels(); ++i) {
      if (any->GetBufferPointer()[i]) inside.push_back(p[i]);
      else if (d[i]) ring.push_back(p[i]);
    }
    if (!inside.empty() && !ring.empty() && noise > 0) {
      v["cnr"] = std::abs(StatsOf(inside).mean - StatsOf(ring).mean) / noise;
    }
  }
  if (options.n4) {
    const auto n4 = imaging::CorrectBiasField(image.GetPointer(), options.n4_config);
    const auto field = StatsOf(Where(n4.bias_field.GetPointer(), otsu.GetPointer(), true));
    if (std::isfinite(field.mean)) {
      v["bias_field_cv"] = field.sd / field.mean;
      v["bias_field_max_over_min"] = field.p01 > 0 ? field.p99 / field.p01 : std::nan("");
    }
  }
}

std::string Cell(double v) {
  if (!std::isfinite(v)) return "";
  std::ostringstream s;
  s.precision(8);
  s << v;
  return s.str();
}

}  // namespace

std::vector<CaseMetrics> AnalyzeDataset(const fs::path& dataset, const AnalyzeOptions& options) {
  const bool msd = fs::is_directory(dataset / "imagesTr");
  const fs::path images = msd ? dataset / "imagesTr" : dataset;
  std::vector<CaseMetrics> cases;
  for (const auto& c : DiscoverCases(images)) {
    CaseMetrics m;
    m.id = c.id;
    m.image = c.input;
    if (msd) {
      std::string id = c.id;
      if (id.size() > 5 && id.compare(id.size() - 5, 5, "_0000") == 0) id.resize(id.size() - 5);
      m.id = id;
      const fs::path label = dataset / "labelsTr" / (id + ".nii.gz");
      if (fs::exists(label)) m.labels = label;
    }
    cases.push_back(m);
  }
  if (cases.empty()) throw InputError(dataset.string(), "no image found");
  const auto names = LabelNames(dataset);
  std::atomic<std::size_t> next{0};
  std::mutex log_mutex;
  auto worker = [&] {
    for (std::size_t i = next++; i < cases.size(); i = next++) {
      try {
        Analyze(cases[i], options, names);
      } catch (const std::exception& e) {
        cases[i].error = e.what();
        std::lock_guard<std::mutex> lock(log_mutex);
        spdlog::error("{}: {}", cases[i].id, e.what());
        continue;
      }
      std::lock_guard<std::mutex> lock(log_mutex);
      spdlog::info("analyze: {} ({}/{})", cases[i].id, i + 1, cases.size());
    }
  };
  std::vector<std::thread> threads;
  for (int j = 1; j < std::max(1, options.jobs); ++j) threads.emplace_back(worker);
  worker();
  for (auto& t : threads) t.join();
  return cases;
}

Metadata ReadMetadata(const fs::path& csv) {
  std::ifstream in(csv);
  if (!in) throw InputError(csv.string(), "cannot open the metadata table");
  std::string line;
  if (!std::getline(in, line)) throw InputError(csv.string(), "empty metadata table");
  auto header = SplitCsvLine(line);
  std::size_t key = 0;
  for (std::size_t i = 0; i < header.size(); ++i) {
    if (header[i] == "case") key = i;
  }
  Metadata m;
  for (std::size_t i = 0; i < header.size(); ++i) {
    if (i != key) m.columns.push_back(header[i]);
  }
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto cells = SplitCsvLine(line);
    cells.resize(header.size());
    std::vector<std::string> row;
    for (std::size_t i = 0; i < cells.size(); ++i) {
      if (i != key) row.push_back(cells[i]);
    }
    m.rows[cells[key]] = row;
  }
  return m;
}

json WriteAnalysis(const std::vector<CaseMetrics>& cases, const Metadata* metadata,
                   const fs::path& output_dir) {
  std::vector<std::string> metrics;
  for (const auto& c : cases) {
    for (const auto& [name, value] : c.values) {
      if (std::find(metrics.begin(), metrics.end(), name) == metrics.end()) metrics.push_back(name);
    }
  }
  std::ostringstream csv;
  csv << "case";
  if (metadata) for (const auto& col : metadata->columns) csv << "," << CsvField(col);
  for (const auto& m : metrics) csv << "," << m;
  csv << ",error\n";
  json per_case = json::array();
  for (const auto& c : cases) {
    csv << CsvField(c.id);
    json entry = {{"case", c.id}, {"image", c.image.string()}, {"metrics", c.values}};
    if (metadata) {
      const auto it = metadata->rows.find(c.id);
      for (std::size_t i = 0; i < metadata->columns.size(); ++i) {
        const std::string cell = it == metadata->rows.end() ? "" : it->second[i];
        csv << "," << CsvField(cell);
        entry["metadata"][metadata->columns[i]] = cell;
      }
    }
    for (const auto& m : metrics) {
      const auto it = c.values.find(m);
      csv << "," << (it == c.values.end() ? "" : Cell(it->second));
    }
    csv << "," << CsvField(c.error) << "\n";
    if (!c.error.empty()) entry["error"] = c.error;
    per_case.push_back(entry);
  }

  json correlations = json::array();
  if (metadata) {
    for (std::size_t col = 0; col < metadata->columns.size(); ++col) {
      std::vector<double> x;
      std::size_t numeric = 0, present = 0;
      for (const auto& c : cases) {
        const auto it = metadata->rows.find(c.id);
        double value = std::nan("");
        if (it != metadata->rows.end() && !it->second[col].empty()) {
          ++present;
          try {
            std::size_t used = 0;
            value = std::stod(it->second[col], &used);
            if (used != it->second[col].size()) value = std::nan("");
            else ++numeric;
          } catch (const std::exception&) {
          }
        }
        x.push_back(value);
      }
      if (numeric < 3 || numeric < present) continue;  // a categorical or sparse column
      for (const auto& m : metrics) {
        std::vector<double> y;
        for (const auto& c : cases) {
          const auto it = c.values.find(m);
          y.push_back(it == c.values.end() ? std::nan("") : it->second);
        }
        const auto r = Correlate(x, y);
        if (r.n < 3 || !std::isfinite(r.spearman)) continue;
        correlations.push_back({{"metadata", metadata->columns[col]}, {"metric", m}, {"n", r.n},
                                {"pearson", r.pearson}, {"spearman", r.spearman}});
      }
    }
    std::stable_sort(correlations.begin(), correlations.end(), [](const json& a, const json& b) {
      return std::abs(a["spearman"].get<double>()) > std::abs(b["spearman"].get<double>());
    });
  }
  std::ostringstream ccsv;
  ccsv << "metadata,metric,n,pearson,spearman\n";
  for (const auto& c : correlations) {
    ccsv << CsvField(c["metadata"].get<std::string>()) << "," << c["metric"].get<std::string>() << "," << c["n"] << ","
         << Cell(c["pearson"]) << "," << Cell(c["spearman"]) << "\n";
  }
  WriteTextAtomically(output_dir / "analysis.csv", csv.str());
  if (metadata) WriteTextAtomically(output_dir / "correlations.csv", ccsv.str());
  WriteTextAtomically(output_dir / "analysis.json",
                      json{{"cases", per_case}, {"correlations", correlations}}.dump(2) + "\n");
  return correlations;
}

}  // namespace cardioseg::pipeline
