#include "engine/state_file.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "fedguard/error.h"

namespace fedguard::engine {
namespace {

constexpr char kMagic[8] = {'F', 'G', 'S', 'T', 'A', 'T', 'E', '1'};
constexpr std::uint64_t kVersion = 1;

}  // namespace

void write_state(const std::string& path, const EngineState& state, std::size_t sketch_dim, std::uint64_t sketch_seed) {
  nlohmann::json header;
  header["version"] = kVersion;
  header["sketch_dim"] = sketch_dim;
  header["sketch_seed"] = sketch_seed;
  header["rounds"] = state.rounds;
  header["previous_aggregate"] = state.previous_aggregate.size();
  header["clients"] = nlohmann::json::array();
  for (const auto& [id, h] : state.clients) {
    FEDGUARD_EXPECTS(h.sketch_sum.size() == sketch_dim, "client '" << id << "' has a sketch of " << h.sketch_sum.size()
                                                                   << " values, expected " << sketch_dim);
    header["clients"].push_back({{"id", id}, {"rounds_seen", h.rounds_seen}, {"last_round", h.last_round}});
  }
  const std::string text = header.dump();
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) FEDGUARD_THROW(kIo, tmp << ": cannot open for writing");
    const std::uint64_t len = text.size();
    f.write(kMagic, sizeof kMagic);
    f.write(reinterpret_cast<const char*>(&len), sizeof len);
    f.write(text.data(), static_cast<std::streamsize>(text.size()));
    f.write(reinterpret_cast<const char*>(state.previous_aggregate.data()),
            static_cast<std::streamsize>(state.previous_aggregate.size() * sizeof(float)));
    for (const auto& [id, h] : state.clients)
      f.write(reinterpret_cast<const char*>(h.sketch_sum.data()), static_cast<std::streamsize>(sketch_dim * sizeof(double)));
    f.flush();
    if (!f) FEDGUARD_THROW(kIo, tmp << ": write failed");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    FEDGUARD_THROW(kIo, path << ": cannot replace with the new state");
  }
}

EngineState read_state(const std::string& path, std::size_t sketch_dim, std::uint64_t sketch_seed) {
  std::ifstream f(path, std::ios::binary);
  if (!f) FEDGUARD_THROW(kIo, path << ": cannot open");
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string bytes = ss.str();
  const std::size_t size = bytes.size();
  if (size < 16 || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0)
    FEDGUARD_THROW(kIo, path << ": offset 0: not a fedguard state file (magic FGSTATE1 expected)");
  std::uint64_t len;
  std::memcpy(&len, bytes.data() + 8, sizeof len);
  if (len > size - 16) FEDGUARD_THROW(kIo, path << ": offset 8: header length " << len << " runs past the end of the file (size " << size << ")");
  nlohmann::json h;
  try {
    h = nlohmann::json::parse(bytes.substr(16, len));
  } catch (const nlohmann::json::exception& e) {
    FEDGUARD_THROW(kIo, path << ": offset 16: header is not valid JSON: " << e.what());
  }
  auto number = [&](const char* key) -> std::uint64_t {
    if (!h.contains(key) || !h.at(key).is_number_unsigned())
      FEDGUARD_THROW(kIo, path << ": offset 16: header field '" << key << "' missing or not a non-negative integer");
    return h.at(key).get<std::uint64_t>();
  };
  if (number("version") != kVersion)
    FEDGUARD_THROW(kIo, path << ": offset 16: state format version " << number("version") << ", this build reads "
                             << kVersion);
  if (number("sketch_dim") != sketch_dim || number("sketch_seed") != sketch_seed)
    FEDGUARD_THROW(kInvalidInput, path << ": written with sketch_dim " << number("sketch_dim") << " and sketch_seed "
                                       << number("sketch_seed") << "; this engine uses sketch_dim " << sketch_dim
                                       << " and sketch_seed " << sketch_seed);
  EngineState state;
  state.rounds = number("rounds");
  const std::uint64_t agg = number("previous_aggregate");
  if (!h.contains("clients") || !h.at("clients").is_array())
    FEDGUARD_THROW(kIo, path << ": offset 16: header field 'clients' missing or not a list");
  const auto& clients = h.at("clients");
  std::uint64_t offset = 16 + len;
  const std::uint64_t need_agg = agg * sizeof(float);
  const std::uint64_t per_client = sketch_dim * sizeof(double);
  if (agg > (size - offset) / sizeof(float) || clients.size() > (size - offset - need_agg) / std::max<std::uint64_t>(per_client, 1) ||
      offset + need_agg + clients.size() * per_client != size)
    FEDGUARD_THROW(kIo, path << ": offset " << offset << ": payload of " << size - offset << " bytes, the header describes "
                             << need_agg << " + " << clients.size() << " x " << per_client);
  state.previous_aggregate.resize(agg);
  std::memcpy(state.previous_aggregate.data(), bytes.data() + offset, need_agg);
  offset += need_agg;
  for (const auto& c : clients) {
    if (!c.is_object() || !c.contains("id") || !c.at("id").is_string() || !c.contains("rounds_seen") ||
        !c.at("rounds_seen").is_number_unsigned() || !c.contains("last_round") || !c.at("last_round").is_number_unsigned())
      FEDGUARD_THROW(kIo, path << ": offset 16: malformed client entry " << c.dump());
    ClientHistory ch;
    ch.rounds_seen = c.at("rounds_seen").get<std::uint64_t>();
    ch.last_round = c.at("last_round").get<std::uint64_t>();
    ch.sketch_sum.resize(sketch_dim);
    std::memcpy(ch.sketch_sum.data(), bytes.data() + offset, per_client);
    offset += per_client;
    if (!state.clients.emplace(c.at("id").get<std::string>(), std::move(ch)).second)
      FEDGUARD_THROW(kIo, path << ": offset 16: client id '" << c.at("id").get<std::string>() << "' appears twice");
  }
  return state;
}

}  // namespace fedguard::engine
