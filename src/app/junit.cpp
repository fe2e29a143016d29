#include "junit.h"

#include <sstream>

namespace cardioseg::app {

std::string XmlEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else if (c == '"') out += "&quot;";
    else out += c;
  }
  return out;
}

std::string JUnitXml(const std::string& suite, const std::vector<CheckResult>& results) {
  int failures = 0;
  for (const auto& r : results) failures += !r.passed;
  std::ostringstream x;
  x << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"" << XmlEscape(suite) << "\" tests=\""
    << results.size() << "\" failures=\"" << failures << "\">\n<testsuite name=\"" << XmlEscape(suite)
    << "\" tests=\"" << results.size() << "\" failures=\"" << failures << "\">\n";
  for (const auto& r : results) {
    x << "  <testcase classname=\"" << XmlEscape(r.group) << "\" name=\"" << XmlEscape(r.name) << "\">";
    if (!r.passed) {
      x << "<failure message=\"" << XmlEscape(r.message) << "\">" << XmlEscape(r.group) << ": "
        << XmlEscape(r.message) << "</failure>";
    }
    x << "</testcase>\n";
  }
  x << "</testsuite>\n</testsuites>\n";
  return x.str();
}

}  // namespace cardioseg::app
