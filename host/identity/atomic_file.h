// Replacing a file so that a reader sees the old or the new content, never a mix, even after a
// crash: write a temporary file next to it, fsync, rename over it, fsync the directory.
#pragma once

#include <string>

namespace fedguard::identity::detail {

/// Throws kIo naming path on any failure; path is then unchanged.
void write_file_atomically(const std::string& path, const std::string& content);

}  // namespace fedguard::identity::detail
