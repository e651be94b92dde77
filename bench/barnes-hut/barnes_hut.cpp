// barnes-hut (after the Barnes-Hut n-body solver of Hoard, ASPLOS 2000 §5, which allocates its
// octree cells with malloc): N bodies in a unit cube; each time step the threads build an
// octree over the bodies, compute each cell's centre of mass, compute the force on each body by
// walking the tree (opening angle --theta), move the bodies, and free the tree. The allocation
// pattern is the paper's point: bursts of same-sized cells allocated in parallel, read by every
// thread, and freed all at once — here freed by the neighbouring thread, so a step also frees
// the tree of another thread's cells, as a program that lets any thread tear the tree down does.
// Cells are the only allocations in the timed region; ops = cells allocated. The live peak is
// the bodies (one array, malloc'd before the timed region) and the largest step's cells.
//
// The tree is split by the 64 sub-cubes at depth 2: thread t builds the sub-cubes i with
// i % T == t, so the build is parallel without locks, and the root and the 8 depth-1 cells are
// built by thread 0 after a barrier. A cell's check word (its address mixed with the step's tag)
// is verified before it is freed, and the bodies counted under the root must be N.
#include <algorithm>
#include <barrier>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench/common/bench_common.h"

using namespace hoardlab::bench;

namespace {

struct Body {
  double pos[3];
  double vel[3];
  double acc[3];
  double mass;
};

struct Cell {
  double centre[3]; // centre of the cube
  double half;      // half its edge
  double com[3];    // centre of mass
  double mass;
  uint64_t bodies; // bodies under this cell
  int64_t body;    // the single body of a leaf, else -1
  Cell* child[8];
  uint64_t check; // address ^ tag, verified before free
};

uint64_t check_word(const Cell* c, uint64_t tag) {
  return reinterpret_cast<uintptr_t>(c) ^ tag;
}

Cell* new_cell(const double centre[3], double half, uint64_t tag) {
  auto* c = static_cast<Cell*>(checked_malloc("barnes-hut", sizeof(Cell)));
  std::memset(c, 0, sizeof(Cell));
  std::memcpy(c->centre, centre, sizeof(c->centre));
  c->half = half;
  c->body = -1;
  c->check = check_word(c, tag);
  return c;
}

int octant(const Cell* c, const double p[3]) {
  return (p[0] >= c->centre[0] ? 1 : 0) | (p[1] >= c->centre[1] ? 2 : 0) |
         (p[2] >= c->centre[2] ? 4 : 0);
}

void child_centre(const Cell* c, int o, double out[3]) {
  double q = c->half / 2;
  out[0] = c->centre[0] + ((o & 1) ? q : -q);
  out[1] = c->centre[1] + ((o & 2) ? q : -q);
  out[2] = c->centre[2] + ((o & 4) ? q : -q);
}

// The child of c in octant o, made on first use.
Cell* child_of(Cell* c, int o, uint64_t tag, uint64_t& cells) {
  if (!c->child[o]) {
    double cc[3];
    child_centre(c, o, cc);
    c->child[o] = new_cell(cc, c->half / 2, tag);
    ++cells;
  }
  return c->child[o];
}

// Inserts body b under c. Bodies closer than the cell depth can separate stop at depth 40 and
// share a leaf's mass (kept exact for the count check by `bodies`).
void insert(Cell* c, const std::vector<Body>& bodies, int64_t b, uint64_t tag, int depth,
            uint64_t& cells) {
  c->bodies++;
  if (c->bodies == 1) {
    c->body = b;
    return;
  }
  if (depth >= 40) return;
  if (c->body >= 0) { // split the leaf: its body moves one level down
    int64_t old = c->body;
    c->body = -1;
    insert(child_of(c, octant(c, bodies[old].pos), tag, cells), bodies, old, tag, depth + 1, cells);
  }
  insert(child_of(c, octant(c, bodies[b].pos), tag, cells), bodies, b, tag, depth + 1, cells);
}

void centre_of_mass(Cell* c, const std::vector<Body>& bodies) {
  if (c->body >= 0 && c->bodies == 1) {
    const Body& b = bodies[c->body];
    std::memcpy(c->com, b.pos, sizeof(c->com));
    c->mass = b.mass;
    return;
  }
  double m = 0, x[3] = {0, 0, 0};
  for (Cell* k : c->child) {
    if (!k) continue;
    centre_of_mass(k, bodies);
    m += k->mass;
    for (int d = 0; d < 3; ++d)
      x[d] += k->com[d] * k->mass;
  }
  if (c->body >= 0) { // a leaf at the depth limit holding several bodies: its first one
    m += bodies[c->body].mass;
    for (int d = 0; d < 3; ++d)
      x[d] += bodies[c->body].pos[d] * bodies[c->body].mass;
  }
  c->mass = m;
  for (int d = 0; d < 3; ++d)
    c->com[d] = m > 0 ? x[d] / m : c->centre[d];
}

void force(const Cell* c, const Body& b, double theta, double acc[3]) {
  if (!c || c->mass == 0) return;
  double d[3], r2 = 1e-6; // softening
  for (int k = 0; k < 3; ++k) {
    d[k] = c->com[k] - b.pos[k];
    r2 += d[k] * d[k];
  }
  bool leaf = c->bodies == 1 || std::all_of(std::begin(c->child), std::end(c->child),
                                            [](const Cell* k) { return k == nullptr; });
  if (leaf || (2 * c->half) * (2 * c->half) < theta * theta * r2) {
    double inv = c->mass / (r2 * std::sqrt(r2));
    for (int k = 0; k < 3; ++k)
      acc[k] += d[k] * inv;
    return;
  }
  for (const Cell* k : c->child)
    force(k, b, theta, acc);
}

uint64_t free_tree(Cell* c, uint64_t tag) {
  if (!c) return 0;
  uint64_t n = 0;
  for (Cell* k : c->child)
    n += free_tree(k, tag);
  if (c->check != check_word(c, tag))
    check_failed("barnes-hut", "a cell's check word changed between its build and its free");
  std::free(c);
  return n + 1;
}

} // namespace

