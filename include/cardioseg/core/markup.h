#pragma once
// Text for HTML and XML documents cardioseg writes (report.html, index.html, JUnit XML).
#include <string>

namespace cardioseg {

// Escapes & < > " for element text and attribute values.
std::string EscapeMarkup(const std::string& text);

}  // namespace cardioseg
