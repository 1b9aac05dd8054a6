// The client registry: JSON with full validation, atomic saves (docs/formats.md).
#include "fedguard/registry.h"

#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/json_parse.h"
#include "common/regular_file.h"
#include "fedguard/error.h"
#include "identity/atomic_file.h"

namespace fedguard::identity {
namespace {

constexpr int kFormatVersion = 1;

ClientStatus parse_status(const std::string& s, const std::string& where) {
  if (s == "pending") return ClientStatus::kPending;
  if (s == "active") return ClientStatus::kActive;
  if (s == "revoked") return ClientStatus::kRevoked;
  FEDGUARD_THROW(kInvalidInput,
                 where << ": status '" << s << "' is not one of pending, active, revoked");
}

void check_text(const std::string& s, const std::string& what) {
  FEDGUARD_EXPECTS(!s.empty(), what << " is empty");
  FEDGUARD_EXPECTS(s.find('\0') == std::string::npos, what << " contains a NUL byte");
}

// Unknown keys are errors: a misspelt cap ("max_client") must not silently mean "no cap".
void only_keys(const nlohmann::json& obj, std::initializer_list<const char*> keys,
               const std::string& where) {
  for (const auto& [k, v] : obj.items()) {
    bool known = false;
    for (const char* key : keys) known = known || k == key;
    FEDGUARD_EXPECTS(known, where << ": unknown field '" << k << "'");
  }
}

std::uint64_t unsigned_field(const nlohmann::json& obj, const char* key, const std::string& where,
                             bool required, std::uint64_t fallback) {
  if (!obj.contains(key)) {
    FEDGUARD_EXPECTS(!required, where << ": field '" << key << "' is missing");
    return fallback;
  }
  FEDGUARD_EXPECTS(obj.at(key).is_number_unsigned(),
                   where << ": field '" << key << "' must be a non-negative integer, got "
                         << obj.at(key).dump());
  return obj.at(key).get<std::uint64_t>();
}

std::string string_field(const nlohmann::json& obj, const char* key, const std::string& where) {
  FEDGUARD_EXPECTS(obj.contains(key), where << ": field '" << key << "' is missing");
  FEDGUARD_EXPECTS(obj.at(key).is_string(),
                   where << ": field '" << key << "' must be a string, got " << obj.at(key).dump());
  return obj.at(key).get<std::string>();
}

}  // namespace

const char* status_name(ClientStatus status) {
  switch (status) {
    case ClientStatus::kPending:
      return "pending";
    case ClientStatus::kActive:
      return "active";
    case ClientStatus::kRevoked:
      return "revoked";
  }
  return "?";
}

const RegisteredClient* Registry::find(const std::string& id) const {
  for (const auto& c : clients)
    if (c.id == id) return &c;
  return nullptr;
}

void Registry::add(RegisteredClient client) {
  check_text(client.id, "client id");
  FEDGUARD_EXPECTS(find(client.id) == nullptr,
                   "client id '" << client.id << "' is already registered (status "
                                 << status_name(find(client.id)->status) << ")");
  for (const auto& c : clients)
    FEDGUARD_EXPECTS(c.public_key != client.public_key,
                     "public key " << key_to_base64(client.public_key)
                                   << " is already registered to client '" << c.id << "'");
  if (max_clients > 0 && client.status != ClientStatus::kRevoked) {
    std::uint64_t live = 0;
    for (const auto& c : clients) live += c.status != ClientStatus::kRevoked;
    FEDGUARD_EXPECTS(live < max_clients, "the registry already holds "
                                             << live
                                             << " pending or active clients, its max_clients is "
                                             << max_clients);
  }
  clients.push_back(std::move(client));
}

void Registry::revoke(const std::string& id) {
  for (auto& c : clients)
    if (c.id == id) {
      c.status = ClientStatus::kRevoked;
      return;
    }
  FEDGUARD_THROW(kInvalidInput, "client id '" << id << "' is not in the registry");
}

void Registry::validate(const std::string& source) const {
  check_text(federation, source + ": federation");
  FEDGUARD_EXPECTS(
      probation.max_share > 0 && probation.max_share <= 1,
      source << ": probation.max_share " << probation.max_share << " is not in (0, 1]");
  std::map<std::string, std::size_t> ids, keys;
  std::uint64_t live = 0;
  for (std::size_t i = 0; i < clients.size(); ++i) {
    const RegisteredClient& c = clients[i];
    const std::string where = source + ": clients[" + std::to_string(i) + "]";
    check_text(c.id, where + ": id");
    const auto [it, fresh] = ids.emplace(c.id, i);
    FEDGUARD_EXPECTS(fresh,
                     where << ": id '" << c.id << "' is also clients[" << it->second << "]'s");
    const auto [kt, key_fresh] = keys.emplace(key_to_base64(c.public_key), i);
    FEDGUARD_EXPECTS(key_fresh, where << " (id '" << c.id
                                      << "'): public key is listed twice, also for clients["
                                      << kt->second << "] (id '" << clients[kt->second].id << "')");
    live += c.status != ClientStatus::kRevoked;
  }
  FEDGUARD_EXPECTS(max_clients == 0 || live <= max_clients,
                   source << ": " << live << " pending or active clients, more than max_clients "
                          << max_clients);
}

Registry parse_registry(const std::string& json_text, const std::string& source) {
  nlohmann::json j;
  try {
    // The one parser (docs/security.md): depth limit, duplicate keys refused (a second
    // "max_clients" must not silently win), no NUL, numbers within the double range.
    j = parse_json(json_text);
  } catch (const JsonError& e) {
    FEDGUARD_THROW(kIo, source << ": offset " << e.offset() << ": not valid JSON: " << e.reason());
  }
  FEDGUARD_EXPECTS(j.is_object(), source << ": a registry is a JSON object");
  only_keys(j,
            {"version", "federation", "max_clients", "max_new_per_round", "probation", "clients"},
            source);
  const std::uint64_t version = unsigned_field(j, "version", source, true, 0);
  FEDGUARD_EXPECTS(version == kFormatVersion, source << ": registry version " << version
                                                     << ", this build reads " << kFormatVersion);
  Registry r;
  r.federation = string_field(j, "federation", source);
  r.max_clients = unsigned_field(j, "max_clients", source, false, 0);
  r.max_new_per_round = unsigned_field(j, "max_new_per_round", source, false, 0);
  if (j.contains("probation")) {
    const auto& p = j.at("probation");
    const std::string where = source + ": probation";
    FEDGUARD_EXPECTS(p.is_object(), where << " must be an object");
    only_keys(p, {"rounds", "max_share"}, where);
    r.probation.rounds = unsigned_field(p, "rounds", where, false, 0);
    if (p.contains("max_share")) {
      FEDGUARD_EXPECTS(p.at("max_share").is_number(), where << ": max_share must be a number");
      r.probation.max_share = p.at("max_share").get<double>();
    }
  }
  FEDGUARD_EXPECTS(j.contains("clients") && j.at("clients").is_array(),
                   source << ": field 'clients' missing or not a list");
  const auto& list = j.at("clients");
  for (std::size_t i = 0; i < list.size(); ++i) {
    const auto& e = list[i];
    std::string where = source + ": clients[" + std::to_string(i) + "]";
    FEDGUARD_EXPECTS(e.is_object(), where << " is not an object");
    RegisteredClient c;
    c.id = string_field(e, "id", where);
    where += " (id '" + c.id + "')";
    only_keys(e, {"id", "public_key", "status", "enrolled_round"}, where);
    c.public_key =
        key_from_base64(string_field(e, "public_key", where), (where + ": public_key").c_str());
    c.status = parse_status(string_field(e, "status", where), where);
    c.enrolled_round = unsigned_field(e, "enrolled_round", where, false, 0);
    r.clients.push_back(std::move(c));
  }
  r.validate(source);
  return r;
}

std::string registry_to_json(const Registry& r) {
  nlohmann::ordered_json j;
  j["version"] = kFormatVersion;
  j["federation"] = r.federation;
  j["max_clients"] = r.max_clients;
  j["max_new_per_round"] = r.max_new_per_round;
  j["probation"] = {{"rounds", r.probation.rounds}, {"max_share", r.probation.max_share}};
  j["clients"] = nlohmann::ordered_json::array();
  for (const auto& c : r.clients)
    j["clients"].push_back({{"id", c.id},
                            {"public_key", key_to_base64(c.public_key)},
                            {"status", status_name(c.status)},
                            {"enrolled_round", c.enrolled_round}});
  return j.dump(2) + "\n";
}

Registry load_registry(const std::string& path) {
  // Regular files only, size checked first: a FIFO or /dev/zero as registry blocked or read
  // without end (hostile probe, scripts/hostile_probe.py).
  return parse_registry(read_regular_file(path, kMaxTextFileBytes), path);
}

void save_registry(const std::string& path, const Registry& registry) {
  registry.validate(path);
  detail::write_file_atomically(path, registry_to_json(registry));
}

}  // namespace fedguard::identity
