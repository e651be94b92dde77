// cache-thrash: active false sharing; see cache_sharing.h.
#include "cache_sharing.h"

int main(int argc, char** argv) {
  return hoardlab::bench::run_cache_sharing(argc, argv, false);
}