int main(int argc, char** argv) {
  Flags flags("barnes-hut", "Barnes-Hut n-body steps: threads build an octree of malloc'd "
                            "cells, walk it, and free a neighbour's part of it.");
  Common c;
  c.iterations = 10;
  uint64_t body_count = 16384;
  double theta = 0.7;
  add_common(flags, c, kUseIterations);
  flags.add_u64("bodies", &body_count, "bodies", 64, 1ULL << 24);
  flags.add_double("theta", &theta,
                   "opening angle: a cell this small for its distance is one "
                   "body",
                   0.05, 2.0);
  flags.set_quick([&] {
    c.iterations = 3;
    body_count = 2048;
  });
  flags.parse(argc, argv);
  finish_common(flags, c, kUseIterations);

  std::vector<Body> bodies(body_count);
  Rng rng(c.seed, 0);
  for (Body& b : bodies) { // a Plummer-like cluster: denser at the centre, so the tree is deep
    for (int k = 0; k < 3; ++k) {
      double u = rng.unit() - 0.5;
      b.pos[k] = 0.5 + u * std::fabs(u) * 1.9;
      b.vel[k] = 0;
    }
    b.mass = 1.0 / static_cast<double>(body_count);
  }

  constexpr int kSubcubes = 64; // depth-2 cells
  std::vector<Cell*> sub(kSubcubes, nullptr);
  std::vector<uint64_t> cells_by(c.threads, 0);
  Cell* root = nullptr;
  uint64_t tag = 0;
  uint64_t cells_before = 0, step_cells_peak = 0; // thread 0's: every step's cells live at once
  std::barrier sync(static_cast<std::ptrdiff_t>(c.threads));

  double elapsed = run_threads(c.threads, [&](uint64_t t) {
    const uint64_t T = c.threads;
    for (uint64_t step = 0; step < c.iterations; ++step) {
      if (t == 0) tag = make_tag(0, step);
      sync.arrive_and_wait();
      // Build: this thread's depth-2 sub-cubes, each over the bodies inside it.
      for (uint64_t s = t; s < kSubcubes; s += T) {
        int o1 = static_cast<int>(s >> 3), o2 = static_cast<int>(s & 7);
        double c1[3] = {(o1 & 1) ? 0.75 : 0.25, (o1 & 2) ? 0.75 : 0.25, (o1 & 4) ? 0.75 : 0.25};
        double c2[3] = {c1[0] + ((o2 & 1) ? 0.125 : -0.125), c1[1] + ((o2 & 2) ? 0.125 : -0.125),
                        c1[2] + ((o2 & 4) ? 0.125 : -0.125)};
        Cell* cell = new_cell(c2, 0.125, tag);
        ++cells_by[t];
        for (uint64_t b = 0; b < body_count; ++b) {
          const double* p = bodies[b].pos;
          int b1 = (p[0] >= 0.5) | ((p[1] >= 0.5) << 1) | ((p[2] >= 0.5) << 2);
          if (b1 != o1) continue;
          int b2 = (p[0] >= c1[0]) | ((p[1] >= c1[1]) << 1) | ((p[2] >= c1[2]) << 2);
          if (b2 != o2) continue;
          insert(cell, bodies, static_cast<int64_t>(b), tag, 2, cells_by[t]);
        }
        centre_of_mass(cell, bodies);
        sub[s] = cell;
      }
      sync.arrive_and_wait();
      if (t == 0) { // the top two levels
        const double mid[3] = {0.5, 0.5, 0.5};
        root = new_cell(mid, 0.5, tag);
        ++cells_by[0];
        for (int o1 = 0; o1 < 8; ++o1) {
          double c1[3];
          child_centre(root, o1, c1);
          Cell* k = new_cell(c1, 0.25, tag);
          ++cells_by[0];
          for (int o2 = 0; o2 < 8; ++o2) {
            k->child[o2] = sub[o1 * 8 + o2];
            k->bodies += sub[o1 * 8 + o2]->bodies;
          }
          centre_of_mass(k, bodies);
          root->child[o1] = k;
          root->bodies += k->bodies;
        }
        centre_of_mass(root, bodies);
        uint64_t cells_now = 0;
        for (uint64_t n : cells_by)
          cells_now += n;
        step_cells_peak = std::max(step_cells_peak, cells_now - cells_before);
        cells_before = cells_now;
        if (root->bodies != body_count)
          check_failed("barnes-hut", "the tree holds " + std::to_string(root->bodies) +
                                         " bodies, not " + std::to_string(body_count));
      }
      sync.arrive_and_wait();
      // Forces and moves: this thread's share of the bodies. Positions change only after the
      // next barrier, so every thread walks the same tree.
      const uint64_t lo = body_count * t / T, hi = body_count * (t + 1) / T;
      for (uint64_t b = lo; b < hi; ++b) {
        double a[3] = {0, 0, 0};
        force(root, bodies[b], theta, a);
        std::memcpy(bodies[b].acc, a, sizeof(a));
      }
      sync.arrive_and_wait();
      for (uint64_t b = lo; b < hi; ++b)
        for (int k = 0; k < 3; ++k) {
          bodies[b].vel[k] += 1e-6 * bodies[b].acc[k];
          double p = bodies[b].pos[k] + 1e-4 * bodies[b].vel[k];
          bodies[b].pos[k] = p < 0 ? 0 : (p >= 1 ? std::nextafter(1.0, 0.0) : p);
        }
      // Free: the sub-cubes the next thread built, then thread 0 frees the top two levels.
      for (uint64_t s = (t + 1) % T; s < kSubcubes; s += T)
        free_tree(sub[s], tag);
      sync.arrive_and_wait();
      if (t == 0) {
        for (Cell* k : root->child) {
          std::memset(k->child, 0, sizeof(k->child));
          free_tree(k, tag);
        }
        std::memset(root->child, 0, sizeof(root->child));
        free_tree(root, tag);
      }
    }
  });

  uint64_t cells = 0;
  for (uint64_t n : cells_by)
    cells += n;
  Result r;
  r.elapsed_s = elapsed;
  r.ops = cells;
  r.extra_json = "\"cell_bytes\":" + std::to_string(sizeof(Cell)) + "," +
                 live_peak_json(step_cells_peak * sizeof(Cell) + body_count * sizeof(Body));
  print_result(flags, c, r);
  return 0;
}
