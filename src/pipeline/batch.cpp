#include "cardioseg/pipeline/batch.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <iomanip>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>

#include <unistd.h>

#include <spdlog/spdlog.h>

#include "cardioseg/core/atomic_file.h"
#include "cardioseg/core/csv.h"
#include "cardioseg/core/error.h"
#include "cardioseg/core/markup.h"
#include "cardioseg/pipeline/checksum.h"

namespace cardioseg::pipeline {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string IdOf(const fs::path& p) {
  if (fs::is_directory(p)) return p.filename().string();
  return SplitExtension(p.filename().string()).first;
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

namespace {

void CheckShard(int shard, int shards, const std::string& text) {
  if (shards < 1 || shard < 1 || shard > shards) {
    throw UsageError("--shard \"" + text + "\": expected K/N with 1 <= K <= N");
  }
}

}  // namespace

std::pair<int, int> ParseShard(const std::string& text) {
  const auto slash = text.find('/');
  if (slash == std::string::npos) throw UsageError("--shard \"" + text + "\": expected K/N");
  // Both numbers whole: "1/3/5" or "1/3x" is refused, not read as 1/3.
  const auto whole_int = [&](const std::string& part) {
    std::size_t used = 0;
    int value = 0;
    try {
      value = std::stoi(part, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (part.empty() || used != part.size()) throw UsageError("--shard \"" + text + "\": expected K/N");
    return value;
  };
  const int shard = whole_int(text.substr(0, slash));
  const int shards = whole_int(text.substr(slash + 1));
  CheckShard(shard, shards, text);
  return {shard, shards};
}

std::vector<BatchCase> SelectShard(const std::vector<BatchCase>& cases, int shard, int shards) {
  CheckShard(shard, shards, std::to_string(shard) + "/" + std::to_string(shards));
  std::vector<BatchCase> out;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    if (static_cast<int>(i % shards) == shard - 1) out.push_back(cases[i]);
  }
  return out;
}

namespace {

// index.html of a batch: one row per case with its status (and the reason of a failure), the
// preview thumbnail, the label volumes and clinical figures, and a link to its report.html.
// Links are relative, so the folder can be moved or served as it is.
std::string BatchIndexHtml(const std::vector<json>& rows, const std::vector<std::string>& volume_names,
                           const json& summary) {
  std::ostringstream h;
  h << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>cardioseg batch</title>\n"
       "<style>body{font:14px system-ui,sans-serif;margin:16px;background:#111;color:#ddd}"
       "table{border-collapse:collapse}td,th{padding:4px 8px;border-bottom:1px solid #333;text-align:left;"
       "vertical-align:middle}img{height:72px;image-rendering:pixelated}a{color:#9cf}"
       ".failed{color:#f88}.skipped{color:#aaa}.not_run{color:#fc6}</style></head><body>\n";
  h << "<h2>cardioseg batch: " << summary.value("done", 0) << " done, " << summary.value("skipped", 0)
    << " skipped, " << summary.value("failed", 0) << " failed, " << summary.value("not_run", 0)
    << " not run</h2>\n<table id=\"cases\"><tr><th>case</th><th>status</th><th>preview</th>";
  for (const auto& n : volume_names) h << "<th>" << EscapeMarkup(n) << " (mL)</th>";
  h << "<th>LV mass (g)</th><th>time (s)</th><th>reason</th></tr>\n";
  for (const auto& r : rows) {
    const std::string id = r.value("case", std::string());
    const std::string status = r.value("status", std::string());
    const bool has_outputs = status == "done" || status == "skipped";
    h << "<tr class=\"" << EscapeMarkup(status) << "\"><td>";
    if (has_outputs) h << "<a href=\"" << EscapeMarkup(id) << "/report.html\">" << EscapeMarkup(id) << "</a>";
    else h << EscapeMarkup(id);
    h << "</td><td>" << EscapeMarkup(status) << "</td><td>";
    if (has_outputs) h << "<a href=\"" << EscapeMarkup(id) << "/report.html\"><img alt=\"\" src=\"" << EscapeMarkup(id) << "/preview.png\"></a>";
    h << "</td>";
    for (const auto& n : volume_names) {
      h << "<td>";
      if (r.contains("label_volumes_ml") && r["label_volumes_ml"].contains(n)) {
        h << std::fixed << std::setprecision(1) << r["label_volumes_ml"][n].get<double>();
      }
      h << "</td>";
    }
    h << "<td>";
    if (r.contains("clinical") && r["clinical"].contains("lv_myocardial_mass_g")) {
      h << std::fixed << std::setprecision(1) << r["clinical"]["lv_myocardial_mass_g"].get<double>();
    }
    h << "</td><td>";
    if (r.contains("wall_s")) h << std::fixed << std::setprecision(1) << r["wall_s"].get<double>();
    h << "</td><td>" << EscapeMarkup(r.value("reason", std::string())) << "</td></tr>\n";
  }
  h << "</table></body></html>\n";
  return h.str();
}

}  // namespace

bool CaseComplete(const fs::path& case_dir, const Pipeline* pipeline) {
  std::ifstream in(case_dir / "report.json");
  if (!in) return false;
  try {
    const json report = json::parse(in);
    if (pipeline) {
      if (report.value("config", json()) != config::ToJson(pipeline->effective)) return false;
      const json model = report.value("model", json());
      const std::string made_with = model.is_object() ? model.value("weights_sha256", "") : "";
      const std::string now = pipeline->model.is_object() ? pipeline->model.value("weights_sha256", "") : "";
      if (made_with != now) return false;
    }
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
  const auto start = Clock::now();
  const std::size_t total = cases.size();
  const std::size_t device_stage = DeviceStageIndex(pipeline);
  const bool overlap = options.overlap && device_stage < pipeline.stages.size();
  const int workers = std::max(1, options.jobs);

  // Shared state, guarded by `mutex`: the next case to take, the queue of preprocessed cases
  // waiting for the device, the queue of inferred cases waiting for post-processing and writing.
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<json> rows(total);
  std::size_t next = 0, taken = 0, completed = 0, preparing = 0;
  int failures = 0;
  using Item = std::pair<std::size_t, std::shared_ptr<CaseRun>>;
  std::deque<Item> to_infer, to_finish;
  const std::size_t queue_capacity = static_cast<std::size_t>(workers);
  // A progress bar on a terminal; plain log lines otherwise (files, pipes, CI).
  const bool tty = isatty(STDERR_FILENO) != 0;

  // Records a case's row; call with `mutex` held.
  auto record = [&](std::size_t i, json row) {
    if (row["status"] == "failed") ++failures;
    rows[i] = std::move(row);
    ++completed;
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    const double eta = elapsed / completed * (static_cast<double>(total) - completed);
    if (tty) {
      DrawProgress(static_cast<int>(completed), total, failures, eta);
    } else {
      spdlog::info("batch: {}/{} cases, {} failed, ETA {:.0f} s", completed, total, failures, eta);
    }
    changed.notify_all();
  };
  auto failed_row = [&](std::size_t i, const std::exception& e, Clock::time_point t) {
    spdlog::error("case {} failed: {}", cases[i].id, e.what());
    return json{{"case", cases[i].id}, {"input", cases[i].input.string()}, {"status", "failed"},
                {"reason", e.what()},
                {"wall_s", std::chrono::duration<double>(Clock::now() - t).count()}};
  };
  auto done_row = [&](std::size_t i, const json& report) {
    json row = {{"case", cases[i].id}, {"input", cases[i].input.string()}, {"status", "done"},
                {"wall_s", report.value("wall_s", 0.0)}};
    if (report.contains("label_volumes_ml")) row["label_volumes_ml"] = report["label_volumes_ml"];
    if (report.contains("clinical")) row["clinical"] = report["clinical"];
    return row;
  };
  // Takes the next case (with `mutex` held); returns false when none is left or stop was asked.
  auto take = [&](std::size_t& i) {
    if (stop || next >= total) return false;
    i = next++;
    ++taken;
    return true;
  };
  // Under --resume, whether case i's outputs are complete (checksums: call without `mutex`).
  auto already_done = [&](std::size_t i) {
    return options.resume && CaseComplete(output_dir / cases[i].id, &pipeline);
  };
  const auto skipped_row = [&](std::size_t i) {
    return json{{"case", cases[i].id}, {"input", cases[i].input.string()}, {"status", "skipped"},
                {"reason", "outputs complete, same model and config (resume)"}};
  };

  // Without overlap: each worker runs whole cases.
  auto whole_case_worker = [&] {
    std::unique_lock<std::mutex> lock(mutex);
    std::size_t i = 0;
    while (take(i)) {
      lock.unlock();
      const auto t = Clock::now();
      json row;
      if (already_done(i)) {
        lock.lock();
        record(i, skipped_row(i));
        continue;
      }
      try {
        row = done_row(i, RunCase(cases[i].input, output_dir / cases[i].id, pipeline));
      } catch (const std::exception& e) {
        row = failed_row(i, e, t);
      }
      lock.lock();
      record(i, row);
    }
  };

  // With overlap: CPU workers finish inferred cases first, else load and preprocess a new one
  // while the device queue has room; one device worker runs the inference stage.
  auto cpu_worker = [&] {
    std::unique_lock<std::mutex> lock(mutex);
    while (true) {
      if (!to_finish.empty()) {
        auto [i, run] = to_finish.front();
        to_finish.pop_front();
        lock.unlock();
        json row;
        try {
          row = done_row(i, FinishCase(*run, output_dir / cases[i].id, pipeline));
        } catch (const std::exception& e) {
          row = failed_row(i, e, run->start);
        }
        run.reset();
        lock.lock();
        record(i, row);
        continue;
      }
      std::size_t i = 0;
      if (to_infer.size() + preparing < queue_capacity && take(i)) {
        ++preparing;
        lock.unlock();
        const auto t = Clock::now();
        if (already_done(i)) {
          lock.lock();
          --preparing;
          record(i, skipped_row(i));
          continue;
        }
        std::shared_ptr<CaseRun> run;
        json failure;
        try {
          run = std::make_shared<CaseRun>(BeginCase(cases[i].input, pipeline));
          RunStages(*run, pipeline, device_stage);
        } catch (const std::exception& e) {
          failure = failed_row(i, e, t);
        }
        lock.lock();
        --preparing;
        if (failure.is_null()) to_infer.emplace_back(i, std::move(run));
        else record(i, failure);
        changed.notify_all();
        continue;
      }
      if ((stop || next >= total) && completed == taken) return;
      changed.wait_for(lock, std::chrono::milliseconds(200));  // also notices `stop`
    }
  };
  auto device_worker = [&] {
    std::unique_lock<std::mutex> lock(mutex);
    while (true) {
      if (!to_infer.empty()) {
        auto [i, run] = to_infer.front();
        to_infer.pop_front();
        changed.notify_all();  // room in the queue: a CPU worker may start the next case
        lock.unlock();
        json failure;
        try {
          RunStages(*run, pipeline, device_stage + 1);
        } catch (const std::exception& e) {
          failure = failed_row(i, e, run->start);
        }
        lock.lock();
        if (failure.is_null()) to_finish.emplace_back(i, std::move(run));
        else record(i, failure);
        changed.notify_all();
        continue;
      }
      if ((stop || next >= total) && preparing == 0) return;
      changed.wait_for(lock, std::chrono::milliseconds(200));  // also notices `stop`
    }
  };

  std::vector<std::thread> threads;
  if (overlap) {
    threads.emplace_back(device_worker);
    for (int j = 1; j < workers; ++j) threads.emplace_back(cpu_worker);
    cpu_worker();
  } else {
    for (int j = 1; j < workers; ++j) threads.emplace_back(whole_case_worker);
    whole_case_worker();
  }
  for (auto& t : threads) t.join();
  if (tty) std::fprintf(stderr, "\n");
  for (std::size_t i = 0; i < total; ++i) {
    if (rows[i].is_null()) {
      rows[i] = {{"case", cases[i].id}, {"input", cases[i].input.string()}, {"status", "not_run"}};
    }
  }

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
    csv << CsvField(r["case"].get<std::string>()) << "," << CsvField(r["input"].get<std::string>()) << "," << status << ","
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
                    {"overlapped_inference", overlap},
                    {"wall_s", std::chrono::duration<double>(Clock::now() - start).count()}};
  WriteTextAtomically(output_dir / (options.summary_stem + ".csv"), csv.str());
  const std::string& stem = options.summary_stem;  // summary[.shard-K-of-N] -> index[...].html
  const std::string index = stem.rfind("summary", 0) == 0 ? "index" + stem.substr(7) : stem + ".index";
  WriteTextAtomically(output_dir / (index + ".html"), BatchIndexHtml(rows, volume_names, result.summary));
  WriteTextAtomically(output_dir / (options.summary_stem + ".json"), result.summary.dump(2) + "\n");
  return result;
}

}  // namespace cardioseg::pipeline
