#include "cardioseg/nn/cache.h"

#include <algorithm>
#include <fstream>

#include "cardioseg/core/atomic_file.h"
#include "cardioseg/core/error.h"

namespace cardioseg::nn {

namespace fs = std::filesystem;

namespace {

template <class T>
void WriteRaw(const fs::path& path, const std::vector<T>& data) {
  WriteAtomically(path, [&](const fs::path& tmp) {
    std::ofstream out(tmp, std::ios::binary);
    out.write(reinterpret_cast<const char*>(data.data()),
              static_cast<std::streamsize>(data.size() * sizeof(T)));
    if (!out) throw InputError(path.string(), "write failed");
  });
}

template <class T>
std::vector<T> ReadRaw(const fs::path& path, std::size_t count) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path.string(), "missing from the cache");
  std::vector<T> data(count);
  in.read(reinterpret_cast<char*>(data.data()), static_cast<std::streamsize>(count * sizeof(T)));
  if (in.gcount() != static_cast<std::streamsize>(count * sizeof(T)) || in.peek() != EOF) {
    throw InputError(path.string(), "size does not match the shape in its .json");
  }
  return data;
}

}  // namespace

void WriteCachedCase(const fs::path& cache_dir, const CachedCase& c) {
  const fs::path dir = cache_dir / "cases";
  nlohmann::json meta = c.meta;
  meta["id"] = c.id;
  meta["channels"] = c.channels;
  meta["shape_dhw"] = c.shape;
  meta["uncorrected"] = !c.uncorrected.empty();
  WriteRaw(dir / (c.id + ".image.f32"), c.image);
  WriteRaw(dir / (c.id + ".label.u8"), c.labels);
  if (!c.uncorrected.empty()) WriteRaw(dir / (c.id + ".uncorrected.f32"), c.uncorrected);
  WriteTextAtomically(dir / (c.id + ".json"), meta.dump(2) + "\n");
}

CachedCase ReadCachedCase(const fs::path& cache_dir, const std::string& id, bool with_uncorrected) {
  const fs::path dir = cache_dir / "cases";
  CachedCase c;
  c.id = id;
  std::ifstream in(dir / (id + ".json"));
  if (!in) throw InputError((dir / (id + ".json")).string(), "missing from the cache");
  try {
    c.meta = nlohmann::json::parse(in);
    c.channels = c.meta.at("channels").get<int>();
    c.shape = c.meta.at("shape_dhw").get<Shape3>();
    with_uncorrected = with_uncorrected && c.meta.value("uncorrected", false);
  } catch (const nlohmann::json::exception& e) {
    throw InputError((dir / (id + ".json")).string(), e.what());
  }
  const auto voxels = static_cast<std::size_t>(c.shape[0] * c.shape[1] * c.shape[2]);
  c.image = ReadRaw<float>(dir / (id + ".image.f32"), voxels * c.channels);
  c.labels = ReadRaw<std::uint8_t>(dir / (id + ".label.u8"), voxels);
  if (with_uncorrected) {
    c.uncorrected = ReadRaw<float>(dir / (id + ".uncorrected.f32"), voxels * c.channels);
  }
  return c;
}

std::vector<std::string> ListCachedCases(const fs::path& cache_dir) {
  std::vector<std::string> ids;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(cache_dir / "cases", ec)) {
    const auto name = e.path().filename().string();
    if (name.size() > 5 && name.substr(name.size() - 5) == ".json" && name[0] != '.') {
      ids.push_back(name.substr(0, name.size() - 5));
    }
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

}  // namespace cardioseg::nn
