// Writes the seed corpus of pt_fuzz (tests/fuzz/corpus/pt/): small valid `.pt` rounds of every
// layout read_round_pt accepts, written with torch::pickle_save (the zip format of Python's
// torch.save). Usage: pt_corpus_gen DIR. Rerun after a format change.
#include <torch/serialize.h>
#include <torch/torch.h>

#include <fstream>
#include <string>
#include <vector>

namespace {

void dump(const std::string& path, const c10::IValue& v) {
  const std::vector<char> bytes = torch::pickle_save(v);
  std::ofstream(path, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

c10::impl::GenericDict dict() {
  return c10::impl::GenericDict(c10::StringType::get(), c10::AnyType::get());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  const std::string dir = argv[1];
  const at::Tensor x = torch::arange(12, torch::kFloat32).reshape({3, 4});
  dump(dir + "/block.pt", x);
  dump(dir + "/block_f16.pt", x.to(torch::kFloat16));
  dump(dir + "/block_bf16.pt", x.to(torch::kBFloat16));
  auto d = dict();
  d.insert("updates", x);
  d.insert("reference", x[0].clone());
  c10::Dict<std::string, std::string> meta;
  meta.insert("format", "fedguard-round");
  meta.insert("round", "5");
  meta.insert("client_ids", R"(["a","b","c"])");
  meta.insert("num_samples", "[1,2,3]");
  meta.insert("malicious", R"(["b"])");
  meta.insert("layers", R"([["w",3],["b",1]])");
  d.insert("__metadata__", meta);
  dump(dir + "/dict_meta.pt", d);
  auto c = dict();
  c.insert("client/a", x[0].clone());
  c.insert("client/b", x[1].clone());
  dump(dir + "/per_client.pt", c);
  auto l = dict();
  l.insert("client/a/0.b", x[0].slice(0, 0, 1).clone());
  l.insert("client/a/1.w", x[0].slice(0, 1, 4).clone());
  l.insert("client/b/0.b", x[1].slice(0, 0, 1).clone());
  l.insert("client/b/1.w", x[1].slice(0, 1, 4).to(torch::kFloat16));
  dump(dir + "/per_layer.pt", l);
  return 0;
}
