#pragma once
// `cardioseg batch`: many cases through one pipeline (the model is loaded once), each case
// isolated: a bad file fails only its own case, and the summary lists every case.
#include <atomic>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "cardioseg/pipeline/pipeline.h"

namespace cardioseg::pipeline {

struct BatchCase {
  std::string id;               // output folder name: file name without extension, or folder name
  std::filesystem::path input;  // a file or a DICOM folder
};

// Cases of `source`: a folder (NIfTI/NRRD/MHA files and DICOM sub-folders directly inside it,
// and any other regular file, which then fails as its own case) or a text file with one input
// path per line (blank lines and lines starting with '#' skipped). Sorted by id; duplicate ids
// get a numeric suffix. Throws InputError when `source` does not exist.
std::vector<BatchCase> DiscoverCases(const std::filesystem::path& source);

// "K/N" of --shard as {K, N}. Throws UsageError naming the text unless both are whole numbers
// ("1/3x" and "1/3/5" are refused) with 1 <= K <= N.
std::pair<int, int> ParseShard(const std::string& text);

// Shard `shard` (1-based) of `shards`: cases whose index in the sorted list is = shard - 1
// modulo shards. Throws UsageError unless 1 <= shard <= shards.
std::vector<BatchCase> SelectShard(const std::vector<BatchCase>& cases, int shard, int shards);

struct BatchOptions {
  // CPU workers. With `overlap` (and a model), they load, preprocess, post-process, mesh and
  // write cases while one device worker runs inference.unet from a queue of at most `jobs`
  // preprocessed cases; without, each worker runs whole cases.
  int jobs = 1;
  bool overlap = false;
  bool resume = false;   // skip cases whose report.json and listed outputs are complete
  std::string summary_stem = "summary";  // summary file names: <stem>.csv and <stem>.json
};

struct BatchResult {
  int done = 0, skipped = 0, failed = 0, not_run = 0;
  nlohmann::json summary;  // {"cases": [...]} as written to summary.json
};

// Runs every case into output_dir/<id>/ and writes output_dir/<summary_stem>.csv and .json.
// `stop` (set from a signal handler) stops taking new cases; cases in flight finish, and cases
// not started are listed as "not_run". Never throws for a failing case.
BatchResult RunBatch(const std::vector<BatchCase>& cases, const std::filesystem::path& output_dir,
                     const Pipeline& pipeline, const BatchOptions& options,
                     const std::atomic<bool>& stop);

// True when output_dir/report.json exists and every file it lists as output exists with the
// recorded size and SHA-256, and, for a `pipeline` given, the case was made with the same
// resolved config and model weights (SHA-256): outputs of another model or config are redone.
bool CaseComplete(const std::filesystem::path& case_dir, const Pipeline* pipeline = nullptr);

}  // namespace cardioseg::pipeline
