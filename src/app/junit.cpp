#include "junit.h"

#include <sstream>

#include "cardioseg/core/markup.h"

namespace cardioseg::app {

std::string JUnitXml(const std::string& suite, const std::vector<CheckResult>& results) {
  int failures = 0;
  for (const auto& r : results) failures += !r.passed;
  std::ostringstream x;
  x << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"" << EscapeMarkup(suite) << "\" tests=\""
    << results.size() << "\" failures=\"" << failures << "\">\n<testsuite name=\"" << EscapeMarkup(suite)
    << "\" tests=\"" << results.size() << "\" failures=\"" << failures << "\">\n";
  for (const auto& r : results) {
    x << "  <testcase classname=\"" << EscapeMarkup(r.group) << "\" name=\"" << EscapeMarkup(r.name) << "\">";
    if (!r.passed) {
      x << "<failure message=\"" << EscapeMarkup(r.message) << "\">" << EscapeMarkup(r.group) << ": "
        << EscapeMarkup(r.message) << "</failure>";
    }
    x << "</testcase>\n";
  }
  x << "</testsuite>\n</testsuites>\n";
  return x.str();
}

}  // namespace cardioseg::app
