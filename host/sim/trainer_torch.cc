// The simulator's only LibTorch translation unit: models, local SGD, evaluation.
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "fedguard/error.h"
#include "sim/random.h"
#include "sim/trainer.h"

namespace fedguard::sim {
namespace {

// Fashion-MNIST's pixel mean and standard deviation (on [0, 1]).
constexpr float kPixelMean = 0.2860f;
constexpr float kPixelStd = 0.3530f;

}  // namespace

struct Trainer::Impl {
  torch::nn::Sequential net{nullptr};
  std::vector<torch::Tensor> params;
  std::size_t dim = 0;
  std::size_t rows = 0, cols = 0, classes = 0;
  std::vector<float> pixels;          // batch staging, normalised
  std::vector<std::int64_t> targets;  // batch labels
  std::vector<std::uint8_t> stamped;  // one image with the trigger

  void load(const float* p) {
    torch::NoGradGuard no_grad;
    std::size_t off = 0;
    for (auto& t : params) {
      const auto n = static_cast<std::size_t>(t.numel());
      std::memcpy(t.data_ptr<float>(), p + off, n * sizeof(float));
      off += n;
    }
  }
  void store(float* p) const {
    std::size_t off = 0;
    for (const auto& t : params) {
      const auto n = static_cast<std::size_t>(t.numel());
      std::memcpy(p + off, t.data_ptr<float>(), n * sizeof(float));
      off += n;
    }
  }
  void put_image(std::size_t slot, const std::uint8_t* img) {
    float* dst = pixels.data() + slot * rows * cols;
    for (std::size_t k = 0; k < rows * cols; ++k)
      dst[k] = (static_cast<float>(img[k]) / 255.0f - kPixelMean) / kPixelStd;
  }
  torch::Tensor batch_tensor(std::size_t b) {
    return torch::from_blob(pixels.data(),
                            {static_cast<std::int64_t>(b), 1, static_cast<std::int64_t>(rows),
                             static_cast<std::int64_t>(cols)},
                            torch::kFloat32);
  }
};

Trainer::Trainer(const std::string& model, std::size_t hidden, std::size_t rows, std::size_t cols,
                 std::size_t classes, int threads)
    : impl_(std::make_unique<Impl>()) {
  if (threads > 0) torch::set_num_threads(threads);
  namespace nn = torch::nn;
  const auto in = static_cast<std::int64_t>(rows * cols);
  const auto k = static_cast<std::int64_t>(classes);
  if (model == "mlp") {
    FEDGUARD_EXPECTS(hidden >= 1, "simulator: \"hidden\" must be >= 1");
    impl_->net = nn::Sequential(nn::Flatten(), nn::Linear(in, static_cast<std::int64_t>(hidden)),
                                nn::ReLU(), nn::Linear(static_cast<std::int64_t>(hidden), k));
  } else if (model == "cnn") {
    FEDGUARD_EXPECTS(rows % 4 == 0 && cols % 4 == 0,
                     "simulator: the cnn needs image sides divisible by 4");
    const auto flat = static_cast<std::int64_t>(32 * (rows / 4) * (cols / 4));
    impl_->net =
        nn::Sequential(nn::Conv2d(nn::Conv2dOptions(1, 16, 5).padding(2)), nn::ReLU(),
                       nn::MaxPool2d(2), nn::Conv2d(nn::Conv2dOptions(16, 32, 5).padding(2)),
                       nn::ReLU(), nn::MaxPool2d(2), nn::Flatten(), nn::Linear(flat, k));
  } else {
    FEDGUARD_THROW(kInvalidInput, "simulator: unknown model \"" << model << "\" (known: mlp, cnn)");
  }
  impl_->params = impl_->net->parameters();
  for (const auto& p : impl_->params) impl_->dim += static_cast<std::size_t>(p.numel());
  impl_->rows = rows;
  impl_->cols = cols;
  impl_->classes = classes;
  impl_->stamped.resize(rows * cols);
}

Trainer::~Trainer() = default;

std::size_t Trainer::dim() const { return impl_->dim; }

std::vector<float> Trainer::initial_parameters(std::uint64_t seed) {
  torch::manual_seed(seed);
  torch::NoGradGuard no_grad;
  for (auto& m : impl_->net->modules(/*include_self=*/false)) {
    if (auto* lin = m->as<torch::nn::Linear>()) lin->reset_parameters();
    if (auto* conv = m->as<torch::nn::Conv2d>()) conv->reset_parameters();
  }
  std::vector<float> p(impl_->dim);
  impl_->store(p.data());
  return p;
}

void Trainer::train(const float* global, const Dataset& data,
                    const std::vector<std::uint32_t>& samples, const LocalTraining& options,
                    const DataPoison& poison, std::uint64_t seed, float* update) {
  Impl& s = *impl_;
  FEDGUARD_EXPECTS(!samples.empty(), "simulator: a client has no samples");
  FEDGUARD_EXPECTS(options.batch_size >= 1, "simulator: batch_size must be >= 1");
  s.load(global);
  const std::size_t m = samples.size();
  const std::size_t b = std::min(options.batch_size, m);
  const std::size_t per_epoch = (m + b - 1) / b;
  std::size_t steps = per_epoch * options.epochs;
  if (options.max_steps > 0) steps = std::min(steps, options.max_steps);
  s.pixels.resize(b * s.rows * s.cols);
  s.targets.resize(b);
  const auto poisoned_per_batch =
      static_cast<std::size_t>(std::llround(poison.fraction * static_cast<double>(b)));

  Rng rng(seed);
  std::vector<std::uint32_t> order = samples;
  std::size_t pos = order.size();  // forces a shuffle before the first batch
  std::vector<torch::Tensor> velocity;
  if (options.momentum > 0)
    for (const auto& p : s.params) velocity.push_back(torch::zeros_like(p));

  for (std::size_t step = 0; step < steps; ++step) {
    // Batch: the next b samples of the shuffled order; the last batch of an epoch is short.
    if (pos >= order.size()) {
      rng.shuffle(order);
      pos = 0;
    }
    const std::size_t count = std::min(b, order.size() - pos);
    for (std::size_t j = 0; j < count; ++j) {
      const std::uint32_t i = order[pos + j];
      std::uint8_t y = data.labels[i];
      const std::uint8_t* img = data.image(i);
      if (poison.kind == DataPoison::Kind::kLabelFlip) {
        y = flip_label(y, s.classes);
      } else if (poison.kind == DataPoison::Kind::kBackdoor && j < poisoned_per_batch) {
        std::memcpy(s.stamped.data(), img, s.stamped.size());
        apply_trigger(s.stamped.data(), s.rows, s.cols, poison.trigger);
        img = s.stamped.data();
        y = poison.target;
      }
      s.put_image(j, img);
      s.targets[j] = y;
    }
    pos += count;
    const torch::Tensor x = s.batch_tensor(count);
    const torch::Tensor t =
        torch::from_blob(s.targets.data(), {static_cast<std::int64_t>(count)}, torch::kInt64);
    s.net->zero_grad();
    const torch::Tensor loss = torch::nn::functional::cross_entropy(s.net->forward(x), t);
    loss.backward();
    torch::NoGradGuard no_grad;
    for (std::size_t k = 0; k < s.params.size(); ++k) {
      const torch::Tensor& g = s.params[k].grad();
      if (!g.defined()) continue;
      if (options.momentum > 0) {
        velocity[k].mul_(options.momentum).add_(g);
        s.params[k].add_(velocity[k], -options.lr);
      } else {
        s.params[k].add_(g, -options.lr);
      }
    }
  }
  s.store(update);
  for (std::size_t k = 0; k < s.dim; ++k) update[k] -= global[k];
}

Evaluation Trainer::evaluate(const float* params, const Dataset& data,
                             const std::vector<std::uint32_t>& samples, const Trigger* trigger,
                             std::uint8_t target) {
  Impl& s = *impl_;
  s.load(params);
  torch::NoGradGuard no_grad;
  Evaluation e;
  constexpr std::size_t kChunk = 1000;
  s.pixels.resize(kChunk * s.rows * s.cols);
  std::vector<std::uint32_t> chunk_ids;
  for (int pass = 0; pass < (trigger ? 2 : 1); ++pass) {
    // pass 0: clean accuracy; pass 1: stamped non-target images.
    chunk_ids.clear();
    auto flush = [&] {
      if (chunk_ids.empty()) return;
      const torch::Tensor logits = s.net->forward(s.batch_tensor(chunk_ids.size()));
      const torch::Tensor pred = logits.argmax(1).contiguous();
      const auto* p = pred.data_ptr<std::int64_t>();
      torch::Tensor log_probs;
      if (pass == 0) log_probs = torch::log_softmax(logits.to(torch::kDouble), 1).contiguous();
      for (std::size_t j = 0; j < chunk_ids.size(); ++j) {
        if (pass == 0) {
          e.correct += p[j] == data.labels[chunk_ids[j]];
          e.loss_sum -=
              log_probs[static_cast<std::int64_t>(j)][data.labels[chunk_ids[j]]].item<double>();
          ++e.total;
        } else {
          e.backdoor_hits += p[j] == target;
          ++e.backdoor_total;
        }
      }
      chunk_ids.clear();
    };
    for (const std::uint32_t i : samples) {
      if (pass == 1 && data.labels[i] == target) continue;
      const std::uint8_t* img = data.image(i);
      if (pass == 1) {
        std::memcpy(s.stamped.data(), img, s.stamped.size());
        apply_trigger(s.stamped.data(), s.rows, s.cols, *trigger);
        img = s.stamped.data();
      }
      s.put_image(chunk_ids.size(), img);
      chunk_ids.push_back(i);
      if (chunk_ids.size() == kChunk) flush();
    }
    flush();
  }
  return e;
}

}  // namespace fedguard::sim
