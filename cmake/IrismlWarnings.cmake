# One INTERFACE target carries the project's warning flags.
add_library(irisml_warnings INTERFACE)
add_library(irisml::warnings ALIAS irisml_warnings)
target_compile_options(irisml_warnings INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wno-unused-parameter>
  $<$<AND:$<COMPILE_LANGUAGE:CXX>,$<BOOL:${IRISML_WERROR}>>:-Werror>)
