// Image-classification data for the simulator: gzip-compressed IDX files (the MNIST format,
// http://yann.lecun.com/exdb/mnist/) read with zlib, validated, and held as bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace fedguard::sim {

/// n images of rows x cols bytes (0 = black, 255 = white), row-major, and their labels.
struct Dataset {
  std::size_t n = 0;
  std::size_t rows = 0;
  std::size_t cols = 0;
  std::vector<std::uint8_t> images;  ///< n * rows * cols
  std::vector<std::uint8_t> labels;  ///< n
  std::size_t pixels() const { return rows * cols; }
  const std::uint8_t* image(std::size_t i) const { return images.data() + i * pixels(); }
};

/// The decompressed bytes of a gzip file (a file that is not gzip-compressed is returned as
/// it is, which is how zlib reads it). Throws fedguard::Error (kIo) naming the file on a
/// missing file or a corrupt or truncated stream.
std::vector<std::uint8_t> read_gzip_file(const std::string& path);

/// An IDX array of unsigned bytes: magic 0x00 0x00 0x08 <ndims>, ndims big-endian uint32
/// dimensions, then the data. Every header field and the exact size are checked; errors
/// (kIo) name `name` and the byte offset (in the decompressed stream) of the problem.
struct IdxArray {
  std::vector<std::size_t> dims;
  std::vector<std::uint8_t> data;
};
IdxArray parse_idx(const std::vector<std::uint8_t>& bytes, std::size_t expected_ndims,
                   const std::string& name);

/// Reads an image file (3-D IDX) and a label file (1-D IDX) of the same length; labels must be
/// below `classes`.
Dataset read_idx_dataset(const std::string& images_path, const std::string& labels_path,
                         std::size_t classes);

struct TrainTest {
  Dataset train;
  Dataset test;
};

/// Fashion-MNIST from `dir` ({train,t10k}-{images-idx3,labels-idx1}-ubyte.gz). When the files
/// are missing the error names the Debian package that provides them (dataset-fashion-mnist).
TrainTest load_fashion_mnist(const std::string& dir);

/// The directory Debian's dataset-fashion-mnist installs to.
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

}  // namespace fedguard::sim
