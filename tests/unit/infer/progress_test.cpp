// The resume key's file identity (issue 26 item 3): the same content under another name or
// after a bare touch is the same file; a changed byte at either end is another.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "infer/progress.hpp"

namespace irisml::infer {
namespace {

namespace fs = std::filesystem;

TEST(FileIdentityTest, ContentNotNameNorTime) {
  const fs::path dir = fs::temp_directory_path() / ("irisml_identity_" + std::to_string(::getpid()));
  fs::create_directories(dir / "sub");
  for (std::size_t size : {std::size_t{100}, std::size_t{1536} << 10, std::size_t{3} << 20}) {
    const std::string path = (dir / "f.bin").string();
    std::string bytes(size, '\0');
    for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>(i * 7 + i / 4096);
    std::ofstream(path, std::ios::binary) << bytes;
    const std::string id = file_identity(path);
    EXPECT_NE(id.find("content=fnv1a64:"), std::string::npos) << id;
    fs::last_write_time(path, fs::last_write_time(path) + std::chrono::hours(2));  // touch
    EXPECT_EQ(file_identity(path), id) << size;
    EXPECT_EQ(file_identity((dir / "sub" / ".." / "f.bin").string()), id) << size;  // another name
    for (std::size_t at : {std::size_t{0}, size - 1}) {
      std::string changed = bytes;
      changed[at] = static_cast<char>(changed[at] ^ 1);
      std::ofstream(path, std::ios::binary) << changed;
      EXPECT_NE(file_identity(path), id) << size << " byte " << at;
    }
  }
  fs::remove_all(dir);
}

TEST(FileIdentityTest, KeyDifferencesAreNamed) {
  EXPECT_EQ(describe_key_difference("sample rows=3 seed=1 catalog=[a size=1] x=2",
                                    "sample rows=3 seed=9 "
                                    "catalog=[a size=1] y=3"),
            "seed: was '1', now '9'; 'x=2' (now absent); 'y=3' (new)");
  EXPECT_NE(describe_key_difference("a=1", "a=1").find("no setting differs"), std::string::npos);
}

}  // namespace
}  // namespace irisml::infer
