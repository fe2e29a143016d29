// Fuzz target: a model card (model.json) as ReadModelCard reads it from a model folder:
// JSON parsing, the card's fields and their range checks (labels, classes, patch, spacing,
// architecture, preprocessing).
//
// Contract: a ModelCard that survives its own round trip (ToJson, then ModelCardFromJson), or
// InputError naming model.json. Anything else is a finding.
#include <cstdint>

#include "cardioseg/core/error.h"
#include "cardioseg/nn/model_card.h"
#include "fuzz_util.h"

using namespace cardioseg;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto folder = fuzz::ScratchFolder() / "model";
  std::filesystem::create_directories(folder);
  fuzz::WriteBytes(folder / "model.json", data, size);
  nn::ModelCard card;
  try {
    card = nn::ReadModelCard(folder);
  } catch (const InputError&) {
    return 0;
  }
  try {
    const auto again = nn::ModelCardFromJson(nn::ToJson(card));
    if (nn::ToJson(again) != nn::ToJson(card)) __builtin_trap();
  } catch (const std::exception&) {
    __builtin_trap();  // a card accepted once must be accepted again
  }
  return 0;
}
