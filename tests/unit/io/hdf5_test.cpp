#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/error.hpp"
#include "io/hdf5.hpp"

namespace irisml {
namespace {

std::string temp_file(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("irisml_h5_" + name)).string();
}

TEST(Hdf5Test, RoundTripsDatasetsStringsAndAttributes) {
  std::string path = temp_file("roundtrip.h5");
  {
    auto f = h5::File::create(path);
    f.create_dataset<float>("group/table", {4, 3});
    std::vector<float> rows = {1, 2, 3, 4, 5, 6};
    f.write_rows<float>("group/table", 1, 2, rows.data());
    f.write<double>("vec", {0.5, 1.5, 2.5}, {3});
    f.write_strings("names", {"PS1_g", "2MASS_Ks", ""});
    f.set_attr("/", "seed", std::int64_t{12345});
    f.set_attr("/", "label", std::string("hello"));
    f.set_attr("group/table", "scale", 2.5);
    f.set_attr("/", "bounds", std::vector<double>{0.1, 5.5});
  }
  auto f = h5::File::open(path);
  EXPECT_TRUE(f.exists("group/table"));
  EXPECT_FALSE(f.exists("group/missing"));
  EXPECT_FALSE(f.exists("nogroup/missing"));
  EXPECT_EQ(f.dims("group/table"), (std::vector<std::uint64_t>{4, 3}));
  std::vector<float> back(6);
  f.read_rows<float>("group/table", 1, 2, back.data());
  EXPECT_EQ(back, (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(f.read<double>("vec"), (std::vector<double>{0.5, 1.5, 2.5}));
  EXPECT_EQ(f.read_strings("names"), (std::vector<std::string>{"PS1_g", "2MASS_Ks", ""}));
  EXPECT_EQ(f.attr_int("/", "seed"), 12345);
  EXPECT_EQ(f.attr_string("/", "label"), "hello");
  EXPECT_DOUBLE_EQ(f.attr_double("group/table", "scale"), 2.5);
  EXPECT_EQ(f.attr_doubles("/", "bounds"), (std::vector<double>{0.1, 5.5}));
  EXPECT_FALSE(f.has_attr("/", "nothing"));
  std::remove(path.c_str());
}

TEST(Hdf5Test, ErrorsNameTheFileAndObject) {
  std::string path = temp_file("errors.h5");
  {
    auto f = h5::File::create(path);
    f.create_dataset<float>("t", {2, 2});
  }
  auto f = h5::File::open(path);
  try {  // what a file given to us lacks is an input error (exit 2)
    f.dims("absent");
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("absent"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos);
  }
  std::vector<float> buf(8);
  EXPECT_THROW(f.read_rows<float>("t", 1, 4, buf.data()), IoError);
  EXPECT_THROW(f.attr_double("/", "none"), InputError);
  std::remove(path.c_str());
}

TEST(Hdf5Test, RejectsNonHdf5AndTruncatedFiles) {
  std::string text = temp_file("not.h5");
  std::ofstream(text) << "id,ra,dec\n";
  EXPECT_THROW(h5::File::open(text), IoError);
  EXPECT_THROW(h5::File::open(temp_file("does_not_exist.h5")), IoError);
  std::string path = temp_file("trunc.h5");
  {
    auto f = h5::File::create(path);
    f.write<double>("x", std::vector<double>(1000, 1.0), {1000});
  }
  std::filesystem::resize_file(path, 100);
  EXPECT_THROW(
      {
        auto f = h5::File::open(path);
        f.read<double>("x");
      },
      IoError);
  std::remove(text.c_str());
  std::remove(path.c_str());
}

}  // namespace
}  // namespace irisml
