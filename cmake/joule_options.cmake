# Warnings, sanitizers and per-ISA compile flags shared by all joule targets.

add_library(joule_warnings INTERFACE)
target_compile_options(joule_warnings INTERFACE -Wall -Wextra -Wshadow -Wno-unused-parameter)

if(JOULE_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

# Kernels are compiled once per ISA into separate translation units and chosen at run time
# (core/cpu_features.h); the rest of the code is built for baseline x86-64 so the binary runs anywhere.
set(JOULE_AVX2_FLAGS -mavx2 -mfma -mf16c -mbmi2)
set(JOULE_AVX512_FLAGS -mavx2 -mfma -mf16c -mbmi2 -mavx512f -mavx512bw -mavx512vl -mavx512dq
                       -mavx512vnni -mavx512bf16)
set(JOULE_AMX_FLAGS ${JOULE_AVX512_FLAGS} -mamx-tile -mamx-int8)

# joule_add_module(NAME SOURCES... DEPS ...): a static library under src/ with the include root set.
function(joule_add_module name)
  cmake_parse_arguments(M "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${M_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(${name} PUBLIC ${M_DEPS} PRIVATE joule_warnings)
endfunction()
