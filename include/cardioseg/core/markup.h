#pragma once
// Text for the documents cardioseg writes (report.html, index.html, JUnit XML, JSON reports).
#include <string>

namespace cardioseg {

// Escapes & < > " for element text and attribute values.
std::string EscapeMarkup(const std::string& text);

// `text` as valid UTF-8: returned unchanged when it is; otherwise read as ISO 8859-1 (Latin-1,
// DICOM's ISO_IR 100, the commonest non-ASCII character set of DICOM strings) and re-encoded.
// JSON reports need valid UTF-8 (nlohmann::json refuses to write anything else).
std::string AsUtf8(const std::string& text);

}  // namespace cardioseg
