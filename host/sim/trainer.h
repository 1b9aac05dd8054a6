// The model side of the simulator: a small MLP or CNN trained with plain SGD. This header is
// free of LibTorch; host/sim/trainer_torch.cc is the only file that includes torch headers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sim/dataset.h"
#include "sim/partition.h"

namespace fedguard::sim {

struct LocalTraining {
  double lr = 0.05;
  double momentum = 0;  ///< local SGD momentum, reset every round
  std::size_t batch_size = 32;
  std::size_t epochs = 2;      ///< passes over the client's data ...
  std::size_t max_steps = 10;  ///< ... capped at this many batches (0 = no cap)
};

/// What a client does to its own samples while training.
struct DataPoison {
  enum class Kind { kNone, kLabelFlip, kBackdoor };
  Kind kind = Kind::kNone;
  /// Backdoor: the fraction of each batch's samples that get the trigger and the target label.
  double fraction = 0.5;
  std::uint8_t target = 0;
  Trigger trigger;
};

/// Counts from evaluating a model on a set of samples.
struct Evaluation {
  std::size_t correct = 0;
  std::size_t total = 0;
  double loss_sum = 0;  ///< cross-entropy summed over the (clean) samples
  /// With a trigger: samples whose label is not the target, stamped, and predicted as target.
  std::size_t backdoor_hits = 0;
  std::size_t backdoor_total = 0;
};

class Trainer {
 public:
  /// @param model "mlp" (rows*cols -> hidden -> classes, ReLU) or "cnn" (two 5x5 conv + pool
  ///        layers with 16 and 32 channels, then a linear layer)
  /// @param threads intra-op threads of LibTorch (torch::set_num_threads, process-wide)
  Trainer(const std::string& model, std::size_t hidden, std::size_t rows, std::size_t cols,
          std::size_t classes, int threads);
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  /// Number of parameters (the length of every update).
  std::size_t dim() const;
  /// Freshly initialised parameters (LibTorch's default initialisation under seed).
  std::vector<float> initial_parameters(std::uint64_t seed);
  /// Trains from `global` on data[samples] and writes (trained - global) into update (dim()).
  /// Batches are drawn by a seeded shuffle; the same arguments give the same update.
  void train(const float* global, const Dataset& data, const std::vector<std::uint32_t>& samples,
             const LocalTraining& options, const DataPoison& poison, std::uint64_t seed,
             float* update);
  /// Accuracy of `params` on data[samples]; with a trigger, also the backdoor success counts.
  Evaluation evaluate(const float* params, const Dataset& data,
                      const std::vector<std::uint32_t>& samples, const Trigger* trigger,
                      std::uint8_t target);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fedguard::sim
