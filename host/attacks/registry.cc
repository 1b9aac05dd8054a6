// Name -> attack. Adding an attack: one file defining fedguard::attacks::<name>(Params&, const
// AttackInput&), one declaration and one line here.
#include <map>
#include <string>

#include "attacks/attack.h"
#include "fedguard/error.h"

namespace fedguard {
namespace attacks {

AttackOutput alie(Params&, const AttackInput&);
AttackOutput ipm(Params&, const AttackInput&);
AttackOutput sign_flip(Params&, const AttackInput&);
AttackOutput gaussian(Params&, const AttackInput&);
AttackOutput scaling(Params&, const AttackInput&);
AttackOutput min_max(Params&, const AttackInput&);
AttackOutput min_sum(Params&, const AttackInput&);
AttackOutput fang_krum(Params&, const AttackInput&);
AttackOutput fang_trim(Params&, const AttackInput&);
AttackOutput mpaf(Params&, const AttackInput&);
AttackOutput mimic(Params&, const AttackInput&);

namespace {
using AttackFn = AttackOutput (*)(Params&, const AttackInput&);
const std::map<std::string, AttackFn>& registry() {
  static const std::map<std::string, AttackFn> attacks = {
      {"alie", alie}, {"fang_krum", fang_krum}, {"fang_trim", fang_trim}, {"gaussian", gaussian},
      {"ipm", ipm},   {"mimic", mimic},         {"min_max", min_max},     {"min_sum", min_sum},
      {"mpaf", mpaf}, {"scaling", scaling},     {"sign_flip", sign_flip},
  };
  return attacks;
}
}  // namespace
}  // namespace attacks

AttackOutput craft_attack(const std::string& name, const nlohmann::json& params,
                          const AttackInput& input) {
  const auto& reg = attacks::registry();
  const auto it = reg.find(name);
  if (it == reg.end()) {
    std::string list;
    for (const auto& [known, fn] : reg) list += (list.empty() ? "" : ", ") + known;
    FEDGUARD_THROW(kInvalidInput, "unknown attack '" << name << "' (known: " << list << ")");
  }
  attacks::Params p(name, params);
  AttackOutput out = it->second(p, input);
  out.info["attack"] = name;
  return out;
}

std::vector<std::string> attack_names() {
  std::vector<std::string> names;
  for (const auto& [name, fn] : attacks::registry()) names.push_back(name);
  return names;
}

}  // namespace fedguard
