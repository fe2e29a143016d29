#pragma once
// The small CSV subset cardioseg reads and writes (RFC 4180 quoting, one record per line).
#include <string>
#include <vector>

namespace cardioseg {

// Splits one line into cells; double quotes group commas and "" is a literal quote. A trailing
// '\r' is dropped.
std::vector<std::string> SplitCsvLine(const std::string& line);

// A cell as written: quoted when it holds a comma, quote or newline (newlines become spaces).
std::string CsvField(const std::string& cell);

}  // namespace cardioseg
