#include <gtest/gtest.h>

#include <string>

#include "core/error.hpp"
#include "model/config.hpp"

namespace irisml::model {
namespace {

ModelConfig paper(int n_filters = 25) {
  ModelConfig c;
  c.n_filters = n_filters;
  return c;
}

std::string validation_message(const ModelConfig& c) {
  try {
    c.validate();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(ModelConfigTest, PaperDefaultsAreValid) {
  auto c = paper();
  EXPECT_NO_THROW(c.validate());
  EXPECT_EQ(c.width, 256);
  EXPECT_EQ(c.layers, 10);
  EXPECT_EQ(c.ffn, 768);
  EXPECT_EQ(c.heads, 8);
  EXPECT_EQ(c.flow_blocks, 10);
  EXPECT_EQ(c.made_hidden, (std::vector<int>{256, 256}));
  EXPECT_EQ(c.mixture_components, 5);
  EXPECT_EQ(c.describe(),
            "n_filters=25 width=256 layers=10 ffn=768 heads=8 dropout=0.05 flow_blocks=10 made_hidden=256,256 "
            "mixture_components=5 activation=relu");
}

TEST(ModelConfigTest, NamesEveryBadValue) {
  auto c = paper();
  c.width = 250;  // not divisible by 8 heads
  c.dropout = 1.5;
  c.made_hidden = {256, 3};
  const auto msg = validation_message(c);
  EXPECT_NE(msg.find("width=250 is not divisible by heads=8"), std::string::npos) << msg;
  EXPECT_NE(msg.find("dropout=1.5"), std::string::npos) << msg;
  EXPECT_NE(msg.find("made_hidden[1]=3"), std::string::npos) << msg;

  auto d = paper(0);
  EXPECT_NE(validation_message(d).find("n_filters=0"), std::string::npos);
  d = paper();
  d.mixture_components = 0;
  EXPECT_NE(validation_message(d).find("mixture_components=0"), std::string::npos);
  d = paper();
  d.activation = "tanh";
  EXPECT_NE(validation_message(d).find("activation='tanh'"), std::string::npos);
  d = paper();
  d.flow_blocks = -1;
  EXPECT_NE(validation_message(d).find("flow_blocks=-1"), std::string::npos);
}

}  // namespace
}  // namespace irisml::model
