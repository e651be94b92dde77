// A program outside the tree, built against an installed hoardlab.
#include <hoardlab/hoardlab.h>
#include <hoardlab/hoardlab.hpp>

#include <cstdio>
#include <cstring>
#include <vector>

int main() {
  char* p = static_cast<char*>(hl_malloc(100));
  if (p == nullptr || hl_usable_size(p) < 100) return 1;
  std::memset(p, 'x', 100);
  hl_free(p);
  std::vector<int, hoardlab::allocator<int>> v(1000, 7);
  if (v[999] != 7) return 1;
  std::puts("hoardlab consumer ok");
  return 0;
}
