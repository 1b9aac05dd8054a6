# One warning set for every fedguard target.
add_library(fedguard_warnings INTERFACE)
target_compile_options(fedguard_warnings INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow -Wno-unused-parameter>)
