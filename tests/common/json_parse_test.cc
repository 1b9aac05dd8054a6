// The one JSON parser (host/common/json_parse.h): depth limit, duplicate keys, NUL bytes.
#include "common/json_parse.h"

#include <gtest/gtest.h>

#include <string>

namespace fedguard {
namespace {

JsonError error_of(const std::string& text, std::size_t max_depth = kMaxJsonDepth) {
  try {
    (void)parse_json(text, max_depth);
  } catch (const JsonError& e) {
    return e;
  }
  ADD_FAILURE() << "accepted: " << text.substr(0, 200);
  return JsonError(0, "");
}

TEST(JsonParse, ParsesWhatNlohmannParses) {
  const std::string text =
      R"( {"a": [1, -2, 3.5, true, null, "x\u00e9"], "b": {"c": {}}, "u": 18446744073709551615} )";
  EXPECT_EQ(parse_json(text), nlohmann::json::parse(text));
  EXPECT_TRUE(parse_json("[]").is_array());
  EXPECT_EQ(parse_json("7"), 7);
  EXPECT_EQ(parse_json("\"s\""), "s");
}

TEST(JsonParse, DeepNestingIsAnErrorNotACrash) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  const JsonError e = error_of(deep);
  EXPECT_EQ(e.offset(), kMaxJsonDepth);
  EXPECT_NE(std::string(e.what()).find("nested deeper than 64"), std::string::npos) << e.what();
  const std::string objects = [] {
    std::string s;
    for (int i = 0; i < 100000; ++i) s += "{\"a\":";
    return s + "1" + std::string(100000, '}');
  }();
  EXPECT_NE(std::string(error_of(objects).what()).find("nested deeper"), std::string::npos);
  // At the limit it parses; one more level does not.
  EXPECT_NO_THROW(parse_json(std::string(64, '[') + std::string(64, ']')));
  EXPECT_EQ(error_of(std::string(3, '[') + std::string(3, ']'), 2).offset(), 2u);
  // Brackets inside strings are not nesting.
  EXPECT_NO_THROW(parse_json("[\"" + std::string(1000, '[') + "\"]"));
}

TEST(JsonParse, DuplicateKeysNamedWithTheirOffset) {
  const std::string text = R"({"aggregator": {"rule": "mean"}, "aggregator": {"rule": "median"}})";
  const JsonError e = error_of(text);
  EXPECT_EQ(e.offset(), text.rfind("\"aggregator\""));
  EXPECT_NE(std::string(e.what()).find("duplicate key \"aggregator\""), std::string::npos)
      << e.what();
  // Also nested, also behind escapes, and after string values that shift the count.
  const std::string nested = R"({"x": "v", "f": [{"rule": "a", "r\u0075le": "b"}]})";
  EXPECT_EQ(error_of(nested).offset(), nested.find("\"r\\u0075le\""));
  // The same key in two different objects is fine.
  EXPECT_NO_THROW(parse_json(R"([{"a": 1}, {"a": 2}])"));
}

TEST(JsonParse, NulBytesRefused) {
  const std::string raw = std::string("{\"a\": 1}") + '\0';
  EXPECT_EQ(error_of(raw).offset(), 8u);
  EXPECT_NE(std::string(error_of(raw).what()).find("NUL"), std::string::npos);
  EXPECT_EQ(error_of(std::string("{\"a\0b\": 1}", 10)).offset(), 3u);
  const std::string escaped = R"({"k": "a\u0000b"})";
  EXPECT_EQ(error_of(escaped).offset(), escaped.find("\"a"));
  EXPECT_NE(std::string(error_of(R"({"a\u0000": 1})").what()).find("NUL character in a key"),
            std::string::npos);
}

TEST(JsonParse, SyntaxErrorsAndHugeNumbersCarryAnOffset) {
  EXPECT_EQ(error_of("{\"a\": }").offset(), 6u);
  EXPECT_NE(std::string(error_of("{\"a\": }").what()).find("not valid JSON"), std::string::npos);
  EXPECT_NE(std::string(error_of("[1e400]").what()).find("not valid JSON"), std::string::npos);
  EXPECT_NE(std::string(error_of("[1] 2").what()).find("not valid JSON"), std::string::npos);
  EXPECT_NE(std::string(error_of("").what()).find("not valid JSON"), std::string::npos);
  EXPECT_NE(std::string(error_of("[\"\xff\"]").what()).find("not valid JSON"), std::string::npos);
  EXPECT_EQ(error_of("x").category(), ErrorCategory::kInvalidInput);
}

}  // namespace
}  // namespace fedguard
