#include "cardioseg/pipeline/batch.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include <unistd.h>

#include <spdlog/spdlog.h>

#include "cardioseg/core/atomic_file.h"
#include "cardioseg/core/error.h"
#include "cardioseg/pipeline/checksum.h"

namespace cardioseg::pipeline {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string IdOf(const fs::path& p) {
  if (fs::is_directory(p)) return p.filename().string();
  return SplitExtension(p.filename().string()).first;
}

std::string CsvField(std::string s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c == '\n' ? ' ' : c);
  return out + "\"";
}

}  // namespace

std::vector<BatchCase> DiscoverCases(const fs::path& source) {
  std::error_code ec;
  if (!fs::exists(source, ec)) throw InputError(source.string(), "no such file or folder");
  std::vector<fs::path> inputs;
  if (fs::is_directory(source)) {
    for (const auto& e : fs::directory_iterator(source)) {
      const auto name = e.path().filename().string();
      if (name.empty() || name[0] == '.') continue;
      inputs.push_back(e.path());
    }
  } else {
    std::ifstream list(source);
    std::string line;
    while (std::getline(list, line)) {
      line.erase(line.find_last_not_of(" \t\r") + 1);
      if (line.empty() || line[0] == '#') continue;
      fs::path p(line);
      if (p.is_relative()) p = source.parent_path() / p;
      inputs.push_back(p);
    }
  }
  std::vector<BatchCase> cases;
  for (const auto& p : inputs) cases.push_back({IdOf(p), p});
  std::sort(cases.begin(), cases.end(), [](const BatchCase& a, const BatchCase& b) {
    return a.id != b.id ? a.id < b.id : a.input < b.input;
  });
  std::map<std::string, int> seen;
  for (auto& c : cases) {
    if (const int n = seen[c.id]++; n > 0) c.id += "_" + std::to_string(n + 1);
  }
  return cases;
}

std::vector<BatchCase> SelectShard(const std::vector<BatchCase>& cases, int shard, int shards) {
  if (shards < 1 || shard < 1 || shard > shards) {
    throw UsageError("--shard " + std::to_string(shard) + "/" + std::to_string(shards) +
                     ": expected K/N with 1 <= K <= N");
  }
  std::vector<BatchCase> out;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    if (static_cast<int>(i % shards) == shard - 1) out.push_back(cases[i]);
  }
  return out;
}

// "\r[#######.......] 7/15 cases, 1 failed, ETA 0:42" on stderr, redrawn in place.
void DrawProgress(int done, std::size_t total, int failed, double eta_s) {
  constexpr int kWidth = 30;
  const int filled = total ? static_cast<int>(kWidth * static_cast<double>(done) / total) : kWidth;
  std::string bar(static_cast<std::size_t>(filled), '#');
  bar.resize(kWidth, '.');
  const int eta = static_cast<int>(eta_s + 0.5);
  std::fprintf(stderr, "\r\033[K[%s] %d/%zu cases, %d failed, ETA %d:%02d", bar.c_str(), done,
               total, failed, eta / 60, eta % 60);
  std::fflush(stderr);
}

