#pragma once
// JUnit XML for CI systems (GitLab, GitHub Actions test reporters and Jenkins read this schema):
// one <testcase> per check, a <failure> with the measured value and the limit when it failed.
#include <string>
#include <vector>

namespace cardioseg::app {

struct CheckResult {
  std::string group;    // <testcase classname>: the case
  std::string name;     // <testcase name>: e.g. "label 3 dice"
  bool passed = true;
  std::string message;  // for a failure: "dice 0.8 < limit 0.9"
};

std::string JUnitXml(const std::string& suite, const std::vector<CheckResult>& results);

}  // namespace cardioseg::app
