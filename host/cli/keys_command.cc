// `fedguard keys generate|register|revoke|list`: client keys and the registry
// (docs/verification.md). The command lines are a contract (issue 14).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>

#include "cli/commands.h"
#include "cli/option_checks.h"
#include "fedguard/error.h"
#include "fedguard/identity.h"
#include "fedguard/registry.h"

namespace fedguard::cli {
namespace {

// Creates path exclusively with the given mode: an existing key is never overwritten.
void write_new_file(const std::string& path, const std::string& text, mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) FEDGUARD_THROW(kIo, path << ": cannot create (" << std::strerror(errno) << ")");
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                  ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) {
    std::remove(path.c_str());
    FEDGUARD_THROW(kIo, path << ": write failed");
  }
}

bool exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

}  // namespace

void add_keys_command(CLI::App& app, int& exit_code) {
  auto* keys = app.add_subcommand("keys", "Client keys (Ed25519) and the client registry");
  keys->require_subcommand(1);

  struct Options {
    std::string out_dir, id, registry, federation, public_key;
    std::uint64_t round = 0, max_clients = 0, max_new = 0, probation_rounds = 0;
    double probation_share = 1.0;
    bool pending = false;
  };
  auto opt = std::make_shared<Options>();

  auto* gen = keys->add_subcommand(
      "generate", "New key pair: DIR/ID.key (private, mode 0600), DIR/ID.pub (base64)");
  gen->add_option("--out-dir", opt->out_dir, "directory for the key files")->required();
  gen->add_option("--id", opt->id, "client id (names the files)")->required();
  gen->callback([opt, &exit_code] {
    FEDGUARD_EXPECTS(!opt->id.empty() && opt->id.find('/') == std::string::npos && opt->id != "." &&
                         opt->id != "..",
                     "--id '" << opt->id << "' cannot name a file");
    const identity::KeyPair k = identity::generate_key_pair();
    const std::string base = opt->out_dir + "/" + opt->id;
    write_new_file(base + ".key", identity::key_to_base64(k.private_key) + "\n", 0600);
    try {
      write_new_file(base + ".pub", identity::key_to_base64(k.public_key) + "\n", 0644);
    } catch (...) {
      std::remove((base + ".key").c_str());
      throw;
    }
    std::printf("%s\n", identity::key_to_base64(k.public_key).c_str());
    exit_code = 0;
  });

  auto* reg = keys->add_subcommand("register", "Add a client to the registry (created if missing)");
  reg->add_option("--registry", opt->registry, "registry JSON (docs/formats.md)")->required();
  reg->add_option("--federation", opt->federation,
                  "federation id; must match an existing registry's")
      ->required();
  reg->add_option("--id", opt->id, "client id")->required();
  reg->add_option("--public-key", opt->public_key,
                  "base64 Ed25519 public key (the .pub file's text)")
      ->required();
  reg->add_flag("--pending", opt->pending, "register as pending (not yet allowed to contribute)");
  reg->add_option("--round", opt->round, "the federation round now (enrolled_round)")
      ->check(unsigned_integer());
  auto* max_clients = reg->add_option("--max-clients", opt->max_clients,
                                      "set the registry's max_clients (0: no cap)")
                          ->check(unsigned_integer());
  auto* max_new =
      reg->add_option("--max-new-per-round", opt->max_new, "set max_new_per_round (0: no cap)")
          ->check(unsigned_integer());
  auto* prob_rounds =
      reg->add_option("--probation-rounds", opt->probation_rounds, "set probation.rounds")
          ->check(unsigned_integer());
  auto* prob_share = reg->add_option("--probation-share", opt->probation_share,
                                     "set probation.max_share, in (0, 1]")
                         ->check(finite_number());
  reg->callback([opt, max_clients, max_new, prob_rounds, prob_share, &exit_code] {
    identity::Registry r;
    if (exists(opt->registry)) {
      r = identity::load_registry(opt->registry);
      FEDGUARD_EXPECTS(r.federation == opt->federation, opt->registry << ": belongs to federation '"
                                                                      << r.federation << "', not '"
                                                                      << opt->federation << "'");
    } else {
      r.federation = opt->federation;
    }
    if (*max_clients) r.max_clients = opt->max_clients;
    if (*max_new) r.max_new_per_round = opt->max_new;
    if (*prob_rounds) r.probation.rounds = opt->probation_rounds;
    if (*prob_share) r.probation.max_share = opt->probation_share;
    std::string key_text = opt->public_key;
    while (!key_text.empty() && (key_text.back() == '\n' || key_text.back() == '\r'))
      key_text.pop_back();
    r.add({opt->id, identity::key_from_base64(key_text, "--public-key"),
           opt->pending ? identity::ClientStatus::kPending : identity::ClientStatus::kActive,
           opt->round});
    identity::save_registry(opt->registry, r);
    exit_code = 0;
  });

  auto* rev = keys->add_subcommand("revoke", "Mark a client revoked (its entry, id and key stay)");
  rev->add_option("--registry", opt->registry, "registry JSON")->required();
  rev->add_option("--id", opt->id, "client id")->required();
  rev->callback([opt, &exit_code] {
    identity::Registry r = identity::load_registry(opt->registry);
    r.revoke(opt->id);
    identity::save_registry(opt->registry, r);
    exit_code = 0;
  });

  auto* list = keys->add_subcommand("list", "Print the registry: one client a line, tab-separated");
  list->add_option("--registry", opt->registry, "registry JSON")->required();
  list->callback([opt, &exit_code] {
    const identity::Registry r = identity::load_registry(opt->registry);
    std::printf(
        "# federation %s, max_clients %llu, max_new_per_round %llu, probation %llu rounds / share "
        "%g\n",
        r.federation.c_str(), static_cast<unsigned long long>(r.max_clients),
        static_cast<unsigned long long>(r.max_new_per_round),
        static_cast<unsigned long long>(r.probation.rounds), r.probation.max_share);
    std::printf("# id\tstatus\tenrolled_round\tpublic_key\n");
    for (const auto& c : r.clients)
      std::printf("%s\t%s\t%llu\t%s\n", c.id.c_str(), identity::status_name(c.status),
                  static_cast<unsigned long long>(c.enrolled_round),
                  identity::key_to_base64(c.public_key).c_str());
    exit_code = 0;
  });
}

}  // namespace fedguard::cli
