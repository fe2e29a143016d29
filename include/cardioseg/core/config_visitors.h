#pragma once
// The strict reader and the writer behind config::FromJson / ToJson, shared by every typed config
// (the run config, the training config) that declares its fields in a Visit() member.
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cardioseg/core/error.h"

namespace cardioseg::config {
namespace detail {

using nlohmann::json;

inline std::string Join(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

template <class T>
inline std::string RangeText(T lo, T hi) {
  std::ostringstream s;
  s << "[" << lo << ", " << hi << "]";
  return s.str();
}

// Reads a section strictly: every key it is asked for is marked seen; Finish() rejects the rest.
class Reader {
 public:
  Reader(const json& object, std::string path) : object_(object), path_(std::move(path)) {
    if (!object_.is_object()) {
      throw ConfigError((path_.empty() ? std::string("config") : path_) +
                        ": expected a JSON object, got " + object_.dump());
    }
  }

  void Field(const char* key, bool& value) {
    if (const json* j = Find(key)) {
      if (!j->is_boolean()) TypeError(key, "a boolean (true or false)", *j);
      value = j->get<bool>();
    }
  }
  void Field(const char* key, std::string& value) {
    if (const json* j = Find(key)) {
      if (!j->is_string()) TypeError(key, "a string", *j);
      value = j->get<std::string>();
    }
  }
  void Choice(const char* key, std::string& value, std::initializer_list<const char*> allowed) {
    if (const json* j = Find(key)) {
      std::string names;
      bool ok = false;
      for (const char* a : allowed) {
        names += (names.empty() ? "" : ", ") + std::string("\"") + a + "\"";
        ok = ok || (j->is_string() && j->get<std::string>() == a);
      }
      if (!ok) {
        throw ConfigError(Join(path_, key) + ": value " + j->dump() + " is not one of " + names);
      }
      value = j->get<std::string>();
    }
  }
  void Choices(const char* key, std::vector<std::string>& values,
               std::initializer_list<const char*> allowed) {
    if (const json* j = Find(key)) {
      if (!j->is_array()) TypeError(key, "an array of strings", *j);
      values.clear();
      for (std::size_t i = 0; i < j->size(); ++i) {
        const json& item = (*j)[i];
        bool ok = false;
        std::string names;
        for (const char* a : allowed) {
          names += (names.empty() ? "" : ", ") + std::string("\"") + a + "\"";
          ok = ok || (item.is_string() && item.get<std::string>() == a);
        }
        if (!ok) {
          throw ConfigError(Element(key, i) + ": value " + item.dump() + " is not one of " + names);
        }
        values.push_back(item.get<std::string>());
      }
    }
  }
  void Field(const char* key, int& value, int lo, int hi) {
    if (const json* j = Find(key)) value = Integer(Join(path_, key), *j, lo, hi);
  }
  void Field(const char* key, double& value, double lo, double hi) {
    if (const json* j = Find(key)) value = Number(Join(path_, key), *j, lo, hi);
  }
  template <std::size_t N>
  void Field(const char* key, std::array<int, N>& value, int lo, int hi) {
    if (const json* j = Find(key)) {
      ArrayOfSize(key, *j, N, N);
      for (std::size_t i = 0; i < N; ++i) value[i] = Integer(Element(key, i), (*j)[i], lo, hi);
    }
  }
  template <std::size_t N>
  void Field(const char* key, std::array<double, N>& value, double lo, double hi) {
    if (const json* j = Find(key)) {
      ArrayOfSize(key, *j, N, N);
      for (std::size_t i = 0; i < N; ++i) value[i] = Number(Element(key, i), (*j)[i], lo, hi);
    }
  }
  void Field(const char* key, std::vector<int>& value, int lo, int hi, std::size_t min_size,
             std::size_t max_size) {
    if (const json* j = Find(key)) {
      ArrayOfSize(key, *j, min_size, max_size);
      value.clear();
      for (std::size_t i = 0; i < j->size(); ++i) {
        value.push_back(Integer(Element(key, i), (*j)[i], lo, hi));
      }
    }
  }
  void Field(const char* key, std::vector<double>& value, double lo, double hi,
             std::size_t min_size, std::size_t max_size) {
    if (const json* j = Find(key)) {
      ArrayOfSize(key, *j, min_size, max_size);
      value.clear();
      for (std::size_t i = 0; i < j->size(); ++i) {
        value.push_back(Number(Element(key, i), (*j)[i], lo, hi));
      }
    }
  }
  template <class TSection>
  void Section(const char* key, TSection& section) {
    static const json kEmpty = json::object();
    const json* j = Find(key);
    Reader child(j ? *j : kEmpty, Join(path_, key));
    section.Visit(child);
    child.Finish();
  }
  void Check(bool condition, const char* key, const std::string& message) {
    if (!condition) throw ConfigError(Join(path_, key) + ": " + message);
  }

  void Finish() const {
    for (const auto& item : object_.items()) {
      if (!seen_.count(item.key())) {
        std::string known;
        for (const auto& k : seen_) known += (known.empty() ? "" : ", ") + k;
        throw ConfigError(Join(path_, item.key()) + ": unknown key (known keys here: " + known +
                          ")");
      }
    }
  }

 private:
  const json* Find(const char* key) {
    seen_.insert(key);
    auto it = object_.find(key);
    return it == object_.end() ? nullptr : &*it;
  }
  std::string Element(const char* key, std::size_t i) const {
    return Join(path_, key) + "[" + std::to_string(i) + "]";
  }
  [[noreturn]] void TypeError(const char* key, const char* expected, const json& got) const {
    throw ConfigError(Join(path_, key) + ": expected " + expected + ", got " + got.dump());
  }
  void ArrayOfSize(const char* key, const json& j, std::size_t min_size,
                   std::size_t max_size) const {
    if (!j.is_array()) TypeError(key, "an array", j);
    if (j.size() < min_size || j.size() > max_size) {
      std::string want = min_size == max_size ? std::to_string(min_size)
                                              : RangeText(min_size, max_size);
      throw ConfigError(Join(path_, key) + ": expected an array of " + want + " values, got " +
                        std::to_string(j.size()) + " (" + j.dump() + ")");
    }
  }
  static int Integer(const std::string& where, const json& j, int lo, int hi) {
    if (!j.is_number_integer()) {
      throw ConfigError(where + ": expected an integer, got " + j.dump());
    }
    const auto v = j.get<long long>();
    if (v < lo || v > hi) {
      throw ConfigError(where + ": value " + j.dump() + " is out of range " + RangeText(lo, hi));
    }
    return static_cast<int>(v);
  }
  static double Number(const std::string& where, const json& j, double lo, double hi) {
    if (!j.is_number()) throw ConfigError(where + ": expected a number, got " + j.dump());
    const double v = j.get<double>();
    if (!(v >= lo && v <= hi)) {
      throw ConfigError(where + ": value " + j.dump() + " is out of range " + RangeText(lo, hi));
    }
    return v;
  }

  const json& object_;
  std::string path_;
  std::set<std::string> seen_;
};

// Writes every field, defaults included.
class Writer {
 public:
  explicit Writer(json& out) : out_(out) { out_ = json::object(); }

  template <class T>
  void Field(const char* key, const T& value) { out_[key] = value; }
  template <class T, class B>
  void Field(const char* key, const T& value, B, B) { out_[key] = value; }
  template <class T, class B>
  void Field(const char* key, const T& value, B, B, std::size_t, std::size_t) { out_[key] = value; }
  void Choice(const char* key, const std::string& value, std::initializer_list<const char*>) {
    out_[key] = value;
  }
  void Choices(const char* key, const std::vector<std::string>& values,
               std::initializer_list<const char*>) {
    out_[key] = values;
  }
  template <class TSection>
  void Section(const char* key, TSection& section) {
    Writer child(out_[key]);
    section.Visit(child);
  }
  void Check(bool, const char*, const std::string&) {}

 private:
  json& out_;
};

}  // namespace detail

// Reads a typed section from `document` strictly; `path` prefixes error messages.
template <class T>
T SectionFromJson(const nlohmann::json& document, const std::string& path = "") {
  T value;
  detail::Reader reader(document, path);
  value.Visit(reader);
  reader.Finish();
  return value;
}

// Writes every field of a typed section, defaults included.
template <class T>
nlohmann::json SectionToJson(T value) {
  nlohmann::json out;
  detail::Writer writer(out);
  value.Visit(writer);
  return out;
}

}  // namespace cardioseg::config