bool CaseComplete(const fs::path& case_dir) {
  std::ifstream in(case_dir / "report.json");
  if (!in) return false;
  try {
    const json report = json::parse(in);
    for (const auto& o : report.at("outputs")) {
      const fs::path file = case_dir / o.at("file").get<std::string>();
      std::error_code ec;
      if (!fs::exists(file, ec)) return false;
      if (o.contains("bytes") && fs::file_size(file, ec) != o["bytes"].get<std::uintmax_t>()) {
        return false;
      }
      if (o.contains("sha256") && Sha256OfFile(file) != o["sha256"].get<std::string>()) return false;
    }
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

BatchResult RunBatch(const std::vector<BatchCase>& cases, const fs::path& output_dir,
                     const Pipeline& pipeline, const BatchOptions& options,
                     const std::atomic<bool>& stop) {
  using Clock = std::chrono::steady_clock;
  std::vector<json> rows(cases.size());
  std::atomic<std::size_t> next{0};
  std::atomic<int> finished{0}, failures{0};
  std::mutex log_mutex;
  // A progress bar on a terminal; plain log lines otherwise (files, pipes, CI).
  const bool tty = isatty(STDERR_FILENO) != 0;
  const auto start = Clock::now();

  auto worker = [&] {
    while (true) {
      const std::size_t i = next++;
      if (i >= cases.size()) return;
      const auto& c = cases[i];
      json row = {{"case", c.id}, {"input", c.input.string()}};
      if (stop) {
        row["status"] = "not_run";
        rows[i] = row;
        continue;
      }
      const fs::path case_dir = output_dir / c.id;
      if (options.resume && CaseComplete(case_dir)) {
        row["status"] = "skipped";
        row["reason"] = "outputs complete (resume)";
        rows[i] = row;
        ++finished;
        continue;
      }
      const auto t = Clock::now();
      try {
        const json report = RunCase(c.input, case_dir, pipeline);
        row["status"] = "done";
        row["wall_s"] = report.value("wall_s", 0.0);
        if (report.contains("label_volumes_ml")) row["label_volumes_ml"] = report["label_volumes_ml"];
      } catch (const std::exception& e) {
        row["status"] = "failed";
        row["reason"] = e.what();
        row["wall_s"] = std::chrono::duration<double>(Clock::now() - t).count();
        std::lock_guard<std::mutex> lock(log_mutex);
        spdlog::error("case {} failed: {}", c.id, e.what());
      }
      rows[i] = row;
      const int n = ++finished;
      if (row["status"] == "failed") ++failures;
      const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
      const double eta = elapsed / n * (static_cast<double>(cases.size()) - n);
      std::lock_guard<std::mutex> lock(log_mutex);
      if (tty) {
        DrawProgress(n, cases.size(), failures, eta);
      } else {
        spdlog::info("batch: {}/{} cases, {} failed, ETA {:.0f} s", n, cases.size(), failures.load(), eta);
      }
    }
  };
  std::vector<std::thread> threads;
  for (int j = 1; j < std::max(1, options.jobs); ++j) threads.emplace_back(worker);
  worker();
  for (auto& t : threads) t.join();
  if (tty) std::fprintf(stderr, "\n");

  BatchResult result;
  std::ostringstream csv;
  std::vector<std::string> volume_names;
  for (const auto& r : rows) {
    if (r.contains("label_volumes_ml")) {
      for (const auto& [name, v] : r["label_volumes_ml"].items()) {
        if (std::find(volume_names.begin(), volume_names.end(), name) == volume_names.end()) {
          volume_names.push_back(name);
        }
      }
    }
  }
  csv << "case,input,status,reason,wall_s";
  for (const auto& n : volume_names) csv << "," << CsvField("volume_ml_" + n);
  csv << "\n";
  for (const auto& r : rows) {
    const std::string status = r.value("status", "not_run");
    result.done += status == "done";
    result.skipped += status == "skipped";
    result.failed += status == "failed";
    result.not_run += status == "not_run";
    csv << CsvField(r["case"]) << "," << CsvField(r["input"]) << "," << status << ","
        << CsvField(r.value("reason", "")) << ",";
    if (r.contains("wall_s")) csv << r["wall_s"].get<double>();
    for (const auto& n : volume_names) {
      csv << ",";
      if (r.contains("label_volumes_ml") && r["label_volumes_ml"].contains(n)) {
        csv << r["label_volumes_ml"][n].get<double>();
      }
    }
    csv << "\n";
  }
  result.summary = {{"cases", rows},
                    {"done", result.done},
                    {"skipped", result.skipped},
                    {"failed", result.failed},
                    {"not_run", result.not_run},
                    {"model_loads", pipeline.model.is_null() ? 0 : 1},
                    {"jobs", options.jobs},
                    {"wall_s", std::chrono::duration<double>(Clock::now() - start).count()}};
  WriteTextAtomically(output_dir / (options.summary_stem + ".csv"), csv.str());
  WriteTextAtomically(output_dir / (options.summary_stem + ".json"), result.summary.dump(2) + "\n");
  return result;
}

}  // namespace cardioseg::pipeline
