#include "model/runtime.hpp"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace irisml::model {

void tune_cpu_allocator() {
#if defined(__GLIBC__)
  static const bool done = [] {
    mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
    mallopt(M_TRIM_THRESHOLD, 1024 * 1024 * 1024);
    mallopt(M_TOP_PAD, 64 * 1024 * 1024);
    return true;
  }();
  (void)done;
#endif
}

}  // namespace irisml::model
