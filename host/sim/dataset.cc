#include "sim/dataset.h"

#include <sys/stat.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>

#include "fedguard/error.h"

namespace fedguard::sim {
namespace {

std::uint32_t big_endian_u32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

}  // namespace

std::vector<std::uint8_t> read_gzip_file(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) FEDGUARD_THROW(kIo, path << ": cannot open (" << std::strerror(errno) << ")");
  std::vector<std::uint8_t> out;
  std::vector<std::uint8_t> chunk(1 << 20);
  for (;;) {
    const int got = gzread(f, chunk.data(), static_cast<unsigned>(chunk.size()));
    if (got < 0) {
      int code = 0;
      const std::string what = gzerror(f, &code);
      const std::size_t at = out.size();
      gzclose(f);
      FEDGUARD_THROW(kIo, path << ": corrupt gzip stream after " << at << " decompressed bytes ("
                               << what << ")");
    }
    if (got == 0) break;
    out.insert(out.end(), chunk.begin(), chunk.begin() + got);
  }
  // gzread returns 0 both at a clean end and at a truncated stream; gzerror tells them apart.
  int code = 0;
  const char* what = gzerror(f, &code);
  const std::string message = what ? what : "";
  gzclose(f);
  if (code != Z_OK && code != Z_STREAM_END)
    FEDGUARD_THROW(kIo, path << ": truncated or corrupt gzip stream after " << out.size()
                             << " decompressed bytes (" << message << ")");
  return out;
}

IdxArray parse_idx(const std::vector<std::uint8_t>& bytes, std::size_t expected_ndims,
                   const std::string& name) {
  const std::size_t size = bytes.size();
  if (size < 4)
    FEDGUARD_THROW(
        kIo, name << ": truncated IDX header at offset " << size << " (need 4 bytes of magic)");
  if (bytes[0] != 0 || bytes[1] != 0)
    FEDGUARD_THROW(kIo, name << ": bad IDX magic at offset 0: the first two bytes must be 0, got "
                             << int{bytes[0]} << " " << int{bytes[1]});
  if (bytes[2] != 0x08)
    FEDGUARD_THROW(kIo, name << ": unsupported IDX element type 0x" << std::hex << int{bytes[2]}
                             << std::dec << " at offset 2 (only 0x08, unsigned byte, is read)");
  const std::size_t ndims = bytes[3];
  if (ndims != expected_ndims)
    FEDGUARD_THROW(kIo, name << ": IDX file has " << ndims << " dimensions at offset 3, expected "
                             << expected_ndims);
  const std::size_t header = 4 + 4 * ndims;
  if (size < header)
    FEDGUARD_THROW(kIo, name << ": truncated IDX header at offset " << size << " (the " << ndims
                             << " dimensions need " << header << " bytes)");
  IdxArray a;
  std::size_t count = 1;
  for (std::size_t k = 0; k < ndims; ++k) {
    const std::size_t dim = big_endian_u32(bytes.data() + 4 + 4 * k);
    if (dim == 0)
      FEDGUARD_THROW(kIo, name << ": IDX dimension " << k << " at offset " << 4 + 4 * k << " is 0");
    if (count > (std::size_t{1} << 40) / dim)
      FEDGUARD_THROW(kIo, name << ": IDX dimensions at offset 4 describe more than 2^40 elements");
    count *= dim;
    a.dims.push_back(dim);
  }
  if (size < header + count)
    FEDGUARD_THROW(kIo, name << ": truncated IDX data at offset " << size
                             << ": the header promises " << count << " bytes from offset " << header
                             << " (to offset " << header + count << ")");
  if (size > header + count)
    FEDGUARD_THROW(kIo, name << ": " << size - header - count
                             << " unexpected bytes after the IDX data at offset "
                             << header + count);
  a.data.assign(bytes.begin() + static_cast<std::ptrdiff_t>(header), bytes.end());
  return a;
}

Dataset read_idx_dataset(const std::string& images_path, const std::string& labels_path,
                         std::size_t classes) {
  IdxArray images = parse_idx(read_gzip_file(images_path), 3, images_path);
  IdxArray labels = parse_idx(read_gzip_file(labels_path), 1, labels_path);
  if (images.dims[0] != labels.dims[0])
    FEDGUARD_THROW(kIo, images_path << " holds " << images.dims[0] << " images but " << labels_path
                                    << " holds " << labels.dims[0] << " labels");
  for (std::size_t i = 0; i < labels.data.size(); ++i)
    if (labels.data[i] >= classes)
      FEDGUARD_THROW(kIo, labels_path << ": label " << int{labels.data[i]} << " at offset " << 8 + i
                                      << " is not below the " << classes << " classes");
  Dataset d;
  d.n = images.dims[0];
  d.rows = images.dims[1];
  d.cols = images.dims[2];
  d.images = std::move(images.data);
  d.labels = std::move(labels.data);
  return d;
}

TrainTest load_fashion_mnist(const std::string& dir) {
  const std::string names[4] = {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                                "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"};
  for (const auto& n : names)
    if (!file_exists(dir + "/" + n))
      FEDGUARD_THROW(kIo, dir << "/" << n
                              << ": Fashion-MNIST file not found; install the Debian package "
                              << "dataset-fashion-mnist (apt-get install dataset-fashion-mnist) or "
                                 "set \"data_dir\"");
  TrainTest t;
  t.train = read_idx_dataset(dir + "/" + names[0], dir + "/" + names[1], 10);
  t.test = read_idx_dataset(dir + "/" + names[2], dir + "/" + names[3], 10);
  if (t.train.rows != t.test.rows || t.train.cols != t.test.cols)
    FEDGUARD_THROW(kIo, dir << ": training images are " << t.train.rows << "x" << t.train.cols
                            << " but test images are " << t.test.rows << "x" << t.test.cols);
  return t;
}

}  // namespace fedguard::sim
