#include "cardioseg/imaging/dicom.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <stdexcept>

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcmetinf.h>
#include <gdcmDirectory.h>
#include <gdcmScanner.h>
#include <itkGDCMImageIO.h>
#include <itkImageSeriesReader.h>
#include <spdlog/spdlog.h>

#include "cardioseg/core/error.h"
#include "cardioseg/core/markup.h"
#include "dcmtk_log.h"

namespace cardioseg::imaging {
namespace {

namespace fs = std::filesystem;

const gdcm::Tag kSeriesUid(0x0020, 0x000e);
const gdcm::Tag kSeriesDescription(0x0008, 0x103e);
const gdcm::Tag kModality(0x0008, 0x0060);
const gdcm::Tag kPosition(0x0020, 0x0032);
const gdcm::Tag kOrientation(0x0020, 0x0037);
const gdcm::Tag kTriggerTime(0x0018, 0x1060);
const gdcm::Tag kInstanceNumber(0x0020, 0x0013);
const gdcm::Tag kRows(0x0028, 0x0010);

// Each file's structure is checked with DCMTK before GDCM reads it. GDCM 3.0 trusts the value
// lengths in a file: a length larger than the file makes it allocate that much (up to 4 GiB from
// a file of a few bytes, found by tests/fuzz/fuzz_dicom), and a file cut short inside its meta
// information or data set makes it assert (abort the process). DCMTK parses the file without
// loading values larger than 4 KiB and reports an element longer than the bytes left in the file
// ("premature end of stream").
enum class DicomFileKind { kImage, kNotImage, kNotDicom };

bool IsPart10(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  char head[132];
  in.read(head, sizeof head);
  return in.gcount() == 132 && std::memcmp(head + 128, "DICM", 4) == 0;
}

DicomFileKind CheckDicomFile(const fs::path& file) {
  QuietDcmtkLog();
  DcmFileFormat format;
  const OFCondition status = format.loadFile(file.c_str(), EXS_Unknown, EGL_noChange,
                                             /*maxReadLength=*/4096, ERM_autoDetect);
  const bool part10 = IsPart10(file);
  if (status.bad()) {
    if (!part10) return DicomFileKind::kNotDicom;  // e.g. a text file beside the series
    const bool cut = status == EC_StreamNotifyClient || status == EC_InvalidStream ||
                     status == EC_PrematureSequDelimitationItem ||
                     status == EC_ItemEnd || status == EC_SequEnd;
    DcmDataset* partial = format.getDataset();
    const bool in_pixels = cut && partial != nullptr && partial->tagExists(DCM_PixelData);
    throw InputError(file.string(), std::string(in_pixels ? "truncated DICOM pixel data"
                                                : cut     ? "truncated DICOM file"
                                                          : "unreadable DICOM file") +
                                        ": " + status.text() + " (DCMTK)");
  }
  // A Part 10 file's meta information must name its transfer syntax. Without it GDCM guesses
  // differently from DCMTK and can take a value length of gigabytes from the data set (found by
  // tests/fuzz/fuzz_dicom).
  OFString transfer_syntax;
  if (part10 && (format.getMetaInfo()->findAndGetOFString(DCM_TransferSyntaxUID, transfer_syntax).bad() ||
                 transfer_syntax.empty())) {
    throw InputError(file.string(), "unreadable DICOM file: its file meta information has no TransferSyntaxUID");
  }
  DcmDataset* dataset = format.getDataset();
  DcmElement* pixels = nullptr;
  if (dataset->findAndGetElement(DCM_PixelData, pixels).bad() || pixels == nullptr) {
    return DicomFileKind::kNotImage;
  }
  return DicomFileKind::kImage;
}

std::string Trim(const char* value) {
  if (!value) return "";
  std::string s(value);
  const auto last = s.find_last_not_of(std::string(" \t\r\n\0", 5));
  const auto first = s.find_first_not_of(" \t\r\n");
  // DICOM strings in other character sets than UTF-8 (Latin-1 descriptions) go into JSON reports.
  return last == std::string::npos ? "" : AsUtf8(s.substr(first, last - first + 1));
}

// Parses a DICOM multi-valued decimal string "a\b\c" into exactly n numbers.
template <std::size_t N>
bool ParseNumbers(const std::string& text, std::array<double, N>& out) {
  std::stringstream s(text);
  std::string item;
  std::size_t i = 0;
  while (std::getline(s, item, '\\')) {
    if (i == N) return false;
    try {
      out[i++] = std::stod(item);
    } catch (const std::exception&) {
      return false;
    }
  }
  return i == N;
}

std::array<double, 3> Normal(const std::array<double, 6>& o) {
  return {o[1] * o[5] - o[2] * o[4], o[2] * o[3] - o[0] * o[5], o[0] * o[4] - o[1] * o[3]};
}

}  // namespace

std::vector<DicomSeries> ScanDicomFolder(const fs::path& folder) {
  gdcm::Directory directory;
  directory.Load(folder.string(), true);
  std::vector<std::string> files;
  std::size_t without_pixels = 0;
  for (const auto& file : directory.GetFilenames()) {
    const DicomFileKind kind = CheckDicomFile(file);
    if (kind == DicomFileKind::kImage) {
      files.push_back(file);
    } else if (++without_pixels <= 3) {
      spdlog::debug("{}: {}: skipped", file,
                    kind == DicomFileKind::kNotDicom ? "not a DICOM file" : "no pixel data element (not an image)");
    }
  }
  if (without_pixels > 0) {
    spdlog::info("{}: {} file(s) without pixel data skipped (not images, or files cut short)",
                 folder.string(), without_pixels);
  }
  gdcm::Scanner scanner;
  for (const auto& tag : {kSeriesUid, kSeriesDescription, kModality, kPosition, kOrientation,
                          kTriggerTime, kInstanceNumber, kRows}) {
    scanner.AddTag(tag);
  }
  if (!files.empty() && !scanner.Scan(files)) {
    throw InputError(folder.string(), "cannot scan the folder for DICOM files");
  }
  std::map<std::string, DicomSeries> by_uid;
  for (const auto& file : files) {
    if (!scanner.IsKey(file.c_str())) continue;  // not DICOM
    if (Trim(scanner.GetValue(file.c_str(), kRows)).empty()) continue;  // no pixel data
    const std::string uid = Trim(scanner.GetValue(file.c_str(), kSeriesUid));
    DicomSeries& series = by_uid[uid];
    series.series_uid = uid;
    series.description = Trim(scanner.GetValue(file.c_str(), kSeriesDescription));
    series.modality = Trim(scanner.GetValue(file.c_str(), kModality));
    DicomSlice slice;
    slice.file = file;
    slice.has_position = ParseNumbers(Trim(scanner.GetValue(file.c_str(), kPosition)),
                                      slice.position);
    ParseNumbers(Trim(scanner.GetValue(file.c_str(), kOrientation)), slice.orientation);
    std::array<double, 1> number{0};
    if (ParseNumbers(Trim(scanner.GetValue(file.c_str(), kTriggerTime)), number)) {
      slice.trigger_time_ms = number[0];
    }
    if (ParseNumbers(Trim(scanner.GetValue(file.c_str(), kInstanceNumber)), number)) {
      slice.instance_number = static_cast<int>(number[0]);
    }
    series.slices.push_back(slice);
  }
  if (by_uid.empty()) {
    throw InputError(folder.string(), "no DICOM image found in the folder (" +
                                          std::to_string(files.size() + without_pixels) +
                                          " files searched)");
  }
  std::vector<DicomSeries> out;
  for (auto& [uid, series] : by_uid) out.push_back(std::move(series));
  std::stable_sort(out.begin(), out.end(), [](const DicomSeries& a, const DicomSeries& b) {
    return a.slices.size() > b.slices.size();
  });
  return out;
}

std::vector<std::vector<std::string>> GroupIntoPhases(const std::vector<DicomSlice>& input) {
  if (input.empty()) return {};
  std::vector<DicomSlice> slices = input;
  const bool positioned = std::all_of(slices.begin(), slices.end(),
                                      [](const DicomSlice& s) { return s.has_position; });
  if (!positioned) {
    // Without ImagePositionPatient there is nothing to group by: one phase in instance order.
    std::sort(slices.begin(), slices.end(), [](const DicomSlice& a, const DicomSlice& b) {
      return a.instance_number < b.instance_number;
    });
    std::vector<std::string> files;
    for (const auto& s : slices) files.push_back(s.file);
    return {files};
  }
  const auto normal = Normal(slices.front().orientation);
  auto distance = [&](const DicomSlice& s) {
    return s.position[0] * normal[0] + s.position[1] * normal[1] + s.position[2] * normal[2];
  };
  std::sort(slices.begin(), slices.end(), [&](const DicomSlice& a, const DicomSlice& b) {
    const double da = distance(a), db = distance(b);
    if (std::abs(da - db) > 1e-3) return da < db;
    if (a.trigger_time_ms != b.trigger_time_ms) return a.trigger_time_ms < b.trigger_time_ms;
    return a.instance_number < b.instance_number;
  });
  // Positions closer than 0.01 mm along the normal are the same slice.
  std::vector<std::vector<std::string>> positions;
  std::vector<double> offsets;
  double current = 0;
  for (const auto& s : slices) {
    if (positions.empty() || std::abs(distance(s) - current) > 1e-2) {
      positions.emplace_back();
      current = distance(s);
      offsets.push_back(current);
    }
    positions.back().push_back(s.file);
  }
  // Evenly spaced slices: a gap (a missing or unreadable file) would stretch the volume.
  if (offsets.size() >= 3) {
    double lo = 1e300, hi = 0;
    for (std::size_t i = 1; i < offsets.size(); ++i) {
      lo = std::min(lo, offsets[i] - offsets[i - 1]);
      hi = std::max(hi, offsets[i] - offsets[i - 1]);
    }
    if (hi > 1.2 * lo + 1e-3) {
      std::ostringstream msg;
      msg << "slice spacing varies from " << lo << " to " << hi
          << " mm: a slice is missing (or unreadable), or the series mixes stacks";
      throw std::invalid_argument(msg.str());
    }
  }
  const std::size_t phases = positions.front().size();
  for (const auto& p : positions) {
    if (p.size() != phases) {
      throw std::invalid_argument("slice positions hold different numbers of images (" +
                                  std::to_string(phases) + " and " + std::to_string(p.size()) +
                                  "); cannot split the series into phases");
    }
  }
  std::vector<std::vector<std::string>> out(phases);
  for (std::size_t k = 0; k < phases; ++k) {
    for (const auto& p : positions) out[k].push_back(p[k]);
  }
  return out;
}

LoadedVolume ReadDicomFolder(const fs::path& folder, const config::InputConfig& input) {
  const auto all = ScanDicomFolder(folder);
  nlohmann::json found = nlohmann::json::array();
  for (const auto& s : all) {
    found.push_back({{"series_uid", s.series_uid},
                     {"description", s.description},
                     {"modality", s.modality},
                     {"images", s.slices.size()}});
  }
  if (all.size() > 1) {
    spdlog::info("{}: {} series found: {}", folder.string(), all.size(), found.dump());
  }
  const DicomSeries* series = &all.front();
  if (!input.dicom_series_uid.empty()) {
    auto it = std::find_if(all.begin(), all.end(), [&](const DicomSeries& s) {
      return s.series_uid == input.dicom_series_uid;
    });
    if (it == all.end()) {
      throw InputError(folder.string(), "no series with SeriesInstanceUID \"" +
                                            input.dicom_series_uid + "\" (found: " +
                                            found.dump() + ")");
    }
    series = &*it;
  }
  std::vector<std::vector<std::string>> phases;
  try {
    phases = GroupIntoPhases(series->slices);
  } catch (const std::invalid_argument& e) {
    throw InputError(folder.string(), "series \"" + series->series_uid + "\": " + e.what());
  }
  if (input.phase < 0 || static_cast<std::size_t>(input.phase) >= phases.size()) {
    throw InputError(folder.string(), "phase " + std::to_string(input.phase) +
                                          " requested, but the series has " +
                                          std::to_string(phases.size()) + " phase(s)");
  }
  const auto& files = phases[input.phase];
  if (files.size() < 2) {
    throw InputError(folder.string(),
                     "2D image: the series has a single slice; cardioseg needs a 3D volume");
  }
  auto reader = itk::ImageSeriesReader<ImageType>::New();
  reader->SetImageIO(itk::GDCMImageIO::New());
  reader->SetFileNames(files);
  try {
    reader->Update();
  } catch (const itk::ExceptionObject& e) {
    throw InputError(folder.string(), std::string("cannot read the DICOM pixel data: ") +
                                          e.GetDescription());
  }
  // The phase's trigger time: mean TriggerTime of its images (0 when absent).
  double trigger_ms = 0;
  for (const auto& s : series->slices) {
    if (std::find(files.begin(), files.end(), s.file) != files.end()) trigger_ms += s.trigger_time_ms;
  }
  trigger_ms /= static_cast<double>(files.size());
  LoadedVolume out;
  out.image = reader->GetOutput();
  out.image->DisconnectPipeline();
  out.slice_files.assign(files.begin(), files.end());
  out.source = {{"path", folder.string()},
                {"reader", "gdcm"},
                {"series_uid", series->series_uid},
                {"series_description", series->description},
                {"modality", series->modality},
                {"slice_positions", files.size()},
                {"phases", phases.size()},
                {"phase", input.phase},
                {"trigger_time_ms", trigger_ms},
                {"series_found", found}};
  spdlog::debug("{}: series \"{}\" with {} positions x {} phases, phase {} loaded", folder.string(),
                series->series_uid, files.size(), phases.size(), input.phase);
  return out;
}

}  // namespace cardioseg::imaging
