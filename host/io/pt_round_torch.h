// `.pt` round files of update logs (docs/formats.md, "Update logs"): what Python's torch.save
// writes, read with LibTorch. Library fedguard_io_torch, built only with FEDGUARD_TORCH; the
// core library reaches it through set_pt_round_reader (io/update_log.h). This header includes
// no LibTorch header.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "io/manifest.h"
#include "io/update_log.h"

namespace fedguard::io {

/// Reads a .pt round: the whole file into memory, then round_from_pt_bytes. A file that cannot
/// be opened or read is kIo "<path>: cannot open for reading: ..." / "...: cannot read: ...".
RoundData read_round_pt(const std::string& path, const ManifestEntry* entry = nullptr,
                        std::size_t default_round = 0);

/// Interprets the bytes of a torch.save file as a round: one [n, d] tensor (float32, float16 or
/// bfloat16), or a dict of tensors named as in safetensors round files (`updates`, or
/// `client/<id>`, or `client/<id>/<layer>`; optional `reference`) with an optional
/// `__metadata__` dict of strings (the safetensors `__metadata__` keys). The result owns its
/// data (keep_alive). Every failure is fedguard::Error kIo "<name>: offset 0: <what>".
RoundData round_from_pt_bytes(const std::vector<char>& bytes, const std::string& name,
                              const ManifestEntry* entry = nullptr, std::size_t default_round = 0);

/// Installs read_round_pt as the .pt reader of read_round_file (set_pt_round_reader).
void register_pt_round_reader();

}  // namespace fedguard::io
